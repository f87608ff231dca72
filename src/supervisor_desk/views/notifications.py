"""Alerts for new and ended sessions: coalescing/rate limiting, and the in-window area.

A busy contact centre starts several sessions a second; one desktop notification each would
bury the desktop. The coalescer gathers what happened since the last alert and emits at most
one alert per kind ("new", "ended", "failed") per interval, a minute by default ("7 new
sessions"); each kind can be switched off in Preferences. Snapshots and replayed events
never reach it (the live view-model filters them). Text here is plain; each delivery path
escapes for its renderer (D-Bus body markup, Qt's balloon label).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.clock import WITHIN_A_TICK_MS, screen_clock
from supervisor_desk.views.icons import END_REASON_LABELS, STATUS_LABELS, channel_label
from supervisor_desk.views.theme import theme_color

AlertKind = Literal["new", "ended", "failed"]
ALERT_KINDS: tuple[AlertKind, ...] = ("new", "ended", "failed")
DEFAULT_MIN_INTERVAL_S = 60.0
MAX_NAMES = 3
MAX_FIELD = 60
# The floating area: its widest, and its distance from its host's edges (the window's body
# margin, so that its left edge lines up with the table's).
FLOAT_WIDTH = 600
FLOAT_MIN_WIDTH = 320
FLOAT_MARGIN = 12


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind | Literal["rule"]  # "rule": an alert rule fired (views/alerts/)
    title: str
    body: str
    session_id: str | None  # the session a click opens (the first one when coalesced)
    count: int
    urgency: Literal["low", "normal", "critical"] | None = None  # None: by kind
    sticky: bool = False  # stays until dismissed (critical rules)
    group: str = ""  # a rule's id: one banner per rule


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    text = " ".join(text.split())  # no newlines/tabs from hostile names
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(s: SessionSummary) -> str:
    return _clip(s.user.name or s.user.external_id or s.user.id)


def describe_new(s: SessionSummary) -> str:
    queue = " (queued)" if s.status == "queued" else ""
    return f"{_who(s)} on {channel_label(s.channel)} with {_clip(s.agent.name)}{queue}"


def describe_ended(s: SessionSummary) -> str:
    status = STATUS_LABELS.get(s.status, s.status)
    reason = f", {END_REASON_LABELS.get(s.end_reason, s.end_reason)}" if s.end_reason else ""
    return f"{_who(s)} on {channel_label(s.channel)}: {status.lower()}{reason}"


def balloon_safe(text: str) -> str:
    """Text for Qt's tray balloon, whose QLabel guesses rich text from ``<tags>``.

    Entity-escaping would show ``&lt;`` literally in a plain label, so angle brackets become
    look-alike quotes: no tag can form and the name stays readable.
    """
    return text.replace("<", "\u2039").replace(">", "\u203a")


class NotificationCoalescer:
    """Gathers new/ended sessions and hands out at most one alert per kind per interval."""

    def __init__(
        self,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._buckets: dict[AlertKind, dict[str, SessionSummary]] = {k: {} for k in ALERT_KINDS}
        self._last_sent: dict[str, float] = {}
        self.paused = False
        self.enabled: dict[AlertKind, bool] = dict.fromkeys(ALERT_KINDS, True)

    # The per-kind switches, by the names Preferences use.
    @property
    def notify_new(self) -> bool:
        return self.enabled["new"]

    @notify_new.setter
    def notify_new(self, on: bool) -> None:
        self._enable("new", on)

    @property
    def notify_ended(self) -> bool:
        return self.enabled["ended"]

    @notify_ended.setter
    def notify_ended(self, on: bool) -> None:
        self._enable("ended", on)

    @property
    def notify_failed(self) -> bool:
        return self.enabled["failed"]

    @notify_failed.setter
    def notify_failed(self, on: bool) -> None:
        self._enable("failed", on)

    def _enable(self, kind: AlertKind, on: bool) -> None:
        self.enabled[kind] = on
        if not on:
            self._buckets[kind].clear()

    def add_started(self, sessions: Sequence[SessionSummary]) -> None:
        if self.paused or not self.enabled["new"]:
            return
        for s in sessions:
            self._buckets["new"][s.id] = s

    def add_ended(self, sessions: Sequence[SessionSummary]) -> None:
        if self.paused:
            return
        for s in sessions:
            # A session that started and ended within one interval is one "ended" alert.
            self._buckets["new"].pop(s.id, None)
            kind: AlertKind = "failed" if s.status == "failed" else "ended"
            if self.enabled[kind]:
                self._buckets[kind][s.id] = s

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if paused:
            for bucket in self._buckets.values():
                bucket.clear()

    @property
    def pending(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def next_due_in(self) -> float | None:
        """Seconds until :meth:`take` would return something (None: nothing pending)."""
        now = self._clock()
        waits = [
            max(0.0, self._last_sent.get(kind, -1e18) + self.min_interval - now)
            for kind, bucket in self._buckets.items()
            if bucket
        ]
        return min(waits) if waits else None

    def take(self) -> list[Alert]:
        """The alerts due now (empties what they cover)."""
        now = self._clock()
        alerts: list[Alert] = []
        for kind, bucket in self._buckets.items():
            if not bucket or now < self._last_sent.get(kind, -1e18) + self.min_interval:
                continue
            sessions = list(bucket.values())
            bucket.clear()
            self._last_sent[kind] = now
            alerts.append(self._alert(kind, sessions))
        return alerts

    @staticmethod
    def _alert(kind: AlertKind, sessions: list[SessionSummary]) -> Alert:
        n = len(sessions)
        first = sessions[0]
        if n == 1:
            if kind == "new":
                return Alert(kind, "New session", describe_new(first), first.id, 1)
            title = "Session failed" if kind == "failed" else "Session ended"
            return Alert(kind, title, describe_ended(first), first.id, 1)
        names = ", ".join(_who(s) for s in sessions[:MAX_NAMES])
        more = f" and {n - MAX_NAMES} more" if n > MAX_NAMES else ""
        return Alert(kind, _count_title(kind, n), names + more, first.id, n)


def _count_title(kind: AlertKind, n: int) -> str:
    if kind == "new":
        return f"{n} new sessions"
    return f"{n} sessions failed" if kind == "failed" else f"{n} sessions ended"



def merge_alerts(older: Alert, newer: Alert) -> Alert:
    """One banner per kind: a later batch adds its count to the banner still on screen."""
    n = older.count + newer.count
    if newer.kind == "rule":
        return newer  # a rule's notice names its own burst
    title = _count_title(newer.kind, n)
    body = newer.body if newer.count > 1 else f"latest: {newer.body}"
    return Alert(newer.kind, title, body, newer.session_id, n)


class _Banner(QFrame):
    activated = Signal(str)
    dismissed = Signal()  # the user closed it
    timed_out = Signal()  # its time on screen passed with no newer alert in it

    def __init__(self, alert: Alert, timeout_ms: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alert = alert
        self.setObjectName("notificationBanner")
        self.setProperty("kind", alert.kind)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        self._title = QLabel(alert.title, self)
        self._title.setTextFormat(Qt.TextFormat.PlainText)
        self._title.setObjectName("bannerTitle")
        self._body = QLabel(alert.body, self)
        self._body.setTextFormat(Qt.TextFormat.PlainText)
        self._body.setObjectName("bannerBody")
        self._body.setWordWrap(True)  # the area floats at a set width: a long body wraps
        layout.addWidget(self._title)
        layout.addWidget(self._body, 1)
        self._show = QPushButton("Show", self)
        self._show.setObjectName("bannerShow")
        self._show.setFlat(True)
        self._show.clicked.connect(self._on_show_clicked)
        self._show.setVisible(alert.session_id is not None)
        layout.addWidget(self._show)
        close = QToolButton(self)
        close.setText("\u00d7")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismissed.emit)
        layout.addWidget(close)
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.setInterval(timeout_ms)
        self._expiry.timeout.connect(self._on_expiry_timeout)
        self.timed_out_already = False
        self._arm()

    def set_alert(self, alert: Alert) -> None:
        """Say ``alert`` instead: new words, a new timeout.

        Cheaper than a new banner by the style sheet's polish of five widgets, and the
        window's layout does not move: a rule firing every few seconds only changes text.
        """
        if alert.kind != self.alert.kind:  # the style sheet colours banners by kind
            self.setProperty("kind", alert.kind)
            for widget in (self, self._title, self._body):
                widget.style().unpolish(widget)
                widget.style().polish(widget)
        self.alert = alert
        if self._title.text() != alert.title:
            self._title.setText(alert.title)
        if self._body.text() != alert.body:
            self._body.setText(alert.body)
        self._show.setVisible(alert.session_id is not None)
        self._arm()

    def _on_expiry_timeout(self) -> None:
        # Its time is up now (a banner dismissed meanwhile takes it along), and it goes with
        # the next tick's paint (within a second), not in a paint and a flush of its own.
        self.timed_out_already = True
        if not screen_clock().before_next_tick(self._expire, self, within_ms=WITHIN_A_TICK_MS):
            self._expire()

    def _expire(self) -> None:
        self.timed_out.emit()

    def _arm(self) -> None:
        screen_clock().cancel_before_tick(self._expire)
        self.timed_out_already = False
        if self.alert.sticky:
            self._expiry.stop()
        else:
            self._expiry.start()

    def _on_show_clicked(self) -> None:
        if self.alert.session_id is not None:
            self.activated.emit(self.alert.session_id)


class NotificationArea(QWidget):
    """In-window alerts for desktops without a tray (and offscreen): newest on top.

    With ``float_over`` it floats over a corner of the window instead of taking a place in
    a layout: a banner that comes, changes or goes moves nothing (the row under the
    supervisor's pointer stays where it was), and repaints only itself and what it uncovers.
    """

    activated = Signal(str)  # session id

    def __init__(self, parent: QWidget | None = None, *, max_banners: int = 2,
                 timeout_ms: int = 10_000) -> None:
        super().__init__(parent)
        self.setObjectName("notificationArea")
        # Opaque in the window's colour: a banner's new words repaint the area and the
        # banner, not first what lies beneath (the table, under a floating area).
        self.setAutoFillBackground(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._host: QWidget | None = None
        self._beside: QWidget | None = None
        self._holder: QWidget | None = None
        self._max = max_banners
        self._timeout_ms = timeout_ms
        self.shown_count = 0
        # Off screen (the window in the tray or minimised) banners wait unbuilt, newest last,
        # with when they came: no widget or layout work for a window nobody sees.
        self._on_screen = True
        self._waiting: list[tuple[float, Alert]] = []
        self.hide()

    def float_over(self, host: QWidget, beside: QWidget | None = None) -> None:
        """Float at the bottom-left corner of ``host`` (over what is there), framed, at most
        ``FLOAT_WIDTH`` wide and no wider than ``beside`` (the table's pane: the chat's
        composer on its right stays clear), following their sizes and the banners' height."""
        self._host, self._beside = host, beside
        # In a holder of its own, without a layout: the area's layout tells its widget's
        # parent each time a banner comes, goes or rewraps (QLayout::activate ends with
        # updateGeometry), and a parent with a layout (``host``'s) passes that up to the
        # window, which would be laid out again for nothing: the area places itself.
        holder = QWidget(host)
        holder.setObjectName("notificationHolder")
        holder.hide()
        shown = not self.isHidden()
        self.setParent(holder)  # hides it: shown again below, with its holder
        self._holder = holder
        self.setVisible(shown)
        self._layout.setContentsMargins(6, 6, 6, 6)
        for watched in (host, beside):
            if watched is not None:
                watched.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched in (self._host, self._beside):
            self._place()
        return False

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:  # a banner came, went or rewrapped
            self._place()
        return handled

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._host is None:
            return
        # A floating area's edge: the window's colour over a table needs a line around it.
        painter = QPainter(self)
        painter.setPen(theme_color("border"))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def _place(self) -> None:
        host, holder = self._host, self._holder
        if host is None or holder is None:
            return
        width = min(FLOAT_WIDTH, host.width() - 2 * FLOAT_MARGIN)
        if self._beside is not None:
            width = min(width, max(FLOAT_MIN_WIDTH, self._beside.width()))
        width = max(1, width)
        layout = self._layout
        height = (layout.totalHeightForWidth(width) if layout.hasHeightForWidth()
                  else layout.totalSizeHint().height())
        holder.setGeometry(FLOAT_MARGIN, host.height() - FLOAT_MARGIN - height, width, height)
        self.setGeometry(0, 0, width, height)
        holder.raise_()

    def setVisible(self, visible: bool) -> None:
        super().setVisible(visible)
        if self._holder is not None:
            # Shown and hidden with the area: an empty holder would take the clicks meant
            # for the table beneath it.
            self._holder.setVisible(visible)

    def set_on_screen(self, on_screen: bool) -> None:
        """The window came on screen (shows what still matters of what waited) or left it."""
        self._on_screen = on_screen
        if not on_screen:
            return
        waiting, self._waiting = self._waiting, []
        now = time.monotonic()
        for came, alert in waiting:
            if alert.sticky or (now - came) * 1000 < self._timeout_ms:
                self.show_alert(alert)

    def show_alert(self, alert: Alert) -> None:
        """Show ``alert`` on top: in the banner of its kind and rule if one shows, else in
        a new one, or, with the area full, in the oldest one's widget.

        While the floor stays busy the area keeps its banners' widgets and its height, so a
        new alert changes words and order, not the window's layout: a banner coming or going
        moves the table and the chat below it, a repaint of most of the window.
        """
        if not self._on_screen:
            self._wait(alert)
            return
        banners = self._banner_widgets()
        banner = next((b for b in banners
                       if b.alert.kind == alert.kind and b.alert.group == alert.group), None)
        if banner is not None and alert.kind != "rule":  # a rule's notice covers its burst
            alert = merge_alerts(banner.alert, alert)
        if banner is None and len(banners) >= self._max:
            banner = banners[-1]  # the oldest gives way
        if banner is not None:
            banner.set_alert(alert)
            if self._layout.indexOf(banner) != 0:  # newest on top
                self._layout.removeWidget(banner)
                self._layout.insertWidget(0, banner)
        else:
            banner = _Banner(alert, self._timeout_ms, self)
            banner.activated.connect(self._on_banner_activated)
            banner.dismissed.connect(lambda b=banner: self._dismiss(b))
            banner.timed_out.connect(self._on_banner_timed_out)
            self._layout.insertWidget(0, banner)
        self.shown_count += 1
        self.show()
        self._place()

    def _wait(self, alert: Alert) -> None:
        for i, (_came, waiting) in enumerate(self._waiting):
            if waiting.kind == alert.kind and waiting.group == alert.group:
                if alert.kind != "rule":
                    alert = merge_alerts(waiting, alert)
                del self._waiting[i]
                break
        self._waiting.append((time.monotonic(), alert))
        del self._waiting[:-self._max]
        self.shown_count += 1

    @property
    def max_banners(self) -> int:
        """How many banners show at once (older ones give way)."""
        return self._max

    def banners(self) -> list[Alert]:
        return [banner.alert for banner in self._banner_widgets()]

    def _banner_widgets(self) -> list[_Banner]:
        out = []
        for i in range(self._layout.count()):
            item = self._layout.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, _Banner):
                out.append(widget)
        return out

    def _on_banner_activated(self, session_id: str) -> None:
        self.activated.emit(session_id)

    def _dismiss(self, banner: _Banner) -> None:
        self._remove(banner)
        self._on_banner_timed_out()  # those that waited for it go too

    def _on_banner_timed_out(self) -> None:
        """Banners that timed out go together, once none still counts down: one change of
        the area's height (and of the window's layout below it) for a busy spell's end, not
        one per banner. Sticky ones stay; a newer alert takes a timed-out banner's place."""
        banners = self._banner_widgets()
        if any(not b.timed_out_already and not b.alert.sticky for b in banners):
            return
        for banner in banners:
            if banner.timed_out_already:
                self._remove(banner)

    def _remove(self, banner: QWidget) -> None:
        if banner.parent() is not self:
            return
        self._layout.removeWidget(banner)
        banner.setParent(None)
        banner.deleteLater()
        if self._layout.count() == 0:
            self.hide()
