"""Customer view: one customer across sessions and channels, chats one after another.

Flametree's 360 View within what the hub stores: contact details, the parameters and results
collected across sessions, the channels used, and the sessions of ``user=<id>`` oldest
first, each under a header that can be clicked to jump to it (in the list on the left, or in
the chat itself). The view-model owns the loading tasks; Escape closes the window.
"""

from __future__ import annotations

import asyncio
from datetime import tzinfo
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.chat_rows import message_count_text, shown_message_count
from supervisor_desk.models.customer_profile import CONTACT_FIELDS, CustomerProfile
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.markers import CHANNEL_LABELS, format_datetime, resolve_time_zone
from supervisor_desk.models.wire import MeAnswer, SessionDetail, SessionPage, SessionSummary
from supervisor_desk.views.chat.view import ChatView
from supervisor_desk.views.detail_viewmodel import describe_error
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.results_dock import (
    NO_CONTACT,
    NO_PARAMETERS,
    NO_RESULTS,
    Section,
    plain_label,
)
from supervisor_desk.views.tasks import TaskScope, standalone_scope

MAX_SESSIONS = 500
EDIT_PERMISSION = "contacts:edit"
EDIT_DENIED = "Only supervisors can edit contact details"
PARALLEL_FETCHES = 4


def session_list_text(session: SessionSummary, tz: tzinfo, message_count: int) -> str:
    """A session in the list: counted like the chat counts it (markers are not messages)."""
    channel = CHANNEL_LABELS.get(session.channel, session.channel)
    status = "live" if session.is_live else session.status
    # Three short lines: a narrow list wraps nothing and cuts nothing.
    return (
        f"{channel} · {session.agent.name}\n"
        f"{format_datetime(session.started_at, tz)}\n"
        f"{message_count_text(message_count)} · {status}"
    )


def collected_rows(profile: CustomerProfile, kind: str) -> list[tuple[str, str]]:
    rows = []
    for item in profile.collected:
        if item.kind != kind:
            continue
        value = item.value
        if item.values > 1:
            value = f"{value} (latest of {item.values} values)"
        rows.append((item.key, value))
    return rows


class CustomerClient(Protocol):
    async def sessions(
        self, flt: Any = None, sort: str = "-started_at", offset: int = 0, limit: int = 50
    ) -> SessionPage: ...
    async def session(self, session_id: str) -> SessionDetail: ...
    async def me(self) -> MeAnswer: ...
    async def update_contact(self, session_id: str, changes: dict[str, str]) -> SessionSummary: ...


class CustomerViewModel(QObject):
    loading_changed = Signal(bool)
    can_edit_changed = Signal(bool)
    sessions_loaded = Signal(object)  # list[SessionDetail], oldest first
    contact_saved = Signal(object)  # SessionSummary as the hub answered
    error_occurred = Signal(str)

    loading = ObservableProperty(False)
    can_edit = ObservableProperty(False)  # contact fields: supervisors only (``/me``)

    def __init__(
        self,
        client: CustomerClient,
        parent: QObject | None = None,
        *,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks or standalone_scope("customer-view")
        self._client = client
        self.total = 0

    def load(self, user_id: str) -> None:
        self.cancel()
        self.loading = True
        self.tasks.spawn(self._load(user_id), f"customer-view-{user_id}")
        self.tasks.spawn(self._load_permissions(), "customer-view-permissions")

    async def _load_permissions(self) -> None:
        try:
            me = await self._client.me()
        except asyncio.CancelledError:
            raise
        except Exception:  # unknown: editing stays off, reading works
            self.can_edit = False
            return
        self.can_edit = EDIT_PERMISSION in me.permissions

    def update_contact(self, session_id: str, changes: dict[str, str]) -> None:
        """Save contact corrections on ``session_id`` (the customer's newest session)."""
        if changes:
            self.tasks.spawn(self._update_contact(session_id, changes), "customer-contact")

    async def _update_contact(self, session_id: str, changes: dict[str, str]) -> None:
        try:
            summary = await self._client.update_contact(session_id, changes)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown in the window; nothing was changed
            self.error_occurred.emit(f"Could not save the contact: {describe_error(exc)}")
            return
        self.contact_saved.emit(summary)

    async def _load(self, user_id: str) -> None:
        try:
            page = await self._client.sessions(
                SessionFilter(user=user_id), sort="started_at", limit=MAX_SESSIONS
            )
            self.total = page.total
            gate = asyncio.Semaphore(PARALLEL_FETCHES)

            async def fetch(summary: SessionSummary) -> SessionDetail:
                async with gate:
                    return await self._client.session(summary.id)

            details = await asyncio.gather(*(fetch(s) for s in page.items))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown in the window
            self.loading = False
            self.error_occurred.emit(
                f"Could not load this customer's sessions: {describe_error(exc)}"
            )
            return
        self.loading = False
        self.sessions_loaded.emit(sorted(details, key=lambda d: d.session.started_at))

    def cancel(self) -> None:
        self.tasks.cancel()

    async def aclose(self) -> None:
        await self.tasks.aclose()


class ProfilePanel(QWidget):
    """The 360 panel: who the customer is, what was collected, which channels they used."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.channels_label = plain_label("", self)
        self.channels_label.setProperty("tone", "secondary")
        self.contact_section = Section("Contact details", self)
        self.edit_button = QToolButton(self.contact_section)
        self.edit_button.setText("Edit…")
        self.edit_button.setEnabled(False)
        self.edit_button.setToolTip(EDIT_DENIED)
        self.contact_section.header.addWidget(self.edit_button)
        self.parameters_section = Section("Collected parameters", self)
        self.results_section = Section("Collected results", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.channels_label)
        for section in self.sections:
            layout.addWidget(section)
        layout.addStretch(1)

    @property
    def sections(self) -> tuple[Section, ...]:
        return (self.contact_section, self.parameters_section, self.results_section)

    def set_profile(self, profile: CustomerProfile) -> None:
        self.channels_label.setText(
            f"Channels: {profile.channels_text()}" if profile.channels else "No sessions"
        )
        self.contact_section.set_rows(profile.contact, NO_CONTACT)
        self.parameters_section.set_rows(collected_rows(profile, "parameter"), NO_PARAMETERS)
        self.results_section.set_rows(collected_rows(profile, "result"), NO_RESULTS)


class ContactDialog(QDialog):
    """Edit the contact fields; ``saved`` carries only the fields that changed."""

    saved = Signal(object)  # dict[str, str]: label attribute -> new value ("" clears)

    def __init__(self, contact: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit contact details")
        self._original = dict(contact)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for label, attr in CONTACT_FIELDS:
            edit = QLineEdit(contact.get(attr, ""), self)
            edit.setMaxLength(1000)
            self.edits[attr] = edit
            form.addRow(f"{label}:", edit)
        note = QLabel("Saved on the customer's newest session; the session log records the edit.")
        note.setWordWrap(True)
        note.setProperty("tone", "secondary")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def changes(self) -> dict[str, str]:
        out = {}
        for attr, edit in self.edits.items():
            value = edit.text().strip()
            if value != self._original.get(attr, ""):
                out[attr] = value
        return out

    def accept(self) -> None:
        self.saved.emit(self.changes())
        super().accept()


class CustomerView(QWidget):
    """A window: the customer's profile and sessions on the left, their chats on the right.

    Escape closes it (unless a search field uses Escape itself).
    """

    session_activated = Signal(str)  # a header clicked: the main window may select it
    loaded = Signal(int)  # number of sessions shown

    def __init__(
        self,
        client: CustomerClient,
        summary: SessionSummary,
        parent: QWidget | None = None,
        *,
        time_zone: str | tzinfo | None = None,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self._tz = resolve_time_zone(time_zone)
        self._summary = summary
        name = summary.user.name or (summary.contact.name if summary.contact else None)
        self.customer_name = name or summary.user.id
        self.setWindowTitle(f"Customer view — {self.customer_name}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.view_model = CustomerViewModel(client, self, tasks=tasks)
        self.profile: CustomerProfile | None = None

        self.heading = QLabel(self)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() + 2)
        self.heading.setFont(font)
        self.heading.setText(self.customer_name)
        self.status_label = QLabel("Loading sessions…", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.reload_button = QPushButton("Refresh", self)
        self.reload_button.clicked.connect(self.reload)

        self.profile_panel = ProfilePanel(self)
        profile_scroll = QScrollArea(self)
        profile_scroll.setWidgetResizable(True)
        profile_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        profile_scroll.setFrameShape(QFrame.Shape.NoFrame)
        profile_scroll.setWidget(self.profile_panel)
        self.session_list = QListWidget(self)
        self.session_list.setWordWrap(True)
        self.session_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.session_list.setSpacing(2)
        self.session_list.itemClicked.connect(self._on_session_list_item_clicked)
        self.session_list.itemActivated.connect(self._on_session_list_item_clicked)
        sessions_title = QLabel("Sessions", self)
        bold = sessions_title.font()
        bold.setBold(True)
        sessions_title.setFont(bold)
        left = QSplitter(Qt.Orientation.Vertical, self)
        left.addWidget(profile_scroll)
        sessions_box = QWidget(left)
        sessions_layout = QVBoxLayout(sessions_box)
        sessions_layout.setContentsMargins(0, 4, 0, 0)
        sessions_layout.addWidget(sessions_title)
        sessions_layout.addWidget(self.session_list, 1)
        left.addWidget(sessions_box)
        left.setSizes([360, 300])
        self.chat = ChatView(self, time_zone=self._tz, tasks=self.view_model.tasks)
        self.chat.session_header_clicked.connect(self._on_chat_header_clicked)

        top = QHBoxLayout()
        top.addWidget(self.heading)
        top.addWidget(self.status_label, 1)
        top.addWidget(self.reload_button)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(self.chat)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 640])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.resize(1000, 720)

        self.view_model.sessions_loaded.connect(self._on_vm_sessions_loaded)
        self.view_model.error_occurred.connect(self._on_vm_error_occurred)
        self.view_model.can_edit_changed.connect(self._on_vm_can_edit_changed)
        self.view_model.contact_saved.connect(self._on_vm_contact_saved)
        self.profile_panel.edit_button.clicked.connect(self.edit_contact)
        self.contact_dialog: ContactDialog | None = None
        self._note = ""  # said once after the next load ("contact saved")
        self._newest: str | None = None
        self.reload()

    @property
    def user_id(self) -> str:
        return self._summary.user.id

    def reload(self) -> None:
        self.status_label.setText("Loading sessions…")
        self.view_model.load(self._summary.user.id)

    def session_ids(self) -> list[str]:
        return [
            str(self.session_list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.session_list.count())
        ]

    def _on_vm_sessions_loaded(self, details: list[SessionDetail]) -> None:
        self.session_list.clear()
        for detail in details:
            count = shown_message_count(detail.messages)
            item = QListWidgetItem(session_list_text(detail.session, self._tz, count))
            item.setData(Qt.ItemDataRole.UserRole, detail.session.id)
            self.session_list.addItem(item)
        self.chat.set_details(details, headers=True)
        self.profile = CustomerProfile.from_sessions(
            [d.session for d in details], self.customer_name
        )
        self.profile_panel.set_profile(self.profile)
        self._newest = details[-1].session.id if details else None
        self._update_edit_button()
        if self.profile.name != self.customer_name:
            self.heading.setText(self.profile.name)
        count = len(details)
        channels = len(self.profile.channels)
        text = (
            f"{count} session{'s' if count != 1 else ''} across "
            f"{channels} channel{'s' if channels != 1 else ''}"
        )
        more = self.view_model.total - count
        if more > 0:
            text += f" (the oldest {count} of {self.view_model.total})"
        if self._note:
            text, self._note = f"{text} · {self._note}", ""
        self.status_label.setText(text)
        self.loaded.emit(count)

    def _on_vm_error_occurred(self, message: str) -> None:
        self.status_label.setText(message)

    def edit_contact(self) -> ContactDialog | None:
        """Open the contact editor (supervisors, once the sessions are loaded)."""
        if not self.view_model.can_edit or self._newest is None or self.profile is None:
            return None
        contact = {
            attr: value
            for (label, value) in self.profile.contact
            for (known, attr) in CONTACT_FIELDS
            if known == label
        }
        self.contact_dialog = ContactDialog(contact, self)
        self.contact_dialog.saved.connect(self._on_dialog_saved)
        self.contact_dialog.open()
        return self.contact_dialog

    def _on_dialog_saved(self, changes: dict[str, str]) -> None:
        if changes and self._newest is not None:
            self.status_label.setText("Saving the contact…")
            self.view_model.update_contact(self._newest, changes)

    def _on_vm_contact_saved(self, _summary: SessionSummary) -> None:
        self._note = "contact saved"
        self.reload()

    def _on_vm_can_edit_changed(self, allowed: bool) -> None:
        self._update_edit_button()

    def _update_edit_button(self) -> None:
        enabled = self.view_model.can_edit and self._newest is not None
        button = self.profile_panel.edit_button
        button.setEnabled(enabled)
        button.setToolTip("Correct the contact details" if enabled else EDIT_DENIED)

    def _on_session_list_item_clicked(self, item: QListWidgetItem) -> None:
        self.chat.jump_to_session(str(item.data(Qt.ItemDataRole.UserRole)))

    def _on_chat_header_clicked(self, session_id: str) -> None:
        self.chat.jump_to_session(session_id)
        self.session_activated.emit(session_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Reaches here only when no child used the key (the chat's search closes itself).
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.close()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:
        self.view_model.cancel()
        super().closeEvent(event)
