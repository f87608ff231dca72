"""Alert rules on a real desktop: the demo hub's simulator makes long waits and failed sessions;
the notification arrives with the rule's urgency, the sound reaches a real PulseAudio null
sink, the rows are highlighted, and acknowledging from the notification stops the repeats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.rules import Actions, EndedBadlyCondition, Rule, WaitCondition
from tests.e2e.conftest import AppProcess, source_app_command
from tests.e2e.desktop import VirtualDesktop
from tests.sound_server import PulseNullSink

Launch = Callable[..., AppProcess]


@pytest.fixture
def pulse() -> Iterator[PulseNullSink]:
    if not PulseNullSink.available():
        pytest.skip("pulseaudio/pulseaudio-utils not installed (scripts/system-deps.sh)")
    server = PulseNullSink()
    server.start()
    yield server
    server.stop()


def _profile(home: Path) -> None:
    rules = default_rules().model_copy(update={"rules": (
        Rule(id="wait-short", name="Waiting over 2 s", severity="critical",
             condition=WaitCondition(seconds=2),
             actions=Actions(sound="alarm", repeat_seconds=10)),
        Rule(id="failed", name="Session failed", severity="warning",
             condition=EndedBadlyCondition(), actions=Actions(sound="chime")),
    ), "volume": 1.0})
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "alert-rules.json").write_text(rules.model_dump_json())


def _notes(desktop: VirtualDesktop, summary_start: str) -> list[dict[str, Any]]:
    return [n for n in desktop.notifications()
            if n["app_name"] == "Supervisor Desk" and n["summary"].startswith(summary_start)]


def test_rules_notify_with_urgency_play_sound_highlight_and_stop_when_acknowledged(
        launch_app: Launch, desktop: VirtualDesktop, pulse: PulseNullSink,
        tmp_path: Path) -> None:
    home = tmp_path / "profile"
    _profile(home)
    app = launch_app(source_app_command(), "--demo", "--demo-rate", "20",
                     env={"SUPERVISOR_DESK_HOME": str(home), **pulse.env()})
    app.wait_window(timeout=60)
    app.wait_state(lambda s: s.get("rows", 0) > 0, timeout=60, what="live rows")

    wait_note = desktop.wait_for_notification(
        lambda n: n["summary"].startswith("Waiting over 2 s"), timeout=60)
    assert wait_note["hints"]["urgency"] == 2  # critical
    assert wait_note["timeout"] == 0  # stays until dismissed
    assert "acknowledge" in wait_note["actions"]
    failed = desktop.wait_for_notification(
        lambda n: n["summary"].startswith("Session failed"), timeout=90)
    assert failed["hints"]["urgency"] == 1  # warning -> normal

    state = app.wait_state(lambda s: s.get("alert_sounds", 0) > 0 and s["highlighted_rows"] > 0,
                           timeout=30, what="a sound and a highlighted row")
    assert state["errors"] == []
    assert pulse.peak() > 1000, "no alert sound reached the null sink"

    # A critical alert repeats every 10 s until acknowledged; "Acknowledge" on a repeat's
    # notification stops it. (A session an agent accepts meanwhile resolves its alert: then
    # the next repeat is tried.)
    # A rule's reminders update one notification in place (same id): each Notify is a try.
    tried: set[float] = set()
    acked: dict[str, Any] | None = None
    for _attempt in range(4):
        repeat = desktop.wait_for_notification(
            lambda n: n["summary"].startswith("Still open — Waiting over 2 s")
            and n["time"] not in tried, timeout=40)
        tried.add(repeat["time"])
        assert repeat["hints"]["urgency"] == 2
        desktop.invoke_notification(repeat["id"], "acknowledge")
        try:
            state = app.wait_state(
                lambda s: any(a["state"] == "acknowledged" for a in s["open_alerts"]),
                timeout=5, what="an acknowledged alert")
        except AssertionError:
            continue
        acked = next(a for a in state["open_alerts"] if a["state"] == "acknowledged")
        break
    assert acked is not None, "no repeat could be acknowledged"
    assert acked["repeats"] >= 1  # it did repeat before
    sid = acked["session_id"]
    # One more repeat interval (10 s) by the app's clock: no further reminder for it.
    later = app.wait_state(lambda s: s["time"] > state["time"] + 12, timeout=30,
                           what="12 s later")
    still = [a for a in later["open_alerts"] if a["session_id"] == sid
             and a["rule_id"] == "wait-short"]
    for alert in still:
        assert alert["state"] == "acknowledged" and alert["repeats"] == acked["repeats"]
