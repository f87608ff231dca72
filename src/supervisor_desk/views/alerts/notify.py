"""Telling the user about alerts: desktop notification, in-window banner, sound.

One owner for every alert the desktop shows: the routine new/ended notifications are the two
built-in rules and still go through the tray's per-kind rate limit (one notification a minute
per kind); every other rule's notice is delivered at once with its urgency (critical ones stay
until dismissed), a banner if the rule asks for one, and its sound. Quiet hours silence sound
and desktop pop-ups; banners still show in the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.client.audio import AudioError, AudioOutput
from supervisor_desk.models.alerts.defaults import ROUTINE_ENDED_ID, ROUTINE_NEW_ID
from supervisor_desk.models.alerts.engine import AlertUpdate, Notice
from supervisor_desk.models.alerts.rules import SEVERITY_RANK, RuleSet
from supervisor_desk.views.clock import WITHIN_A_TICK_MS, screen_clock
from supervisor_desk.views.notifications import (
    Alert,
    NotificationArea,
    describe_ended,
    describe_new,
)
from supervisor_desk.views.tasks import TaskScope
from supervisor_desk.views.tray import TrayController

log = logging.getLogger(__name__)

MAX_NAMES = 3
BANNER_INTERVAL_MS = 500
SOUND_GAP_S = 2.0
WARM_UP_DELAY_MS = 3000


def notice_alert(notice: Notice) -> Alert:
    """The words of a notice: the rule's name and who it is about."""
    rule = notice.rule
    alerts = notice.alerts
    n = len(alerts)
    first = alerts[0].session
    describe = describe_new if first.is_live else describe_ended
    title = rule.name if n == 1 else f"{rule.name}: {n} sessions"
    if notice.repeat:
        title = f"Still open — {title}"
    body = "; ".join(describe(a.session) for a in alerts[:MAX_NAMES])
    if n > MAX_NAMES:
        body += f" and {n - MAX_NAMES} more"
    return Alert("rule", title, body, first.id, n, urgency=rule.urgency,
                 sticky=rule.severity == "critical", group=rule.id)


class AlertNotifier(QObject):
    delivered = Signal(object, object)  # Notice, Alert (what was shown)

    def __init__(
        self,
        tray: TrayController,
        area: NotificationArea,
        *,
        audio: AudioOutput | None = None,
        tasks: TaskScope | None = None,
        local_now: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._area = area
        self.audio = audio if audio is not None else AudioOutput()
        self._local_now = local_now
        self._monotonic = monotonic
        self._rules = RuleSet()
        # Notices are told on the event loop's next turn, not inside the frame that judged
        # them: the words, the tray call, a banner's widget and a sound cost 0.1-8 ms, which
        # would add to the frame (the user's input waits for both). Same moment to the eye.
        self._untold: list[Notice] = []
        self._tell_timer = QTimer(self)
        self._tell_timer.setSingleShot(True)
        self._tell_timer.setInterval(0)
        self._tell_timer.timeout.connect(self._on_tell_timer_timeout)
        self.sounds_played = 0
        # (when, severity rank) of the last sound: a busy floor chimes once, not every frame.
        self._last_sound: tuple[float, int] | None = None
        self.last_delivery_s: float | None = None
        # Banners are widgets: built at most once per BANNER_INTERVAL_MS, the first at once.
        self._pending_banners: list[tuple[int, Alert]] = []
        self._banner_timer = QTimer(self)
        self._banner_timer.setSingleShot(True)
        self._banner_timer.setInterval(BANNER_INTERVAL_MS)
        self._banner_timer.timeout.connect(self._on_banner_timer_timeout)
        self._flush_at_tick = False  # gathered banners wait for the next tick
        # The app's tasks: the sound library is imported on its executor (None: not ahead of
        # the first sound, which imports it then).
        self._tasks = tasks
        self._warm_up: asyncio.Task[None] | None = None
        # Not during start-up (the import would compete with the first rows for the GIL).
        self._warm_up_timer = QTimer(self)
        self._warm_up_timer.setSingleShot(True)
        self._warm_up_timer.setInterval(WARM_UP_DELAY_MS)
        self._warm_up_timer.timeout.connect(self._on_warm_up_timer_timeout)
        self._reap = QTimer(self)
        self._reap.setSingleShot(True)
        self._reap.timeout.connect(self._on_reap_timeout)

    def set_rules(self, rules: RuleSet) -> None:
        self._rules = rules
        self.audio.volume = rules.volume
        self.audio.muted = rules.muted
        if self._tasks is not None and not rules.muted and self._warm_up is None and any(
                r.enabled and r.actions.sound for r in rules.rules):
            # The first alert sound would otherwise import the library on the Qt thread.
            self._warm_up_timer.start()
        # The routine rules replace the tray's per-kind switches (one owner).
        coalescer = self._tray.coalescer
        new_rule, ended_rule = rules.rule(ROUTINE_NEW_ID), rules.rule(ROUTINE_ENDED_ID)
        coalescer.notify_new = new_rule is not None and new_rule.enabled
        coalescer.notify_ended = ended_rule is not None and ended_rule.enabled
        coalescer.notify_failed = coalescer.notify_ended  # "failed" is a rule of its own now

    def _on_warm_up_timer_timeout(self) -> None:
        if self._warm_up is None and self._tasks is not None:
            self._warm_up = self._tasks.spawn(self._warm_up_audio(), "audio-warm-up")

    async def _warm_up_audio(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.audio.warm_up)

    @property
    def quiet(self) -> bool:
        return self._rules.quiet_hours.active(self._local_now().time())

    def on_alerts_changed(self, update: AlertUpdate) -> None:
        """What an ``AlertsViewModel`` tells its subscribers: its notices are told."""
        if update.notices:
            self.on_notices(update.notices)

    def on_notices(self, notices: list[Notice]) -> None:
        """Tell the user about ``notices`` once the frame that raised them has ended."""
        untold = self._untold
        # Whether the timer runs is read off the list (it runs exactly while notices wait):
        # isActive() in the frame cost 4 us on cold caches.
        if not untold and notices:
            self._tell_timer.start()
        untold.extend(notices)

    def _on_tell_timer_timeout(self) -> None:
        notices, self._untold = self._untold, []
        if notices:
            self._tell(notices)

    def _tell(self, notices: list[Notice]) -> None:
        quiet = self.quiet
        paused = self._tray.paused
        # Without a notification server or tray a pop-up falls back to a banner.
        to_area = not (self._tray.desktop_notifications or self._tray.tray_visible)
        banners: list[tuple[int, Alert]] = []
        sound: tuple[int, str] | None = None  # the most severe notice's sound
        for notice in notices:
            rule = notice.rule
            if rule.id == ROUTINE_NEW_ID:
                self._tray.sessions_started([a.session for a in notice.alerts])
                continue
            if rule.id == ROUTINE_ENDED_ID:
                self._tray.sessions_ended([a.session for a in notice.alerts])
                continue
            alert = notice_alert(notice)
            popup = rule.actions.notify and not quiet and not paused
            if popup and not to_area:
                # One notification per rule that counts up while the rule keeps firing (its
                # "still open" reminders in one of their own).
                key = f"{rule.id}:reminder" if notice.repeat else rule.id
                self._tray.deliver(alert, replace_key=key)
            if rule.actions.banner or (popup and to_area):
                banners.append((SEVERITY_RANK[rule.severity], alert))
            rank = SEVERITY_RANK[rule.severity]
            if rule.actions.sound and not quiet and (sound is None or rank > sound[0]):
                sound = (rank, rule.actions.sound)
            self.last_delivery_s = self._monotonic()
            self.delivered.emit(notice, alert)
        if banners:
            self._queue_banners(banners)
        if sound is not None:
            self._sound(*sound)

    def _sound(self, rank: int, name: str) -> None:
        """One sound per frame (the most severe notice's); none again within SOUND_GAP_S
        unless it is more severe than the last: alerts every frame would chime 12 times a
        second, and the first chime already has the supervisor's attention."""
        now = self._monotonic()
        last = self._last_sound
        if last is not None and now - last[0] < SOUND_GAP_S and rank <= last[1]:
            return
        self._last_sound = (now, rank)
        self._play(name)

    def _queue_banners(self, banners: list[tuple[int, Alert]]) -> None:
        """Show banners now if none were shown lately, else with the next ones.

        A busy floor raises notices every frame (80 ms); each banner is a widget (0.3-0.8 ms
        to build and lay out) and the area keeps only its last few, which nobody reads at
        12 a second. The first banner after a calm shows at once; later ones are gathered
        and the most severe shown when the interval ends.
        """
        keep = self._area.max_banners
        pending = self._pending_banners + banners
        self._pending_banners = [pending[i] for i in sorted(
            sorted(range(len(pending)), key=lambda i: (pending[i][0], i))[-keep:])]
        if not self._banner_timer.isActive() and not self._flush_at_tick:
            self._flush_banners()

    def _flush_banners(self) -> None:
        self._flush_at_tick = False
        banners, self._pending_banners = self._pending_banners, []
        if not banners:
            return
        # The most severe (then the newest) shown last: on top.
        for _rank, alert in sorted(banners, key=lambda pair: pair[0]):
            self._area.show_alert(alert)
        self._banner_timer.start()

    def _on_banner_timer_timeout(self) -> None:
        # Gathered banners show with the next tick's paint (within a second), not in a paint
        # and a flush to the screen of their own.
        if not self._pending_banners:
            return
        self._flush_at_tick = screen_clock().before_next_tick(
            self._flush_banners, self, within_ms=WITHIN_A_TICK_MS)
        if not self._flush_at_tick:
            self._flush_banners()

    def _play(self, name: str) -> None:
        try:
            had_no_device = self.audio.device_error is not None
            seconds = self.audio.play_sound(name)
        except AudioError as exc:
            # Said once while no device is found (the output looks again once a minute).
            if not exc.repeated:
                log.warning("alert sounds not played: %s", exc)
            return
        if had_no_device:
            log.info("alert sounds play again: a sound device was found")
        if seconds:
            self.sounds_played += 1
            self._reap.start(int(seconds * 1000) + 500)

    def _on_reap_timeout(self) -> None:
        # A finished sound's device is stopped, and closed once unused for a minute.
        self.audio.reap()
        wait = self.audio.next_reap_in()
        if wait is not None:
            self._reap.start(max(250, int(wait * 1000) + 50))

    def close(self) -> None:
        self._tell_timer.stop()
        self._untold = []
        self._warm_up_timer.stop()
        if self._warm_up is not None:
            # The import itself finishes on the executor's thread; it opens no device.
            self._warm_up.cancel()
        self._banner_timer.stop()
        screen_clock().cancel_before_tick(self._flush_banners)
        self._flush_at_tick = False
        self._pending_banners = []
        self._reap.stop()
        self.audio.close()
