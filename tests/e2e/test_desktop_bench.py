"""The real-desktop bench itself: if these fail, every other e2e result is meaningless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.desktop import VirtualDesktop

QT_TRAY_PROBE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
app = QApplication(sys.argv)
pm = QPixmap(22, 22); pm.fill(QColor('green'))
tray = QSystemTrayIcon(QIcon(pm))
tray.activated.connect(lambda reason: (print('activated', reason.name, flush=True), app.quit()))
tray.show()
print('available', QSystemTrayIcon.isSystemTrayAvailable(), flush=True)
QTimer.singleShot(20000, app.quit)
app.exec()
"""


def test_tray_host_embeds_a_qt_icon_and_forwards_clicks(desktop: VirtualDesktop,
                                                        output_dir: Path) -> None:
    assert desktop.tray_owner() != 0
    proc = subprocess.Popen([sys.executable, "-c", QT_TRAY_PROBE], env=desktop.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import time

        deadline = time.monotonic() + 20
        icons: list[int] = []
        while not icons and time.monotonic() < deadline:
            icons = [w for w in desktop.tray_embedded_windows()
                     if desktop._window_pid(w) == proc.pid]
            time.sleep(0.1)
        assert icons, "Qt's tray icon was not embedded in trayer"
        desktop.screenshot(output_dir / "tray.png")
        desktop.click(icons[0])
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "available True" in out
    assert "activated Trigger" in out


def test_notifications_are_captured_with_their_text(desktop: VirtualDesktop) -> None:
    desktop.run(["notify-send", "--app-name=bench", "Hello", "Customer &lt;b&gt;Bob"])
    note = desktop.wait_for_notification(lambda n: n["app_name"] == "bench")
    assert note["summary"] == "Hello"
    assert note["body"] == "Customer &lt;b&gt;Bob"


def test_secret_service_keyring_round_trip(desktop: VirtualDesktop) -> None:
    script = (
        "import keyring\n"
        "kr = keyring.get_keyring()\n"
        "print(type(kr).__module__ + '.' + type(kr).__name__)\n"
        "keyring.set_password('sd-bench', 'alice', 's3cret')\n"
        "print(keyring.get_password('sd-bench', 'alice'))\n"
        "keyring.delete_password('sd-bench', 'alice')\n"
        "print(keyring.get_password('sd-bench', 'alice'))\n"
    )
    res = desktop.run([sys.executable, "-c", script], timeout=60)
    backend, stored, after_delete = res.stdout.split()
    assert backend == "keyring.backends.SecretService.Keyring"
    assert stored == "s3cret"
    assert after_delete == "None"
