"""View-model of the session detail: loads the selected session and its logs, follows it live.

Widgets never talk to the hub; this QObject does, through a ``HubClient``-like object. Its
tasks run in the ``TaskScope`` it receives (the app's owner names, tracks and reports them);
a load in flight is cancelled on ``select`` of another session, all of them on ``aclose``.
Live feed changes reach it through ``on_message``/``on_session`` (called by the live
view-model's signals); only those of the selected session are forwarded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from supervisor_desk.client.recording_stream import RecordingSource

# hub_file_of lives with the recordings' model; imported here for the chat's attachments too.
from supervisor_desk.models.export.recordings import hub_file_of as hub_file_of
from supervisor_desk.models.export.recordings import recording_of
from supervisor_desk.models.wire import (
    MeAnswer,
    Message,
    NamedItem,
    SessionDetail,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
)
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.tasks import TaskScope, standalone_scope

LOG_KINDS = ("trace", "system")
# An image attachment larger than this is not previewed (its card still downloads it).
PREVIEW_MAX_BYTES = 10 * 1024 * 1024


class DetailClient(Protocol):
    async def session(self, session_id: str) -> SessionDetail: ...
    async def logs(self, session_id: str, kind: Any) -> Any: ...
    async def me(self) -> MeAnswer: ...
    async def operators(self) -> list[NamedItem]: ...
    async def handover(
        self, session_id: str, operator_id: str | None = None
    ) -> SessionSummary: ...


def decode_image(data: bytes) -> QImage | None:
    """Decode image bytes (run in a worker thread: QImage is reentrant); None if unreadable."""
    image = QImage()
    if not data or not image.loadFromData(data) or image.isNull():
        return None
    return image


def describe_error(exc: BaseException) -> str:
    """A plain sentence for the reader: the hub's own message when it gave one."""
    message = getattr(exc, "message", None)
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    if code == "unreachable":
        return f"The hub cannot be reached: {message or exc}"
    if isinstance(message, str) and message:
        return f"{message} (HTTP {status})" if status else message
    return str(exc) or type(exc).__name__


class DetailViewModel(QObject):
    detail_loaded = Signal(object)  # SessionDetail | None
    message_appended = Signal(object)  # Message
    message_updated = Signal(object)  # Message
    session_changed = Signal(object)  # SessionSummary
    logs_loaded = Signal(str, object)  # kind, list[SystemLogEntry] | list[TraceLogEntry]
    logs_failed = Signal(str)
    logs_stale = Signal()  # the selected session's logs grew on the hub
    loading_changed = Signal(bool)
    client_changed = Signal(object)  # the hub client (None: signed out / offline)
    error_occurred = Signal(str)
    find_requested = Signal(str)  # after detail_loaded: show these words in the transcript
    image_loaded = Signal(str, object)  # hub file id, QImage | None (could not fetch/decode)

    loading = ObservableProperty(False)

    def __init__(
        self,
        client: DetailClient | None,
        parent: QObject | None = None,
        *,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks or standalone_scope("detail")
        self._client = client
        self._session_id: str | None = None
        self._summary: SessionSummary | None = None
        self._message_ids: set[str] = set()
        self._pending: list[Message] = []
        self._find = ""
        self._load_task: asyncio.Task[Any] | None = None
        self._logs_task: asyncio.Task[Any] | None = None
        self._offline: dict[str, tuple[SessionDetail, dict[str, list[Any]]]] = {}

    # --- state --------------------------------------------------------------------------
    @property
    def client(self) -> DetailClient | None:
        return self._client

    def set_client(self, client: DetailClient | None) -> None:
        """Another hub (or offline review: None); the selection is cleared."""
        self.select(None)
        self._client = client
        self.client_changed.emit(client)

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def summary(self) -> SessionSummary | None:
        return self._summary

    def set_offline_sessions(
        self, sessions: dict[str, tuple[SessionDetail, dict[str, list[Any]]]]
    ) -> None:
        """Sessions read from an export file: ``select`` shows them without the network."""
        self._offline = dict(sessions)

    # --- selection ----------------------------------------------------------------------
    def select(self, session_id: str | None, *, find: str = "") -> None:
        """Show this session (None: nothing); a load in flight for another one is cancelled.

        ``find``: the full-text search that listed it; once loaded the chat opens on it.
        """
        self._cancel(self._load_task)
        self._cancel(self._logs_task)
        self._load_task = None
        self._logs_task = None
        self._session_id = session_id
        self._summary = None
        self._message_ids = set()
        self._pending = []
        self._find = find
        if session_id is None:
            self.loading = False
            self.detail_loaded.emit(None)
            return
        offline = self._offline.get(session_id)
        if offline is not None:
            self._apply_detail(offline[0])
            return
        if self._client is None:
            self.error_occurred.emit("Not connected to a hub")
            return
        self.loading = True
        self._load_task = self.tasks.spawn(self._load(session_id), f"detail-load-{session_id}")

    def reload(self) -> None:
        self.select(self._session_id)

    # --- recordings ---------------------------------------------------------------------
    def recording_for(
        self, summary: SessionSummary, messages: Sequence[Message] = ()
    ) -> tuple[Callable[[Path], Awaitable[Any]], str] | None:
        """How to fetch a session's recording (metadata ``recording`` or an audio attachment,
        a hub file) and its file name; None when it has none or the client cannot fetch."""
        ref = recording_of(summary, messages)
        # The hub client, or an offline file's client serving recordings bundled with it.
        download = getattr(self._client, "download_file", None)
        if ref is None or download is None:
            return None

        async def fetch(dest: Path) -> Any:
            return await download(ref.session_id, ref.file_id, dest)

        # The hub's file plays as it streams in Range requests (an offline file: copied).
        file_range = getattr(self._client, "file_range", None)
        read_range = None if file_range is None else functools.partial(
            file_range, ref.session_id, ref.file_id)
        return RecordingSource(fetch, read_range), ref.name

    def file_fetcher(
        self, session_id: str, url: str
    ) -> Callable[[Path], Awaitable[Any]] | None:
        """How to save an attachment that is a file of the hub (``hub:<id>`` or the hub's own
        path for this session), with the user's token; None for anything else."""
        file_id = hub_file_of(url, session_id)
        download = getattr(self._client, "download_file", None)
        if file_id is None or download is None:
            return None

        async def fetch(dest: Path) -> Any:
            return await download(session_id, file_id, dest)

        return fetch

    # --- image previews -----------------------------------------------------------------
    def fetch_image(self, session_id: str, file_id: str) -> None:
        """Fetch a hub file with the user's token and decode it off the Qt thread;
        ``image_loaded`` follows (None when the hub refused it, it is too large or not an
        image). Only files of the hub come here, never third-party URLs."""
        # Always through a task: the chat asks while laying rows out, and must not be
        # answered in the middle of it.
        self.tasks.spawn(self._fetch_image(session_id, file_id), f"detail-image-{file_id[:12]}")

    async def _fetch_image(self, session_id: str, file_id: str) -> None:
        file_range = getattr(self._client, "file_range", None)
        image: QImage | None = None
        try:
            if file_range is not None:
                data, total = await file_range(session_id, file_id, 0, PREVIEW_MAX_BYTES - 1)
                if total <= PREVIEW_MAX_BYTES:
                    loop = asyncio.get_running_loop()
                    image = await loop.run_in_executor(None, decode_image, bytes(data))
        except asyncio.CancelledError:
            raise
        except Exception:  # the card says "Preview unavailable"; the file stays downloadable
            image = None
        self.image_loaded.emit(file_id, image)

    async def _load(self, session_id: str) -> None:
        assert self._client is not None
        try:
            detail = await self._client.session(session_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown to the reader, the app keeps running
            if session_id == self._session_id:
                self.loading = False
                self.error_occurred.emit(f"Could not open the session: {describe_error(exc)}")
            return
        if session_id == self._session_id:
            self._apply_detail(detail)

    def _apply_detail(self, detail: SessionDetail) -> None:
        pending = [m for m in self._pending if m.session_id == detail.session.id]
        self._pending = []
        self._summary = detail.session
        self._message_ids = {m.id for m in detail.messages}
        self.loading = False
        self.detail_loaded.emit(detail)
        find, self._find = self._find, ""
        if find:
            self.find_requested.emit(find)
        # Messages that arrived on the feed while the detail was in flight.
        for message in pending:
            self.on_message(message)

    # --- live feed hooks ----------------------------------------------------------------
    def on_message(self, msg: Message) -> None:
        """A message created or updated on the feed (any session; others are ignored)."""
        if msg.session_id != self._session_id:
            return
        if self._summary is None:
            self._pending.append(msg)
            return
        if msg.id in self._message_ids:
            self.message_updated.emit(msg)
        else:
            self._message_ids.add(msg.id)
            self.message_appended.emit(msg)

    def on_logs_appended(self, session_id: str) -> None:
        """``log.appended`` on the feed: the open logs drawer should fetch again."""
        if session_id == self._session_id:
            self.logs_stale.emit()

    def on_session(self, summary: SessionSummary) -> None:
        """A session changed on the feed (status, responsible, results …)."""
        if summary.id != self._session_id:
            return
        if self._summary is not None and summary.version < self._summary.version:
            return
        self._summary = summary
        self.session_changed.emit(summary)

    def catch_up(self) -> None:
        """Fetch the selected session again and add what the feed has not delivered yet.

        Used after an action of ours (hand-over) so its marker shows even while the feed
        reconnects; ids already seen are skipped, so feed and fetch never duplicate.
        """
        session_id = self._session_id
        if session_id is None or self._client is None or session_id in self._offline:
            return
        self.tasks.spawn(self._catch_up(session_id), f"detail-catch-up-{session_id}")

    async def _catch_up(self, session_id: str) -> None:
        assert self._client is not None
        try:
            detail = await self._client.session(session_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the feed still delivers; nothing to show here
            return
        if session_id != self._session_id or self._summary is None:
            return
        self.on_session(detail.session)
        for message in sorted(detail.messages, key=lambda m: m.seq):
            if message.id not in self._message_ids:
                self.on_message(message)

    # --- logs ---------------------------------------------------------------------------
    def load_logs(self) -> None:
        """Fetch both log kinds of the selected session (Refresh in the logs drawer)."""
        session_id = self._session_id
        if session_id is None:
            return
        offline = self._offline.get(session_id)
        if offline is not None:
            for kind in LOG_KINDS:
                self.logs_loaded.emit(kind, list(offline[1].get(kind, [])))
            return
        if self._client is None:
            self.logs_failed.emit("Not connected to a hub")
            return
        self._cancel(self._logs_task)
        self._logs_task = self.tasks.spawn(self._load_logs(session_id), f"detail-logs-{session_id}")

    async def _load_logs(self, session_id: str) -> None:
        assert self._client is not None
        for kind in LOG_KINDS:
            try:
                entries: list[SystemLogEntry] | list[TraceLogEntry] = await self._client.logs(
                    session_id, kind
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shown in the drawer
                if session_id == self._session_id:
                    self.logs_failed.emit(f"Could not load logs: {describe_error(exc)}")
                return
            if session_id != self._session_id:
                return
            self.logs_loaded.emit(kind, list(entries))

    # --- tasks --------------------------------------------------------------------------
    @staticmethod
    def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and not task.done():
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every task of this view-model's scope and wait for them."""
        await self.tasks.aclose()
