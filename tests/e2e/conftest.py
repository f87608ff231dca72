"""Real-desktop fixtures: Xvfb + private session bus + trayer + notification capture + keyring.

Every test under tests/e2e is marked ``desktop``. The app always runs as a separate process on
the virtual desktop (the pytest process already has an offscreen QApplication from the unit
tests, and a QApplication cannot change platform).

Outside CI a missing tool skips these tests; with ``CI=true`` it fails them, so a CI machine
that lost a package cannot go green by skipping the real-desktop checks.

What the tray host does with notifications (verified with PySide6 6.12 + trayer): trayer is an
XEmbed tray, Qt finds no ``org.kde.StatusNotifierWatcher`` and uses its XEmbed icon, and
``QSystemTrayIcon.showMessage`` then draws Qt's own balloon window; it does **not** call
``org.freedesktop.Notifications``. Desktop notifications that a notification daemon (and these
tests) can see must be sent over D-Bus by the app itself (``client/desktop_notify.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.desktop import DesktopError, VirtualDesktop, missing_tools
from tests.helpers import mark_tests_under

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = REPO / "test-output"
INSTALLED_APP = Path("/usr/bin/supervisor-desk")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where the bench must really run."""
    if IN_CI:
        pytest.fail(f"real-desktop bench unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One worker runs them all (make test runs workers side by side): they share one virtual
    # desktop, and its tray host and keyring are stateful.
    mark_tests_under(Path(__file__).resolve().parent, items,
                     pytest.mark.desktop, pytest.mark.xdist_group("desktop"))


@pytest.fixture(scope="session")
def virtual_desktop() -> Iterator[VirtualDesktop]:
    """One virtual desktop for the whole e2e run (starting one takes ~0.5 s, but trayer and
    gnome-keyring are stateful; tests use their own profile and server URL to stay apart)."""
    if sys.platform != "linux":
        pytest.skip("the real-desktop bench is Linux-only (Xvfb, D-Bus, XEmbed tray)")
    missing = missing_tools()
    if missing:
        unavailable("missing programs: " + ", ".join(missing) + " (run scripts/system-deps.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="sd-desktop-"))
    desktop = VirtualDesktop(workdir=workdir)
    try:
        desktop.start()
    except DesktopError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(desktop.logs.glob("*.log")))
        shutil.rmtree(workdir, ignore_errors=True)
        unavailable(f"virtual desktop did not start: {exc}\n{logs}")
    try:
        yield desktop
    finally:
        desktop.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def desktop(virtual_desktop: VirtualDesktop) -> VirtualDesktop:
    """The session's desktop with the notification log emptied for this test."""
    virtual_desktop.clear_notifications()
    return virtual_desktop


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """``test-output/<test name>/``: screenshots and state dumps for a person to look at."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = TEST_OUTPUT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def source_app_command() -> list[str]:
    """The app from this checkout (what ``make demo`` runs)."""
    return [sys.executable, "-m", "supervisor_desk"]


def installed_app_command() -> list[str]:
    """The app installed by the .deb; in CI it must exist (``.ci/run`` installs it)."""
    override = os.environ.get("SUPERVISOR_DESK_E2E_APP")
    if override:
        return override.split()
    if not INSTALLED_APP.exists():
        unavailable(f"{INSTALLED_APP} is not installed (build and install the .deb: "
                    "installer/build.sh && dpkg -i dist/supervisor-desk_*.deb)")
    return [str(INSTALLED_APP)]


@pytest.fixture
def installed_app() -> list[str]:
    return installed_app_command()


@dataclass
class AppProcess:
    """The app running on the virtual desktop; stdout/stderr go to files in ``output_dir``."""

    proc: subprocess.Popen[bytes]
    desktop: VirtualDesktop
    log: Path
    argv: list[str] = field(default_factory=list)
    state_file: Path | None = None
    started_at: float = 0.0  # time.monotonic() just before the process was spawned

    def state(self) -> dict[str, Any]:
        """The app's last state dump (``SUPERVISOR_DESK_STATE_FILE``, written every second)."""
        import json

        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except ValueError:  # caught between write and rename on some filesystems
            return {}
        return data

    def wait_state(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60,
                   what: str = "state") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode} waiting for "
                                     f"{what}:\n{self.output()[-3000:]}")
            state = self.state()
            if state and predicate(state):
                return state
            time.sleep(0.2)
        raise AssertionError(f"{what} not reached within {timeout} s; last state {state}\n"
                             f"{self.output()[-3000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_window(self, title: str = "Supervisor Desk", timeout: float = 30) -> int:
        """Id of a visible top-level window of this process whose title starts with ``title``.

        The tray icon's window carries the application name too; it is never the answer.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.output()}")
            wins = self.desktop.visible_windows(name="^" + re.escape(title), pid=self.pid)
            if wins:
                tray = set(self.desktop.tray_embedded_windows())
                wins = [w for w in wins if w not in tray]
            if wins:
                return wins[0]
            time.sleep(0.1)
        raise AssertionError(f"no window {title!r} within {timeout} s:\n{self.output()}")

    def wait_tray_icon(self, timeout: float = 30) -> int:
        """X window id of this process's icon embedded in the tray host."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.output()}")
            mine = [w for w in self.desktop.tray_embedded_windows()
                    if self.desktop._window_pid(w) == self.pid]
            if mine:
                return mine[0]
            time.sleep(0.1)
        raise AssertionError(f"no tray icon embedded within {timeout} s:\n{self.output()}")

    def wait_exit(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"app still running after {timeout} s:\n{self.output()}") from exc

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


@pytest.fixture
def launch_app(desktop: VirtualDesktop, output_dir: Path) -> Iterator[
        Callable[..., AppProcess]]:
    """``launch_app(command, *args, env=None, name="app")`` starts the app on the desktop.

    The app dumps its state to ``output_dir/<name>-state.json`` (``AppProcess.state()``);
    every process launched is stopped at the end of the test; its output is kept in
    ``output_dir/<name>.log``.
    """
    started: list[AppProcess] = []

    def launch(command: Sequence[str], *args: str, env: dict[str, str] | None = None,
               name: str = "app") -> AppProcess:
        full_env = desktop.env
        state_file = output_dir / f"{name}-state.json"
        state_file.unlink(missing_ok=True)
        full_env["SUPERVISOR_DESK_STATE_FILE"] = str(state_file)
        if env:
            full_env.update(env)
        log = output_dir / f"{name}.log"
        started_at = time.monotonic()
        with log.open("ab") as fh:
            proc = subprocess.Popen([*command, *args], env=full_env, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=output_dir)
        app = AppProcess(proc, desktop, log, [*command, *args], state_file, started_at)
        started.append(app)
        return app

    yield launch
    for app in reversed(started):
        app.stop()


def read_json(path: Path, timeout: float = 30) -> Any:
    """Wait for a JSON file the app writes (e.g. a state dump) and parse it."""
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            with contextlib.suppress(ValueError):
                return json.loads(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{path} not written within {timeout} s")


def seed_sign_in(desktop: VirtualDesktop, server_url: str, username: str, password: str) -> str:
    """Sign in as the app would and leave what it leaves: the token in the desktop's real
    keyring, the server and username in the preferences of the test's profile. Returns the
    token (so a test can check it never lands in a file)."""
    import asyncio

    from supervisor_desk.client.credentials import SERVICE, account_name
    from supervisor_desk.client.rest import HubClient, normalize_base_url
    from supervisor_desk.client.settings import Preferences

    url = normalize_base_url(server_url)

    async def login() -> str:
        client = HubClient(url)
        try:
            answer = await client.login(username, password)
        finally:
            await client.aclose()
        return answer.token

    token = asyncio.run(login())
    desktop.run([sys.executable, "-c",
                 "import keyring, sys; keyring.set_password(*sys.argv[1:4])",
                 SERVICE, account_name(username, url), token])
    prefs = Preferences()
    prefs.remember_sign_in(url, username)
    prefs.save()
    return token


def keyring_token(desktop: VirtualDesktop, server_url: str, username: str) -> str | None:
    """The token the app stored in the desktop's SecretService keyring (None: nothing)."""
    from supervisor_desk.client.credentials import SERVICE, account_name
    from supervisor_desk.client.rest import normalize_base_url

    res = desktop.run([sys.executable, "-c",
                       "import keyring, sys; print(repr(keyring.get_password(*sys.argv[1:3])))",
                       SERVICE, account_name(username, normalize_base_url(server_url))])
    import ast

    value: str | None = ast.literal_eval(res.stdout.strip())
    return value


def record_metric(name: str, value: float | str, unit: str = "") -> None:
    """Append a measured figure to test-output/metrics.json (for the report; never asserted)."""
    import json

    path = TEST_OUTPUT / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            data = json.loads(path.read_text())
    data[name] = {"value": value, "unit": unit, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(data, indent=1))
