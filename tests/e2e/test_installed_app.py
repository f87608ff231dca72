"""The installed .deb on a real (virtual) desktop: what a supervisor gets after ``dpkg -i``.

Runs ``/usr/bin/supervisor-desk`` (``.ci/run`` builds and installs the package first), never the
source tree. Outside CI these tests skip when the package is not installed; in CI they fail.
Screenshots of every scenario are kept under ``test-output/<test>/`` for a person to look at.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.conftest import ingest
from tests.e2e.conftest import AppProcess, record_metric, seed_sign_in
from tests.e2e.desktop import VirtualDesktop

Launch = Callable[..., AppProcess]
HOSTILE_NAME = '<b>Bob</b> & "Co" <img src=x onerror=alert(1)>'


def _connected_with_rows(state: dict[str, Any]) -> bool:
    return state.get("connection") == "connected" and state.get("rows", 0) > 0


# ------------------------------------------------------------------------------------------
# The package itself


def test_package_installs_launcher_menu_entry_icons_and_metadata(installed_app: list[str]) -> None:
    files = subprocess.run(["dpkg", "-L", "supervisor-desk"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for wanted in ("/usr/bin/supervisor-desk", "/opt/supervisor-desk/supervisor-desk",
                   "/usr/share/applications/supervisor-desk.desktop",
                   "/usr/share/icons/hicolor/16x16/apps/supervisor-desk.png",
                   "/usr/share/icons/hicolor/256x256/apps/supervisor-desk.png",
                   "/usr/share/icons/hicolor/scalable/apps/supervisor-desk.svg",
                   "/usr/share/metainfo/io.github.supervisordesk.SupervisorDesk.metainfo.xml"):
        assert wanted in files, wanted
    res = subprocess.run(["desktop-file-validate",
                          "/usr/share/applications/supervisor-desk.desktop"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    version = subprocess.run([*installed_app, "--version"], capture_output=True, text=True,
                             timeout=60)
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert version.stdout.strip() == f"supervisor-desk {project['project']['version']}"


def test_installed_bundle_finds_keyring_backends_certificates_and_svg_support(
        installed_app: list[str], desktop: VirtualDesktop) -> None:
    res = desktop.run([*installed_app, "--bundle-check"], check=False, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bundle check: passed" in res.stdout
    # On this desktop the frozen app uses the real SecretService keyring, not the fail backend.
    assert "keyring in use: keyring.backends.SecretService.Keyring" in res.stdout


# ------------------------------------------------------------------------------------------
# Demo mode, tray, window


def test_demo_starts_shows_live_rows_and_embeds_its_tray_icon(
        installed_app: list[str], launch_app: Launch, desktop: VirtualDesktop,
        output_dir: Path) -> None:
    app = launch_app(installed_app, "--demo", "--screenshot", str(output_dir / "window.png"))
    window = app.wait_window(timeout=60)
    first_window_s = time.monotonic() - app.started_at
    icon = app.wait_tray_icon(timeout=30)
    state = app.wait_state(_connected_with_rows, timeout=60, what="live rows")
    assert state["window_visible"] is True
    assert state["tray_visible"] is True
    assert state["errors"] == []
    assert all(r["id"] for r in state["first_rows"])
    app.wait_state(lambda s: bool(s.get("screenshot")), timeout=60, what="--screenshot PNG")
    assert (output_dir / "window.png").stat().st_size > 10_000
    assert desktop.is_viewable(window)
    assert icon in desktop.tray_embedded_windows()
    desktop.screenshot(output_dir / "desktop.png")

    record_metric("installed cold start to first window", round(first_window_s, 2), "s")
    if state.get("first_rows_after"):
        record_metric("installed cold start to first live rows (demo)",
                      round(state["first_rows_after"], 2), "s")
    time.sleep(5)
    rss = psutil.Process(app.pid).memory_info().rss
    record_metric("RSS of the installed app in demo mode (15 events/s)", rss // 2**20, "MiB")

    assert app.stop() == 0, app.output()[-3000:]


def test_closing_the_window_keeps_the_app_in_the_tray_and_a_click_toggles_it(
        installed_app: list[str], launch_app: Launch, desktop: VirtualDesktop,
        output_dir: Path) -> None:
    app = launch_app(installed_app, "--demo")
    window = app.wait_window(timeout=60)
    icon = app.wait_tray_icon(timeout=30)
    app.wait_state(_connected_with_rows, timeout=60, what="live rows")

    desktop.close_window(window)  # the window manager's close button
    state = app.wait_state(lambda s: s["window_visible"] is False, timeout=20,
                           what="window hidden to the tray")
    assert state["tray_visible"] is True
    assert app.proc.poll() is None
    assert not desktop.is_viewable(window)
    desktop.screenshot(output_dir / "1-hidden-in-tray.png")

    desktop.click(icon)
    app.wait_state(lambda s: s["window_visible"] is True, timeout=20, what="window shown")
    assert app.wait_window(timeout=10) == window
    assert desktop.is_viewable(window)
    desktop.screenshot(output_dir / "2-shown-from-tray.png")

    desktop.click(icon)  # a second click puts it away again
    app.wait_state(lambda s: s["window_visible"] is False, timeout=20, what="hidden by click")
    assert app.proc.poll() is None
    assert app.stop() == 0


# ------------------------------------------------------------------------------------------
# Notifications


def test_a_new_session_raises_one_desktop_notification_with_escaped_text_and_click_opens_it(
        installed_app: list[str], launch_app: Launch, desktop: VirtualDesktop,
        running_hub: EmbeddedHub, output_dir: Path) -> None:
    seed_sign_in(desktop, running_hub.url, "supervisor", "supervisor")
    app = launch_app(installed_app, "--server", running_hub.url)
    app.wait_window(timeout=60)
    app.wait_state(lambda s: s.get("connection") == "connected", timeout=60, what="connected")
    state = app.state()
    assert state["desktop_notifications"] is True, "the app did not find the D-Bus server"

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ingest(running_hub, [{
        "id": "e2e-ev-1", "type": "session.started", "session_id": "e2e-hostile-1", "at": now,
        "data": {"agent": {"id": "a1", "name": "Ava <i>bot</i>"}, "channel": "web",
        "status": "active", "user": {"id": "u1", "name": HOSTILE_NAME}, "started_at": now},
    }])
    note = desktop.wait_for_notification(lambda n: n["app_name"] == "Supervisor Desk",
                                         timeout=30)
    assert note["summary"] == "New session"
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp;" in note["body"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in note["body"]
    assert "<b>" not in note["body"] and "<img" not in note["body"]
    assert "&lt;i&gt;bot&lt;/i&gt;" in note["body"]
    assert note["hints"]["desktop-entry"] == "supervisor-desk"
    assert note["actions"][0] == "default"
    desktop.screenshot(output_dir / "1-after-notification.png")

    desktop.invoke_notification(note["id"], "default")  # the user clicks the notification
    state = app.wait_state(lambda s: s.get("selected") == "e2e-hostile-1", timeout=20,
                           what="clicked session selected")
    assert state["window_visible"] is True
    time.sleep(0.5)
    desktop.screenshot(output_dir / "2-notification-clicked.png")
    # Exactly one notification for one new session; replayed history never notifies.
    assert len([n for n in desktop.notifications() if n["app_name"] == "Supervisor Desk"]) == 1
    assert app.stop() == 0


def test_idle_memory_of_the_installed_app(
        installed_app: list[str], launch_app: Launch, desktop: VirtualDesktop,
        running_hub: EmbeddedHub) -> None:
    """Connected to a hub with no traffic, after start-up settles: the 'idle RSS' figure."""
    seed_sign_in(desktop, running_hub.url, "viewer", "viewer")
    app = launch_app(installed_app, "--server", running_hub.url)
    app.wait_window(timeout=60)
    app.wait_state(lambda s: s.get("connection") == "connected", timeout=60, what="connected")
    time.sleep(8)
    rss = psutil.Process(app.pid).memory_info().rss
    record_metric("idle RSS of the installed app (connected, no traffic)", rss // 2**20, "MiB")
    assert rss > 0
    assert app.stop() == 0
