"""Reading an export file in a child process, so the app's own threads keep the interpreter.

Parsing and validating a big export is CPU-bound Python (pydantic-core, ~50 µs a record):
run in a thread, it competes for the GIL with the Qt thread, which then waits for it in
slices of milliseconds that add up to visible stalls. Here a fresh interpreter
(``sys.executable -m`` this module: exec'd, never a fork of a process that has Qt threads)
runs the same :class:`ExportReader` and streams each batch back on its stdout as one frame
(8-byte length, then a pickle); the parent only unpickles ready records and shares their equal
parts again. The frames come from our own program through a private pipe, so unpickling them
trusts nothing the file says. No Qt here.

    python -m supervisor_desk.models.export.worker FILE [--copy PATH] [--max-sessions N]
        [--first-batch N] [--batch N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

from supervisor_desk.models.export.interner import Interner
from supervisor_desk.models.export.reader import ExportReader
from supervisor_desk.models.export.records import (
    ExportFileError,
    FileFormat,
    IndexedSession,
    ReadReport,
    format_of,
    is_compressed,
    raw_transcripts,
)
from supervisor_desk.models.lock_slices import LockSlicer
from supervisor_desk.models.wire import ExportHeader

_LENGTH = struct.Struct(">Q")
# Records per frame after the first, unless the caller asks for bigger batches.
FRAME_RECORDS = 250
# Records per pickle within a frame: one pickle.load in the parent is a single C call that
# holds the GIL throughout (a 1,000-record frame in one pickle held it 40 ms under load, and
# the Qt thread waited for it), so a batch crosses as pickles of this many records, loaded
# one at a time with the GIL free for the Qt thread between them.
PICKLE_RECORDS = 100
PIPE_BYTES = 1 << 20
STDERR_TAIL = 400  # characters of a crashed worker's stderr kept for the error message

Batch = tuple[list[IndexedSession], list[str | None]]
# (bytes read, total bytes, sessions, skipped, first problems)
Progress = tuple[int, int, int, int, list[str]]


class ReadProcessStartError(ExportFileError):
    """The child could not start, or ended before its first frame: nothing was read yet, so
    the caller can read the file in a thread of its own instead and lose nothing."""


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it was exec'd (``VmHWM``), for the record."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _progress(report: ReadReport) -> Progress:
    return (report.bytes_read, report.total_bytes, report.sessions, report.skipped,
            list(report.problems))


def _shared_object(number: int) -> Any:
    """Stands, in a pickle, for the shared object ``number``; never called on this side.

    The parent's unpickler resolves this name to its own table of shared objects
    (:class:`_SharedUnpickler`), so a reference costs one lookup there.
    """
    raise LookupError(f"shared object #{number} outside a reading process's frame")


class _SharingPickler(pickle.Pickler):
    """Pickles a model the parent already holds as a reference to it (``reducer_override``).

    The interner's shared models (agents, users, locations…) are sent once, in the frame
    where they first appear; later frames refer to them by number, so the parent keeps the
    sharing of this side without re-interning every summary itself. (``reducer_override`` is
    only asked about objects that are not plain strings, numbers, dicts, lists or sets: a few
    per record, where ``persistent_id`` would be asked about every one, ~100 per record.)
    """

    def __init__(self, file: IO[bytes], sent: dict[int, int]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._sent = sent

    def reducer_override(self, obj: Any) -> Any:
        number = self._sent.get(id(obj))
        if number is None:
            return NotImplemented
        return _shared_object, (number,)


class _SharedUnpickler(pickle.Unpickler):
    """The other end of :class:`_SharingPickler`: a reference is the shared object it names."""

    def __init__(self, file: IO[bytes], shared: list[Any]) -> None:
        super().__init__(file)
        self._shared = shared

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_shared_object":
            return self._shared.__getitem__
        return super().find_class(module, name)


class _Sender:
    """Writes frames: 8-byte length, the pickled new shared objects, the pickled message; a
    batch's message is followed by its records in pickles of ``PICKLE_RECORDS``, all through
    one pickler (its memo, and so the sharing within the frame, spans them)."""

    def __init__(self, out: IO[bytes], interner: Interner | None) -> None:
        self._out = out
        self._interner = interner
        # id() of each shared object sent -> its number; the interner keeps them alive.
        self._sent: dict[int, int] = {}

    def send(self, message: tuple[Any, ...],
             records: tuple[list[IndexedSession], list[str | None]] | None = None) -> None:
        buffer = io.BytesIO()
        new: list[Any] = []
        if self._interner is not None and self._interner.new:
            # Models only: dicts and sets are pickled in place (shared within a frame).
            new = [o for o in self._interner.new if not isinstance(o, dict | set)]
            self._interner.new = []
        pickler = _SharingPickler(buffer, self._sent)
        pickler.dump(new)
        for obj in new:
            self._sent[id(obj)] = len(self._sent)
        pickler.dump(message)
        if records is not None:
            entries, transcripts = records
            for start in range(0, len(entries), PICKLE_RECORDS):
                end = start + PICKLE_RECORDS
                pickler.dump((entries[start:end], transcripts[start:end]))
        data = buffer.getbuffer()
        self._out.write(_LENGTH.pack(len(data)))
        self._out.write(data)
        self._out.flush()


def serve(path: Path, out: IO[bytes], *, copy: Path | None, max_sessions: int | None,
          first_batch: int, batch: int) -> None:
    """The child's side: read ``path`` and write its frames to ``out`` until the end."""
    header_sent = False
    reader: ExportReader | None = None
    sender = _Sender(out, None)
    try:
        reader = ExportReader(path, batch_size=first_batch, max_sessions=max_sessions,
                              decompress_to=copy)
        reader.interner = Interner(track_new=True)
        sender = _Sender(out, reader.interner)
        for entries in reader.batches():
            header: ExportHeader | None = None
            if not header_sent and reader.header is not None:
                header, header_sent = reader.header, True
            transcripts = raw_transcripts(entries)
            for entry in entries:
                entry.texts = None  # they cross once, as the transcripts
            pieces = -(-len(entries) // PICKLE_RECORDS)
            sender.send(("batch", pieces, _progress(reader.report), header),
                        (entries, transcripts))
            reader.batch_size = batch
        sender.send(("end", _progress(reader.report), None,
                     None if header_sent else reader.header, _peak_rss_mb()))
    except ExportFileError as exc:
        report = reader.report if reader is not None else ReadReport()
        sender.send(("end", _progress(report), exc.problem,
                     reader.header if reader is not None and not header_sent else None,
                     _peak_rss_mb()))


class ExportReadProcess:
    """The parent's side: an :class:`ExportReader` look-alike whose reading runs in a child.

    ``batches()`` starts the child and yields ``(entries, raw transcripts)`` as frames arrive
    (the entries without their ``texts``: those crossed once, joined as the transcripts)
    (the pipe's buffer is the back-pressure: the child waits while nobody reads), keeping
    ``report`` and ``header`` up to date, and raises :class:`ExportFileError` as the reader
    would. ``cancel()`` (any thread) ends the child at once; ``close()`` also removes the
    decompressed copy of a ``.gz`` file, which the child writes and this object owns.
    """

    def __init__(self, path: Path, *, max_sessions: int | None = None,
                 first_batch: int = 200, batch: int = FRAME_RECORDS) -> None:
        self.path = Path(path)
        self.fmt: FileFormat = format_of(self.path)
        self.max_sessions = max_sessions
        self.first_batch = first_batch
        self.batch = batch
        self.header: ExportHeader | None = None
        self.report = ReadReport()
        self._shared: list[Any] = []  # the child's shared objects, by their number
        self.peak_rss_mb = float("nan")  # the child's, told in its last frame
        try:
            self.report.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise ExportFileError(self.path, f"cannot open: {exc.strerror or exc}") from exc
        if not self.path.is_file():
            raise ExportFileError(self.path, "not a regular file")
        self.compressed = is_compressed(self.path)
        self.data_path = self.path
        self._copy: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None  # the child's stderr, for a crash's message
        self._cancelled = False

    @property
    def has_transcripts(self) -> bool:
        return self.fmt != "csv"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", __name__, str(self.path),
                   "--first-batch", str(self.first_batch), "--batch", str(self.batch)]
        if self.max_sessions is not None:
            command += ["--max-sessions", str(self.max_sessions)]
        if self.compressed:
            # Transcripts are re-read by byte range later: the child decompresses into a copy
            # made (and later removed) by this side, so a killed child leaves nothing behind.
            fd, name = tempfile.mkstemp(prefix="supervisor-desk-", suffix=f".{self.fmt}")
            os.close(fd)
            self._copy = self.data_path = Path(name)
            command += ["--copy", name]
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (open until close())
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=self._errors)
        except OSError as exc:
            raise ReadProcessStartError(self.path, f"could not start reading ({exc})") from exc
        if sys.platform == "linux" and proc.stdout is not None:
            import fcntl

            # A 64 KiB pipe holds a tenth of a frame: with 1 MiB the child parses ahead while
            # this side is busy (the pipe's buffer is the only queue between the two).
            with contextlib.suppress(OSError):
                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return proc

    def _stderr_tail(self) -> str:
        errors = self._errors
        if errors is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace").strip()
            return text.splitlines()[-1][-STDERR_TAIL:] if text else ""
        return ""

    def _unpickle(self, frame: bytes) -> tuple[Any, ...]:
        unpickler = _SharedUnpickler(io.BytesIO(frame), self._shared)
        self._shared += unpickler.load()
        message: tuple[Any, ...] = unpickler.load()
        if message[0] != "batch":
            return message
        _, pieces, progress, header = message
        entries: list[IndexedSession] = []
        transcripts: list[str | None] = []
        slicer = LockSlicer()
        for _ in range(pieces):
            # One short C call per piece (~1 ms): between two, the Qt thread can take the
            # lock, and while it paints the table this thread stands aside.
            slicer.tick()
            more_entries, more_transcripts = unpickler.load()
            entries += more_entries
            transcripts += more_transcripts
        return "batch", entries, transcripts, progress, header

    def _update(self, progress: Progress, header: ExportHeader | None) -> None:
        report = self.report
        (report.bytes_read, report.total_bytes, report.sessions, report.skipped,
         report.problems) = progress
        if header is not None:
            self.header = header

    def batches(self) -> Generator[Batch]:
        if self._cancelled:
            raise ExportFileError(self.path, "reading was cancelled")
        if self.report.total_bytes == 0:
            raise ExportFileError(self.path, "the file is empty")
        proc = self._proc = self._start()
        assert proc.stdout is not None
        stream = proc.stdout
        ended = False  # the child's last frame arrived: it is exiting on its own
        framed = False  # a frame arrived: the child started and ran
        try:
            while True:
                head = stream.read(_LENGTH.size)
                if len(head) < _LENGTH.size:
                    break
                framed = True
                (length,) = _LENGTH.unpack(head)
                message = self._unpickle(stream.read(length))
                if message[0] == "batch":
                    _, entries, transcripts, progress, header = message
                    self._update(progress, header)
                    yield entries, transcripts
                    continue
                ended = True
                _, progress, error, header, self.peak_rss_mb = message
                self._update(progress, header)
                if error is not None:
                    raise ExportFileError(self.path, error)
                return
        finally:
            self._end_child(ended)
            detail = "" if ended or self._cancelled else self._stderr_tail()
            self._close_errors()
        if self._cancelled:
            raise ExportFileError(self.path, "reading was cancelled")
        status = proc.returncode
        problem = (f"the reading process stopped unexpectedly (exit status {status})"
                   + (f": {detail}" if detail else ""))
        if framed:
            raise ExportFileError(self.path, problem)
        raise ReadProcessStartError(self.path, problem)

    def _end_child(self, ended: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if not ended:
            # Stopped early (cancelled, or the caller stopped reading): nothing more is wanted.
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def _close_errors(self) -> None:
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def cancel(self) -> None:
        """End the child now (from any thread); a ``batches()`` in progress then raises."""
        self._cancelled = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def close(self) -> None:
        """End the child if it still runs and remove the ``.gz`` file's decompressed copy."""
        self.cancel()
        proc = self._proc
        if proc is not None:
            proc.wait()
        self._close_errors()
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)
            self._copy = None
            self.data_path = self.path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervisor_desk.models.export.worker")
    parser.add_argument("file", type=Path)
    parser.add_argument("--copy", type=Path, default=None)
    parser.add_argument("--max-sessions", type=int, default=None)
    parser.add_argument("--first-batch", type=int, default=200)
    parser.add_argument("--batch", type=int, default=FRAME_RECORDS)
    args = parser.parse_args(argv)
    # Ctrl+C in a terminal reaches the whole process group: the app decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames go to the real stdout only: anything printed by accident goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Run as ``-m``, this module is ``__main__``; pickles must name the importable module
    # (its _shared_object), so the serving code is taken from there.
    from supervisor_desk.models.export import worker

    try:
        worker.serve(args.file, out, copy=args.copy, max_sessions=args.max_sessions,
                     first_batch=args.first_batch, batch=args.batch)
    except BrokenPipeError:
        return 0  # the app stopped reading (the window closed): nothing left to do
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
