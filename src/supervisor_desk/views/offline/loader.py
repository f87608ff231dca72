"""Reading an export file in the background, batch by batch, into an :class:`OfflineIndex`.

A big file is parsed and validated in a child process (``models.export.worker``), so that work
never holds the interpreter lock the Qt thread needs; a worker thread here receives its
ready batches, and a small file (where starting a process would cost more than it saves) is
read by that thread itself. Each batch is appended to the index on the index's thread, so the
table can show the first rows while the rest is read and the Qt thread only hears about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import CancelledError, Executor, Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from supervisor_desk.models.export import (
    MAX_REVIEW_SESSIONS,
    MAX_REVIEW_TEXT_BYTES,
    ExportFileError,
    ExportReader,
    IndexedSession,
    ReadReport,
    too_much_text,
)
from supervisor_desk.models.export.worker import Batch, ExportReadProcess, ReadProcessStartError
from supervisor_desk.models.lock_slices import short_switch_interval
from supervisor_desk.models.offline_index import OfflineIndex, raw_transcripts
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy, hold_policy, release_policy
from supervisor_desk.views.tasks import TaskScope, standalone_scope

log = logging.getLogger(__name__)

FIRST_BATCH = 200  # small, so the first rows show within a fraction of a second
BATCH = 1000
QUEUED_BATCHES = 4
TRANSCRIPTS_PER_STEP = 5000  # normalised per step on the index's thread (~0.15 s)
STOP_POLL_S = 0.1
PENDING_ADDS = 3  # batches the reading thread may queue on the index's thread ahead of it
# Files from this size on are read in a child process (models.export.worker); None: every file
# in a thread here. On a quiet machine (docs/performance.md, offline open) the child costs
# ~0.45 s before the first rows (an interpreter and the models' imports) and breaks even on the
# whole open at ~30,000 sessions (118 MB: 2.8-5.0 s against 3.6 s); at 100,000 (393 MB) it
# opens in 6.9 s against 10.8 s with the longest stall halved. Smaller files: a thread here.
PROCESS_FROM_BYTES: int | None = 100 << 20


class OfflineLoader(QObject):
    """Reads a file in a worker thread; batches land in ``index`` on the Qt thread."""

    batch_loaded = Signal(int)  # sessions in the index so far
    progress_changed = Signal(int, int)  # bytes read, total bytes
    finished = Signal(object)  # ReadReport
    failed = Signal(str)  # the ExportFileError text, naming the file and the problem

    def __init__(self, path: Path, parent: QObject | None = None, *,
                 tasks: TaskScope | None = None,
                 index_executor: Executor | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        # Where the index is changed and queried (one thread: never both at once); None: here.
        self.index_executor = index_executor
        self.tasks = tasks or standalone_scope("offline-load")
        self.max_transcript_bytes = MAX_REVIEW_TEXT_BYTES
        self.process_from_bytes = PROCESS_FROM_BYTES
        self.index: OfflineIndex | None = None
        self._building: OfflineIndex | None = None  # the reading thread's, before Qt hears
        self.reader: ExportReader | ExportReadProcess | None = None
        self.report = ReadReport()
        self.error = ""
        self.done = False
        self._stop = threading.Event()
        self._task: asyncio.Task[Any] | None = None
        self._thread: threading.Thread | None = None
        self._ended: asyncio.Future[None] | None = None

    def start(self) -> asyncio.Task[Any]:
        self._task = self.tasks.spawn(self._run(), "offline-load")
        return self._task

    def cancel(self) -> None:
        self._stop.set()
        if self.reader is not None:
            self.reader.cancel()  # a .gz being decompressed stops within a chunk
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        """Until the load task and its reading thread have both ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._thread_ended()

    async def _thread_ended(self) -> None:
        # The worker notices a stop within STOP_POLL_S plus one batch's parsing.
        if self._ended is not None:
            await asyncio.shield(self._ended)

    def _work_then_report_end(self, deliver: Callable[[tuple[Any, ...]], bool],
                              loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._work(deliver)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(self._mark_ended)

    def _mark_ended(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    def _work(self, deliver: Callable[[tuple[Any, ...]], bool]) -> None:
        """The reading thread: parse and normalise batches, hand them over until stopped."""
        pending: deque[Future[int]] = deque()  # appends queued on the index's thread
        try:
            reader, batches = self._open_reader()
            if self._stop.is_set():
                return
            if not deliver(("reader", reader)):
                return
            text_bytes = 0
            try:
                for batch, transcripts in batches:
                    if self._stop.is_set():
                        return
                    if self.index_executor is None:
                        if not deliver(("batch", batch, transcripts)):
                            return
                    else:
                        # Straight to the index's thread (the Qt thread only hears of it), and
                        # on to the next batch meanwhile: waiting here would hold the reading
                        # process back while this one appends and normalises.
                        added = self._submit_add(reader, batch, transcripts)
                        if added is None:
                            return
                        pending.append(added)
                        while len(pending) >= PENDING_ADDS:
                            if not self._deliver_added(pending.popleft(), deliver):
                                return
                    text_bytes += sum(sys.getsizeof(t) for t in transcripts if t is not None)
                    if text_bytes > self.max_transcript_bytes:
                        # Long transcripts: fewer sessions fit the memory bound than the limit.
                        raise ExportFileError(self.path, too_much_text(
                            reader.report.sessions, text_bytes, self.max_transcript_bytes))
            finally:
                batches.close()  # a reading process stopped early ends here, not at exit
            if self._deliver_all_added(pending, deliver):
                deliver(("done",))
        except ExportFileError as exc:
            # What was read before the problem is shown (a truncated file keeps its rows).
            if self._deliver_all_added(pending, deliver):
                deliver(("error", str(exc)))
        except Exception as exc:  # a reader bug must still end the load with a message
            log.exception("offline load of %s failed", self.path)
            deliver(("error", f"{self.path.name}: could not be read ({exc})"))

    def _open_reader(self) -> tuple[ExportReader | ExportReadProcess, Generator[Batch]]:
        """A big file's reading process, started and its first batch in; a small file's
        reader here, or a big file's when the process cannot start."""
        if self.process_from_bytes is not None and _size(self.path) >= self.process_from_bytes:
            process = ExportReadProcess(self.path, first_batch=FIRST_BATCH, batch=BATCH,
                                        max_sessions=MAX_REVIEW_SESSIONS)
            # Set at once, not on delivery: cancel() and the window's close() need it.
            self.reader = process
            batches = process.batches()
            try:
                first = next(batches, None)
            except ReadProcessStartError as exc:
                # Nothing was read yet: the thread path reads the whole file, slower but whole.
                log.warning("%s; reading it in a thread instead", exc)
                process.close()
            else:
                return process, _resumed(first, batches)
        reader = ExportReader(self.path, batch_size=FIRST_BATCH, max_sessions=MAX_REVIEW_SESSIONS)
        self.reader = reader
        return reader, _read_here(reader)

    def _submit_add(self, reader: ExportReader | ExportReadProcess,
                    batch: list[IndexedSession],
                    transcripts: list[str | None]) -> Future[int] | None:
        """Queue a batch's append on the index's thread (``None``: the window is closing)."""
        assert self.index_executor is not None
        if self._building is None:
            self._building = self._new_index(reader)
        try:
            return self.index_executor.submit(
                _add_batch, self._building, batch, transcripts,
                normalize=isinstance(reader, ExportReadProcess))
        except RuntimeError:  # the index's thread was shut down
            return None

    def _deliver_added(self, added: Future[int],
                       deliver: Callable[[tuple[Any, ...]], bool]) -> bool:
        """Wait for one queued append, then tell the Qt side how many sessions there are."""
        try:
            count = added.result()
        except CancelledError:  # the window is closing: its thread dropped the rest
            return False
        return deliver(("added", self._building, count))

    def _deliver_all_added(self, pending: deque[Future[int]],
                           deliver: Callable[[tuple[Any, ...]], bool]) -> bool:
        while pending:
            if not self._deliver_added(pending.popleft(), deliver):
                return False
        return True

    @staticmethod
    def _new_index(reader: ExportReader | ExportReadProcess) -> OfflineIndex:
        header = reader.header
        return OfflineIndex(
            reader.data_path,  # a .gz file's transcripts: its decompressed copy
            has_transcripts=reader.has_transcripts,
            now=header.exported_at if header and header.exported_at else None,
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        ready: deque[tuple[Any, ...]] = deque()
        arrived = asyncio.Event()
        # Back-pressure: the worker waits while the Qt side is this many batches behind.
        free = threading.Semaphore(QUEUED_BATCHES)

        def deliver(item: tuple[Any, ...]) -> bool:
            while not free.acquire(timeout=STOP_POLL_S):
                if self._stop.is_set():
                    return False
            if self._stop.is_set():
                return False
            ready.append(item)
            try:
                loop.call_soon_threadsafe(arrived.set)
            except RuntimeError:  # the loop has closed under us: nobody is listening
                return False
            return True

        # A daemon thread of our own (not the loop's default executor): a stop reaches it
        # within STOP_POLL_S, and an interrupted process never waits for it at exit.
        self._ended = loop.create_future()
        self._thread = threading.Thread(target=self._work_then_report_end,
                                        args=(deliver, loop), name="offline-load", daemon=True)
        # Garbage is collected here, on the Qt thread, while the threads read (gc_policy.py).
        gc_policy = hold_policy()
        # The reading and index threads run Python beside this one: its visits to Python
        # between paints wait for the lock at most a millisecond, not 5 (lock_slices.py).
        switch_interval = short_switch_interval()
        self._thread.start()
        switch_interval.__enter__()  # after the start: a thread that cannot start leaves none
        try:
            while not self.done:
                await arrived.wait()
                arrived.clear()
                while ready and not self.done:
                    item = ready.popleft()
                    free.release()
                    await self._handle(item)
                    gc_policy.collect_due()
                    if item[0] in ("added", "batch"):
                        # The rows just read live as long as the window: out of the collector's
                        # walks, as the live snapshot is. Without, every tenth collection walked
                        # the last ten batches on this thread (30k sessions: up to 50-80 ms).
                        gc_policy.freeze_long_lived()
                    # One batch per loop turn: input and paint events run between batches.
                    await asyncio.sleep(0)
            await self._normalize_transcripts(gc_policy)
        finally:
            self._stop.set()
            try:
                await self._thread_ended()
            finally:
                release_policy()
                switch_interval.__exit__(None, None, None)

    async def _on_index[T](self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` where the index lives (its thread, or here without one)."""
        if self.index_executor is None:
            return fn(*args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self.index_executor, functools.partial(fn, *args, **kwargs))

    async def _normalize_transcripts(self, gc_policy: GarbageCollectionPolicy) -> None:
        """After the read: the transcripts still raw, normalised for search a chunk at a time.

        Reading in a thread only joins each session's texts; the normalisation (a third of the
        reading cost) comes after the last row is shown. A search in transcripts before it
        ends does the rest at once. (A file read by a child process is normalised batch by
        batch while it is read: nothing is left here.)
        """
        index = self.index
        remaining = index.pending_transcripts if index is not None else 0
        while index is not None and remaining:
            remaining = await self._on_index(index.normalize_transcripts, TRANSCRIPTS_PER_STEP)
            gc_policy.collect_due()

    async def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "reader":
            self.reader = item[1]
            self.report = item[1].report
        elif kind == "added":  # appended on the index's thread already
            self.index = item[1]
            self.progress_changed.emit(self.report.bytes_read, self.report.total_bytes)
            self.batch_loaded.emit(item[2])
        elif kind == "batch":  # no index thread: appended here
            if self.index is None:
                assert self.reader is not None
                self.index = self._new_index(self.reader)
            _add_batch(self.index, item[1], item[2],
                       normalize=isinstance(self.reader, ExportReadProcess))
            self.progress_changed.emit(self.report.bytes_read, self.report.total_bytes)
            self.batch_loaded.emit(len(self.index))
        elif kind == "error":
            self.error = item[1]
            self.done = True
            self.failed.emit(self.error)
        else:
            self.done = True
            self.progress_changed.emit(self.report.total_bytes, self.report.total_bytes)
            self.finished.emit(self.report)


def _add_batch(index: OfflineIndex, batch: list[IndexedSession],
               transcripts: list[str | None], *, normalize: bool) -> int:
    """Append a batch; returns how many sessions the index holds then."""
    index.add(batch, transcripts, normalized=False)
    if normalize:
        # The parsing runs in the child process, so this process has the time to make each
        # batch searchable as it comes, instead of in one pass after the last row.
        index.normalize_transcripts(len(batch))
    return len(index)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader says what is wrong with it


def _resumed(first: Batch | None, rest: Generator[Batch]) -> Generator[Batch]:
    """``first`` (already taken from ``rest``, ``None`` if it had none), then the rest."""
    try:
        if first is not None:
            yield first
        yield from rest
    finally:
        rest.close()


def _read_here(reader: ExportReader) -> Generator[Batch]:
    """A small file's batches, read by the calling thread."""
    for batch in reader.batches():
        yield batch, raw_transcripts(batch)
        reader.batch_size = BATCH
