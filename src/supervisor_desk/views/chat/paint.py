"""Paints laid-out chat rows: bubbles by author, pills, session headers, attachment cards,
chips, and the highlights of a search, all in the colours of one :class:`ChatPalette`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRect, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QPainter,
    QPalette,
    QPen,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextLayout,
)

from supervisor_desk.models.chat_rows import ChatRow, find_occurrences
from supervisor_desk.models.markers import format_size
from supervisor_desk.views.chat.attachments import attachment_downloadable, file_badge
from supervisor_desk.views.chat.layout import Card, ChatFonts, RowLayout
from supervisor_desk.views.chat.styles import (
    CARD_META_FLAGS,
    COPY_LABEL,
    DOWNLOAD_LABEL,
    LIGHT,
    MUTED_ALPHA,
    NO_FILE_LABEL,
    PILL_FLAGS,
    RADIUS,
    ChatPalette,
    Style,
)


class ChatPainter:
    """Draws one row at the painter's origin; knows the fonts, the palette and the search."""

    def __init__(self, fonts: ChatFonts) -> None:
        self.fonts = fonts
        self.palette: ChatPalette = LIGHT
        self.query = ""
        self.current_match: tuple[str, int] | None = None
        # The message being spoken while the recording plays (its row key): outlined.
        self.speaking_key: str | None = None

    def paint(self, painter: QPainter, row: ChatRow, lay: RowLayout) -> None:
        if row.kind == "message":
            self.paint_message(painter, row, lay)
        elif row.kind == "header":
            self.paint_header(painter, lay)
        else:
            self.paint_pill(painter, row, lay)

    def paint_message(self, painter: QPainter, row: ChatRow, lay: RowLayout) -> None:
        p = self.palette
        style = lay.style or self.palette.bubble("ai")
        message = row.message
        assert message is not None
        pen = QPen(QColor(style.border))
        pen.setWidthF(1.4 if style.dashed else 1.0)
        if style.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QColor(style.fill))
        painter.drawRoundedRect(lay.bubble.adjusted(0, 0, -1, -1), RADIUS, RADIUS)
        if row.key == self.speaking_key:
            outline = QPen(QColor(p.current_highlight))
            outline.setWidthF(2.5)
            painter.setPen(outline)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(lay.bubble.adjusted(1, 1, -2, -2), RADIUS, RADIUS)

        text_color = QColor(style.text)
        muted = QColor(style.text)
        muted.setAlphaF(MUTED_ALPHA)
        if lay.label:
            painter.setFont(self.fonts.bold if lay.label_bold else self.fonts.small)
            painter.setPen(text_color if lay.label_bold else muted)
            painter.drawText(
                lay.label_rect,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                lay.label,
            )
        if lay.copy_rect is not None:
            self._paint_button(painter, lay.copy_rect, COPY_LABEL)
        if lay.badge:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(p.template_fill))
            painter.drawRoundedRect(lay.badge_rect, 6, 6)
            painter.setFont(self.fonts.small)
            painter.setPen(QColor(p.template_text))
            painter.drawText(lay.badge_rect, Qt.AlignmentFlag.AlignCenter, lay.badge)
        if lay.doc is not None:
            painter.save()
            painter.translate(lay.doc_pos)
            ctx = QAbstractTextDocumentLayout.PaintContext()
            palette = QPalette(ctx.palette)
            palette.setColor(QPalette.ColorRole.Text, text_color)
            palette.setColor(QPalette.ColorRole.Link, QColor(style.link))
            ctx.palette = palette
            ctx.selections = self.highlights(row, lay.doc)
            lay.doc.documentLayout().draw(painter, ctx)
            painter.restore()
        elif lay.text_layout is not None:
            painter.setPen(text_color)
            lay.text_layout.draw(painter, QPointF(lay.doc_pos), self.plain_highlights(row))
        for card in lay.cards:
            self._paint_card(painter, card, style)
        painter.setFont(self.fonts.small)
        for rect, text in lay.chips:
            painter.setPen(QPen(QColor(p.chip_border)))
            painter.setBrush(QColor(p.chip_fill))
            painter.drawRoundedRect(
                rect.adjusted(0, 0, -1, -1), rect.height() / 2, rect.height() / 2
            )
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setPen(QColor(p.footer))
        painter.drawText(
            lay.footer_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, lay.footer
        )
        if lay.delivery_rect is not None and message.delivery is not None:
            colour = {"read": p.delivery_read, "failed": p.delivery_failed}.get(
                message.delivery.status, p.footer
            )
            painter.setPen(QColor(colour))
            painter.drawText(lay.delivery_rect, Qt.AlignmentFlag.AlignCenter, lay.delivery_glyph)
        if lay.reaction_rect is not None:
            fill = p.reaction_up if message.reaction == "up" else p.reaction_down
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(fill))
            painter.drawRoundedRect(lay.reaction_rect, 8, 8)
            painter.setPen(QColor(p.reaction_text))
            painter.drawText(lay.reaction_rect, Qt.AlignmentFlag.AlignCenter, lay.reaction_glyph)

    def _paint_button(self, painter: QPainter, rect: QRect, text: str) -> None:
        p = self.palette
        painter.setPen(QPen(QColor(p.button_border)))
        painter.setBrush(QColor(p.button_fill))
        painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 5, 5)
        painter.setFont(self.fonts.small)
        painter.setPen(QColor(p.button_text))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_card(self, painter: QPainter, card: Card, style: Style) -> None:
        p = self.palette
        rect = card.rect
        painter.setPen(QPen(QColor(p.card_border)))
        painter.setBrush(QColor(p.card_fill))
        painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 8, 8)
        small = self.fonts.fm_small
        att = card.attachment
        if card.image is not None:
            image_h = rect.height() - small.height() - 6
            target = QRect(rect.left() + 1, rect.top() + 1, rect.width() - 2, image_h - 2)
            scaled = card.image.scaled(
                target.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            painter.drawImage(
                target.left() + (target.width() - scaled.width()) // 2, target.top(), scaled
            )
            painter.setFont(self.fonts.small)
            painter.setPen(QColor(p.card_caption))
            caption = small.elidedText(
                f"{att.name} · {format_size(att.size)}",
                Qt.TextElideMode.ElideMiddle,
                rect.width() - 12,
            )
            painter.drawText(
                QRect(
                    rect.left() + 6,
                    rect.bottom() - small.height() - 3,
                    rect.width() - 12,
                    small.height(),
                ),
                Qt.AlignmentFlag.AlignLeft,
                caption,
            )
            return
        icon = QRect(rect.left() + 8, rect.top() + 8, 30, 30)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(p.icon_fill))
        painter.drawRoundedRect(icon, 6, 6)
        painter.setPen(QColor(p.icon_text))
        painter.setFont(self.fonts.small)
        painter.drawText(icon, Qt.AlignmentFlag.AlignCenter, file_badge(att))
        text_left = icon.right() + 8
        text_right = (card.button.left() - 8) if card.button is not None else rect.right() - 8
        text_w = max(10, text_right - text_left)
        painter.setFont(self.fonts.bold)
        bold = self.fonts.fm_bold
        painter.setPen(QColor(p.card_title))
        painter.drawText(
            QRect(text_left, rect.top() + 5, text_w, bold.height()),
            Qt.AlignmentFlag.AlignLeft,
            bold.elidedText(att.name, Qt.TextElideMode.ElideMiddle, text_w),
        )
        painter.setFont(self.fonts.small)
        painter.setPen(QColor(p.card_meta))
        painter.drawText(
            QRect(text_left, rect.top() + 6 + bold.height(), text_w, card.meta_height),
            CARD_META_FLAGS,
            card.meta,
        )
        if card.button is not None:
            if attachment_downloadable(att):
                self._paint_button(painter, card.button, DOWNLOAD_LABEL)
            else:
                painter.setPen(QColor(p.no_file_text))
                painter.drawText(card.button, Qt.AlignmentFlag.AlignCenter, NO_FILE_LABEL)

    def paint_pill(self, painter: QPainter, row: ChatRow, lay: RowLayout) -> None:
        p = self.palette
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(p.pill_fill))
        r = lay.pill_rect
        painter.drawRoundedRect(r, min(r.height() / 2, 12), min(r.height() / 2, 12))
        font = QFont(self.fonts.small)
        font.setItalic(row.kind == "placeholder")
        painter.setFont(font)
        painter.setPen(QColor(p.pill_text))
        painter.drawText(r.adjusted(12, 4, -12, -4), PILL_FLAGS, lay.pill_text)

    def paint_header(self, painter: QPainter, lay: RowLayout) -> None:
        p = self.palette
        r = lay.pill_rect
        painter.setPen(QPen(QColor(p.header_border)))
        painter.setBrush(QColor(p.header_fill))
        painter.drawRoundedRect(r.adjusted(0, 0, -1, -1), 6, 6)
        painter.setFont(self.fonts.bold)
        painter.setPen(QColor(p.header_text))
        painter.drawText(
            r.adjusted(12, 0, -12, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            lay.pill_text,
        )

    def plain_highlights(self, row: ChatRow) -> list[Any]:
        p = self.palette
        if not self.query:
            return []
        text = row.plain_text()
        ranges = []
        current = self.current_match
        for occurrence, (start, length) in enumerate(find_occurrences(text, self.query)):
            fmt_range = QTextLayout.FormatRange()
            fmt_range.start = utf16_offset(text, start)
            fmt_range.length = utf16_offset(text, start + length) - fmt_range.start
            fmt = QTextCharFormat()
            is_current = current is not None and current == (row.key, occurrence)
            fmt.setBackground(QColor(p.current_highlight if is_current else p.highlight))
            fmt.setForeground(QColor(p.highlight_text))
            fmt_range.format = fmt
            ranges.append(fmt_range)
        return ranges

    def highlights(self, row: ChatRow, doc: QTextDocument) -> list[Any]:
        p = self.palette
        if not self.query:
            return []
        selections = []
        cursor = doc.find(self.query)
        occurrence = 0
        current = self.current_match
        while not cursor.isNull():
            selection = QAbstractTextDocumentLayout.Selection()
            selection.cursor = QTextCursor(cursor)
            fmt = QTextCharFormat()
            is_current = current is not None and current == (row.key, occurrence)
            fmt.setBackground(QColor(p.current_highlight if is_current else p.highlight))
            fmt.setForeground(QColor(p.highlight_text))
            selection.format = fmt
            selections.append(selection)
            occurrence += 1
            cursor = doc.find(self.query, cursor)
        return selections


def utf16_offset(text: str, index: int) -> int:
    """Qt counts positions in UTF-16 units; Python in code points (emoji differ)."""
    prefix = text[:index]
    if prefix.isascii():
        return index
    return len(prefix.encode("utf-16-le")) // 2
