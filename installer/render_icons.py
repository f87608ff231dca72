"""Render the app's SVG icons to PNG: hicolor sizes for the .deb, a .ico/.icns source set, and
a contact sheet to look at the marks at tray size on light and dark panels.

    python installer/render_icons.py hicolor OUT_DIR          # OUT_DIR/<N>x<N>/apps/*.png
    python installer/render_icons.py ico OUT.ico              # Windows: 16..256, PNG entries
    python installer/render_icons.py icns OUT.icns            # macOS: 16..1024, PNG entries
    python installer/render_icons.py sheet OUT.png            # every icon, 16..128, light+dark

Uses Qt's own SVG renderer (the one the app uses), so what is packaged is what the app shows.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "src" / "supervisor_desk" / "resources" / "icons"
APP_SVG = ICONS / "app" / "supervisor-desk.svg"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"invalid SVG: {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def hicolor(out: Path, name: str = "supervisor-desk") -> None:
    for size in HICOLOR_SIZES:
        target = out / f"{size}x{size}" / "apps" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not render(APP_SVG, size).save(str(target)):
            raise SystemExit(f"could not write {target}")
    scalable = out / "scalable" / "apps" / f"{name}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(APP_SVG.read_bytes())


def png_bytes(size: int) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not render(APP_SVG, size).save(buf, "PNG"):
        raise SystemExit(f"could not encode {size} px PNG")
    buf.close()
    return bytes(data.data())


def ico(out: Path) -> None:
    """A Windows .ico whose entries are PNGs (supported since Vista; smallest and sharpest)."""
    sizes = (16, 20, 24, 32, 40, 48, 64, 128, 256)
    images = [png_bytes(s) for s in sizes]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries = b""
    for size, data in zip(sizes, images, strict=True):
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(header + entries + b"".join(images))


def icns(out: Path) -> None:
    """A macOS .icns with PNG entries (the OSType codes Apple documents for PNG data)."""
    types = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256),
             ("ic09", 512), ("ic10", 1024), ("ic11", 32), ("ic12", 64), ("ic13", 256),
             ("ic14", 512))
    body = b""
    for ostype, size in types:
        data = png_bytes(size)
        body += ostype.encode("ascii") + struct.pack(">I", len(data) + 8) + data
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"icns" + struct.pack(">I", len(body) + 8) + body)


def sheet(out: Path) -> None:
    svgs = [APP_SVG, *sorted((ICONS / "tray").glob("*.svg"))]
    sizes = (16, 22, 24, 32, 48, 128)
    pad, label_w = 12, 130
    col_w = [s + pad for s in sizes]
    width = label_w + 2 * sum(col_w) + 3 * pad
    row_h = max(sizes) + pad
    image = QImage(width, row_h * len(svgs) + pad, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    half = label_w + sum(col_w) + pad
    painter.fillRect(half, 0, width - half, image.height(), QColor("#2b2b2b"))
    painter.setFont(QFont("DejaVu Sans", 9))
    for row, svg in enumerate(svgs):
        y = pad + row * row_h
        painter.setPen(QColor("#000000"))
        painter.drawText(8, y + 20, svg.parent.name + "/" + svg.stem)
        x_light, x_dark = label_w, half + pad
        for size, step in zip(sizes, col_w, strict=True):
            icon = render(svg, size)
            painter.drawImage(x_light, y, icon)
            painter.drawImage(x_dark, y, icon)
            x_light += step
            x_dark += step
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(out))


def main(argv: list[str]) -> None:
    commands = {"hicolor": hicolor, "ico": ico, "icns": icns, "sheet": sheet}
    if len(argv) != 3 or argv[1] not in commands:
        raise SystemExit(__doc__)
    app = QGuiApplication.instance() or QGuiApplication(["render_icons"])  # fonts need it
    assert app is not None
    commands[argv[1]](Path(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
