"""The chat pane: a virtualised transcript with search and live following.

``ChatView`` shows one session (``set_detail``) or several sessions of one customer one after
another with a clickable header each (``set_details``). Live messages arrive through
``append_message``/``update_message``; a reader who scrolled up is not yanked down, a
"n new messages ↓" button appears instead. Ctrl+F opens a search bar with highlights and
next/previous. Links open in the system browser only after a click, and only http/https.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from supervisor_desk.models.chat_rows import (
    ChatRow,
    end_row,
    find_occurrences,
    message_count_text,
    message_row,
    placeholder_row,
    search_terms,
    session_rows,
    transcript_missing,
    transcription_row,
)
from supervisor_desk.models.filenames import safe_filename
from supervisor_desk.models.markdown_safe import is_safe_url, rendered_text
from supervisor_desk.models.markers import resolve_time_zone
from supervisor_desk.models.wire import Attachment, Message, SessionDetail, SessionSummary
from supervisor_desk.views.chat import opener
from supervisor_desk.views.chat.attachments import hub_image_file
from supervisor_desk.views.chat.delegate import Hit
from supervisor_desk.views.chat.image_viewer import ImageViewer
from supervisor_desk.views.chat.model import ChatModel, ObjectRole
from supervisor_desk.views.chat.recording_player import RecordingFetch, RecordingPlayer
from supervisor_desk.views.chat.transcript_view import TranscriptView
from supervisor_desk.views.detail_viewmodel import describe_error
from supervisor_desk.views.tasks import TaskScope, standalone_scope

if TYPE_CHECKING:
    from supervisor_desk.views.chat.tools import DetailTools
    from supervisor_desk.views.detail_viewmodel import DetailViewModel
    from supervisor_desk.views.handover import HandoverController
    from supervisor_desk.views.results_dock import ResultsDock

BOTTOM_SLACK = 8
# What plays a session's recording: (fetch into a path, file name), or None for no recording.
RecordingProvider = Callable[
    [SessionSummary, list[Message]], "tuple[RecordingFetch, str] | None"]
CLICKABLE = frozenset({"link", "copy", "download", "header", "image"})


class ChatListView(TranscriptView):
    """The transcript list: delegate-painted rows, clicks routed to what is under the mouse."""

    hit_clicked = Signal(object)  # Hit
    row_clicked = Signal(object)  # ChatRow clicked outside its links and buttons
    user_scrolled = Signal()

    def relayout(self) -> None:
        self._relayout()

    def contextMenuEvent(self, event: Any) -> None:
        self.customContextMenuRequested.emit(event.pos())

    def hit_at(self, pos: QPoint) -> Hit | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        row: ChatRow | None = index.data(ObjectRole)
        if row is None:
            return None
        return self.chat_delegate.hit(row, pos - self.visualRect(index).topLeft())

    def wheelEvent(self, event: Any) -> None:
        super().wheelEvent(event)
        self.user_scrolled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        super().keyPressEvent(event)
        self.user_scrolled.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hit = self.hit_at(event.position().toPoint())
        if hit is not None and hit.kind in CLICKABLE:
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            hit = self.hit_at(event.position().toPoint())
            if hit is not None and hit.kind in CLICKABLE:
                self.hit_clicked.emit(hit)
                event.accept()
                return
            index = self.indexAt(event.position().toPoint())
            row = index.data(ObjectRole) if index.isValid() else None
            if row is not None:
                self.row_clicked.emit(row)
        super().mouseReleaseEvent(event)


class SearchBar(QFrame):
    """Find in the transcript: query, "n of m", previous/next, close."""

    query_changed = Signal(str)
    next_requested = Signal()
    previous_requested = Signal()
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Search in this chat")
        self.edit.setClearButtonEnabled(True)
        self.count_label = QLabel("", self)
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.prev_button = QToolButton(self)
        self.prev_button.setText("↑")
        self.prev_button.setToolTip("Previous match (Shift+Enter)")
        self.next_button = QToolButton(self)
        self.next_button.setText("↓")
        self.next_button.setToolTip("Next match (Enter)")
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close search (Esc)")
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.count_label)
        layout.addWidget(self.prev_button)
        layout.addWidget(self.next_button)
        layout.addWidget(self.close_button)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(lambda: self.query_changed.emit(self.edit.text()))
        self.edit.textChanged.connect(lambda _t: self._debounce.start())
        self.edit.returnPressed.connect(self._on_edit_return_pressed)
        self.prev_button.clicked.connect(self.previous_requested)
        self.next_button.clicked.connect(self.next_requested)
        self.close_button.clicked.connect(self.closed)

    def flush(self) -> None:
        """Apply a pending query now (Enter pressed before the debounce fired)."""
        if self._debounce.isActive():
            self._debounce.stop()
            self.query_changed.emit(self.edit.text())

    def _on_edit_return_pressed(self) -> None:
        if self._debounce.isActive():
            self.flush()
            return
        if QGuiApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.previous_requested.emit()
        else:
            self.next_requested.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            return
        super().keyPressEvent(event)


class ChatView(QWidget):
    """Centre pane: title with message count, transcript, search, "n new messages" button."""

    message_count_changed = Signal(int)
    link_activated = Signal(str)
    session_header_clicked = Signal(str)
    draft_copied = Signal(str)
    search_changed = Signal(int, int)  # current (1-based, 0 = none), total
    open_finished = Signal(str, str)  # url, why it did not open ("" = opened)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        time_zone: str | tzinfo | None = None,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent)
        # File writes of downloads; attach_detail switches to the view-model's scope.
        self.tasks = tasks or standalone_scope("chat")
        self._tz = resolve_time_zone(time_zone)
        self._sessions: dict[str, SessionSummary] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self._order: list[str] = []
        self._multi = False
        self._missing_note: str | None = None
        self._count = 0
        self._follow = True
        self._user_scrolling = False
        self._unread = 0
        self._matches: list[tuple[str, int]] = []
        self._rendered: dict[str, tuple[ChatRow, str]] = {}
        self._match_index = -1

        self.title_label = QLabel("Chat", self)
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setProperty("tone", "secondary")
        # "No longer in this list": the session shown left the table it was selected in.
        self.list_note_label = QLabel("", self)
        self.list_note_label.setObjectName("chatListNote")
        self.list_note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.list_note_label.setProperty("tone", "secondary")
        self.list_note_label.setStyleSheet("font-style: italic;")
        self.list_note_label.hide()
        self.search_button = QToolButton(self)
        self.search_button.setText("Search")
        self.search_button.setToolTip("Search in this chat (Ctrl+F)")
        self.search_button.clicked.connect(self.open_search)

        header = QHBoxLayout()
        header.setContentsMargins(8, 6, 8, 4)
        # In a narrow chat the stretch collapses; keep the title off the status text.
        header.setSpacing(12)
        header.addWidget(self.title_label)
        header.addWidget(self.list_note_label)
        header.addStretch(1)
        header.addWidget(self.status_label)
        header.addWidget(self.search_button)

        self.search_bar = SearchBar(self)
        self.search_bar.hide()
        self.search_bar.query_changed.connect(self._on_search_query_changed)
        self.search_bar.next_requested.connect(self.next_match)
        self.search_bar.previous_requested.connect(self.previous_match)
        self.search_bar.closed.connect(self.close_search)

        self.model = ChatModel(self)
        self.list_view = ChatListView(self)
        self.list_view.setModel(self.model)
        self.list_view.hit_clicked.connect(self._on_list_hit_clicked)
        self.list_view.customContextMenuRequested.connect(self._on_list_context_menu)
        self.delegate = self.list_view.chat_delegate
        self.delegate.set_time_zone(self._tz)

        self.empty_label = QLabel("Select a session to read its chat", self)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setProperty("tone", "muted")

        # Transcript on top; once bound to a view-model (attach_detail) the action bar sits
        # under it and the logs drawer under that, in a splitter the reader can drag.
        self._top = QWidget(self)
        self._top_layout = QVBoxLayout(self._top)
        self._top_layout.setContentsMargins(0, 0, 0, 0)
        self._top_layout.setSpacing(0)
        self._top_layout.addWidget(self.list_view, 1)
        self._top_layout.addWidget(self.empty_label, 1)
        # A voice session's recording, under the transcript (hidden otherwise).
        self.recording_player = RecordingPlayer(self._top, tasks=self.tasks)
        self._top_layout.addWidget(self.recording_player)
        self._recording_provider: RecordingProvider | None = None
        # Downloads of hub files shown as attachments (the detail view-model's, once attached).
        self._file_fetcher: Callable[[str, str], Callable[[Path], Awaitable[Any]] | None] | None
        self._file_fetcher = None
        self._recording_session: str | None = None
        self.recording_player.position_changed.connect(self._on_player_position_changed)
        self.list_view.row_clicked.connect(self._on_list_row_clicked)
        self.body_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.body_splitter.addWidget(self._top)
        self.body_splitter.setChildrenCollapsible(False)
        self.tools: DetailTools | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.body_splitter, 1)
        self.list_view.hide()

        self.new_messages_button = QPushButton("", self.list_view)
        self.new_messages_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.new_messages_button.setObjectName("newMessagesButton")
        self.new_messages_button.hide()
        self.new_messages_button.clicked.connect(self.scroll_to_latest)

        bar = self.list_view.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll_value_changed)
        bar.rangeChanged.connect(self._on_scroll_range_changed)
        bar.actionTriggered.connect(lambda _action: self._on_user_scrolled())
        self.list_view.user_scrolled.connect(self._on_user_scrolled)
        self.list_view.installEventFilter(self)
        self.list_view.viewport().installEventFilter(self)
        self.search_bar.edit.installEventFilter(self)

    # --- public API ---------------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return self._count

    @property
    def time_zone(self) -> tzinfo:
        return self._tz

    def set_missing_transcript_note(self, note: str | None) -> None:
        """What a session that had messages, shown without them, says instead of "0 messages"
        (offline review of a CSV file, which carries no transcripts)."""
        self._missing_note = note
        self._rebuild()

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        """Show times in this zone (the Preferences value: IANA name, "UTC" or local)."""
        self._tz = resolve_time_zone(time_zone)
        self.delegate.set_time_zone(self._tz)
        if self.tools is not None:
            self.tools.set_time_zone(self._tz)
        self._rebuild()

    def attach_detail(
        self,
        view_model: DetailViewModel,
        handover: HandoverController | None = None,
        *,
        dock: ResultsDock | None = None,
    ) -> DetailTools:
        """Add the Logs drawer (Ctrl+L), the hand-over button and the customer view.

        The caller keeps routing the transcript (``detail_loaded`` → ``set_detail`` …);
        this binds what acts on the session: logs, hand-over (enabled from ``/me``), the
        dock's "Open customer view".
        """
        from supervisor_desk.views.chat.tools import DetailTools

        if self.tools is not None:
            return self.tools
        tools = DetailTools(self, view_model, handover, self._tz)
        self.tasks = view_model.tasks
        self.recording_player.tasks = view_model.tasks
        self.set_recording_provider(view_model.recording_for)
        self._file_fetcher = view_model.file_fetcher
        self.delegate.engine.images.requester = view_model.fetch_image
        view_model.image_loaded.connect(self._on_detail_image_loaded)
        self._top_layout.addWidget(tools.error_label)
        self._top_layout.addWidget(tools.bar)
        self.body_splitter.addWidget(tools.logs)
        self.body_splitter.setStretchFactor(0, 3)
        self.body_splitter.setStretchFactor(1, 2)
        self.tools = tools
        if dock is not None:
            tools.bind_dock(dock)
        return tools

    def closeEvent(self, event: Any) -> None:
        if self.tools is not None:
            self.tools.close_windows()
        self.recording_player.clear()
        super().closeEvent(event)

    # --- recording ----------------------------------------------------------------------
    def set_recording_provider(self, provider: RecordingProvider | None) -> None:
        """Who fetches a voice session's recording (the detail view-model)."""
        self._recording_provider = provider

    def _update_recording(self) -> None:
        """Load the shown session's recording into the player (once per session)."""
        session = next(iter(self._sessions.values())) if len(self._sessions) == 1 else None
        found = (None if session is None or self._recording_provider is None
                 else self._recording_provider(
                     session, list(self._messages.get(session.id, {}).values())))
        if session is None or found is None:
            if self._recording_session is not None:
                self._recording_session = None
                self.delegate.painter.speaking_key = None
                self.recording_player.clear()
            return
        if self._recording_session != session.id:
            self._recording_session = session.id
            self.delegate.painter.speaking_key = None
            fetch, name = found
            self.recording_player.load(fetch, name)
        self.recording_player.set_segments(
            [(m.offset_ms or 0, m.end_ms or m.offset_ms or 0) for m in self._spoken(session.id)])

    def _is_shown_recording(self, url: str) -> bool:
        session = self._sessions.get(self._recording_session or "")
        return session is not None and bool(url) and \
            (session.metadata or {}).get("recording") == url

    def _spoken(self, session_id: str) -> list[Message]:
        """The transcript's messages that have a place in the recording, in spoken order."""
        return sorted(
            (m for m in self._messages.get(session_id, {}).values()
             if m.offset_ms is not None and m.author.role != "system" and m.text.strip()),
            key=lambda m: (m.offset_ms or 0, m.seq),
        )

    def _on_list_row_clicked(self, row: ChatRow) -> None:
        message = row.message
        if (message is None or message.offset_ms is None
                or message.session_id != self._recording_session):
            return
        self.recording_player.seek(message.offset_ms)

    def _on_player_position_changed(self, ms: int) -> None:
        if self._recording_session is None:
            return
        current: Message | None = None
        for message in self._spoken(self._recording_session):
            if (message.offset_ms or 0) <= ms and (message.end_ms is None or ms < message.end_ms):
                current = message
        key = message_row(current, self._tz).key if current is not None else None
        painter = self.delegate.painter
        if key == painter.speaking_key:
            return
        painter.speaking_key = key
        self.list_view.viewport().update()
        if key is not None and self.recording_player.playing:
            position = self.model.position_of(key)
            if position is not None:
                self._set_follow(False)
                self.list_view.scrollTo(
                    self.model.index(position, 0), QAbstractItemView.ScrollHint.EnsureVisible)

    @property
    def speaking_message_id(self) -> str | None:
        """The message highlighted as being spoken (None: none)."""
        key = self.delegate.painter.speaking_key
        position = None if key is None else self.model.position_of(key)
        if position is None:
            return None
        row: ChatRow | None = self.model.index(position, 0).data(ObjectRole)
        return row.message.id if row is not None and row.message is not None else None

    def set_list_note(self, text: str) -> None:
        """A note beside the title about the shown session, e.g. "No longer in this list"."""
        self.list_note_label.setText(text)
        self.list_note_label.setToolTip(
            "The table no longer holds this session (it ended and left, or a reload or filter "
            "took it out); the chat keeps showing it." if text else "")
        self.list_note_label.setVisible(bool(text))

    def set_detail(self, detail: SessionDetail | None) -> None:
        """Show one session's transcript (None: nothing selected)."""
        self.set_details([] if detail is None else [detail], headers=False)

    def set_details(self, details: Sequence[SessionDetail], *, headers: bool = True) -> None:
        """Show several sessions one after another, each under a clickable header."""
        self._multi = headers
        if [d.session.id for d in details] != self._order:
            self.set_list_note("")  # another session: the note was about the previous one
        self._sessions = {d.session.id: d.session for d in details}
        self._messages = {d.session.id: {m.id: m for m in d.messages} for d in details}
        self._order = [d.session.id for d in details]
        self._unread = 0
        self.new_messages_button.hide()
        live = any(d.session.is_live for d in details)
        # A live session is followed from its newest message; a finished one reads from the top.
        self._set_follow(live and not headers)
        self._rebuild()
        if not self._follow:
            self.list_view.scrollToTop()
        self._update_recording()

    def set_session(self, summary: SessionSummary) -> None:
        """A live status change of a shown session (e.g. it ended): add its end pill."""
        if summary.id not in self._sessions:
            return
        self._sessions[summary.id] = summary
        messages = list(self._messages.get(summary.id, {}).values())
        row = end_row(summary, messages, self._tz)
        if row is not None and self.model.position_of(row.key) is None:
            self._insert_in_session(summary.id, [row], before_end=False)
        self._update_transcribing(summary)
        self._update_title()

    def _update_transcribing(self, summary: SessionSummary) -> None:
        """"Transcribing… N %" follows the session's metadata; gone when recognition ends."""
        row = transcription_row(summary)
        position = self.model.position_of(f"{summary.id}/transcribing")
        if row is None:
            if position is not None:
                self.model.remove_row(position)
        elif position is None:
            self._insert_in_session(summary.id, [row], before_end=True)
        else:
            self.delegate.invalidate(row.key)
            self.model.replace_row(position, row)

    def append_message(self, msg: Message) -> None:
        """A new live message: added at the bottom, followed unless the reader scrolled up."""
        if msg.session_id not in self._sessions:
            return
        known = self._messages.setdefault(msg.session_id, {})
        if msg.id in known:
            self.update_message(msg)
            return
        known[msg.id] = msg
        placeholder = self.model.position_of(placeholder_row(msg.session_id).key)
        if placeholder is not None and msg.kind != "marker" and msg.text.strip():
            self.model.remove_row(placeholder)
        was_following = self._follow
        self._insert_in_session(msg.session_id, [message_row(msg, self._tz)], before_end=True)
        if was_following:
            self.list_view.scrollToBottom()
        elif msg.kind != "marker":
            self._unread += 1
            self._show_unread()
        self._update_title()
        self._refresh_search()
        if msg.offset_ms is not None or any(
                a.mime.startswith("audio/") for a in msg.attachments):
            self._update_recording()  # segments, or a recording attached just now

    def update_message(self, msg: Message) -> None:
        """A changed message (reaction, delivery status): repainted in place."""
        known = self._messages.get(msg.session_id)
        if known is None:
            return
        if msg.id not in known:
            self.append_message(msg)
            return
        known[msg.id] = msg
        row = message_row(msg, self._tz)
        position = self.model.position_of(row.key)
        if position is None:
            return
        self.delegate.invalidate(row.key)
        self.model.replace_row(position, row)  # the view re-measures that row only

    def scroll_to_latest(self) -> None:
        self._set_follow(True)
        self._unread = 0
        self.new_messages_button.hide()
        self.list_view.scrollToBottom()

    def jump_to_session(self, session_id: str) -> None:
        """Scroll so the session's header (or first row) is at the top."""
        for key in (f"{session_id}/header", f"{session_id}/start"):
            position = self.model.position_of(key)
            if position is not None:
                self._set_follow(False)
                self.list_view.scrollTo(
                    self.model.index(position, 0), QAbstractItemView.ScrollHint.PositionAtTop
                )
                return

    @property
    def unread_count(self) -> int:
        return self._unread

    @property
    def following(self) -> bool:
        return self._follow

    # --- search -------------------------------------------------------------------------
    def open_search(self) -> None:
        self.search_bar.show()
        self.search_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_bar.edit.selectAll()

    def close_search(self) -> None:
        self.search_bar.hide()
        self.search_bar.edit.clear()
        self._set_query("")
        self.list_view.setFocus()

    def search(self, query: str) -> int:
        """Highlight every occurrence of ``query``; returns how many there are."""
        if self.search_bar.edit.text() != query:
            self.search_bar.edit.blockSignals(True)
            self.search_bar.edit.setText(query)
            self.search_bar.edit.blockSignals(False)
        self._set_query(query)
        return len(self._matches)

    def find_text(self, text: str) -> int:
        """Open the search on what a full-text search matched and show the first match.

        Tries the phrase, then its words (the hub matched words anywhere in a message);
        the bar keeps the first that occurs, with next/previous. Returns the match count.
        """
        terms = search_terms(text)
        if not terms:
            return 0
        self.search_bar.show()
        for term in terms:
            if self.search(term):
                break
        else:
            self.search(terms[0])
        return len(self._matches)

    @property
    def matches(self) -> list[tuple[str, int]]:
        return list(self._matches)

    @property
    def current_match(self) -> tuple[str, int] | None:
        if 0 <= self._match_index < len(self._matches):
            return self._matches[self._match_index]
        return None

    def next_match(self) -> None:
        self._step_match(1)

    def previous_match(self) -> None:
        self._step_match(-1)

    def _on_search_query_changed(self, query: str) -> None:
        self._set_query(query)

    def _set_query(self, query: str) -> None:
        query = query.strip()
        self.delegate.query = query
        self._matches = self._find(query)
        self._match_index = 0 if self._matches else -1
        self._show_match()

    def _refresh_search(self) -> None:
        if not self.delegate.query:
            return
        current = self.current_match
        self._matches = self._find(self.delegate.query)
        self._match_index = (
            self._matches.index(current)
            if current in self._matches
            else (0 if self._matches else -1)
        )
        self._update_match_label()

    def _find(self, query: str) -> list[tuple[str, int]]:
        if not query:
            return []
        found: list[tuple[str, int]] = []
        for row in self.model.rows():
            if row.kind != "message":
                continue
            for occurrence, _match in enumerate(find_occurrences(self._search_text(row), query)):
                found.append((row.key, occurrence))
        return found

    def _search_text(self, row: ChatRow) -> str:
        # Search what the reader sees: Markdown rendered (a link's URL is not its text).
        cached = self._rendered.get(row.key)
        if cached is None or cached[0] is not row:
            cached = (row, rendered_text(row.plain_text()))
            self._rendered[row.key] = cached
        return cached[1]

    def _step_match(self, step: int) -> None:
        self.search_bar.flush()
        if not self._matches:
            return
        self._match_index = (self._match_index + step) % len(self._matches)
        self._show_match()

    def _show_match(self) -> None:
        current = self.current_match
        self.delegate.current_match = current
        if current is not None:
            position = self.model.position_of(current[0])
            if position is not None:
                self._set_follow(False)
                self.list_view.scrollTo(
                    self.model.index(position, 0), QAbstractItemView.ScrollHint.PositionAtCenter
                )
        self._update_match_label()
        self.list_view.viewport().update()

    def _update_match_label(self) -> None:
        total = len(self._matches)
        current = self._match_index + 1 if total else 0
        if not self.delegate.query:
            self.search_bar.count_label.setText("")
        elif total == 0:
            self.search_bar.count_label.setText("No matches")
        else:
            self.search_bar.count_label.setText(f"{current} of {total}")
        self.search_changed.emit(current, total)

    # --- internals ----------------------------------------------------------------------
    def _rebuild(self) -> None:
        rows: list[ChatRow] = []
        for session_id in self._order:
            session = self._sessions[session_id]
            rows.extend(
                session_rows(
                    session,
                    list(self._messages[session_id].values()),
                    self._tz,
                    with_header=self._multi,
                    missing_note=self._missing_note,
                )
            )
        self.delegate.invalidate()
        self._rendered.clear()
        self.model.set_rows(rows)
        has_any = bool(self._sessions)
        self.list_view.setVisible(has_any)
        self.empty_label.setVisible(not has_any)
        self._update_title()
        if self.delegate.query:
            self._set_query(self.delegate.query)
        if self._follow:
            self.list_view.scrollToBottom()

    def _insert_in_session(self, session_id: str, rows: list[ChatRow], *, before_end: bool) -> None:
        position = self.model.rowCount()
        order = self._order
        if session_id in order:
            following = order[order.index(session_id) + 1 :]
            for other in following:
                for key in (f"{other}/header", f"{other}/start"):
                    found = self.model.position_of(key)
                    if found is not None:
                        position = min(position, found)
                        break
        if before_end:
            for last in (f"{session_id}/transcribing", f"{session_id}/end"):
                end = self.model.position_of(last)
                if end is not None and end < position:
                    position = end
        self.model.insert_rows(position, rows)

    def _update_title(self) -> None:
        count = self.model.message_rows
        if not self._sessions:
            self.title_label.setText("Chat")
            self.status_label.setText("")
        else:
            self.title_label.setText(f"Chat · {message_count_text(count)}")
            if len(self._sessions) == 1:
                session = next(iter(self._sessions.values()))
                if self._missing_note and transcript_missing(
                        session, list(self._messages.get(session.id, {}).values())):
                    self.title_label.setText("Chat · no transcript in this file")
                self.status_label.setText(
                    "Live" if session.is_live else session.status.capitalize()
                )
            else:
                self.status_label.setText(f"{len(self._sessions)} sessions")
        if count != self._count:
            self._count = count
            self.message_count_changed.emit(count)

    def _at_bottom(self) -> bool:
        bar = self.list_view.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK

    def _on_scroll_value_changed(self, _value: int) -> None:
        # Only what the reader does decides following: the batched layout also moves the
        # value (the range shrinks and grows while rows are re-measured).
        if self._user_scrolling:
            self._user_scrolling = False
            self._update_follow()

    def _on_user_scrolled(self) -> None:
        self._user_scrolling = True
        QTimer.singleShot(0, self, self._update_follow)  # context: no call after deletion

    def _set_follow(self, follow: bool) -> None:
        self._follow = follow
        self.list_view.set_stick_to_bottom(follow)

    def _update_follow(self) -> None:
        self._set_follow(self._at_bottom())
        if self._follow and self._unread:
            self._unread = 0
            self.new_messages_button.hide()

    def _on_scroll_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.list_view.verticalScrollBar().setValue(maximum)

    def _show_unread(self) -> None:
        noun = "message" if self._unread == 1 else "messages"
        self.new_messages_button.setText(f"{self._unread} new {noun} ↓")
        self.new_messages_button.adjustSize()
        self._place_unread_button()
        self.new_messages_button.show()
        self.new_messages_button.raise_()

    def _place_unread_button(self) -> None:
        button = self.new_messages_button
        viewport = self.list_view.viewport()
        x = (viewport.width() - button.width()) // 2
        y = viewport.height() - button.height() - 12
        button.move(max(0, x), max(0, y))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._place_unread_button()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(
            event, QKeyEvent
        ):
            if event.matches(QKeySequence.StandardKey.Find):
                # Ctrl+F inside the chat searches the chat, not the window's session filters.
                event.accept()
                if kind == QEvent.Type.KeyPress:
                    self.open_search()
                return True
            if watched is self.search_bar.edit and event.key() == Qt.Key.Key_Escape:
                if kind == QEvent.Type.KeyPress:
                    self.close_search()
                event.accept()
                return True
        if kind == QEvent.Type.Resize and watched is self.list_view.viewport():
            self._place_unread_button()
        return super().eventFilter(watched, event)

    def _on_list_hit_clicked(self, hit: Hit) -> None:
        if hit.kind == "link":
            self._open_link(hit.url)
        elif hit.kind == "copy" and hit.row.message is not None:
            QGuiApplication.clipboard().setText(hit.row.message.text)
            self.draft_copied.emit(hit.row.message.id)
            self.status_label.setText("Draft copied")
        elif hit.kind == "header":
            self.session_header_clicked.emit(hit.row.session_id)
        elif hit.kind == "image" and hit.attachment is not None and hit.row.message is not None:
            self.show_image(hit.row.message, hit.attachment)
        elif hit.kind == "download" and hit.attachment is not None:
            self.download_attachment(hit.attachment)

    def show_image(self, message: Message, attachment: Attachment) -> QDialog | None:
        """An inline image at full size, in a window of its own (not modal)."""
        image = self.delegate.local_image(message, attachment)
        if image is None:
            return None
        dialog = ImageViewer(image, attachment.name, self)
        dialog.show()
        return dialog

    def _on_detail_image_loaded(self, file_id: str, image: Any) -> None:
        """A hub image preview arrived (or failed): the rows showing it are laid out again."""
        self.delegate.engine.images.put_hub_image(file_id, image)
        for position in range(self.model.rowCount()):
            row = self.model.row_at(position)
            message = row.message
            if message is None or not any(
                hub_image_file(a, message.session_id) == file_id for a in message.attachments
            ):
                continue
            self.delegate.invalidate(row.key)
            self.model.replace_row(position, row)

    def _open_link(self, url: str) -> None:
        if not is_safe_url(url):
            return
        self.link_activated.emit(url)
        self._open_external(url, "the link")

    def _open_external(self, url: str, what: str) -> None:
        """Hand ``url`` to the desktop; the status line says if nothing could open it."""
        self.status_label.setText(f"Opening {what}…")

        def done(problem: str | None) -> None:
            if not isValid(self):
                return
            if problem is None:
                self.status_label.setText(f"Opened {what} with the desktop's application")
            else:
                self.status_label.setText(f"Could not open {what}: {problem}")
            self.open_finished.emit(url, problem or "")

        opener.launch(QUrl(url, QUrl.ParsingMode.StrictMode), done)

    def download_attachment(self, attachment: Attachment, dest: Path | None = None) -> None:
        """Save bytes carried in the message, or hand an http(s) link to the desktop."""
        url = attachment.url or ""
        if is_safe_url(url):
            self._open_external(url, attachment.name)
            return
        if self._is_shown_recording(url):  # the player holds those bytes already
            if self.recording_player.file is None:
                self.status_label.setText("The recording is still loading")
            else:
                self.recording_player.save_as(dest)
            return
        if not url.startswith("data:"):
            fetch = self._hub_file_fetch(url)
            if fetch is None:
                self.status_label.setText("No file is available for this attachment")
                return
            dest = dest or self._ask_destination(attachment)
            if dest is None:
                return
            self.status_label.setText(f"Downloading {attachment.name}…")
            self.tasks.spawn(self._download_from_hub(fetch, dest, attachment.name),
                             f"chat-download-{dest.name}")
            return
        head, _, payload = url.partition(",")
        try:
            raw = (
                base64.b64decode(payload, validate=True) if ";base64" in head else payload.encode()
            )
        except (binascii.Error, ValueError):
            self.status_label.setText("The attachment is damaged")
            return
        dest = dest or self._ask_destination(attachment)
        if dest is None:
            return
        self._write_file(dest, raw)

    def _write_file(self, dest: Path, raw: bytes) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool, a test without qasync): write here
            try:
                dest.write_bytes(raw)
            except OSError as exc:
                self.status_label.setText(f"Could not save: {exc}")
                return
            self.status_label.setText(f"Saved {dest.name}")
            return
        self.tasks.spawn(self._write_in_executor(dest, raw), f"chat-save-{dest.name}")

    def _ask_destination(self, attachment: Attachment) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save attachment", safe_filename(attachment.name, "attachment")
        )
        return Path(name) if name else None

    def _hub_file_fetch(self, url: str) -> Callable[[Path], Awaitable[Any]] | None:
        """The download of a hub file shown in this chat (the user's token; never another
        host), or None offline / for a link the hub does not hold."""
        if self._file_fetcher is None:
            return None
        for session_id in self._sessions:
            fetch = self._file_fetcher(session_id, url)
            if fetch is not None:
                return fetch
        return None

    async def _download_from_hub(
        self, fetch: Callable[[Path], Awaitable[Any]], dest: Path, name: str
    ) -> None:
        try:
            await fetch(dest)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the hub refused it, the link dropped, the disk is full
            self.status_label.setText(f"Could not download {name}: {describe_error(exc)}")
            return
        self.status_label.setText(f"Saved {dest.name}")

    async def _write_in_executor(self, dest: Path, raw: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, dest.write_bytes, raw)
        except OSError as exc:
            self.status_label.setText(f"Could not save: {exc}")
            return
        self.status_label.setText(f"Saved {dest.name}")

    def _on_list_context_menu(self, pos: QPoint) -> None:
        index = self.list_view.indexAt(pos)
        row: ChatRow | None = index.data(ObjectRole) if index.isValid() else None
        if row is None:
            return
        menu = QMenu(self)
        text = row.plain_text()
        menu.addAction("Copy text", lambda: QGuiApplication.clipboard().setText(text))
        hit = self.list_view.hit_at(pos)
        if hit is not None and hit.kind == "link":
            url = hit.url
            menu.addAction("Copy link address", lambda: QGuiApplication.clipboard().setText(url))
        menu.popup(self.list_view.viewport().mapToGlobal(pos))

    def index_of(self, key: str) -> QModelIndex:
        position = self.model.position_of(key)
        return QModelIndex() if position is None else self.model.index(position, 0)
