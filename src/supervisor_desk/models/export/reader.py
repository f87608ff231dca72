"""Reading an export file incrementally: the index entries in batches, a record on demand.

Files can be far larger than memory allows to hold as models, so the reader never loads a
whole document: it walks the file record by record, yields light index entries (the session
summary, the byte range of the record, the message texts for full-text search) in batches, and
re-reads one record by its byte range when a transcript is needed. Every problem is reported
as :class:`ExportFileError` naming the file and the problem in words a user can act on; a bad
JSONL line is skipped and counted instead, because the rest of the file is still valid.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from supervisor_desk.models.export.csv_format import read_csv_rows
from supervisor_desk.models.export.interner import Interner
from supervisor_desk.models.export.json_walker import CHUNK, JsonWalker
from supervisor_desk.models.export.records import (
    MAX_RECORD_BYTES,
    TOO_DEEP,
    UTF8_BOM,
    ExportFileError,
    FileFormat,
    IndexedSession,
    ReadReport,
    check_header,
    describe_validation,
    entry_from_json,
    format_of,
    is_compressed,
    too_many_sessions,
)
from supervisor_desk.models.lock_slices import LockSlicer
from supervisor_desk.models.wire import ExportedSession, ExportHeader


class ExportReader:
    """Incremental reader of one export file.

    ``batches()`` yields lists of :class:`IndexedSession` as the file is read (so the first
    rows can be shown at once) and raises :class:`ExportFileError` for a file that cannot be
    read further; ``report`` counts progress and skipped records meanwhile.
    """

    def __init__(self, path: Path, *, batch_size: int = 1000,
                 max_sessions: int | None = None, decompress_to: Path | None = None) -> None:
        self.path = Path(path)
        # Beyond this many sessions the read stops with an ExportFileError (rows kept).
        self.max_sessions = max_sessions
        self.fmt: FileFormat = format_of(self.path)
        self.batch_size = batch_size
        self.header: ExportHeader | None = None
        self.report = ReadReport()
        self.interner = Interner()
        try:
            self.report.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise ExportFileError(self.path, f"cannot open: {exc.strerror or exc}") from exc
        if not self.path.is_file():
            raise ExportFileError(self.path, "not a regular file")
        # What is read and re-read by byte range: the file, or for a .gz its decompressed copy
        # (made by batches(): transcripts are read back by offset, which a gzip stream cannot
        # seek to cheaply), removed by close().
        self.data_path = self.path
        self.compressed = is_compressed(self.path)
        # Where a .gz file is decompressed to (a reading process writes its parent's copy).
        self._decompress_to = decompress_to
        self._cancelled = False

    @property
    def has_transcripts(self) -> bool:
        return self.fmt != "csv"

    def _open(self) -> io.BufferedReader:
        try:
            if self.compressed and self.data_path == self.path:
                # A stream (the quick check): offsets are not kept from it.
                return io.BufferedReader(gzip.open(self.path, "rb"))
            return open(self.data_path, "rb")
        except OSError as exc:
            raise ExportFileError(self.path, f"cannot open: {exc.strerror or exc}") from exc

    def _decompress(self) -> None:
        if self._decompress_to is not None:
            name = str(self._decompress_to)
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC)
        else:
            fd, name = tempfile.mkstemp(prefix="supervisor-desk-", suffix=f".{self.fmt}")
        try:
            with gzip.open(self.path, "rb") as src, open(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    if self._cancelled:
                        raise ExportFileError(self.path, "reading was cancelled")
                    out.write(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            Path(name).unlink(missing_ok=True)
            raise ExportFileError(self.path, f"not a readable gzip file ({exc})") from exc
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        self.data_path = Path(name)
        self.report.total_bytes = self.data_path.stat().st_size

    def cancel(self) -> None:
        """Stop a long decompression soon (from another thread); batches() then raises."""
        self._cancelled = True

    def close(self) -> None:
        """Remove the decompressed copy of a .gz file (nothing to do for others)."""
        if self.data_path != self.path:
            self.data_path.unlink(missing_ok=True)
            self.data_path = self.path

    def batches(self) -> Iterator[list[IndexedSession]]:
        if self.report.total_bytes == 0:
            raise ExportFileError(self.path, "the file is empty")
        if self.compressed and self.data_path == self.path:
            self._decompress()
        source = {"jsonl": self._read_jsonl, "json": self._read_json, "csv": self._read_csv}
        batch: list[IndexedSession] = []
        # Read by a thread of the app (a small file), parsing stands aside while the Qt
        # thread paints; in the reading process nothing paints and it never waits.
        slicer = LockSlicer()
        try:
            for entry in source[self.fmt]():
                slicer.tick()
                if self.max_sessions is not None and self.report.sessions >= self.max_sessions:
                    raise ExportFileError(self.path, too_many_sessions(
                        f"more than {self.max_sessions:,}", self.max_sessions))
                batch.append(entry)
                self.report.sessions += 1
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
        except ExportFileError:
            # What was read before the damage (a truncated file) is still worth showing.
            if batch:
                yield batch
            raise
        if batch:
            yield batch

    def read_all(self) -> list[IndexedSession]:
        return [entry for batch in self.batches() for entry in batch]

    # -- JSONL: one record per line; a bad line is skipped and counted --------------------

    def _read_jsonl(self) -> Iterator[IndexedSession]:
        with self._open() as f:
            offset = 0
            line_no = 0
            while True:
                line = f.readline(MAX_RECORD_BYTES + 1)
                if not line:
                    break
                start = offset
                offset += len(line)
                line_no += 1
                too_long = len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n")
                if too_long:
                    # Drain the rest of the monster line without holding it.
                    while line and not line.endswith(b"\n"):
                        line = f.readline(CHUNK)
                        offset += len(line)
                self.report.bytes_read = offset
                if line_no == 1:
                    self.header = self._jsonl_header(line, too_long)
                    continue
                if too_long:
                    self.report.note(f"line {line_no}: longer than {MAX_RECORD_BYTES >> 20} MB")
                    continue
                if not line.strip():
                    continue
                try:
                    yield entry_from_json(line, start, offset - start, self.interner)
                except ValidationError as exc:
                    self.report.note(f"line {line_no}: {self._jsonl_problem(line, exc)}")

    @staticmethod
    def _jsonl_problem(line: bytes, error: ValidationError) -> str:
        first = error.errors()[0]
        if first["type"] != "json_invalid":
            return describe_validation(error)
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid UTF-8 at byte {exc.start}"
        # readline() returns a line without its newline only at the end of the file.
        if not line.endswith(b"\n"):
            return "cut off (file truncated)"
        problem = str(first.get("ctx", {}).get("error", first["msg"])).split(" at line ")[0]
        if "recursion limit" in problem:
            return TOO_DEEP
        return f"invalid JSON ({problem})"

    def _jsonl_header(self, line: bytes, too_long: bool) -> ExportHeader:
        if too_long:
            raise ExportFileError(self.path, "not a Supervisor Desk export (first line too long)")
        try:
            # Editors on Windows start UTF-8 files with a byte order mark.
            obj = json.loads(line.removeprefix(UTF8_BOM).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                self.path, f"not a text file: invalid UTF-8 at byte {exc.start}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ExportFileError(
                self.path, f"not a Supervisor Desk JSONL export: line 1 is not JSON ({exc.msg})"
            ) from exc
        except RecursionError as exc:
            raise ExportFileError(
                self.path, f"not a Supervisor Desk JSONL export: line 1 is {TOO_DEEP}"
            ) from exc
        return check_header(self.path, obj)

    # -- JSON: one document, walked element by element of "sessions" ----------------------

    def _read_json(self) -> Iterator[IndexedSession]:
        with self._open() as f:
            yield from JsonWalker(self.path, f, self.report, self.interner,
                                  self._on_header).walk()

    def _on_header(self, header: ExportHeader) -> None:
        self.header = header

    # -- CSV: one session per row, no transcripts ------------------------------------------

    def _read_csv(self) -> Iterator[IndexedSession]:
        with self._open() as raw:
            yield from read_csv_rows(self.path, raw, self.report, self.interner)

    # -- Lazy transcripts ---------------------------------------------------------------

    def read_record(self, entry: IndexedSession) -> ExportedSession:
        """The whole record (messages, logs) of one indexed session, read from the file."""
        return read_record(self.data_path, entry)


def read_record(path: Path, entry: IndexedSession) -> ExportedSession:
    if entry.offset < 0:
        return ExportedSession(session=entry.summary)
    try:
        with open(path, "rb") as f:
            f.seek(entry.offset)
            data = f.read(entry.length)
    except OSError as exc:
        raise ExportFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return ExportedSession.model_validate_json(data)
    except ValidationError as exc:
        raise ExportFileError(
            path, f"the transcript of session {entry.summary.id} changed or is damaged: "
            f"{describe_validation(exc)}"
        ) from exc


def estimated_sessions(fmt: FileFormat, head: bytes, total_bytes: int) -> int | None:
    """Sessions in a file guessed from its first bytes (``None``: too few to tell).

    JSONL and CSV hold one session per line; a JSON document one ``"session"`` key per record,
    whatever its layout. The guess only needs to tell 100,000 from 1,000,000.
    """
    if len(head) >= total_bytes:
        return None  # the whole file is in hand: the reader counts exactly
    # JSONL's and CSV's first line is the header.
    records = head.count(b'"session"') if fmt == "json" else head.count(b"\n") - 1
    if records < 10:
        return None
    return int(total_bytes / len(head) * records)


def _gzip_size(path: Path, compressed: int) -> int:
    """The uncompressed size a gzip file records (modulo 4 GiB: at least the compressed size)."""
    with open(path, "rb") as f:
        f.seek(max(0, compressed - 4))
        recorded = int.from_bytes(f.read(4), "little")
    return max(recorded, compressed)


def check_export(path: Path, *, max_sessions: int | None = None) -> ExportHeader | None:
    """Cheap up-front check (type, header, encoding of the start, complete end of a JSON file).

    Meant for the command line and the open dialog, before the background load; the load
    itself still reports anything found later. With ``max_sessions``, a file whose size
    says it holds clearly more sessions is refused here. Returns the header (``None`` for
    CSV).
    """
    path = Path(path)
    reader = ExportReader(path)
    if reader.report.total_bytes == 0:
        raise ExportFileError(path, "the file is empty")
    size = reader.report.total_bytes
    try:
        with reader._open() as f:
            head = f.read(CHUNK if reader.compressed else min(CHUNK, size))
    except (OSError, EOFError, zlib.error) as exc:
        raise ExportFileError(path, f"not a readable gzip file ({exc})") from exc
    if b"\x00" in head[:4096]:
        raise ExportFileError(path, "not a text file (binary data)")
    if reader.compressed:
        size = _gzip_size(path, size)
    estimate = estimated_sessions(reader.fmt, head, size)
    # A margin for the guess: only a file clearly beyond the limit is refused unread.
    if max_sessions is not None and estimate is not None and estimate > max_sessions * 1.2:
        raise ExportFileError(path, too_many_sessions(f"about {estimate:,}", max_sessions))
    if reader.fmt == "jsonl":
        # Later JSONL lines may be bad on their own: they are skipped and counted on load.
        head = head.split(b"\n", 1)[0]
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise ExportFileError(path, f"not a text file: invalid UTF-8 at byte {exc.start}") from exc
    if reader.fmt == "csv":
        with reader._open() as f:
            next(iter(read_csv_rows(path, f, reader.report, reader.interner)), None)
        return None
    if reader.fmt == "jsonl":
        first = head.split(b"\n", 1)[0]
        return reader._jsonl_header(first, len(first) > MAX_RECORD_BYTES)
    stripped = head.removeprefix(UTF8_BOM).lstrip()
    if not stripped.startswith(b"{"):
        raise ExportFileError(path, "not a Supervisor Desk JSON export (not a JSON object)")
    tail = b"}"  # a .gz: its end is checked by the load (decompressing it here costs)
    if not reader.compressed:
        with reader._open() as f:
            f.seek(max(0, reader.report.total_bytes - 64))
            tail = f.read().rstrip()
    if not tail.endswith(b"}"):
        raise ExportFileError(path, "the file ends early (truncated): the JSON document is "
                              "not closed")
    walker_reader = ExportReader(path, batch_size=1)
    with walker_reader._open() as f:
        walker = JsonWalker(path, f, walker_reader.report, walker_reader.interner,
                            walker_reader._on_header)
        try:
            next(iter(walker.walk()), None)
        except (OSError, EOFError, zlib.error) as exc:
            raise ExportFileError(path, f"not a readable gzip file ({exc})") from exc
    return walker_reader.header


def iter_records(path: Path) -> Iterator[ExportedSession]:
    """Every whole record of a file (small files and tests; the GUI uses the index)."""
    reader = ExportReader(path)
    for batch in reader.batches():
        for entry in batch:
            yield reader.read_record(entry)
