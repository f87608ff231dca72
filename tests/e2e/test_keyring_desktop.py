"""Sign-in with a real SecretService keyring (gnome-keyring on the virtual desktop's bus).

Drives the sign-in dialog with the keyboard as a person would, then checks the token went to
the keyring (and nowhere on disk), that the next start signs in without asking, and that
signing out (File → Sign out) removes it. Runs the installed app when it is installed (always
in CI, where ``.ci/run`` installs the .deb), else this checkout's app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.e2e.conftest import (
    IN_CI,
    INSTALLED_APP,
    AppProcess,
    installed_app_command,
    keyring_token,
    source_app_command,
)
from tests.e2e.desktop import VirtualDesktop

Launch = Callable[..., AppProcess]
SIGN_IN_TITLE = "Sign in"


@pytest.fixture
def app_command() -> list[str]:
    if IN_CI or INSTALLED_APP.exists():
        return installed_app_command()
    return source_app_command()


def _files_containing(root: Path, secret: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if secret.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def _wait_sign_in_dialog(app: AppProcess, timeout: float = 60) -> int:
    return app.wait_window(title=SIGN_IN_TITLE, timeout=timeout)


def test_sign_in_stores_the_token_in_the_keyring_next_start_reuses_it_sign_out_removes_it(
        app_command: list[str], launch_app: Launch, desktop: VirtualDesktop,
        running_hub: EmbeddedHub, output_dir: Path, _isolated_profile: Path) -> None:
    url = running_hub.url
    assert keyring_token(desktop, url, "supervisor") is None

    # 1. First start: nothing stored, so the app asks. Type as a person would.
    first = launch_app(app_command, "--server", url, name="first-start")
    dialog = _wait_sign_in_dialog(first)
    time.sleep(0.5)  # let the dialog finish laying out before typing into it
    desktop.screenshot(output_dir / "1-sign-in-dialog.png")
    desktop.focus(dialog)
    desktop.type_text("supervisor")
    desktop.key("Tab")
    desktop.type_text("supervisor")
    desktop.key("Return")
    first.wait_state(lambda s: s.get("connection") == "connected", timeout=60,
                     what="connected after typing the password")
    desktop.screenshot(output_dir / "2-signed-in.png")

    token = keyring_token(desktop, url, "supervisor")
    assert token, "the token was not stored in the SecretService keyring"
    assert _files_containing(_isolated_profile, token) == []
    assert token not in first.output()
    assert first.stop() == 0

    # 2. Second start: signs in from the keyring without showing the dialog.
    second = launch_app(app_command, "--server", url, name="second-start")
    second.wait_window(timeout=60)
    second.wait_state(lambda s: s.get("connection") == "connected", timeout=60,
                      what="connected from the stored token")
    assert desktop.visible_windows(name=SIGN_IN_TITLE, pid=second.pid) == []
    desktop.screenshot(output_dir / "3-second-start-no-password.png")

    # 3. File → Sign out: the token leaves the keyring and the dialog comes back.
    main = second.wait_window(title="Supervisor Desk", timeout=10)
    desktop.focus(main)
    desktop.key("alt+f")
    time.sleep(0.4)
    desktop.key("Return")  # "Sign out…" is the File menu's first item
    question = second.wait_window(title="Sign out", timeout=15)  # it asks first
    desktop.focus(question)
    desktop.key("Return")  # the question's default button: Sign out
    second.wait_state(lambda s: s.get("connection") != "connected", timeout=30,
                      what="signed out")
    _wait_sign_in_dialog(second, timeout=30)
    desktop.screenshot(output_dir / "4-signed-out.png")
    deadline = time.monotonic() + 15
    while keyring_token(desktop, url, "supervisor") is not None:
        assert time.monotonic() < deadline, "sign-out left the token in the keyring"
        time.sleep(0.2)
    assert second.stop() == 0
