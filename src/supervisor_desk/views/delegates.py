"""Painting of the two graphic cells of the sessions table: the status dot and the channel badge.

Both read through ``index.data(role)`` only. The status dot of an active session pulses: the
view repaints the status column a few times a second (a clipped viewport update, never a model
signal) and the delegate derives the halo from the clock, so the pulse costs no ``data()``
traffic on the other columns.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.icons import status_color
from supervisor_desk.views.session_table_model import (
    BadgeBackgroundRole,
    BadgeColorRole,
    ObjectRole,
)
from supervisor_desk.views.theme import cell_background, channel_badge_text

ModelIndex = QModelIndex | QPersistentModelIndex

PULSE_PERIOD = 1.6  # seconds per breath of the active dot


def _draw_background(
    painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex, widget: QWidget | None
) -> None:
    """Selection/hover/alternate background exactly as the style would draw it, without text.

    The view's option already carries the state (selected, hover, alternate row); asking the
    model for the cell's roles (initStyleOption) would only cost ~10 ``data()`` calls."""
    opt = QStyleOptionViewItem(option)
    tint = index.data(Qt.ItemDataRole.BackgroundRole)  # an alert's row highlight
    if tint is not None:
        opt.backgroundBrush = tint
    style = widget.style() if widget is not None else None
    if style is not None:
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)


class StatusDotDelegate(QStyledItemDelegate):
    """A coloured dot: pulsing green for active, amber for queued, muted for ended."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        _draw_background(painter, option, index, widget)
        session: SessionSummary | None = index.data(ObjectRole)
        if session is None:
            return
        rect = option.rect
        center_x = rect.x() + rect.width() / 2
        center_y = rect.y() + rect.height() / 2
        color = QColor(status_color(session.status))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        radius = 4.5
        if session.status == "active":
            phase = (time.monotonic() % PULSE_PERIOD) / PULSE_PERIOD
            halo = QColor(color)
            halo.setAlphaF(0.45 * (1.0 - phase))
            painter.setBrush(halo)
            r = radius + 5.0 * phase
            painter.drawEllipse(QRectF(center_x - r, center_y - r, 2 * r, 2 * r))
        if session.is_live:
            painter.setBrush(color)
            painter.drawEllipse(
                QRectF(center_x - radius, center_y - radius, 2 * radius, 2 * radius)
            )
        else:
            # Ended while on screen: a ring, so "still here until Refresh" reads at a glance.
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(color, 1.6))
            painter.drawEllipse(
                QRectF(center_x - radius, center_y - radius, 2 * radius, 2 * radius)
            )
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(24, 24)


class ChannelBadgeDelegate(QStyledItemDelegate):
    """A rounded badge in the channel's colour with its SVG icon and name."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        _draw_background(painter, option, index, widget)
        text: str | None = index.data(Qt.ItemDataRole.DisplayRole)
        if not text:
            return
        color: QColor | None = index.data(BadgeColorRole)
        fill: QColor | None = index.data(BadgeBackgroundRole)
        icon: Any = index.data(Qt.ItemDataRole.DecorationRole)
        rect = option.rect
        metrics = QFontMetrics(option.font)
        icon_size = 14
        pad = 6
        height = min(rect.height() - 6, metrics.height() + 6)
        width = min(rect.width() - 8, pad + icon_size + 5 + metrics.horizontalAdvance(text) + pad)
        badge = QRectF(rect.x() + 4, rect.y() + (rect.height() - height) / 2, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if color is not None:
            border = QColor(color)
            border.setAlphaF(0.55)
            painter.setPen(QPen(border, 1.0))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
        if fill is not None:
            painter.setBrush(fill)
        painter.drawRoundedRect(badge, height / 2, height / 2)
        x = badge.x() + pad
        if icon is not None and not icon.isNull():
            icon.paint(
                painter,
                int(x),
                int(badge.y() + (height - icon_size) / 2),
                icon_size,
                icon_size,
            )
        x += icon_size + 5
        text_rect = QRectF(x, badge.y(), badge.right() - x - pad + 2, height)
        if color is not None:
            painter.setPen(channel_badge_text(color, fill, cell_background(option)))
        painter.setFont(option.font)
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(text_rect.width()))
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(text_rect, int(align), elided)
        painter.restore()

