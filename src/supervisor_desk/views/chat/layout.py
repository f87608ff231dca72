"""Lays chat rows out: the rectangles of a bubble's parts, its text, cards, chips and footer.

Each row's layout (a ``QTextDocument`` or ``QTextLayout`` for the body plus the rectangles of
its parts) is computed once per width; the delegate keeps them in a small LRU. Message bodies
are untrusted: they reach a document only through :mod:`supervisor_desk.models.markdown_safe`
(escaped, http/https links only) and the document never loads a resource
(:class:`SafeTextDocument`).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import (
    QFont,
    QFontMetrics,
    QImage,
    QTextCursor,
    QTextDocument,
    QTextLayout,
    QTextOption,
)

from supervisor_desk.models.chat_rows import AUTHOR_LABELS, ChatRow
from supervisor_desk.models.markdown_safe import needs_markdown, render_markdown
from supervisor_desk.models.markers import breakable, format_size, format_time
from supervisor_desk.models.wire import Attachment, Message
from supervisor_desk.views.chat.attachments import PREVIEW_UNAVAILABLE, ImageCache
from supervisor_desk.views.chat.styles import (
    CARD_H,
    CARD_META_FLAGS,
    CARD_MIN_W,
    COPY_LABEL,
    DELIVERY_GLYPHS,
    DOWNLOAD_LABEL,
    DRAFT_LABEL,
    IMAGE_MAX_H,
    LAYOUT_CACHE_SIZE,
    LIGHT,
    MAX_BUBBLE_FRACTION,
    NOTE_LABEL,
    PAD,
    PILL_FLAGS,
    PILL_MAX_CHARS,
    REACTION_GLYPHS,
    SIDE,
    TEMPLATE_BADGE,
    VGAP,
    ChatPalette,
    Style,
)


class SafeTextDocument(QTextDocument):
    """A document that never loads anything: no network, no files, no ``data:`` guesses."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        return None


@dataclass(slots=True)
class Card:
    rect: QRect
    attachment: Attachment
    button: QRect | None
    image: QImage | None = None
    # Size and MIME type, wrapped (a long vendor MIME type takes more lines, never cut).
    meta: str = ""
    meta_height: int = 0


def card_meta(attachment: Attachment) -> str:
    return breakable(f"{format_size(attachment.size)} · {attachment.mime}")


def card_text_width(card_w: int, button_w: int) -> int:
    """Room for the name and the size/MIME line: between the file badge and the button."""
    return max(10, card_w - button_w - 62)


# Shared by every layout that has no such part: a row's layout outlives many garbage-collector
# passes, so each object fewer per row is work fewer per pass (the Wall lays out ~1,000 rows a
# second). Never changed in place: a layout's rectangles are only ever replaced.
_NO_RECT = QRect()
_ORIGIN = QPoint()


@dataclass(slots=True)
class RowLayout:
    height: int
    align: str = "left"
    bubble: QRect = _NO_RECT
    style: Style | None = None
    doc: QTextDocument | None = None
    # Plain-text bodies (most messages) skip QTextDocument: a QTextLayout is ~5x cheaper.
    text_layout: QTextLayout | None = None
    doc_pos: QPoint = _ORIGIN
    label: str = ""
    label_rect: QRect = _NO_RECT
    label_bold: bool = False
    badge: str = ""
    badge_rect: QRect = _NO_RECT
    copy_rect: QRect | None = None
    cards: Sequence[Card] = ()
    chips: Sequence[tuple[QRect, str]] = ()
    footer: str = ""
    footer_rect: QRect = _NO_RECT
    delivery_rect: QRect | None = None
    delivery_glyph: str = ""
    reaction_rect: QRect | None = None
    reaction_glyph: str = ""
    pill_rect: QRect = _NO_RECT
    pill_text: str = ""

    def body_text(self) -> str:
        """The body as shown (rendered Markdown or the plain text)."""
        if self.doc is not None:
            return self.doc.toPlainText()
        if self.text_layout is not None:
            return self.text_layout.text()
        return ""


class ChatFonts:
    """The three fonts the chat uses and their metrics (cheap to keep, costly per row)."""

    def __init__(self, base: QFont) -> None:
        self.font = QFont(base)
        self.small = QFont(base)
        size = base.pointSizeF()
        if size > 0:
            self.small.setPointSizeF(max(6.0, size - 1.5))
        self.bold = QFont(base)
        self.bold.setBold(True)
        self.fm_small = QFontMetrics(self.small)
        self.fm_bold = QFontMetrics(self.bold)


def style_key(message: Message) -> str:
    if message.kind in ("draft", "note"):
        return message.kind
    return message.author.role


def body_html(text: str) -> str | None:
    """HTML for a body that needs Markdown, None when plain text renders it exactly."""
    return render_markdown(text) if needs_markdown(text) else None


class ChatLayoutEngine:
    """Row layouts for one width, font, time zone and palette, cached per row key."""

    def __init__(self) -> None:
        self.width = 600
        self.tz: tzinfo = UTC
        self.fonts = ChatFonts(QFont())
        self.palette: ChatPalette = LIGHT
        self.images = ImageCache()
        self._layouts: OrderedDict[str, tuple[int, RowLayout]] = OrderedDict()

    def invalidate(self, key: str | None = None) -> None:
        if key is None:
            self._layouts.clear()
            return
        self._layouts.pop(key, None)

    def layout(self, row: ChatRow) -> RowLayout:
        cached = self._layouts.get(row.key)
        if cached is not None and cached[0] == self.width:
            self._layouts.move_to_end(row.key)
            return cached[1]
        if row.kind == "message" and row.message is not None:
            lay = self._layout_message(row.message)
        elif row.kind == "header":
            lay = self._layout_header(row)
        else:
            lay = self._layout_pill(row)
        self._layouts[row.key] = (self.width, lay)
        if len(self._layouts) > LAYOUT_CACHE_SIZE:
            self._layouts.popitem(last=False)
        return lay

    def _make_doc(self, text: str, markup: str, style: Style, max_width: int) -> QTextDocument:
        doc = SafeTextDocument()
        doc.setUndoRedoEnabled(False)
        doc.setDocumentMargin(0)
        doc.setDefaultFont(self.fonts.font)
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
        layout = QTextLayout(text, self.fonts.font)
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
        width = self.width
        max_bubble = max(160, int(width * MAX_BUBBLE_FRACTION))
        max_text = max_bubble - 2 * PAD
        style = self.palette.bubble(style_key(message))
        small = self.fonts.fm_small
        bold = self.fonts.fm_bold
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
        card_w = 0
        if message.attachments:
            # Wide enough for the size and MIME line when the bubble allows; else it wraps.
            button_w = small.horizontalAdvance(DOWNLOAD_LABEL) + 18
            meta_w = max(
                small.horizontalAdvance(f"{format_size(a.size)} · {a.mime}")
                for a in message.attachments
            )
            card_w = min(max_text, max(CARD_MIN_W, doc_w, meta_w + button_w + 62 + 2))
        for attachment in message.attachments:
            image = self.images.get(message, attachment)
            if image is not None:
                scale = min(
                    1.0, card_w / max(1, image.width()), IMAGE_MAX_H / max(1, image.height())
                )
                h = max(24, int(image.height() * scale)) + small.height() + 6
                cards.append(Card(QRect(0, 0, card_w, h), attachment, None, image))
            else:
                meta = card_meta(attachment)
                if self.images.preview_failed(message, attachment):
                    meta = f"{PREVIEW_UNAVAILABLE} · {meta}"
                text_w = card_text_width(card_w, small.horizontalAdvance(DOWNLOAD_LABEL) + 18)
                meta_h = small.height()
                if small.horizontalAdvance(meta) > text_w:
                    meta_h = small.boundingRect(
                        QRect(0, 0, text_w, 100_000), CARD_META_FLAGS, meta
                    ).height()
                h = CARD_H + meta_h - small.height()
                cards.append(Card(QRect(0, 0, card_w, h), attachment, QRect(), None, meta, meta_h))

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
        if cards:
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
            chips: list[tuple[QRect, str]] = []
            for reply in message.quick_replies:
                text = small.elidedText(reply, Qt.TextElideMode.ElideRight, max_bubble - 20)
                cw = small.horizontalAdvance(text) + 18
                if cx + cw > limit and cx > x:
                    cx = x
                    line_y += chip_h + 4
                chips.append((QRect(cx, line_y, cw, chip_h), text))
                cx += cw + 6
            if lay.align == "right":
                shift: dict[int, int] = {}
                for rect, _ in chips:
                    shift[rect.top()] = max(shift.get(rect.top(), 0), rect.right())
                chips = [
                    (rect.translated(width - SIDE - 1 - shift[rect.top()], 0), text)
                    for rect, text in chips
                ]
            lay.chips = chips
            cursor_y = line_y + chip_h + 4

        # Footer: time, delivery status, reaction.
        lay.footer = format_time(message.at, self.tz)
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

    def _layout_pill(self, row: ChatRow) -> RowLayout:
        small = self.fonts.fm_small
        text = row.text
        if row.kind == "placeholder":
            text = f"⏳ {text}"
            # Measured in the italic face it is painted in: wider than the upright one, it
            # would wrap inside a one-line pill and be cut at top and bottom.
            italic = QFont(self.fonts.small)
            italic.setItalic(True)
            small = QFontMetrics(italic)
        if len(text) > PILL_MAX_CHARS:
            text = text[:PILL_MAX_CHARS] + "…"  # the whole sentence stays in the tooltip
        max_w = max(80, self.width - 2 * SIDE - 24)
        # A narrow chat wraps the sentence onto more lines rather than cutting it off.
        bounds = small.boundingRect(QRect(0, 0, max_w, 100_000), PILL_FLAGS, text)
        w = min(max_w, bounds.width()) + 24
        h = bounds.height() + 8
        rect = QRect((self.width - w) // 2, 8, w, h)
        return RowLayout(height=h + 16, align="center", pill_rect=rect, pill_text=text)

    def _layout_header(self, row: ChatRow) -> RowLayout:
        bold = self.fonts.fm_bold
        text = bold.elidedText(row.text, Qt.TextElideMode.ElideRight, self.width - 2 * SIDE - 24)
        h = bold.height() + 16
        rect = QRect(SIDE // 2, 10, self.width - SIDE, h)
        return RowLayout(height=h + 18, align="center", pill_rect=rect, pill_text=text)


_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


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
