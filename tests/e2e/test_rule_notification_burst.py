"""A rule that fires on every feed frame: one desktop notification, updated in place.

The tray controller runs in the test process (its D-Bus path needs no tray or window) against
the real session bus and notification capture service of the virtual desktop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from supervisor_desk.client.desktop_notify import DesktopNotifier
from supervisor_desk.views.notifications import Alert, NotificationArea
from supervisor_desk.views.tray import REPLACE_WINDOW_S, UPDATE_GAP_MS, TrayController
from tests.e2e.desktop import VirtualDesktop
from tests.helpers import wait_until
from tests.views import conftest as qt_fixtures

qloop = qt_fixtures.qloop
qrun = qt_fixtures.qrun
__all__ = ["qloop", "qrun"]

FRAME_S = 0.08
FRAMES = 30  # 2.4 s of a rule firing on every frame


def _alert(n: int, group: str = "negative") -> Alert:
    return Alert("rule", "Negative sentiment", f"Guest {n} on Web with Ava", f"s{n}", 1,
                 urgency="normal", group=group)


def test_a_rule_firing_every_frame_updates_one_notification_that_counts_up(
        desktop: VirtualDesktop, qtbot: Any, qrun: Any) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    clock = [1000.0]
    notifier = DesktopNotifier("Supervisor Desk", bus=desktop.bus_address)
    tasks: list[asyncio.Task[Any]] = []

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        tasks.append(task)
        return task

    tray = TrayController(area, spawn=spawn, desktop_notifier=notifier,
                          monotonic=lambda: clock[0])

    async def scenario() -> None:
        tray.start()
        await wait_until(lambda: tray.desktop_notifications, 10)
        sent_at: list[float] = []
        for n in range(1, FRAMES + 1):
            tray.deliver(_alert(n), replace_key="negative")
            sent_at.append(asyncio.get_running_loop().time())
            if n == 1:  # the first one is not held back for the ones that follow
                await wait_until(lambda: len(desktop.notifications()) == 1, 2)
                first_seen = asyncio.get_running_loop().time()
                assert first_seen - sent_at[0] < UPDATE_GAP_MS / 1000
            clock[0] += FRAME_S
            await asyncio.sleep(FRAME_S)  # the feed's next frame
        # The last update carries the whole count.
        await wait_until(lambda: f"— {FRAMES} times" in desktop.notifications()[-1]["summary"],
                         UPDATE_GAP_MS / 1000 * 3)
        calls = desktop.notifications()
        first = calls[0]
        assert first["replaces_id"] == 0 and first["summary"] == "Negative sentiment"
        assert all(c["replaces_id"] == first["id"] and c["id"] == first["id"] for c in calls[1:])
        # At most one update per gap (plus the first and the trailing one), not one per frame.
        assert 2 <= len(calls) <= FRAMES * FRAME_S / (UPDATE_GAP_MS / 1000) + 2
        counts = [int(c["summary"].split("— ")[1].split()[0]) for c in calls[1:]]
        assert counts == sorted(counts) and counts[-1] == FRAMES
        assert calls[-1]["body"] == f"Guest {FRAMES} on Web with Ava"  # the newest session

        # Another rule gets its own notification, at once.
        tray.deliver(_alert(1, group="wait-60"), replace_key="wait-60")
        await wait_until(lambda: len(desktop.notifications()) == len(calls) + 1, 2)
        other = desktop.notifications()[-1]
        assert other["replaces_id"] == 0 and other["id"] != first["id"]

        # After a calm longer than the window, the rule opens a new notification.
        clock[0] += REPLACE_WINDOW_S + 1
        tray.deliver(_alert(99), replace_key="negative")
        await wait_until(lambda: len(desktop.notifications()) == len(calls) + 2, 2)
        again = desktop.notifications()[-1]
        assert again["replaces_id"] == 0 and again["summary"] == "Negative sentiment"

        # Dismissed by the user: the next alert of the rule is a new notification too.
        await asyncio.to_thread(desktop.invoke_notification, again["id"], "default")
        await wait_until(lambda: "negative" not in tray._rule_notifications, 5)
        clock[0] += FRAME_S
        tray.deliver(_alert(100), replace_key="negative")
        await wait_until(lambda: len(desktop.notifications()) == len(calls) + 3, 2)
        assert desktop.notifications()[-1]["replaces_id"] == 0
        await tray.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)

    qrun(scenario())


def test_alert_rules_on_a_busy_floor_reach_the_desktop_as_one_counting_notification(
        desktop: VirtualDesktop, qtbot: Any, qrun: Any) -> None:
    """The default rules, a negative-sentiment session arriving on every frame: the alert
    notifier and tray send one notification for the rule and count up in it."""
    from supervisor_desk.models.alerts.defaults import default_rules
    from supervisor_desk.models.state import SessionChange
    from supervisor_desk.views.alerts.notify import AlertNotifier
    from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
    from tests.views.alerts.test_alerts import queued

    area = NotificationArea()
    qtbot.addWidget(area)
    notifier = DesktopNotifier("Supervisor Desk", bus=desktop.bus_address)
    tasks: list[asyncio.Task[Any]] = []

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        tasks.append(task)
        return task

    tray = TrayController(area, spawn=spawn, desktop_notifier=notifier)
    alerts = AlertNotifier(tray, area)
    rules = default_rules()
    rules = rules.model_copy(update={"muted": True, "rules": tuple(
        r for r in rules.rules if not r.builtin)})
    alerts.set_rules(rules)
    vm = AlertsViewModel(rules)
    vm.subscribe(alerts, alerts.on_alerts_changed)
    frames = 15

    async def scenario() -> None:
        tray.start()
        await wait_until(lambda: tray.desktop_notifications, 10)
        for n in range(1, frames + 1):
            negative = queued(f"s{n}", 5, f"Guest {n}").model_copy(
                update={"metadata": {"sentiment": "negative"}})
            vm.apply_batch([SessionChange("added", negative)])
            await asyncio.sleep(FRAME_S)  # the feed's next frame
        await wait_until(lambda: any(f"— {frames} times" in c["summary"]
                                     for c in desktop.notifications()), 5)
        calls = [c for c in desktop.notifications()
                 if c["summary"].startswith("Negative sentiment")]
        assert calls[0]["replaces_id"] == 0
        assert {c["id"] for c in calls} == {calls[0]["id"]}
        assert len(calls) < frames / 3
        alerts.close()
        await tray.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)

    qrun(scenario())
