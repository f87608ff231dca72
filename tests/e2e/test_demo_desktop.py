"""``supervisor-desk --demo`` from this checkout on a real (virtual) desktop: Xvfb, a private
D-Bus session with a notification server, and trayer as the tray host.

What a supervisor sees: the window with live rows whose durations tick, the tray icon, a
desktop notification when a session starts, and a clean exit (code 0) on SIGTERM. Screenshots
land in ``test-output/<test>/`` for a person to look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import AppProcess, record_metric, source_app_command
from tests.e2e.desktop import VirtualDesktop

Launch = Callable[..., AppProcess]


def _connected_with_rows(state: dict[str, Any]) -> bool:
    return state.get("connection") == "connected" and state.get("rows", 0) > 0


def test_demo_shows_ticking_rows_tray_icon_notification_and_quits_cleanly(
        launch_app: Launch, desktop: VirtualDesktop, output_dir: Path) -> None:
    app = launch_app(source_app_command(), "--demo", "--demo-rate", "20",
                     "--screenshot", str(output_dir / "window.png"))
    app.wait_window(timeout=60)
    icon = app.wait_tray_icon(timeout=30)
    assert icon
    state = app.wait_state(_connected_with_rows, timeout=60, what="live rows")
    assert state["window_visible"] is True
    assert state["tray_visible"] is True
    assert state["desktop_notifications"] is True
    assert state["errors"] == []
    if state.get("first_rows_after"):
        record_metric("cold start to first live rows (source, --demo, Xvfb)",
                      round(state["first_rows_after"], 2), "s")

    # Durations tick: the same session shows a longer duration a few seconds later.
    first = {r["id"]: r["duration"] for r in state["first_rows"]}

    def ticked(s: dict[str, Any]) -> bool:
        return any(r["id"] in first and r["duration"] != first[r["id"]]
                   for r in s.get("first_rows", []))

    app.wait_state(ticked, timeout=20, what="durations ticking")

    # New sessions raise a desktop notification (coalesced, from this app, clickable).
    note = desktop.wait_for_notification(lambda n: n["app_name"] == "Supervisor Desk",
                                         timeout=30)
    assert note["summary"] == "New session" or note["summary"].endswith("new sessions")
    assert note["actions"][0] == "default"
    assert note["hints"]["desktop-entry"] == "supervisor-desk"

    app.wait_state(lambda s: bool(s.get("screenshot")), timeout=40, what="--screenshot PNG")
    shot = output_dir / "window.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    desktop.screenshot(output_dir / "desktop.png")

    # Clicking the notification raises the window with that session selected.
    desktop.invoke_notification(note["id"], "default")
    clicked = app.wait_state(lambda s: s.get("selected") is not None, timeout=20,
                             what="notification click selects a session")
    assert clicked["window_visible"] is True

    # SIGTERM (session logout, systemd, `kill`) is a clean quit: exit code 0, no traceback.
    started = time.monotonic()
    assert app.stop(timeout=20) == 0, app.output()[-3000:]
    record_metric("quit on SIGTERM (source, --demo)", round(time.monotonic() - started, 2), "s")
    assert "Traceback" not in app.output()
