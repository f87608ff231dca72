"""Paints chat rows: bubbles by author, pills, session headers, attachment cards, chips.

Why a delegate and not a widget per message: a 10,000-message transcript must open without
freezing, so the list view asks only for the rows it lays out or shows. Each row's layout (a
``QTextDocument`` for the body plus the rectangles of its parts) is computed once per width;
heights are kept for every row, full layouts in a small LRU so memory stays flat.

Message bodies are untrusted. They reach the document only through
:mod:`supervisor_desk.models.markdown_safe` (escaped, http/https links only) and the document
never loads a resource (:class:`SafeTextDocument`). Tooltips are escaped before Qt sees them.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QSize,
    Qt,
    QUrl,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QPainter,
    QPalette,
    QPen,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QAbstractItemView, QStyledItemDelegate, QStyleOptionViewItem, QToolTip

from supervisor_desk.models.chat_rows import AUTHOR_LABELS, ChatRow, find_occurrences
from supervisor_desk.models.markdown_safe import (
    is_safe_url,
    needs_markdown,
    render_markdown,
    reveal_invisible,
)
from supervisor_desk.models.markers import (
    DELIVERY_LABELS,
    delivery_tooltip,
    format_size,
    format_time,
)
from supervisor_desk.models.wire import Attachment, Message
from supervisor_desk.views.chat.model import ObjectRole

_Index = QModelIndex | QPersistentModelIndex

SIDE = 14
PAD = 10
VGAP = 5
RADIUS = 12
MAX_BUBBLE_FRACTION = 0.74
CARD_H = 46
CARD_MIN_W = 240
IMAGE_MAX_H = 220
INLINE_IMAGE_MAX_BYTES = 8 * 1024 * 1024
LAYOUT_CACHE_SIZE = 600
PILL_MAX_CHARS = 600
PILL_FLAGS = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap

DRAFT_LABEL = "Draft from Copilot"
NOTE_LABEL = "Private note"
TEMPLATE_BADGE = "WhatsApp template"
COPY_LABEL = "Copy"
DOWNLOAD_LABEL = "Download"
DELIVERY_GLYPHS = {"sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}
REACTION_GLYPHS = {"up": "👍", "down": "👎"}


@dataclass(frozen=True)
class Style:
    fill: str
    border: str
    text: str
    link: str
    dashed: bool = False


STYLES: dict[str, Style] = {
    "customer": Style("#2f3b52", "#2f3b52", "#ffffff", "#a9d1ff"),
    "ai": Style("#eef1f6", "#dde2ea", "#1d2330", "#1a5fb4"),
    "human": Style("#e5f1ff", "#c4dcf7", "#1d2330", "#1a5fb4"),
    "system": Style("#f3f3f3", "#dcdcdc", "#333333", "#1a5fb4"),
    "draft": Style("#ffffff", "#7a8699", "#1d2330", "#1a5fb4", dashed=True),
    "note": Style("#fff8dc", "#c9a227", "#3a3220", "#1a5fb4", dashed=True),
}
PILL_FILL = "#e9ebef"
PILL_TEXT = "#5b6372"
HEADER_FILL = "#dfe9f7"
HIGHLIGHT = "#ffe666"
CURRENT_HIGHLIGHT = "#ff9d3b"


class SafeTextDocument(QTextDocument):
    """A document that never loads anything: no network, no files, no ``data:`` guesses."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        return None


@dataclass
class Card:
    rect: QRect
    attachment: Attachment
    button: QRect | None
    image: QImage | None = None


@dataclass
class RowLayout:
    height: int
    align: str = "left"
    bubble: QRect = field(default_factory=QRect)
    style: Style | None = None
    doc: QTextDocument | None = None
    # Plain-text bodies (most messages) skip QTextDocument: a QTextLayout is ~5x cheaper.
    text_layout: QTextLayout | None = None
    doc_pos: QPoint = field(default_factory=QPoint)
    label: str = ""
    label_rect: QRect = field(default_factory=QRect)
    label_bold: bool = False
    badge: str = ""
    badge_rect: QRect = field(default_factory=QRect)
    copy_rect: QRect | None = None
    cards: list[Card] = field(default_factory=list)
    chips: list[tuple[QRect, str]] = field(default_factory=list)
    footer: str = ""
    footer_rect: QRect = field(default_factory=QRect)
    delivery_rect: QRect | None = None
    delivery_glyph: str = ""
    reaction_rect: QRect | None = None
    reaction_glyph: str = ""
    pill_rect: QRect = field(default_factory=QRect)
    pill_text: str = ""

    def body_text(self) -> str:
        """The body as shown (rendered Markdown or the plain text)."""
        if self.doc is not None:
            return self.doc.toPlainText()
        if self.text_layout is not None:
            return self.text_layout.text()
        return ""


@dataclass(frozen=True)
class Hit:
    kind: str  # "link" | "copy" | "download" | "header" | "delivery" | "image" | "reaction"
    row: ChatRow
    url: str = ""
    attachment: Attachment | None = None


def style_key(message: Message) -> str:
    if message.kind in ("draft", "note"):
        return message.kind
    return message.author.role


def body_html(text: str) -> str | None:
    """HTML for a body that needs Markdown, None when plain text renders it exactly."""
    return render_markdown(text) if needs_markdown(text) else None


def decode_local_image(attachment: Attachment) -> QImage | None:
    """An image whose bytes travel inside the message (``data:`` URL); nothing is fetched."""
    url = attachment.url or ""
    if not attachment.mime.startswith("image/") or not url.startswith("data:"):
        return None
    head, _, payload = url.partition(",")
    if ";base64" not in head or len(payload) > INLINE_IMAGE_MAX_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    image = QImage()
    if not image.loadFromData(raw) or image.isNull():
        return None
    return image


def escape_tooltip(text: str) -> str:
    """Tooltips guess rich text: wrap escaped text so it is always shown literally."""
    return "<qt>" + html.escape(text).replace("\n", "<br/>") + "</qt>"


class ChatDelegate(QStyledItemDelegate):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._width = 600
        self._tz: tzinfo = UTC
        self._layouts: OrderedDict[str, tuple[int, RowLayout]] = OrderedDict()
        self._images: dict[str, QImage | None] = {}
        self._font = QFont()
        self._small = QFont()
        self._bold = QFont()
        self._set_fonts(QFont())
        self.query = ""
        self.current_match: tuple[str, int] | None = None

    # --- configuration ------------------------------------------------------------------
    def _set_fonts(self, base: QFont) -> None:
        self._font = QFont(base)
        self._small = QFont(base)
        size = base.pointSizeF()
        if size > 0:
            self._small.setPointSizeF(max(6.0, size - 1.5))
        self._bold = QFont(base)
        self._bold.setBold(True)
        # Metrics objects are cheap to keep and costly to build once per row.
        self._fm_small = QFontMetrics(self._small)
        self._fm_bold = QFontMetrics(self._bold)

    def set_font(self, font: QFont) -> None:
        self._set_fonts(font)
        self.invalidate()

    def set_width(self, width: int) -> bool:
        width = max(200, width)
        if width == self._width:
            return False
        self._width = width
        return True

    @property
    def width(self) -> int:
        return self._width

    def set_time_zone(self, tz: tzinfo) -> None:
        self._tz = tz
        self.invalidate()

    def invalidate(self, key: str | None = None) -> None:
        if key is None:
            self._layouts.clear()
            return
        self._layouts.pop(key, None)

    # --- Qt interface -------------------------------------------------------------------
    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        row = index.data(ObjectRole)
        if row is None:
            return QSize(0, 0)
        return QSize(self._width, self.layout(row).height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        row: ChatRow | None = index.data(ObjectRole)
        if row is None:
            return
        lay = self.layout(row)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(option.rect.topLeft())
        if row.kind == "message":
            self._paint_message(painter, row, lay)
        elif row.kind == "header":
            self._paint_header(painter, lay)
        else:
            self._paint_pill(painter, row, lay)
        painter.restore()

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: _Index,
    ) -> bool:
        if event is None or event.type() != QEvent.Type.ToolTip:
            return super().helpEvent(event, view, option, index)
        row: ChatRow | None = index.data(ObjectRole)
        if row is None:
            return False
        text = self.tooltip_at(row, event.pos() - option.rect.topLeft())
        if text:
            QToolTip.showText(event.globalPos(), escape_tooltip(text), view)
        else:
            QToolTip.hideText()
        return True

    # --- layout -------------------------------------------------------------------------
    def layout(self, row: ChatRow) -> RowLayout:
        cached = self._layouts.get(row.key)
        if cached is not None and cached[0] == self._width:
            self._layouts.move_to_end(row.key)
            return cached[1]
        if row.kind == "message" and row.message is not None:
            lay = self._layout_message(row.message)
        elif row.kind == "header":
            lay = self._layout_header(row)
        else:
            lay = self._layout_pill(row)
        self._layouts[row.key] = (self._width, lay)
        if len(self._layouts) > LAYOUT_CACHE_SIZE:
            self._layouts.popitem(last=False)
        return lay

    def _make_doc(self, text: str, markup: str, style: Style, max_width: int) -> QTextDocument:
        doc = SafeTextDocument()
        doc.setUndoRedoEnabled(False)
        doc.setDocumentMargin(0)
        doc.setDefaultFont(self._font)
        doc.setDefaultStyleSheet(
            f"a {{ color: {style.link}; }} "
            "pre { margin-top: 4px; margin-bottom: 4px; } "
            "p, ul, ol, blockquote { margin-top: 0px; margin-bottom: 6px; }"
        )
        doc.setHtml(markup)
        _trim_outer_margins(doc)
        doc.setTextWidth(max_width)
        if _RTL.search(text):
            # Right-aligned lines would sit outside a bubble narrower than the layout width.
            ideal = math.ceil(doc.idealWidth())
            if ideal < max_width:
                doc.setTextWidth(ideal + 1)
        return doc

    def _make_plain(self, text: str, max_width: int) -> tuple[QTextLayout, int, int]:
        layout = QTextLayout(text, self._font)
        layout.setCacheEnabled(True)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        width, height = self._lay_lines(layout, max_width)
        if width < max_width and _RTL.search(text):
            width, height = self._lay_lines(layout, width + 1)
        return layout, width, height

    @staticmethod
    def _lay_lines(layout: QTextLayout, line_width: int) -> tuple[int, int]:
        layout.beginLayout()
        y = 0.0
        natural = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(line_width)
            line.setPosition(QPointF(0, y))
            y += line.height()
            natural = max(natural, line.naturalTextWidth())
        layout.endLayout()
        return math.ceil(natural), math.ceil(y)

    def _layout_message(self, message: Message) -> RowLayout:
        width = self._width
        max_bubble = max(160, int(width * MAX_BUBBLE_FRACTION))
        max_text = max_bubble - 2 * PAD
        style = STYLES.get(style_key(message), STYLES["ai"])
        small = self._fm_small
        bold = self._fm_bold
        lay = RowLayout(height=0, style=style)
        lay.align = "right" if message.author.role == "customer" else "left"

        # Head line inside the bubble: who or what this is.
        head_w = 0
        head_h = 0
        name = message.author.name or AUTHOR_LABELS.get(message.author.role, "")
        if message.kind == "draft":
            lay.label = DRAFT_LABEL
        elif message.kind == "note":
            lay.label = f"{NOTE_LABEL} · {name}" if name else NOTE_LABEL
        elif message.author.role == "human":
            lay.label = name or "Operator"
            lay.label_bold = True
        elif message.author.role == "system":
            lay.label = name or "System"
        if lay.label:
            fm = bold if lay.label_bold else small
            lay.label = fm.elidedText(lay.label, Qt.TextElideMode.ElideRight, max_text - 70)
            head_w = fm.horizontalAdvance(lay.label)
            head_h = fm.height() + 4
        if message.kind == "draft":
            copy_w = small.horizontalAdvance(COPY_LABEL) + 16
            head_w += 10 + copy_w
        if message.kind == "template":
            lay.badge = TEMPLATE_BADGE
            badge_w = small.horizontalAdvance(TEMPLATE_BADGE) + 14
            head_w = max(head_w, badge_w)
            head_h = (
                max(head_h, small.height() + 8) if not lay.label else head_h + small.height() + 8
            )

        doc: QTextDocument | None = None
        doc_w = doc_h = 0
        if message.text:
            markup = body_html(message.text)
            if markup is None:
                lay.text_layout, doc_w, doc_h = self._make_plain(message.text, max_text)
            else:
                doc = self._make_doc(message.text, markup, style, max_text)
                doc_w = min(max_text, math.ceil(doc.idealWidth()))
                doc_h = math.ceil(doc.size().height())

        cards: list[Card] = []
        card_w = min(max_text, max(CARD_MIN_W, doc_w)) if message.attachments else 0
        for attachment in message.attachments:
            image = self._image_for(message, attachment)
            if image is not None:
                scale = min(
                    1.0, card_w / max(1, image.width()), IMAGE_MAX_H / max(1, image.height())
                )
                h = max(24, int(image.height() * scale)) + small.height() + 6
                cards.append(Card(QRect(0, 0, card_w, h), attachment, None, image))
            else:
                cards.append(Card(QRect(0, 0, card_w, CARD_H), attachment, QRect()))

        content_w = max(head_w, doc_w, card_w, 24)
        bubble_w = min(max_bubble, content_w + 2 * PAD)
        x = width - SIDE - bubble_w if lay.align == "right" else SIDE
        y = VGAP
        inner_x = x + PAD
        cursor_y = y + PAD
        if lay.label or lay.badge:
            if lay.label:
                fm = bold if lay.label_bold else small
                lay.label_rect = QRect(
                    inner_x, cursor_y, fm.horizontalAdvance(lay.label) + 2, fm.height()
                )
                if message.kind == "draft":
                    copy_w = small.horizontalAdvance(COPY_LABEL) + 16
                    lay.copy_rect = QRect(
                        x + bubble_w - PAD - copy_w, cursor_y - 2, copy_w, small.height() + 4
                    )
                cursor_y += fm.height() + 4
            if lay.badge:
                badge_w = small.horizontalAdvance(TEMPLATE_BADGE) + 14
                lay.badge_rect = QRect(inner_x, cursor_y, badge_w, small.height() + 4)
                cursor_y += small.height() + 8
        lay.doc = doc
        lay.doc_pos = QPoint(inner_x, cursor_y)
        cursor_y += doc_h
        for card in cards:
            has_body = doc is not None or lay.text_layout is not None
            cursor_y += 6 if (has_body or card is not cards[0]) else 0
            card.rect = QRect(inner_x, cursor_y, card.rect.width(), card.rect.height())
            if card.button is not None:
                bw = small.horizontalAdvance(DOWNLOAD_LABEL) + 18
                card.button = QRect(
                    card.rect.right() - bw - 8, card.rect.top() + (CARD_H - 24) // 2, bw, 24
                )
            cursor_y += card.rect.height()
        lay.cards = cards
        bubble_h = cursor_y + PAD - y
        lay.bubble = QRect(x, y, bubble_w, bubble_h)
        cursor_y = y + bubble_h + 4

        # Quick replies: chips under the bubble, wrapped to the bubble side's width.
        if message.quick_replies:
            chip_h = small.height() + 8
            cx = x
            limit = x + max_bubble
            line_y = cursor_y
            for reply in message.quick_replies:
                text = small.elidedText(reply, Qt.TextElideMode.ElideRight, max_bubble - 20)
                cw = small.horizontalAdvance(text) + 18
                if cx + cw > limit and cx > x:
                    cx = x
                    line_y += chip_h + 4
                lay.chips.append((QRect(cx, line_y, cw, chip_h), text))
                cx += cw + 6
            if lay.align == "right":
                shift: dict[int, int] = {}
                for rect, _ in lay.chips:
                    shift[rect.top()] = max(shift.get(rect.top(), 0), rect.right())
                lay.chips = [
                    (rect.translated(width - SIDE - 1 - shift[rect.top()], 0), text)
                    for rect, text in lay.chips
                ]
            cursor_y = line_y + chip_h + 4

        # Footer: time, delivery status, reaction.
        lay.footer = format_time(message.at, self._tz)
        fw = small.horizontalAdvance(lay.footer)
        fh = small.height()
        parts_w = fw
        if message.delivery is not None:
            lay.delivery_glyph = DELIVERY_GLYPHS.get(message.delivery.status, "?")
            parts_w += 6 + small.horizontalAdvance(lay.delivery_glyph) + 4
        if message.reaction is not None:
            lay.reaction_glyph = REACTION_GLYPHS.get(message.reaction, "")
            parts_w += 10 + fh + 12
        fx = (x + bubble_w - parts_w) if lay.align == "right" else x + 2
        lay.footer_rect = QRect(fx, cursor_y, fw, fh)
        nx = fx + fw
        if lay.delivery_glyph:
            dw = small.horizontalAdvance(lay.delivery_glyph) + 4
            lay.delivery_rect = QRect(nx + 6, cursor_y, dw, fh)
            nx += 6 + dw
        if lay.reaction_glyph:
            lay.reaction_rect = QRect(nx + 10, cursor_y - 2, fh + 12, fh + 4)
        lay.height = cursor_y + fh + VGAP + 2
        return lay

    def local_image(self, message: Message, attachment: Attachment) -> QImage | None:
        return self._image_for(message, attachment)

    def _image_for(self, message: Message, attachment: Attachment) -> QImage | None:
        key = f"{message.session_id}/{message.id}/{attachment.name}"
        if key not in self._images:
            self._images[key] = decode_local_image(attachment)
        return self._images[key]

    def _layout_pill(self, row: ChatRow) -> RowLayout:
        small = self._fm_small
        text = row.text
        if row.kind == "placeholder":
            text = f"⏳ {text}"
        if len(text) > PILL_MAX_CHARS:
            text = text[:PILL_MAX_CHARS] + "…"  # the whole sentence stays in the tooltip
        max_w = max(80, self._width - 2 * SIDE - 24)
        # A narrow chat wraps the sentence onto more lines rather than cutting it off.
        bounds = small.boundingRect(QRect(0, 0, max_w, 100_000), PILL_FLAGS, text)
        w = min(max_w, bounds.width()) + 24
        h = bounds.height() + 8
        rect = QRect((self._width - w) // 2, 8, w, h)
        return RowLayout(height=h + 16, align="center", pill_rect=rect, pill_text=text)

    def _layout_header(self, row: ChatRow) -> RowLayout:
        bold = self._fm_bold
        text = bold.elidedText(row.text, Qt.TextElideMode.ElideRight, self._width - 2 * SIDE - 24)
        h = bold.height() + 16
        rect = QRect(SIDE // 2, 10, self._width - SIDE, h)
        return RowLayout(height=h + 18, align="center", pill_rect=rect, pill_text=text)

    # --- painting -----------------------------------------------------------------------
    def _paint_message(self, painter: QPainter, row: ChatRow, lay: RowLayout) -> None:
        style = lay.style or STYLES["ai"]
        message = row.message
        assert message is not None
        pen = QPen(QColor(style.border))
        pen.setWidthF(1.4 if style.dashed else 1.0)
        if style.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QColor(style.fill))
        painter.drawRoundedRect(lay.bubble.adjusted(0, 0, -1, -1), RADIUS, RADIUS)

        text_color = QColor(style.text)
        muted = QColor(style.text)
        muted.setAlphaF(0.7)
        if lay.label:
            painter.setFont(self._bold if lay.label_bold else self._small)
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
            painter.setBrush(QColor("#25d366"))
            painter.drawRoundedRect(lay.badge_rect, 6, 6)
            painter.setFont(self._small)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(lay.badge_rect, Qt.AlignmentFlag.AlignCenter, lay.badge)
        if lay.doc is not None:
            painter.save()
            painter.translate(lay.doc_pos)
            ctx = QAbstractTextDocumentLayout.PaintContext()
            palette = QPalette(ctx.palette)
            palette.setColor(QPalette.ColorRole.Text, text_color)
            palette.setColor(QPalette.ColorRole.Link, QColor(style.link))
            ctx.palette = palette
            ctx.selections = self._highlights(row, lay.doc)
            lay.doc.documentLayout().draw(painter, ctx)
            painter.restore()
        elif lay.text_layout is not None:
            painter.setPen(text_color)
            lay.text_layout.draw(painter, QPointF(lay.doc_pos), self._plain_highlights(row))
        for card in lay.cards:
            self._paint_card(painter, card, style)
        painter.setFont(self._small)
        for rect, text in lay.chips:
            painter.setPen(QPen(QColor("#1a5fb4")))
            painter.setBrush(QColor("#ffffff"))
            painter.drawRoundedRect(
                rect.adjusted(0, 0, -1, -1), rect.height() / 2, rect.height() / 2
            )
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setPen(QColor("#7a8190"))
        painter.drawText(
            lay.footer_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, lay.footer
        )
        if lay.delivery_rect is not None and message.delivery is not None:
            colour = {"read": "#1a73e8", "failed": "#c62828"}.get(
                message.delivery.status, "#7a8190"
            )
            painter.setPen(QColor(colour))
            painter.drawText(lay.delivery_rect, Qt.AlignmentFlag.AlignCenter, lay.delivery_glyph)
        if lay.reaction_rect is not None:
            fill = "#e3f4e6" if message.reaction == "up" else "#fde7e7"
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(fill))
            painter.drawRoundedRect(lay.reaction_rect, 8, 8)
            painter.setPen(QColor("#333333"))
            painter.drawText(lay.reaction_rect, Qt.AlignmentFlag.AlignCenter, lay.reaction_glyph)

    def _paint_button(self, painter: QPainter, rect: QRect, text: str) -> None:
        painter.setPen(QPen(QColor("#9aa4b5")))
        painter.setBrush(QColor("#ffffff"))
        painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 5, 5)
        painter.setFont(self._small)
        painter.setPen(QColor("#1d2330"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_card(self, painter: QPainter, card: Card, style: Style) -> None:
        rect = card.rect
        painter.setPen(QPen(QColor("#c9ced8")))
        painter.setBrush(QColor("#ffffff"))
        painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 8, 8)
        small = self._fm_small
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
            painter.setFont(self._small)
            painter.setPen(QColor("#555b66"))
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
        painter.setBrush(QColor("#e8ecf3"))
        painter.drawRoundedRect(icon, 6, 6)
        painter.setPen(QColor("#4a5568"))
        painter.setFont(self._small)
        painter.drawText(icon, Qt.AlignmentFlag.AlignCenter, file_badge(att))
        text_left = icon.right() + 8
        text_right = (card.button.left() - 8) if card.button is not None else rect.right() - 8
        text_w = max(10, text_right - text_left)
        painter.setFont(self._bold)
        bold = self._fm_bold
        painter.setPen(QColor("#1d2330"))
        painter.drawText(
            QRect(text_left, rect.top() + 5, text_w, bold.height()),
            Qt.AlignmentFlag.AlignLeft,
            bold.elidedText(att.name, Qt.TextElideMode.ElideMiddle, text_w),
        )
        painter.setFont(self._small)
        painter.setPen(QColor("#6b7280"))
        painter.drawText(
            QRect(text_left, rect.top() + 6 + bold.height(), text_w, small.height()),
            Qt.AlignmentFlag.AlignLeft,
            small.elidedText(
                f"{format_size(att.size)} · {att.mime}", Qt.TextElideMode.ElideRight, text_w
            ),
        )
        if card.button is not None:
            if attachment_downloadable(att):
                self._paint_button(painter, card.button, DOWNLOAD_LABEL)
            else:
                painter.setPen(QColor("#9aa4b5"))
                painter.drawText(card.button, Qt.AlignmentFlag.AlignCenter, "No file")

    def _paint_pill(self, painter: QPainter, row: ChatRow, lay: RowLayout) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(PILL_FILL))
        r = lay.pill_rect
        painter.drawRoundedRect(r, min(r.height() / 2, 12), min(r.height() / 2, 12))
        font = QFont(self._small)
        font.setItalic(row.kind == "placeholder")
        painter.setFont(font)
        painter.setPen(QColor(PILL_TEXT))
        painter.drawText(r.adjusted(12, 4, -12, -4), PILL_FLAGS, lay.pill_text)

    def _paint_header(self, painter: QPainter, lay: RowLayout) -> None:
        r = lay.pill_rect
        painter.setPen(QPen(QColor("#b8cbe6")))
        painter.setBrush(QColor(HEADER_FILL))
        painter.drawRoundedRect(r.adjusted(0, 0, -1, -1), 6, 6)
        painter.setFont(self._bold)
        painter.setPen(QColor("#1d3557"))
        painter.drawText(
            r.adjusted(12, 0, -12, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            lay.pill_text,
        )

    def _plain_highlights(self, row: ChatRow) -> list[Any]:
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
            fmt.setBackground(QColor(CURRENT_HIGHLIGHT if is_current else HIGHLIGHT))
            fmt.setForeground(QColor("#000000"))
            fmt_range.format = fmt
            ranges.append(fmt_range)
        return ranges

    def _highlights(self, row: ChatRow, doc: QTextDocument) -> list[Any]:
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
            fmt.setBackground(QColor(CURRENT_HIGHLIGHT if is_current else HIGHLIGHT))
            fmt.setForeground(QColor("#000000"))
            selection.format = fmt
            selections.append(selection)
            occurrence += 1
            cursor = doc.find(self.query, cursor)
        return selections

    # --- hit testing --------------------------------------------------------------------
    def hit(self, row: ChatRow, pos: QPoint) -> Hit | None:
        """What is under ``pos`` (row coordinates): a link, a button, a header, an icon."""
        lay = self.layout(row)
        if row.kind == "header":
            return Hit("header", row) if lay.pill_rect.contains(pos) else None
        if row.kind != "message":
            return None
        if lay.copy_rect is not None and lay.copy_rect.contains(pos):
            return Hit("copy", row)
        for card in lay.cards:
            if card.button is not None and card.button.contains(pos):
                return Hit("download", row, attachment=card.attachment)
            if card.image is not None and card.rect.contains(pos):
                return Hit("image", row, attachment=card.attachment)
        if lay.delivery_rect is not None and lay.delivery_rect.contains(pos):
            return Hit("delivery", row)
        if lay.reaction_rect is not None and lay.reaction_rect.contains(pos):
            return Hit("reaction", row)
        if lay.doc is not None:
            local = pos - lay.doc_pos
            anchor = lay.doc.documentLayout().anchorAt(local.toPointF())
            if anchor and is_safe_url(anchor):
                return Hit("link", row, url=anchor)
        return None

    def tooltip_at(self, row: ChatRow, pos: QPoint) -> str:
        hit = self.hit(row, pos)
        if hit is None:
            lay = self.layout(row)
            if row.kind in ("pill", "marker") and lay.pill_rect.contains(pos):
                return row.text
            return ""
        message = row.message
        if hit.kind == "delivery" and message is not None and message.delivery is not None:
            return delivery_tooltip(message.delivery)
        if hit.kind == "link":
            return f"Open in browser: {reveal_invisible(hit.url)}"
        if hit.kind == "reaction" and message is not None and message.reaction is not None:
            return "Customer reacted: " + (
                "thumbs up" if message.reaction == "up" else "thumbs down"
            )
        if hit.kind == "copy":
            return "Copy the draft to the clipboard"
        if hit.kind in ("download", "image") and hit.attachment is not None:
            att = hit.attachment
            where = "" if attachment_downloadable(att) else "\nThe hub has no file for it."
            return f"{att.name}\n{format_size(att.size)} · {att.mime}{where}"
        if hit.kind == "header":
            return "Jump to this session"
        return ""


def file_badge(attachment: Attachment) -> str:
    """Three letters for the card's icon: the extension, else the mime family."""
    suffix = attachment.name.rpartition(".")[2] if "." in attachment.name else ""
    if suffix and len(suffix) <= 4 and suffix.isalnum():
        return suffix.upper()
    return {"audio": "AUD", "image": "IMG", "video": "VID"}.get(
        attachment.mime.split("/")[0], "FILE"
    )


_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def utf16_offset(text: str, index: int) -> int:
    """Qt counts positions in UTF-16 units; Python in code points (emoji differ)."""
    prefix = text[:index]
    if prefix.isascii():
        return index
    return len(prefix.encode("utf-16-le")) // 2


def attachment_downloadable(attachment: Attachment) -> bool:
    url = attachment.url or ""
    return url.startswith("data:") or is_safe_url(url)


def delivery_label(status: str) -> str:
    return DELIVERY_LABELS.get(status, status)


def _trim_outer_margins(doc: QTextDocument) -> None:
    """Qt keeps the first block's top and the last block's bottom margin: bubbles hug text."""
    first = QTextCursor(doc)
    fmt = first.blockFormat()
    fmt.setTopMargin(0)
    first.setBlockFormat(fmt)
    last = QTextCursor(doc)
    last.movePosition(QTextCursor.MoveOperation.End)
    fmt = last.blockFormat()
    fmt.setBottomMargin(0)
    last.setBlockFormat(fmt)
