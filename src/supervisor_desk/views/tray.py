"""System tray icon and session alerts.

Delivery, best first: desktop notifications over D-Bus (``client.desktop_notify``: reaches the
notification daemon even on XEmbed trays, where Qt only draws its own balloon), else Qt's tray
balloon, else the in-window notification area (offscreen, bare desktops). The tray icon shows
the connection state; its menu has Show / Pause notifications / Quit. Closing the window keeps
the app here; only Quit ends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from supervisor_desk.client.desktop_notify import DesktopNotifier, Urgency
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.icons import tray_icon
from supervisor_desk.views.notifications import (
    Alert,
    NotificationArea,
    NotificationCoalescer,
    balloon_safe,
)
from supervisor_desk.views.tasks import TaskScope, standalone_scope

log = logging.getLogger(__name__)

PROBE_FIRST_MS = 3000
PROBE_MAX_MS = 60_000
# A rule that fires again within this many seconds of its last alert updates the notification
# already on screen (D-Bus ``replaces_id``) instead of stacking a new one per 80 ms frame.
REPLACE_WINDOW_S = 15.0
# In-place updates of one rule's notification at most this often; the latest count wins.
UPDATE_GAP_MS = 1000

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]

# ConnectionState value -> tray icon name
_STATE_ICONS = {
    "connected": "connected",
    "connecting": "connecting",
    "reconnecting": "reconnecting",
    "unreachable": "error",
    "unauthorized": "offline",
    "stopped": "offline",
    "": "offline",
}


def alert_urgency(alert: Alert) -> Urgency:
    """New and ended sessions are routine (low: the daemon may keep them quiet); a failed
    session is worth a look (normal). An alert rule says its own."""
    if alert.urgency is not None:
        return Urgency[alert.urgency.upper()]
    return Urgency.NORMAL if alert.kind == "failed" else Urgency.LOW


def counted_title(title: str, count: int) -> str:
    """A rule's notification title once it fired ``count`` times in a row."""
    return title if count <= 1 else f"{title} — {count} times"


@dataclass
class _RuleNotification:
    """One rule's desktop notification while the rule keeps firing."""

    gap: QTimer  # single shot: the next in-place update waits for it
    key: str  # what the notification is about (a rule; its reminders have their own)
    nid: int = 0  # the server's id once it answered (0: not yet)
    count: int = 0  # alerts of the rule folded into it
    last_at: float = 0.0  # monotonic time of the latest alert
    pending: Alert | None = None  # the latest alert, not sent yet
    sending: bool = False


class TrayController(QObject):
    show_requested = Signal()
    toggle_requested = Signal()  # a single click on the icon: show, or hide if shown
    quit_requested = Signal()
    session_requested = Signal(str)
    acknowledge_requested = Signal(str)  # session id: "Acknowledge" on an alert rule's popup
    paused_changed = Signal(bool)
    tray_available_changed = Signal(bool)

    def __init__(
        self,
        area: NotificationArea,
        *,
        tasks: TaskScope | None = None,
        spawn: Spawn | None = None,
        coalescer: NotificationCoalescer | None = None,
        desktop_notifier: DesktopNotifier | None = None,
        app_name: str = "Supervisor Desk",
        monotonic: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._area = area
        self._monotonic = monotonic
        self._rule_notifications: dict[str, _RuleNotification] = {}
        # The app's TaskScope; a bare spawn callable serves tests that run no owner.
        self._spawn: Spawn = tasks.spawn if tasks is not None \
            else spawn or standalone_scope("tray").spawn
        self.coalescer = coalescer or NotificationCoalescer()
        self._notifier = desktop_notifier
        self._app_name = app_name
        self._tray: QSystemTrayIcon | None = None
        self._menu: QMenu | None = None
        self._nid_sessions: dict[int, str] = {}
        self._balloon_session: str | None = None
        self._state = ""
        self._state_text = "Not connected"
        self.notifications_sent = 0
        self.last_alerts: list[Alert] = []
        self._area.activated.connect(self.session_requested)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)
        # No tray host yet: look again after 3 s, then less and less often (up to a minute),
        # a single shot each time; a desktop without a tray is not woken every few seconds.
        self._probe_timer = QTimer(self)
        self._probe_timer.setSingleShot(True)
        self._probe_timer.setInterval(PROBE_FIRST_MS)
        self._probe_timer.timeout.connect(self._on_probe_timer_timeout)
        self.pause_action = QAction("Pause notifications", self)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self._on_pause_action_toggled)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Create the tray icon if a tray exists (else keep probing) and connect D-Bus alerts."""
        if not self._create_tray():
            self._probe_timer.start()
        if self._notifier is not None:
            self._notifier.on_action = self._on_notifier_action
            self._notifier.on_closed = self._on_notifier_closed
            self._spawn(self._start_notifier(), "desktop-notifier-start")

    async def _start_notifier(self) -> None:
        assert self._notifier is not None
        ok = await self._notifier.start()
        log.info("desktop notifications over D-Bus: %s", "yes" if ok else "no")

    async def aclose(self) -> None:
        self._flush_timer.stop()
        self._probe_timer.stop()
        for group in list(self._rule_notifications):
            self._forget(group)
        if self._notifier is not None:
            await self._notifier.aclose()
        if self._tray is not None:
            self._tray.hide()

    @property
    def tray_visible(self) -> bool:
        return self._tray is not None and self._tray.isVisible()

    @property
    def has_tray(self) -> bool:
        return self._tray is not None

    @property
    def desktop_notifications(self) -> bool:
        return self._notifier is not None and self._notifier.available

    def _create_tray(self) -> bool:
        if self._tray is not None:
            return True
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return False
        tray = QSystemTrayIcon(tray_icon(_STATE_ICONS.get(self._state, "offline")), self)
        menu = QMenu()
        show = QAction("Show Supervisor Desk", menu)
        show.triggered.connect(self.show_requested)
        menu.addAction(show)
        menu.addAction(self.pause_action)
        menu.addSeparator()
        quit_action = QAction("Quit", menu)
        quit_action.triggered.connect(self.quit_requested)
        menu.addAction(quit_action)
        tray.setContextMenu(menu)
        tray.activated.connect(self._on_tray_activated)
        tray.messageClicked.connect(self._on_tray_message_clicked)
        tray.setToolTip(f"{self._app_name} — {self._state_text}")
        tray.show()
        self._tray = tray
        self._menu = menu
        self.tray_available_changed.emit(True)
        return True

    def _on_probe_timer_timeout(self) -> None:
        if not self._create_tray():
            self._probe_timer.start(min(PROBE_MAX_MS, self._probe_timer.interval() * 2))

    # ---------------------------------------------------------------- state

    def set_connection_state(self, state: str, text: str) -> None:
        self._state = state
        self._state_text = text
        if self._tray is not None:
            self._tray.setIcon(tray_icon(_STATE_ICONS.get(state, "offline")))
            self._tray.setToolTip(f"{self._app_name} — {text}")

    def set_paused(self, paused: bool) -> None:
        self.pause_action.setChecked(paused)

    @property
    def paused(self) -> bool:
        return self.coalescer.paused

    def _on_pause_action_toggled(self, checked: bool) -> None:
        self.coalescer.set_paused(checked)
        self.paused_changed.emit(checked)

    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_requested.emit()
        elif reason == QSystemTrayIcon.ActivationReason.DoubleClick:
            self.show_requested.emit()

    def _on_tray_message_clicked(self) -> None:
        if self._balloon_session is not None:
            self.session_requested.emit(self._balloon_session)
        else:
            self.show_requested.emit()

    def _on_notifier_action(self, notification_id: int, key: str) -> None:
        session_id = self._nid_sessions.get(notification_id)
        if session_id is not None and key == "acknowledge":
            self.acknowledge_requested.emit(session_id)
        elif session_id is not None:
            self.session_requested.emit(session_id)
        else:
            self.show_requested.emit()

    def _on_notifier_closed(self, notification_id: int, _reason: int) -> None:
        """Dismissed or expired: the rule's next alert opens a new notification."""
        for key, note in list(self._rule_notifications.items()):
            if note.nid == notification_id:
                self._forget(key)
                if note.pending is not None:  # fired again meanwhile: show that one
                    self._deliver_rule(note.pending, key)

    # ---------------------------------------------------------------- alerts

    def sessions_started(self, sessions: list[SessionSummary]) -> None:
        self.coalescer.add_started(sessions)
        self._schedule()

    def sessions_ended(self, sessions: list[SessionSummary]) -> None:
        self.coalescer.add_ended(sessions)
        self._schedule()

    def _schedule(self) -> None:
        due = self.coalescer.next_due_in()
        if due is None or self._flush_timer.isActive():
            return
        self._flush_timer.start(int(due * 1000))

    def _on_flush_timer_timeout(self) -> None:
        for alert in self.coalescer.take():
            self.deliver(alert)
        self._schedule()

    def deliver(self, alert: Alert, *, replace_key: str = "") -> None:
        """Show ``alert``. Alerts with the same ``replace_key`` (one alert rule) arriving
        within REPLACE_WINDOW_S of each other update one desktop notification in place."""
        self.last_alerts = [*self.last_alerts[-9:], alert]
        self.notifications_sent += 1
        if self.desktop_notifications and replace_key:
            self._deliver_rule(alert, replace_key)
        elif self.desktop_notifications:
            self._spawn(self._notify_dbus(alert), "desktop-notify")
        elif self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._balloon_session = alert.session_id
            self._tray.showMessage(
                balloon_safe(alert.title),
                balloon_safe(alert.body),
                QSystemTrayIcon.MessageIcon.Information,
                6000,
            )
        else:
            self._area.show_alert(alert)

    def _deliver_rule(self, alert: Alert, key: str) -> None:
        """The first alert of a rule is sent at once; while the rule keeps firing, its
        notification is updated in place with the count, at most once per UPDATE_GAP_MS."""
        now = self._monotonic()
        note = self._rule_notifications.get(key)
        if note is None or now - note.last_at > REPLACE_WINDOW_S:
            if note is not None:
                self._forget(key)
            note = _RuleNotification(QTimer(self), key)
            note.gap.setSingleShot(True)
            note.gap.setInterval(UPDATE_GAP_MS)
            note.gap.timeout.connect(lambda n=note: self._send_rule(n))
            self._rule_notifications[key] = note
        note.count += 1
        note.last_at = now
        note.pending = alert
        if not note.sending and not note.gap.isActive():
            self._send_rule(note)

    def _forget(self, key: str) -> None:
        note = self._rule_notifications.pop(key)
        note.gap.stop()
        note.gap.deleteLater()

    def _send_rule(self, note: _RuleNotification) -> None:
        alert, note.pending = note.pending, None
        if alert is None or note.sending:
            return
        note.sending = True
        self._spawn(self._notify_dbus(alert, note), "desktop-notify")

    async def _notify_dbus(self, alert: Alert, note: _RuleNotification | None = None) -> None:
        assert self._notifier is not None
        title = alert.title if note is None else counted_title(alert.title, note.count)
        try:
            nid = await self._notifier.notify(
                title, alert.body, urgency=alert_urgency(alert), category="im.received",
                actions=(("default", "Show session"), ("acknowledge", "Acknowledge"))
                if alert.kind == "rule" else (("default", "Show session"),),
                timeout_ms=0 if alert.sticky else -1,  # 0: until the user dismisses it
                replaces_id=note.nid if note is not None else 0,
            )
        except Exception:  # the daemon went away: fall back for this one alert
            log.warning("desktop notification failed", exc_info=True)
            self._area.show_alert(alert)
            if note is not None and self._rule_notifications.get(note.key) is note:
                self._forget(note.key)
            return
        finally:
            if note is not None:
                note.sending = False
        if note is not None and self._rule_notifications.get(note.key) is note:
            note.nid = nid or note.nid
            note.gap.start()  # the next update (if the rule fires again) after the gap
        if nid and alert.session_id is not None:
            self._nid_sessions[nid] = alert.session_id
            if len(self._nid_sessions) > 200:
                self._nid_sessions.pop(next(iter(self._nid_sessions)))

