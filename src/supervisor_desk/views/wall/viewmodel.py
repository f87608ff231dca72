"""The Wall's state: which live session each tile follows, its transcript rows and header.

Live summaries and messages arrive from the LiveViewModel once per frame; each tile's
transcript is loaded once from the hub when its session enters the wall, and from then on
only appended to (messages the feed delivered during the load are merged by id). A session
that ends stays, faded, for ``REPLACE_AFTER_S`` seconds and is then replaced.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.models.chat_rows import message_row
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.wire import Message, SessionDetail, SessionSummary
from supervisor_desk.views.chat.model import ChatModel
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.tasks import TaskScope
from supervisor_desk.views.wall.selection import assign, candidates

log = logging.getLogger(__name__)

REPLACE_AFTER_S = 8.0
LAYOUTS = {"2x2": 4, "3x3": 9, "auto": 0}
MAX_AUTO_TILES = 16
# A tile is a glance at the recent conversation: past MAX_TILE_ROWS it keeps the last
# KEEP_TILE_ROWS (the main window has the whole transcript), so nine busy tiles stay small.
MAX_TILE_ROWS = 400
KEEP_TILE_ROWS = 200

DetailLoader = Callable[[str], Awaitable[SessionDetail]]


@dataclass
class WallTile:
    session_id: str
    summary: SessionSummary | None
    model: ChatModel
    message_ids: set[str] = field(default_factory=set)
    ended_at: float | None = None
    loaded: bool = False


class WallViewModel(QObject):
    tiles_changed = Signal()  # the slots were reassigned (count or sessions)
    time_zone_changed = Signal(object)  # tzinfo: the app's time-zone preference
    tile_changed = Signal(int)  # a slot's header or ended state changed
    mode_changed = Signal(str)
    layout_name_changed = Signal(str)

    mode = ObservableProperty("longest_waiting")
    layout_name = ObservableProperty("3x3")

    def __init__(self, tasks: TaskScope, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.loader: DetailLoader | None = None
        self.sessions: Callable[[], Iterable[SessionSummary]] = list
        self.pinned: list[str] = []
        self.filter = SessionFilter()  # History's, followed as it changes
        self.saved_filter: SessionFilter | None = None  # a saved view's, chosen on the wall
        # The alert rules' severity of a session (None: no alert), shown in its header.
        self.alert_state: Callable[[str], str | None] = lambda _sid: None
        self.alerting: Callable[[], Collection[str]] = frozenset
        self.tz: tzinfo = datetime.now().astimezone().tzinfo or UTC
        self.monotonic: Callable[[], float] = time.monotonic
        self.tiles: list[WallTile | None] = []
        # No timer of its own: the app's clock calls tick() while the Wall window shows.
        # Messages waiting for their tile, and the zero-delay timer that hands them over.
        self._pending: dict[str, list[Message]] = {}
        self._apply_timer = QTimer(self)
        self._apply_timer.setSingleShot(True)
        self._apply_timer.setInterval(0)
        self._apply_timer.timeout.connect(self._on_apply_timer_timeout)
        # Whether anyone can see the tiles (the app: the Wall window is open and on screen).
        # While nobody can, the feed only keeps the chosen tiles' headers and transcripts
        # current: choosing (and loading) the sessions to follow on every frame was work
        # nobody saw (44 µs a session update with 50 live); the choice is made as the Wall
        # shows (``tick``).
        self.on_screen: Callable[[], bool] = lambda: True
        self._reselect_due = False

    # ------------------------------------------------------------------ choices

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.reselect(replace_all=True)

    def set_layout(self, name: str) -> None:
        self.layout_name = name
        self.reselect()

    def set_filter(self, flt: SessionFilter) -> None:
        self.filter = flt
        if self.mode == "filter" and self.saved_filter is None:
            self.reselect(replace_all=True)

    def show_saved_filter(self, flt: SessionFilter | None) -> None:
        """Show the sessions of a saved view's filter (``None``: History's filter again)."""
        self.saved_filter = flt
        self.mode = "filter"
        self.reselect(replace_all=True)

    def pin(self, session_id: str) -> None:
        if session_id not in self.pinned:
            self.pinned.append(session_id)
        if self.mode == "pinned":
            self.reselect()

    def unpin(self, session_id: str) -> None:
        if session_id in self.pinned:
            self.pinned.remove(session_id)
        if self.mode == "pinned":
            self.reselect(replace_all=False)

    def set_time_zone(self, tz: tzinfo) -> None:
        """Times in the tiles follow the app's time-zone preference, as the chat's do."""
        self.tz = tz
        for tile in self.tiles:
            if tile is not None:  # markers carry their time in their text
                tile.model.set_rows([message_row(r.message, tz) if r.message is not None else r
                                     for r in tile.model.rows()])
        self.time_zone_changed.emit(tz)

    def columns(self) -> int:
        return max(1, math.ceil(math.sqrt(max(1, len(self.tiles)))))

    # ------------------------------------------------------------------ selection

    def reselect(self, replace_all: bool = False) -> None:
        self._reselect_due = False
        now = datetime.now(UTC)
        flt = self.saved_filter if self.saved_filter is not None else self.filter
        ranked = candidates(self.sessions(), self.mode, self.pinned, flt, now, self.alerting())
        slots = LAYOUTS.get(self.layout_name, 9) or max(1, min(MAX_AUTO_TILES, len(ranked)))
        current = [t.session_id if t is not None else None for t in self.tiles]
        keep: set[str] = set()
        if not replace_all:
            fresh_enough = self.monotonic() - REPLACE_AFTER_S
            keep = {t.session_id for t in self.tiles if t is not None and (
                t.session_id in ranked or (t.ended_at is not None and t.ended_at > fresh_enough))}
            if self.mode == "pinned":
                keep &= set(self.pinned)
        chosen = assign(current, ranked, keep, slots)
        if chosen == current:
            return
        old = {t.session_id: t for t in self.tiles if t is not None}
        self.tiles = []
        for sid in chosen:
            if sid is None:
                self.tiles.append(None)
            elif sid in old:
                self.tiles.append(old[sid])
            else:
                tile = WallTile(sid, self._summary(sid), ChatModel(self))
                self.tiles.append(tile)
                self._load(tile)
        self.tiles_changed.emit()

    def _summary(self, session_id: str) -> SessionSummary | None:
        for s in self.sessions():
            if s.id == session_id:
                return s
        return None

    def _load(self, tile: WallTile) -> None:
        if self.loader is None:
            tile.loaded = True
            return
        self._tasks.spawn(self._fetch(tile, self.loader), f"wall-load-{tile.session_id}")

    async def _fetch(self, tile: WallTile, loader: DetailLoader) -> None:
        try:
            detail = await loader(tile.session_id)
        except Exception as exc:  # the tile stays with what the feed brings
            log.warning("wall could not load %s: %s", tile.session_id, exc)
            tile.loaded = True
            return
        fetched = [m for m in detail.messages if m.id not in tile.message_ids]
        # Feed messages that came during the load follow the fetched ones.
        rows = [message_row(m, self.tz) for m in fetched] + tile.model.rows()
        tile.message_ids.update(m.id for m in fetched)
        tile.model.set_rows(rows)
        tile.loaded = True
        self._update_summary(tile, detail.session)

    # ------------------------------------------------------------------ feed

    def on_sessions(self, sessions: Iterable[SessionSummary]) -> None:
        by_id = {t.session_id: (i, t) for i, t in enumerate(self.tiles) if t is not None}
        arrivals = False
        for s in sessions:
            found = by_id.get(s.id)
            if found is None:
                arrivals = arrivals or s.is_live
                continue
            self._update_summary(found[1], s)
        if arrivals and (None in self.tiles or self.layout_name == "auto"
                         or self.mode == "longest_waiting"):
            self._reselect_when_seen()

    def _reselect_when_seen(self) -> None:
        if self.on_screen():
            self.reselect()
        else:
            self._reselect_due = True

    def on_session(self, session: SessionSummary) -> None:
        self.on_sessions([session])

    def _update_summary(self, tile: WallTile, s: SessionSummary) -> None:
        if tile.summary is not None and s.version < tile.summary.version:
            return
        tile.summary = s
        if not s.is_live and tile.ended_at is None:
            tile.ended_at = self.monotonic()
        if tile in self.tiles:
            self.tile_changed.emit(self.tiles.index(tile))

    def on_messages(self, messages: Iterable[Message]) -> None:
        """Queue a frame's messages per tile; tiles take theirs one per event-loop turn, so
        the Qt thread never lays out (and repaints) nine tiles' bubbles in one go."""
        by_id = {t.session_id: t for t in self.tiles if t is not None}
        for m in messages:
            tile = by_id.get(m.session_id)
            if tile is not None and m.id not in tile.message_ids:
                tile.message_ids.add(m.id)
                self._pending.setdefault(m.session_id, []).append(m)
        if self._pending and not self._apply_timer.isActive():
            self._apply_timer.start()

    def flush_messages(self) -> None:
        """Apply every queued message now (tests; a tile leaving the wall drops its own)."""
        while self._pending:
            self._apply_next_tile()

    def _apply_next_tile(self) -> None:
        sid, batch = next(iter(self._pending.items()))
        del self._pending[sid]
        tile = next((t for t in self.tiles if t is not None and t.session_id == sid), None)
        if tile is None:
            return
        model = tile.model
        model.append_rows([message_row(m, self.tz) for m in batch])
        if model.rowCount() > MAX_TILE_ROWS:
            # Dropped from the top, not reset: the tile keeps the heights it measured
            # (a reset of nine tiles at once re-measured 1,800 bubbles in one go).
            model.remove_rows(0, model.rowCount() - KEEP_TILE_ROWS)

    def _on_apply_timer_timeout(self) -> None:
        if self._pending:
            self._apply_next_tile()
        if self._pending:
            self._apply_timer.start()

    def on_alerts_changed(self) -> None:
        if self.mode == "alerts":
            self._reselect_when_seen()
        for i, tile in enumerate(self.tiles):
            if tile is not None:
                self.tile_changed.emit(i)

    def tick(self) -> None:
        """Each second while the Wall shows (and as it shows): waits move, ended tiles go."""
        self._on_tick_timeout()

    def _on_tick_timeout(self) -> None:
        stale = self.monotonic() - REPLACE_AFTER_S
        if self._reselect_due or any(
                t is not None and t.ended_at is not None and t.ended_at <= stale
                for t in self.tiles):
            self.reselect()
        for i, tile in enumerate(self.tiles):
            if tile is not None and tile.summary is not None and tile.summary.is_live:
                self.tile_changed.emit(i)  # the wait shown in the header moves
