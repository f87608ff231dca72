"""The sessions table's icons drawn once before an offline file's first rows arrive.

The first paint of rows draws every channel's SVG icon (in its badge) and the modality icons
for the first time: each SVG is parsed and rendered then, ~5 ms of the Qt thread in all, a
fifth of that paint, which is the longest the window is busy while a big file loads
(docs/performance.md, offline open, fifth round). A big file's first rows come from a child
process about half a second after the window shows, time in which the Qt thread has nothing
to do; drawing the icons then, one per loop turn, leaves the first paint the blits. The
icons' own caches (``views/icons.py`` and Qt's icon engine) keep the result, so the table
draws exactly what it would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from supervisor_desk.models.wire import CHANNELS, MODALITIES
from supervisor_desk.views.badge_pixmaps import BADGE_ICON_SIZE
from supervisor_desk.views.icons import channel_icon, modality_icon


def table_icons(decoration_size: int) -> Iterator[tuple[QIcon, int]]:
    """Each icon a sessions table row can show, with the size it is drawn at: the channel's
    in its badge, the modality's as the agent cell's decoration (made one at a time)."""
    for channel in CHANNELS:
        yield channel_icon(channel), BADGE_ICON_SIZE
    for modality in MODALITIES:
        yield modality_icon(modality), decoration_size


def warm_table_icons(decoration_size: int, device_pixel_ratio: float) -> Iterator[None]:
    """Draw each of :func:`table_icons` once at its size and the screen's pixel ratio;
    yields after each, so the caller lets the event loop run between two."""
    side = round(max(BADGE_ICON_SIZE, decoration_size, 1) * device_pixel_ratio)
    canvas = QPixmap(side, side)
    canvas.setDevicePixelRatio(device_pixel_ratio)
    for icon, size in table_icons(decoration_size):
        canvas.fill(Qt.GlobalColor.transparent)
        painter = QPainter(canvas)
        try:
            icon.paint(painter, 0, 0, size, size)
        finally:
            painter.end()
        yield
