"""Pixmaps of the sessions table's channel badges and status dots, drawn once per look.

A paint of the live table draws 32 badges and 32 dots; drawing each with antialiased paths,
an SVG icon and elided text cost about a quarter of the paint (docs/performance.md). The look
of one depends only on a few values (text, colours, size, halo, device pixel ratio),
so each is drawn once into a transparent pixmap and blitted afterwards.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap

from supervisor_desk.views.icons import channel_icon

BADGE_ICON_SIZE = 14
BADGE_PAD = 6
DOT_RADIUS = 4.5
DOT_HALO = 2.5  # how far the active dot's steady halo reaches past the dot
DOT_HALO_ALPHA = 0.225  # a faint ring: "active" at a glance without drawing the eye
DOT_BOX = int(2 * (DOT_RADIUS + 2 * DOT_HALO)) + 2  # room for the halo and antialiasing


def _blank(width: int, height: int, dpr: float) -> QPixmap:
    pixmap = QPixmap(max(1, round(width * dpr)), max(1, round(height * dpr)))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    return pixmap


@lru_cache(maxsize=512)
def channel_badge(channel: str, text: str, font_key: str, width: int, height: int, color: int,
                  fill: int, text_color: int, dpr: float) -> QPixmap:
    """``channel``'s badge, ``width`` x ``height`` logical pixels: pill, icon and elided name.

    Colours are ``QColor.rgba()`` values (0: none); ``font_key`` is ``QFont.toString()``."""
    font = QFont()
    font.fromString(font_key)
    metrics = QFontMetrics(font)
    pixmap = _blank(width, height, dpr)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    badge = QRectF(0.5, 0.5, width - 1.0, height - 1.0)
    if color:
        border = QColor.fromRgba(color)
        border.setAlphaF(0.55)
        painter.setPen(QPen(border, 1.0))
    else:
        painter.setPen(Qt.PenStyle.NoPen)
    if fill:
        painter.setBrush(QColor.fromRgba(fill))
    painter.drawRoundedRect(badge, height / 2, height / 2)
    x = BADGE_PAD
    icon = channel_icon(channel)
    if not icon.isNull():
        icon.paint(painter, x, (height - BADGE_ICON_SIZE) // 2, BADGE_ICON_SIZE,
                   BADGE_ICON_SIZE)
    x += BADGE_ICON_SIZE + 5
    text_rect = QRectF(x, 0, width - x - BADGE_PAD + 2, height)
    if color:
        painter.setPen(QColor.fromRgba(text_color))
    painter.setFont(font)
    elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(text_rect.width()))
    painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                     elided)
    painter.end()
    return pixmap


@lru_cache(maxsize=256)
def status_dot(color: int, live: bool, halo: bool, dpr: float) -> QPixmap:
    """The status dot centred in a ``DOT_BOX`` square: filled (live) or a ring (ended), with
    the steady halo of an active session when ``halo``."""
    pixmap = _blank(DOT_BOX, DOT_BOX, dpr)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    centre = DOT_BOX / 2
    base = QColor.fromRgba(color)
    if halo:
        ring = QColor(base)
        ring.setAlphaF(DOT_HALO_ALPHA)
        painter.setBrush(ring)
        r = DOT_RADIUS + DOT_HALO
        painter.drawEllipse(QRectF(centre - r, centre - r, 2 * r, 2 * r))
    dot = QRectF(centre - DOT_RADIUS, centre - DOT_RADIUS, 2 * DOT_RADIUS, 2 * DOT_RADIUS)
    if live:
        painter.setBrush(base)
    else:
        # Ended while on screen: a ring, so "still here until Refresh" reads at a glance.
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(base, 1.6))
    painter.drawEllipse(dot)
    painter.end()
    return pixmap
