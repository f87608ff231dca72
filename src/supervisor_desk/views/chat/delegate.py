"""The chat's item delegate: Qt's entry points (size, paint, tooltips) and hit-testing.

Why a delegate and not a widget per message: a 10,000-message transcript must open without
freezing, so the list view asks only for the rows it lays out or shows. Layout lives in
:mod:`.layout` (computed once per width, kept in a small LRU so memory stays flat), painting
in :mod:`.paint`, colours and geometry in :mod:`.styles`, inline images in
:mod:`.attachments`. Tooltips are escaped before Qt sees them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QSize
from PySide6.QtGui import QFont, QHelpEvent, QImage, QPainter, QTextDocument
from PySide6.QtWidgets import QAbstractItemView, QStyledItemDelegate, QStyleOptionViewItem, QToolTip

from supervisor_desk.models.chat_rows import ChatRow
from supervisor_desk.models.markdown_safe import is_safe_url, reveal_invisible
from supervisor_desk.models.markers import delivery_tooltip, format_size
from supervisor_desk.models.wire import Attachment, Message
from supervisor_desk.views.chat.attachments import attachment_downloadable
from supervisor_desk.views.chat.layout import ChatFonts, ChatLayoutEngine, RowLayout
from supervisor_desk.views.chat.model import ObjectRole
from supervisor_desk.views.chat.paint import ChatPainter
from supervisor_desk.views.chat.styles import ChatPalette

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Hit:
    kind: str  # "link" | "copy" | "download" | "header" | "delivery" | "image" | "reaction"
    row: ChatRow
    url: str = ""
    attachment: Attachment | None = None


def escape_tooltip(text: str) -> str:
    """Tooltips guess rich text: wrap escaped text so it is always shown literally."""
    return "<qt>" + html.escape(text).replace("\n", "<br/>") + "</qt>"


class ChatDelegate(QStyledItemDelegate):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.engine = ChatLayoutEngine()
        self.painter = ChatPainter(self.engine.fonts)

    # --- configuration ------------------------------------------------------------------
    def set_font(self, font: QFont) -> None:
        self.engine.fonts = self.painter.fonts = ChatFonts(font)
        self.invalidate()

    def set_width(self, width: int) -> bool:
        width = max(200, width)
        if width == self.engine.width:
            return False
        self.engine.width = width
        return True

    @property
    def width(self) -> int:
        return self.engine.width

    def set_time_zone(self, tz: tzinfo) -> None:
        self.engine.tz = tz
        self.invalidate()

    @property
    def palette(self) -> ChatPalette:
        return self.painter.palette

    def set_palette(self, palette: ChatPalette) -> None:
        """Another theme: bubbles are laid out again (link colours live in the documents)."""
        self.engine.palette = self.painter.palette = palette
        self.invalidate()

    @property
    def query(self) -> str:
        return self.painter.query

    @query.setter
    def query(self, value: str) -> None:
        self.painter.query = value

    @property
    def current_match(self) -> tuple[str, int] | None:
        return self.painter.current_match

    @current_match.setter
    def current_match(self, value: tuple[str, int] | None) -> None:
        self.painter.current_match = value

    def invalidate(self, key: str | None = None) -> None:
        self.engine.invalidate(key)

    def layout(self, row: ChatRow) -> RowLayout:
        return self.engine.layout(row)

    def local_image(self, message: Message, attachment: Attachment) -> QImage | None:
        return self.engine.images.get(message, attachment)

    def plain_highlights(self, row: ChatRow) -> list[Any]:
        return self.painter.plain_highlights(row)

    def highlights(self, row: ChatRow, doc: QTextDocument) -> list[Any]:
        return self.painter.highlights(row, doc)

    # --- Qt interface -------------------------------------------------------------------
    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        row = index.data(ObjectRole)
        if row is None:
            return QSize(0, 0)
        return QSize(self.engine.width, self.layout(row).height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        row: ChatRow | None = index.data(ObjectRole)
        if row is None:
            return
        lay = self.layout(row)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(option.rect.topLeft())
        self.painter.paint(painter, row, lay)
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
