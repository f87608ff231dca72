"""Packaging inputs: menu entry, AppStream metadata, icons, build scripts (no build needed).

The build itself (PyInstaller + .deb) runs in ``.ci/run``; tests/e2e/test_installed_app.py
checks the installed result. These catch the cheap mistakes before that.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "resources" / "linux"
ICONS = ROOT / "src" / "supervisor_desk" / "resources" / "icons"
METAINFO = LINUX / "io.github.supervisordesk.SupervisorDesk.metainfo.xml"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} missing in CI (scripts/system-deps.sh installs it)")
        pytest.skip(f"{name} not installed")
    return path


def _version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_desktop_entry_validates_and_names_the_launcher_and_icon() -> None:
    entry = LINUX / "supervisor-desk.desktop"
    res = subprocess.run([_tool("desktop-file-validate"), str(entry)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    text = entry.read_text()
    assert "\nExec=supervisor-desk\n" in text
    assert "\nIcon=supervisor-desk\n" in text
    # Matches QGuiApplication.setDesktopFileName("supervisor-desk") and the X11 WM class.
    assert "\nStartupWMClass=supervisor-desk\n" in text


def test_metainfo_validates_and_lists_the_current_version() -> None:
    res = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", "--pedantic",
                          str(METAINFO)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    # Debian 12's appstreamcli (0.16) reports tags it does not know only as infos: none allowed.
    assert "unknown-tag" not in res.stdout, res.stdout
    tree = ET.parse(METAINFO)
    assert tree.findtext("launchable") == "supervisor-desk.desktop"
    versions = [r.get("version") for r in tree.iter("release")]
    assert _version() in versions, "add a <release> for the pyproject version to the metainfo"


def _render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    assert renderer.isValid(), svg
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def _opaque_share(image: QImage) -> float:
    w, h = image.width(), image.height()
    opaque = sum(1 for x in range(w) for y in range(h) if image.pixelColor(x, y).alpha() > 200)
    return opaque / (w * h)


@pytest.mark.parametrize("svg", ["app/supervisor-desk.svg", "tray/connected.svg",
                                 "tray/reconnecting.svg", "tray/offline.svg"])
def test_icons_fill_a_16px_tray_slot(qapp: object, svg: str) -> None:
    share = _opaque_share(_render(ICONS / svg, 16))
    assert share > 0.45, f"{svg} covers only {share:.0%} of 16x16: too faint for a tray"


def test_tray_states_differ_where_it_shows_at_16px(qapp: object) -> None:
    def badge(name: str) -> tuple[int, int, int]:
        c = _render(ICONS / "tray" / f"{name}.svg", 16).pixelColor(12, 12)
        return c.red(), c.green(), c.blue()

    colours = {name: badge(name) for name in ("connected", "reconnecting", "offline")}
    assert len(set(colours.values())) == 3, colours


def _render_icons(kind: str, out: Path) -> bytes:
    subprocess.run([sys.executable, str(ROOT / "installer" / "render_icons.py"), kind, str(out)],
                   check=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return out.read_bytes() if out.is_file() else b""


def test_hicolor_set_has_every_size_and_the_scalable_svg(tmp_path: Path) -> None:
    _render_icons("hicolor", tmp_path / "hicolor")
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        png = tmp_path / "hicolor" / f"{size}x{size}" / "apps" / "supervisor-desk.png"
        image = QImage(str(png))
        assert (image.width(), image.height()) == (size, size)
    assert (tmp_path / "hicolor" / "scalable" / "apps" / "supervisor-desk.svg").is_file()


def test_windows_ico_and_macos_icns_are_well_formed(tmp_path: Path) -> None:
    ico = _render_icons("ico", tmp_path / "app.ico")
    reserved, kind, count = struct.unpack_from("<HHH", ico)
    assert (reserved, kind) == (0, 1) and count >= 8
    for i in range(count):
        _w, _h, _c, _r, _planes, _bpp, size, offset = struct.unpack_from("<BBBBHHII", ico,
                                                                         6 + 16 * i)
        assert ico[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size <= len(ico)
    icns = _render_icons("icns", tmp_path / "app.icns")
    assert icns[:4] == b"icns" and struct.unpack_from(">I", icns, 4)[0] == len(icns)
    pos, types = 8, []
    while pos < len(icns):
        types.append(icns[pos:pos + 4].decode())
        assert icns[pos + 8:pos + 16] == b"\x89PNG\r\n\x1a\n"
        pos += struct.unpack_from(">I", icns, pos + 4)[0]
    assert pos == len(icns) and "ic10" in types  # 1024 px for Retina


@pytest.mark.parametrize("script", ["installer/build.sh", "installer/macos/build-dmg.sh",
                                    "installer/check-hub-deb.sh", ".ci/run"])
def test_shell_scripts_parse(script: str) -> None:
    res = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
