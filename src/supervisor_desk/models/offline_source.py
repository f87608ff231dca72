"""An opened export file answering as the hub would: History's source and the detail client.

Both adapt :class:`OfflineIndex` to the interfaces the History and detail view-models use
against the hub, so offline review reuses those view-models and widgets unchanged. Queries
are list slices over cached orders (well under a frame, so they run on the caller's thread);
a transcript is read from the file by byte range on this client's own reading thread, shut
down by :meth:`OfflineDetailClient.close`. No Qt here.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from supervisor_desk.models.export.recordings import bundled_recording, recording_of
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.offline_index import OfflineIndex
from supervisor_desk.models.wire import (
    ExportedSession,
    MeAnswer,
    Metrics,
    NamedItem,
    SessionDetail,
    SessionPage,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
    UserRef,
)

OFFLINE_PERMISSIONS = ["sessions:read", "logs:read"]


class OfflineSessionSource:
    """History's ``SessionSource`` over an opened file.

    With ``executor`` (one thread, the one that also appends the batches being read), every
    query runs there: sorting or filtering a quarter of a million rows takes a good fraction
    of a second, which the caller's (Qt) thread must not spend. Without it, queries run
    inline (tests, small tools).
    """

    def __init__(self, index: OfflineIndex, executor: Executor | None = None) -> None:
        self.index = index
        self._executor = executor

    async def _call[T](self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def page(self, flt: SessionFilter, sort: str, offset: int, limit: int) -> SessionPage:
        return await self._call(self.index.query, flt, sort, offset, limit)

    async def metrics(self, flt: SessionFilter) -> Metrics | None:
        return await self._call(self.index.metrics, flt)

    async def agents(self) -> list[NamedItem]:
        return await self._call(self.index.agents)

    async def operators(self) -> list[NamedItem]:
        return await self._call(self.index.operators)


class OfflineError(Exception):
    """Raised where the hub would answer something a file cannot (hand-over)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = None
        self.code = "offline"


class OfflineDetailClient:
    """The detail pane's hub client, answered from the file: transcripts read on demand."""

    def __init__(self, index: OfflineIndex, source: OfflineSessionSource | None = None) -> None:
        self.index = index
        self._source = source or OfflineSessionSource(index)
        self._cache: tuple[str, ExportedSession] | None = None
        # Small reads, one at a time; the thread starts with the first transcript opened.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offline-read")

    async def _record(self, session_id: str) -> ExportedSession:
        if self._cache is not None and self._cache[0] == session_id:
            return self._cache[1]
        if self.index.get(session_id) is None:
            raise OfflineError(f"session {session_id!r} is not in this file")
        record = await asyncio.get_running_loop().run_in_executor(
            self._reader, self.index.record, session_id)
        self._cache = (session_id, record)
        return record

    async def session(self, session_id: str) -> SessionDetail:
        record = await self._record(session_id)
        return SessionDetail(session=record.session, messages=record.messages)

    async def logs(self, session_id: str, kind: Any) -> list[SystemLogEntry] | list[TraceLogEntry]:
        record = await self._record(session_id)
        if kind == "system":
            return list(record.logs.system)
        return list(record.logs.trace)

    async def me(self) -> MeAnswer:
        return MeAnswer(
            user=UserRef(id="offline", name="Offline review"),
            role="viewer",
            permissions=list(OFFLINE_PERMISSIONS),
        )

    async def handover(self, session_id: str, operator_id: str | None = None) -> SessionSummary:
        raise OfflineError("An exported file is read-only: hand-over needs the hub")

    async def operators(self) -> list[NamedItem]:
        return []

    async def sessions(
        self,
        flt: SessionFilter | None = None,
        sort: str = "-started_at",
        offset: int = 0,
        limit: int = 50,
    ) -> SessionPage:
        return await self._source.page(flt or SessionFilter(), sort, offset, limit)

    async def download_file(self, session_id: str, file_id: str, dest: Path) -> int:
        """A recording bundled with the export (beside it, or unpacked from its .zip)."""
        record = await self._record(session_id)
        ref = recording_of(record.session, record.messages)
        # Off the event loop: a recording of a .zip bundle is taken out of it on first use.
        source = None if ref is None or ref.file_id != file_id else \
            await asyncio.get_running_loop().run_in_executor(
                self._reader, bundled_recording, self.index.path, ref)
        if source is None:
            raise OfflineError("This export was made without its recordings")
        await asyncio.get_running_loop().run_in_executor(
            self._reader, shutil.copyfile, source, dest)
        return source.stat().st_size

    def close(self) -> None:
        """Stop the reading thread (waits for a read in progress: one record, milliseconds)."""
        self._reader.shutdown(wait=True, cancel_futures=True)
