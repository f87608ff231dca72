"""Painting of the two graphic cells of the sessions table: the status dot and the channel badge.

Both read the row's session (``ObjectRole``) and its alert tint (``BackgroundRole``) and blit
pixmaps drawn once per look (``views/badge_pixmaps.py``). The status dot of an active session
wears a steady halo: it used to pulse (a 100 ms repaint of the status column, then one a second),
and on a quiet floor that repaint was a third of the app's whole CPU while on screen
(``benchmarks/idle_bench.py``); the halo tells active from queued without moving.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.badge_pixmaps import (
    BADGE_ICON_SIZE,
    BADGE_PAD,
    DOT_BOX,
    channel_badge,
    status_dot,
)
from supervisor_desk.views.icons import (
    channel_background,
    channel_color,
    channel_label,
    status_color,
)
from supervisor_desk.views.session_table_model import ObjectRole
from supervisor_desk.views.theme import cell_background, channel_badge_text

ModelIndex = QModelIndex | QPersistentModelIndex


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
    """A coloured dot: green with a steady halo for active, amber for queued, muted for ended."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        _draw_background(painter, option, index, widget)
        session: SessionSummary | None = index.data(ObjectRole)
        if session is None:
            return
        pixmap = status_dot(status_color(session.status).rgba(), session.is_live,
                            session.status == "active",
                            painter.device().devicePixelRatioF())
        rect = option.rect
        painter.drawPixmap(rect.x() + (rect.width() - DOT_BOX) // 2,
                           rect.y() + (rect.height() - DOT_BOX) // 2, pixmap)

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(24, 24)


class ChannelBadgeDelegate(QStyledItemDelegate):
    """A rounded badge in the channel's colour with its SVG icon and name."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        _draw_background(painter, option, index, widget)
        session: SessionSummary | None = index.data(ObjectRole)
        if session is None:
            return
        # The model's DisplayRole, BadgeColorRole, BadgeBackgroundRole and DecorationRole of
        # this column, read from the row's session: one data() call instead of four.
        channel = session.channel
        text = channel_label(channel)
        if not text:
            return
        color = channel_color(channel)
        fill = channel_background(channel)
        rect = option.rect
        metrics = option.fontMetrics
        height = min(rect.height() - 6, metrics.height() + 6)
        width = min(rect.width() - 8, BADGE_PAD + BADGE_ICON_SIZE + 5
                    + metrics.horizontalAdvance(text) + BADGE_PAD)
        if width <= 0 or height <= 0:
            return
        text_color = channel_badge_text(color, fill, cell_background(option))
        pixmap = channel_badge(channel, text, option.font.toString(), width, height,
                               color.rgba(), fill.rgba(), text_color.rgba(),
                               painter.device().devicePixelRatioF())
        painter.drawPixmap(rect.x() + 4, rect.y() + (rect.height() - height) // 2, pixmap)
