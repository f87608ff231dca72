"""Reading an export file in a worker thread, batch by batch, into an :class:`OfflineIndex`.

Parsing and text normalisation happen in the worker; each batch is appended to the index on
the Qt thread (a cheap append), so the table can show the first rows while the rest is read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from supervisor_desk.models.export import (
    ExportFileError,
    ExportReader,
    IndexedSession,
    ReadReport,
)
from supervisor_desk.models.offline_index import OfflineIndex, prepare_transcripts
from supervisor_desk.views.tasks import TaskScope, standalone_scope

log = logging.getLogger(__name__)

FIRST_BATCH = 200  # small, so the first rows show within a fraction of a second
BATCH = 1000


class OfflineLoader(QObject):
    """Reads a file in a worker thread; batches land in ``index`` on the Qt thread."""

    batch_loaded = Signal(int)  # sessions in the index so far
    progress_changed = Signal(int, int)  # bytes read, total bytes
    finished = Signal(object)  # ReadReport
    failed = Signal(str)  # the ExportFileError text, naming the file and the problem

    def __init__(self, path: Path, parent: QObject | None = None, *,
                 tasks: TaskScope | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.tasks = tasks or standalone_scope("offline-load")
        self.index: OfflineIndex | None = None
        self.reader: ExportReader | None = None
        self.report = ReadReport()
        self.error = ""
        self.done = False
        self._stop = threading.Event()
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> asyncio.Task[Any]:
        self._task = self.tasks.spawn(self._run(), "offline-load")
        return self._task

    def cancel(self) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=4)

        def post(item: Any) -> None:
            # Back-pressure: the worker waits while the Qt side is 4 batches behind.
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def work() -> None:
            try:
                reader = ExportReader(self.path, batch_size=FIRST_BATCH)
                post(("reader", reader))
                for batch in reader.batches():
                    if self._stop.is_set():
                        return
                    post(("batch", batch, prepare_transcripts(batch)))
                    reader.batch_size = BATCH
                post(("done", None))
            except ExportFileError as exc:
                post(("error", str(exc)))
            except Exception as exc:  # a reader bug must still end the load with a message
                log.exception("offline load of %s failed", self.path)
                post(("error", f"{self.path.name}: could not be read ({exc})"))

        # A plain thread of our own (not the loop's default executor, QThreads under qasync):
        # it ends with the load and never outlives the loop that waits for it.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offline-load")
        worker = loop.run_in_executor(executor, work)
        try:
            while True:
                item = await queue.get()
                kind = item[0]
                if kind == "reader":
                    self.reader = item[1]
                    self.report = self.reader.report
                elif kind == "batch":
                    batch: list[IndexedSession] = item[1]
                    if self.index is None:
                        assert self.reader is not None
                        header = self.reader.header
                        self.index = OfflineIndex(
                            self.path,
                            has_transcripts=self.reader.has_transcripts,
                            now=header.exported_at if header and header.exported_at else None,
                        )
                    self.index.add(batch, item[2])
                    self.progress_changed.emit(self.report.bytes_read, self.report.total_bytes)
                    self.batch_loaded.emit(len(self.index))
                elif kind == "error":
                    self.error = item[1]
                    self.done = True
                    self.failed.emit(self.error)
                    break
                else:
                    self.done = True
                    self.progress_changed.emit(self.report.total_bytes, self.report.total_bytes)
                    self.finished.emit(self.report)
                    break
        finally:
            self._stop.set()
            # Unblock a worker waiting on a full queue, then let it end.
            while not worker.done():
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.sleep(0.01)
            executor.shutdown(wait=True)
