"""Export files (``.json``, ``.jsonl``, ``.csv``): streaming writer and incremental reader.

The format is the hub's ``GET /api/v1/sessions/export`` (PROTOCOL "Sessions"): JSON is one
document ``{"format", "version", "exported_at", "filters", "sessions": [...]}``; JSONL is that
header alone on the first line, then one ``{"session", "messages", "logs"}`` object per line;
CSV is one row per session with the table's columns (:data:`CSV_COLUMNS`).

Files can be far larger than memory allows to hold as models, so the reader never loads a
whole document: it walks the file record by record, yields light index entries (the session
summary, the byte range of the record, the message texts for full-text search) in batches, and
re-reads one record by its byte range when a transcript is needed. Every problem is reported
as :class:`ExportFileError` naming the file and the problem in words a user can act on; a bad
JSONL line is skipped and counted instead, because the rest of the file is still valid.
No Qt here.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import pydantic_core
from pydantic import ValidationError

from supervisor_desk.models.wire import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ExportedSession,
    ExportHeader,
    SessionSummary,
    format_timestamp,
)

FileFormat = Literal["json", "jsonl", "csv"]
FILE_FORMATS: tuple[FileFormat, ...] = ("json", "jsonl", "csv")

# One record (a session with its messages and logs) bigger than this is not a real export
# record; refusing it keeps a hostile or corrupt file from exhausting memory.
MAX_RECORD_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
# Problems beyond this many are only counted: a file with a million bad lines needs no list.
_MAX_PROBLEMS = 20

CSV_COLUMNS: tuple[str, ...] = (
    "id", "agent_id", "agent", "modality", "channel", "status", "end_reason",
    "responsible", "operator_id", "operator", "team", "stage",
    "user_id", "user_name", "user_external_id", "user_is_mobile",
    "country_code", "country", "city", "ip",
    "started_at", "queued_at", "accepted_at", "ended_at", "last_message_at",
    "message_count", "has_attachments", "parameters", "results", "metadata", "contact",
    "version",
)
# The least a CSV must carry to rebuild a session row; everything else has a default.
CSV_REQUIRED: tuple[str, ...] = ("id", "channel", "status", "started_at")
# The hub's CSV export names some columns after the table; their meaning in ours.
_HUB_CSV_ALIASES = {"session_id": "id", "user": "user_name", "country": "country_code"}
# Spreadsheets run cells starting with these as formulas; a leading quote keeps them text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


class ExportFileError(Exception):
    """A file that cannot be read as an export; ``str()`` names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


@dataclass(slots=True)
class IndexedSession:
    """One session of an opened file, as much as filtering and the table need.

    ``offset``/``length`` locate the whole record (messages and logs) in the file, so a
    transcript is read only when the session is opened; CSV records carry none (-1).
    ``texts`` are the message texts for full-text search, ``None`` when the file has no
    transcripts (CSV).
    """

    summary: SessionSummary
    offset: int
    length: int
    texts: tuple[str, ...] | None


@dataclass(slots=True)
class ReadReport:
    """What a reader has seen so far: progress, and the records it had to skip."""

    total_bytes: int = 0
    bytes_read: int = 0
    sessions: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.skipped += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)


# --------------------------------------------------------------------------------------------
# Writing


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_uncell(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def _ts(value: datetime | None) -> str:
    return format_timestamp(value) if value is not None else ""


def csv_row(s: SessionSummary) -> list[str]:
    """One CSV row in :data:`CSV_COLUMNS` order (also used by the hub's CSV export)."""
    operator = s.responsible.operator
    row = [
        s.id, s.agent.id, s.agent.name, s.modality, s.channel, s.status, s.end_reason or "",
        s.responsible.kind, operator.id if operator else "", operator.name if operator else "",
        s.team or "", s.stage or "",
        s.user.id, s.user.name or "", s.user.external_id or "",
        "" if s.user.is_mobile is None else str(s.user.is_mobile).lower(),
        s.location.country_code or "", s.location.country or "", s.location.city or "",
        s.location.ip or "",
        _ts(s.started_at), _ts(s.queued_at), _ts(s.accepted_at), _ts(s.ended_at),
        _ts(s.last_message_at),
        str(s.message_count), str(s.has_attachments).lower(),
        json.dumps(s.parameters, ensure_ascii=False, sort_keys=True),
        json.dumps(s.results, ensure_ascii=False, sort_keys=True),
        json.dumps(s.metadata, ensure_ascii=False, sort_keys=True),
        s.contact.model_dump_json() if s.contact is not None else "",
        str(s.version),
    ]
    return [_csv_cell(v) for v in row]


def export_header(
    filters: Mapping[str, Any] | None = None, exported_at: datetime | None = None
) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": format_timestamp(exported_at or datetime.now(UTC)),
        "filters": dict(filters or {}),
    }


class ExportWriter:
    """Write an export file record by record; the file appears only when complete.

    Records go to a temporary file beside the target, renamed over it by :meth:`close`, so a
    cancelled or failed export never leaves a half-written file under the chosen name.
    """

    def __init__(
        self,
        path: Path,
        fmt: FileFormat,
        *,
        filters: Mapping[str, Any] | None = None,
        exported_at: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.count = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._out: TextIO = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
        header = export_header(filters, exported_at)
        if fmt == "json":
            head = json.dumps(header, ensure_ascii=False)
            self._out.write(head[:-1] + ', "sessions": [')
        elif fmt == "jsonl":
            self._out.write(json.dumps(header, ensure_ascii=False) + "\n")
        else:
            self._csv = csv.writer(self._out, lineterminator="\r\n")
            self._csv.writerow(CSV_COLUMNS)

    def write(self, record: ExportedSession) -> None:
        if self.fmt == "csv":
            self._csv.writerow(csv_row(record.session))
        elif self.fmt == "jsonl":
            self._out.write(record.model_dump_json() + "\n")
        else:
            self._out.write(("\n" if self.count == 0 else ",\n") + record.model_dump_json())
        self.count += 1

    def close(self) -> None:
        if self._out.closed:
            return
        if self.fmt == "json":
            self._out.write("\n]}\n")
        self._out.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._out.closed:
            self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_export(
    path: Path,
    fmt: FileFormat,
    records: Iterable[ExportedSession],
    *,
    filters: Mapping[str, Any] | None = None,
    exported_at: datetime | None = None,
) -> int:
    """Write ``records`` to ``path``; returns how many were written."""
    with ExportWriter(path, fmt, filters=filters, exported_at=exported_at) as writer:
        for record in records:
            writer.write(record)
        return writer.count


# --------------------------------------------------------------------------------------------
# Reading


def format_of(path: Path) -> FileFormat:
    """The format named by the file's extension; anything else is refused up front."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "ndjson":
        return "jsonl"
    for fmt in FILE_FORMATS:
        if suffix == fmt:
            return fmt
    raise ExportFileError(
        path, f"unknown file type {Path(path).suffix or '(none)'!r}: expected .json, .jsonl or .csv"
    )


def _describe_validation(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "record"
    return f"{where}: {first.get('msg', 'invalid')}"


def _check_header(path: Path, obj: Any) -> ExportHeader:
    if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT:
        raise ExportFileError(path, "not a Supervisor Desk export (no \"format\": "
                              f"\"{EXPORT_FORMAT}\" header)")
    version = obj.get("version")
    if version != EXPORT_VERSION:
        raise ExportFileError(
            path, f"unsupported export version {version!r} (this app reads version "
            f"{EXPORT_VERSION})"
        )
    try:
        return ExportHeader.model_validate(obj)
    except ValidationError as exc:
        raise ExportFileError(path, f"bad export header: {_describe_validation(exc)}") from exc


class _Interner:
    """Shares equal parts of frozen summaries, so 100,000 indexed sessions fit in memory.

    A validated summary carries its own copy of every nested model, dict and pydantic's
    ``__pydantic_fields_set__`` (a 2 KB set per session); most are equal across sessions
    (agents, empty dicts, the set of fields). The models are frozen and never mutated, so
    one shared instance per distinct value is indistinguishable from copies, and takes a
    third of the memory.
    """

    _NESTED = ("agent", "responsible", "user", "location", "parameters", "results", "metadata")
    _MAX = 500_000

    def __init__(self) -> None:
        self._sets: dict[frozenset[str], set[str]] = {}
        self._values: dict[Any, Any] = {}

    def _shared(self, value: Any) -> Any:
        if isinstance(value, dict):
            key: Any = ("dict", tuple(value.items()))
        elif value is None:
            return None
        else:
            key = (type(value), tuple(value.__dict__.values()))
        try:
            found = self._values.get(key)
        except TypeError:  # an unhashable part: keep this one as it is
            return value
        if found is not None:
            return found
        if len(self._values) < self._MAX:
            self._values[key] = value
            if not isinstance(value, dict):
                self._share_fields_set(value)
        return value

    def _share_fields_set(self, model: Any) -> None:
        fields_set = model.__pydantic_fields_set__
        shared = self._sets.setdefault(frozenset(fields_set), fields_set)
        if shared is not fields_set:
            object.__setattr__(model, "__pydantic_fields_set__", shared)

    def compact(self, summary: SessionSummary) -> SessionSummary:
        fields = summary.__dict__
        for name in self._NESTED:
            fields[name] = self._shared(fields[name])
        self._share_fields_set(summary)
        return summary


def _entry_from_record(
    obj: Any, offset: int, length: int, interner: _Interner | None = None
) -> IndexedSession:
    """Validate only what the index needs; messages stay raw until the session is opened."""
    if not isinstance(obj, dict) or not isinstance(obj.get("session"), dict):
        raise ValueError("not a session record (no \"session\" object)")
    summary = SessionSummary.model_validate(obj["session"])
    if interner is not None:
        summary = interner.compact(summary)
    messages = obj.get("messages", [])
    if not isinstance(messages, list):
        raise ValueError("\"messages\" is not a list")
    texts = tuple(
        m["text"] if isinstance(m, dict) and isinstance(m.get("text"), str) else ""
        for m in messages
    )
    return IndexedSession(summary, offset, length, texts)


class ExportReader:
    """Incremental reader of one export file.

    ``batches()`` yields lists of :class:`IndexedSession` as the file is read (so the first
    rows can be shown at once) and raises :class:`ExportFileError` for a file that cannot be
    read further; ``report`` counts progress and skipped records meanwhile.
    """

    def __init__(self, path: Path, *, batch_size: int = 1000) -> None:
        self.path = Path(path)
        self.fmt: FileFormat = format_of(self.path)
        self.batch_size = batch_size
        self.header: ExportHeader | None = None
        self.report = ReadReport()
        self.interner = _Interner()
        try:
            self.report.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise ExportFileError(self.path, f"cannot open: {exc.strerror or exc}") from exc
        if not self.path.is_file():
            raise ExportFileError(self.path, "not a regular file")

    @property
    def has_transcripts(self) -> bool:
        return self.fmt != "csv"

    def _open(self) -> io.BufferedReader:
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise ExportFileError(self.path, f"cannot open: {exc.strerror or exc}") from exc

    def batches(self) -> Iterator[list[IndexedSession]]:
        if self.report.total_bytes == 0:
            raise ExportFileError(self.path, "the file is empty")
        source = {"jsonl": self._read_jsonl, "json": self._read_json, "csv": self._read_csv}
        batch: list[IndexedSession] = []
        try:
            for entry in source[self.fmt]():
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
                        line = f.readline(_CHUNK)
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
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.report.note(f"line {line_no}: invalid UTF-8 at byte {exc.start}")
                    continue
                try:
                    # pydantic-core's parser: a quarter faster than json.loads on records.
                    obj = pydantic_core.from_json(text)
                except ValueError as exc:
                    # readline() returns a line without its newline only at the end.
                    truncated = not line.endswith(b"\n")
                    problem = str(exc).split(" at line ")[0]
                    self.report.note(
                        f"line {line_no}: " + ("cut off (file truncated)" if truncated
                                               else f"invalid JSON ({problem})")
                    )
                    continue
                try:
                    yield _entry_from_record(obj, start, offset - start, self.interner)
                except ValidationError as exc:
                    self.report.note(f"line {line_no}: {_describe_validation(exc)}")
                except ValueError as exc:
                    self.report.note(f"line {line_no}: {exc}")

    def _jsonl_header(self, line: bytes, too_long: bool) -> ExportHeader:
        if too_long:
            raise ExportFileError(self.path, "not a Supervisor Desk export (first line too long)")
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                self.path, f"not a text file: invalid UTF-8 at byte {exc.start}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ExportFileError(
                self.path, f"not a Supervisor Desk JSONL export: line 1 is not JSON ({exc.msg})"
            ) from exc
        return _check_header(self.path, obj)

    # -- JSON: one document, walked element by element of "sessions" ----------------------

    def _read_json(self) -> Iterator[IndexedSession]:
        with self._open() as f:
            yield from _JsonWalker(self, f).walk()

    # -- CSV: one session per row, no transcripts ------------------------------------------

    def _read_csv(self) -> Iterator[IndexedSession]:
        with self._open() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
            reader = csv.reader(text)
            try:
                header = next(reader)
            except StopIteration:
                raise ExportFileError(self.path, "the file is empty") from None
            except UnicodeDecodeError as exc:
                raise ExportFileError(
                    self.path, f"not a text file: invalid UTF-8 at byte {exc.start}"
                ) from exc
            except csv.Error as exc:
                raise ExportFileError(self.path, f"not a CSV file ({exc})") from exc
            header = [h.strip().lstrip("\ufeff") for h in header]
            if "session_id" in header and "id" not in header:
                # The hub's CSV spells the table's columns (PROTOCOL: "the table's columns").
                header = [_HUB_CSV_ALIASES.get(h, h) for h in header]
            missing = [c for c in CSV_REQUIRED if c not in header]
            if missing or not ({"agent", "agent_id"} & set(header)):
                if "agent" not in header and "agent_id" not in header:
                    missing.append("agent")
                raise ExportFileError(
                    self.path,
                    "not a Supervisor Desk CSV export: missing column"
                    f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                )
            row_no = 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except UnicodeDecodeError as exc:
                    raise ExportFileError(
                        self.path, f"invalid UTF-8 after row {row_no} (byte {exc.start} of a "
                        "block): the file is damaged or not UTF-8"
                    ) from exc
                except csv.Error as exc:
                    raise ExportFileError(self.path, f"row {row_no + 1}: {exc}") from exc
                row_no += 1
                self.report.bytes_read = raw.tell()
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    self.report.note(
                        f"row {row_no}: {len(row)} cells, header has {len(header)}"
                    )
                    continue
                try:
                    summary = _summary_from_csv(dict(zip(header, row, strict=True)))
                except (ValidationError, ValueError) as exc:
                    problem = (_describe_validation(exc) if isinstance(exc, ValidationError)
                               else str(exc))
                    self.report.note(f"row {row_no}: {problem}")
                    continue
                yield IndexedSession(self.interner.compact(summary), -1, 0, None)
            self.report.bytes_read = self.report.total_bytes

    # -- Lazy transcripts ---------------------------------------------------------------

    def read_record(self, entry: IndexedSession) -> ExportedSession:
        """The whole record (messages, logs) of one indexed session, read from the file."""
        return read_record(self.path, entry)


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
            f"{_describe_validation(exc)}"
        ) from exc


def _opt(row: Mapping[str, str], key: str) -> str | None:
    value = _csv_uncell(row.get(key, ""))
    return value if value != "" else None


def _json_cell(row: Mapping[str, str], key: str) -> Any:
    value = _opt(row, key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"column {key}: not JSON ({exc.msg})") from exc


def _summary_from_csv(row: Mapping[str, str]) -> SessionSummary:
    agent_id = _opt(row, "agent_id") or _opt(row, "agent")
    operator_id = _opt(row, "operator_id") or _opt(row, "operator")
    data: dict[str, Any] = {
        "id": _opt(row, "id"),
        "agent": {"id": agent_id, "name": _opt(row, "agent") or agent_id},
        "channel": _opt(row, "channel"),
        "modality": _opt(row, "modality") or "chat",
        "status": _opt(row, "status"),
        "end_reason": _opt(row, "end_reason"),
        "responsible": {
            "kind": _opt(row, "responsible") or "ai",
            "operator": ({"id": operator_id, "name": _opt(row, "operator") or operator_id}
                         if operator_id else None),
        },
        "team": _opt(row, "team"),
        "stage": _opt(row, "stage"),
        "user": {
            "id": _opt(row, "user_id") or _opt(row, "user_name") or "unknown",
            "name": _opt(row, "user_name"),
            "external_id": _opt(row, "user_external_id"),
            "is_mobile": _opt(row, "user_is_mobile"),
        },
        "location": {
            "ip": _opt(row, "ip"),
            "country_code": _opt(row, "country_code"),
            "country": _opt(row, "country"),
            "city": _opt(row, "city"),
        },
        "started_at": _opt(row, "started_at"),
        "queued_at": _opt(row, "queued_at"),
        "accepted_at": _opt(row, "accepted_at"),
        "ended_at": _opt(row, "ended_at"),
        "last_message_at": _opt(row, "last_message_at"),
        "message_count": _opt(row, "message_count") or 0,
        "has_attachments": _opt(row, "has_attachments") or False,
        "parameters": _json_cell(row, "parameters") or {},
        "results": _json_cell(row, "results") or {},
        "metadata": _json_cell(row, "metadata") or {},
        "contact": _json_cell(row, "contact"),
        "version": _opt(row, "version") or 1,
    }
    return SessionSummary.model_validate(data)


class _JsonWalker:
    """Walk ``{"format": ..., "sessions": [ ... ]}`` one element at a time.

    The header keys come before ``sessions`` in every export the hub writes (it streams the
    sessions last); each element is decoded with ``raw_decode`` from a sliding text buffer,
    and its byte range is kept so the record can be re-read later.
    """

    def __init__(self, owner: ExportReader, f: io.BufferedReader) -> None:
        self.owner = owner
        self.path = owner.path
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.dec = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        # buf[mark_char] is at file byte mark_bytes: byte offsets are counted incrementally
        # from the last record instead of re-encoding the whole buffer for each one.
        self.mark_char = 0
        self.mark_bytes = 0
        self.raw_read = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(_CHUNK)
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                self.path, f"invalid UTF-8 near byte {self.raw_read + exc.start}: the file is "
                "damaged or not a UTF-8 export"
            ) from exc
        self.raw_read += len(chunk)
        self.owner.report.bytes_read = self.raw_read
        if not chunk:
            self.eof = True
            return False
        # Drop what has been consumed so the buffer holds about one record at a time.
        if self.pos > _CHUNK:
            self.mark_bytes = self._byte_at(self.pos)
            self.mark_char = 0
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        return True

    def _byte_at(self, char_pos: int) -> int:
        if char_pos >= self.mark_char:
            return self.mark_bytes + len(self.buf[self.mark_char : char_pos].encode("utf-8"))
        return self.mark_bytes - len(self.buf[char_pos : self.mark_char].encode("utf-8"))

    def _skip_ws(self) -> None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return

    def _peek(self) -> str:
        self._skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if c == "":
            raise ExportFileError(self.path, f"the file ends early (truncated) {what}")
        if c not in chars:
            raise ExportFileError(
                self.path, f"not a Supervisor Desk JSON export: expected {what}, found {c!r}"
            )
        self.pos += 1
        return c

    def _value(self, what: str) -> tuple[Any, int, int]:
        """Decode one JSON value; returns it with its (char start, char end) in ``buf``."""
        self._skip_ws()
        while True:
            try:
                value, end = self.dec.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Only an error at the end of the buffer (a literal, number or string cut by
                # the read) can be cured by reading more; anything else is bad JSON now.
                incomplete = (len(self.buf) - exc.pos <= 64
                              or exc.msg.startswith("Unterminated"))
                if not incomplete:
                    raise ExportFileError(
                        self.path, f"invalid JSON in {what}: {exc.msg} "
                        f"(byte {self._byte_at(exc.pos)})"
                    ) from exc
                if len(self.buf) - self.pos > MAX_RECORD_BYTES:
                    raise ExportFileError(
                        self.path, f"{what} is larger than {MAX_RECORD_BYTES >> 20} MB or is "
                        f"not valid JSON ({exc.msg})"
                    ) from exc
                if self._fill():
                    continue
                raise ExportFileError(
                    self.path, f"the file ends early (truncated) in {what}"
                ) from exc
            # A number or literal cut by the buffer end would decode short: read more first.
            if end >= len(self.buf) and not self.eof and self._fill():
                continue
            start = self.pos
            self.pos = end
            return value, start, end

    def walk(self) -> Iterator[IndexedSession]:
        self._fill()
        if self._peek() != "{":
            raise ExportFileError(self.path, "not a Supervisor Desk JSON export (not a JSON "
                                  "object)")
        self.pos += 1
        header: dict[str, Any] = {}
        seen_sessions = False
        index = 0
        while True:
            c = self._peek()
            if c == "}":
                self.pos += 1
                break
            if c == "":
                raise ExportFileError(self.path, "the file ends early (truncated) after "
                                      f"{index} sessions")
            if header or seen_sessions:
                self._expect(",", "',' between keys")
            key, _, _ = self._value("a key")
            if not isinstance(key, str):
                raise ExportFileError(self.path, "not a Supervisor Desk JSON export")
            self._expect(":", "':' after a key")
            if key != "sessions":
                header[key], _, _ = self._value(f"the {key!r} field")
                continue
            if self.owner.header is None:
                self.owner.header = _check_header(self.path, header)
            seen_sessions = True
            self._expect("[", "'[' opening the sessions")
            if self._peek() == "]":
                self.pos += 1
                continue
            while True:
                record, start, end = self._value(f"session #{index + 1}")
                byte_start = self._byte_at(start)
                length = len(self.buf[start:end].encode("utf-8"))
                self.mark_char, self.mark_bytes = end, byte_start + length
                index += 1
                try:
                    yield _entry_from_record(record, byte_start, length, self.owner.interner)
                except ValidationError as exc:
                    self.owner.report.note(f"session #{index}: {_describe_validation(exc)}")
                except ValueError as exc:
                    self.owner.report.note(f"session #{index}: {exc}")
                sep = self._expect(",]", f"',' or ']' after session #{index}")
                if sep == "]":
                    break
        if self.owner.header is None:
            self.owner.header = _check_header(self.path, header)
        if not seen_sessions:
            raise ExportFileError(self.path, "no \"sessions\" list in the file")
        if self._peek() != "":
            raise ExportFileError(self.path, "unexpected data after the end of the export")


def check_export(path: Path) -> ExportHeader | None:
    """Cheap up-front check (type, header, encoding of the start, complete end of a JSON file).

    Meant for the command line and the open dialog, before the background load; the load
    itself still reports anything found later. Returns the header (``None`` for CSV).
    """
    path = Path(path)
    reader = ExportReader(path)
    if reader.report.total_bytes == 0:
        raise ExportFileError(path, "the file is empty")
    with reader._open() as f:
        head = f.read(min(_CHUNK, reader.report.total_bytes))
    if b"\x00" in head[:4096]:
        raise ExportFileError(path, "not a text file (binary data)")
    if reader.fmt == "jsonl":
        # Later JSONL lines may be bad on their own: they are skipped and counted on load.
        head = head.split(b"\n", 1)[0]
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise ExportFileError(path, f"not a text file: invalid UTF-8 at byte {exc.start}") from exc
    if reader.fmt == "csv":
        next(iter(reader.batches()), None)
        return None
    if reader.fmt == "jsonl":
        first = head.split(b"\n", 1)[0]
        return reader._jsonl_header(first, len(first) > MAX_RECORD_BYTES)
    stripped = head.lstrip()
    if not stripped.startswith(b"{"):
        raise ExportFileError(path, "not a Supervisor Desk JSON export (not a JSON object)")
    with reader._open() as f:
        f.seek(max(0, reader.report.total_bytes - 64))
        tail = f.read().rstrip()
    if not tail.endswith(b"}"):
        raise ExportFileError(path, "the file ends early (truncated): the JSON document is "
                              "not closed")
    walker_reader = ExportReader(path, batch_size=1)
    try:
        next(iter(walker_reader.batches()), None)
    except ExportFileError:
        raise
    return walker_reader.header


def iter_records(path: Path) -> Iterator[ExportedSession]:
    """Every whole record of a file (small files and tests; the GUI uses the index)."""
    reader = ExportReader(path)
    for batch in reader.batches():
        for entry in batch:
            yield reader.read_record(entry)


ProgressCallback = Callable[[ReadReport], None]



def project_csv(source: Path, dest: Path, columns: Iterable[str]) -> int:
    """Copy a CSV export keeping only ``columns`` (in the source's order); returns the rows.

    Streams row by row into a temporary file beside ``dest``, renamed over it when complete.
    Columns the source lacks are ignored, so a projection never fails on another version.
    """
    wanted = set(columns)
    dest = Path(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    tmp = Path(tmp_name)
    count = 0
    try:
        with open(source, encoding="utf-8", newline="") as src, \
                open(fd, "w", encoding="utf-8", newline="") as out:
            reader = csv.reader(src)
            writer = csv.writer(out, lineterminator="\r\n")
            header = next(reader, [])
            keep = [i for i, name in enumerate(header) if name in wanted]
            writer.writerow([header[i] for i in keep])
            for row in reader:
                writer.writerow([row[i] for i in keep if i < len(row)])
                count += 1
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
