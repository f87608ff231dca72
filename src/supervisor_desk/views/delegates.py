"""Painting of the two graphic cells of the sessions table: the status dot and the channel badge.

Both read the row's session and its alert tint from the model in one call
(``SessionTableModel.look_of``) and blit pixmaps drawn once per look
(``views/badge_pixmaps.py``). The status dot of an active session wears a steady halo: it used to
pulse (a 100 ms repaint of the status column, then one a second), and on a quiet floor that
repaint was a third of the app's whole CPU while on screen (``benchmarks/idle_bench.py``); the
halo tells active from queued without moving.

These two cells of each row (and the clock cells, ``views/clock_cells.py``, which draw their
background with ``draw_item_background``) are painted in Python: a repaint of the rows on
screen (a session starting, accepted or ending among them) spent a quarter of its time here. So each
paint does as few calls into Qt as it can: the badge's size, colours and pixmap are looked up
once per look in a dict, not worked out again for every cell.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize
from PySide6.QtGui import QFont, QPainter, QPixmap
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
from supervisor_desk.views.session_table_model import ObjectRole, SessionTableModel
from supervisor_desk.views.theme import cell_background, channel_badge_text

ModelIndex = QModelIndex | QPersistentModelIndex

_ITEM = QStyle.ControlElement.CE_ItemViewItem
_SELECTED = QStyle.StateFlag.State_Selected
# States in which the style draws something of the item's own (a selection, a hover, the
# focus frame).
_DRAWN_BENEATH = (QStyle.StateFlag.State_Selected.value | QStyle.StateFlag.State_MouseOver.value
                  | QStyle.StateFlag.State_HasFocus.value)
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate
_BACKGROUND_ROLE = 8  # Qt.ItemDataRole.BackgroundRole
# Looks kept per delegate: a few per channel and state; more means something keeps changing
# (sizes while a column is dragged), and the dict starts afresh.
_MAX_LOOKS = 512


def _look_of(index: ModelIndex) -> tuple[SessionSummary | None, Any]:
    model = index.model()
    if isinstance(model, SessionTableModel):
        return model.look_of(index.row(), index.column())
    return index.data(ObjectRole), index.data(_BACKGROUND_ROLE)


def draw_item_background(painter: QPainter, option: QStyleOptionViewItem, tint: Any,
                     widget: QWidget | None) -> None:
    """Selection/hover/alternate background exactly as the style would draw it, without text.

    The view's option already carries the state (selected, hover, alternate row) and no text:
    it is drawn as it comes unless an alert tints the row. A plain cell (no tint, selection,
    hover or focus) has nothing of its own beneath: the view drew the row's panel already."""
    if tint is None and not option.state.value & _DRAWN_BENEATH:
        return
    style = widget.style() if widget is not None else None
    if style is None:
        return
    if tint is not None:
        option = QStyleOptionViewItem(option)
        option.backgroundBrush = tint
    style.drawControl(_ITEM, option, painter, widget)


class StatusDotDelegate(QStyledItemDelegate):
    """A coloured dot: green with a steady halo for active, amber for queued, muted for ended."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dots: dict[tuple[str, bool, float], QPixmap] = {}

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        session, tint = _look_of(index)
        draw_item_background(painter, option, tint, widget)
        if session is None:
            return
        dpr = painter.device().devicePixelRatioF()
        key = (session.status, session.is_live, dpr)
        pixmap = self._dots.get(key)
        if pixmap is None:
            if len(self._dots) >= _MAX_LOOKS:
                self._dots.clear()
            pixmap = self._dots[key] = status_dot(
                status_color(session.status).rgba(), session.is_live,
                session.status == "active", dpr)
        rect = option.rect
        painter.drawPixmap(rect.x() + (rect.width() - DOT_BOX) // 2,
                           rect.y() + (rect.height() - DOT_BOX) // 2, pixmap)

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(24, 24)


class ChannelBadgeDelegate(QStyledItemDelegate):
    """A rounded badge in the channel's colour with its SVG icon and name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # (channel, cell size, selected, alternate, palette, dpr) -> (pixmap, its y offset)
        # or None (nothing to draw), for the font in _font; a new font starts afresh.
        self._badges: dict[tuple[Any, ...], tuple[QPixmap, int] | None] = {}
        self._font: QFont | None = None
        self._font_key = ""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        widget = option.widget
        session, tint = _look_of(index)
        draw_item_background(painter, option, tint, widget)
        if session is None:
            return
        rect = option.rect
        # The text's colour follows the cell's background: selected, alternate or base, in
        # this palette (a theme's).
        key = (session.channel, rect.width(), rect.height(), bool(option.state & _SELECTED),
               bool(option.features & _ALTERNATE), option.palette.cacheKey(),
               painter.device().devicePixelRatioF())
        font = option.font
        if self._font is None or font != self._font:
            self._font = QFont(font)
            self._font_key = font.toString()
            self._badges.clear()
        try:
            badge = self._badges[key]
        except KeyError:
            if len(self._badges) >= _MAX_LOOKS:
                self._badges.clear()
            badge = self._badges[key] = self._badge(session.channel, option, key[-1])
        if badge is not None:
            pixmap, y = badge
            painter.drawPixmap(rect.x() + 4, rect.y() + y, pixmap)

    def _badge(self, channel: str, option: QStyleOptionViewItem,
               dpr: float) -> tuple[QPixmap, int] | None:
        """The badge of ``channel`` in this cell, and how far down the cell it sits."""
        text = channel_label(channel)
        if not text:
            return None
        color = channel_color(channel)
        fill = channel_background(channel)
        rect = option.rect
        metrics = option.fontMetrics
        height = min(rect.height() - 6, metrics.height() + 6)
        width = min(rect.width() - 8, BADGE_PAD + BADGE_ICON_SIZE + 5
                    + metrics.horizontalAdvance(text) + BADGE_PAD)
        if width <= 0 or height <= 0:
            return None
        text_color = channel_badge_text(color, fill, cell_background(option))
        pixmap = channel_badge(channel, text, self._font_key, width, height,
                               color.rgba(), fill.rgba(), text_color.rgba(), dpr)
        return pixmap, (rect.height() - height) // 2
