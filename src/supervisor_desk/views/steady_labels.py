"""Labels whose new text is a repaint, not a layout of the window.

A QLabel's new text asks its layout to be recomputed and the request climbs to the window
(``QWidget::updateGeometry``): the whole window laid out again, and whatever moved by a pixel
repainted, for a figure or an age that changes every second. Qt skips that for a widget of
fixed size, and a label that is not in a layout only tells its parent.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from supervisor_desk.views.theme import theme_color

_ANY_SIZE = 16777215  # Qt's QWIDGETSIZE_MAX: no maximum


class SteadyLabel(QLabel):
    """A label whose size stays put while its new text fits in it, so a new figure is a
    repaint of the label, not a layout of the window.

    A QLabel's new text asks its layout to be recomputed, and that request climbs to the
    window: a card's new value cost 0.34 ms, two thirds of it the window's layout
    (docs/performance.md, "fifth pass: shown"), several times a second at 5 events/s. Qt
    skips that for a widget of fixed size: while *steady* the label is fixed at the widest
    text it has shown, placed at its cell's left (``Qt.AlignLeft`` in the layout), so its
    left-aligned text lands on the same pixels as before."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._steady = False
        self._fill: str | None = None

    def fill_with(self, token: str | None = None) -> None:
        """Opaque in the theme's ``token`` colour, or with none in the window's (what lies
        beneath it: a card, the status bar): Qt then repaints this label alone for a new
        text, not first each widget under it (the card, the row of cards, the window)."""
        self._fill = token
        self.setAutoFillBackground(True)
        self._apply_fill()

    def _apply_fill(self) -> None:
        if self._fill is None:
            return
        color = theme_color(self._fill)
        role = QPalette.ColorRole.Window
        if self.palette().color(role) != color:  # a new theme (and not again for this one)
            palette = QPalette(self.palette())
            palette.setColor(role, color)
            self.setPalette(palette)

    def set_steady(self, steady: bool) -> None:
        self._steady = steady
        self._refit()

    def set_text(self, text: str) -> None:
        if text == self.text():
            return
        self.setText(text)
        if self._steady:
            hint = self.sizeHint()
            if hint.width() > self.maximumWidth() or hint.height() != self.maximumHeight():
                self.setFixedSize(max(hint.width(), self.maximumWidth()), hint.height())

    def _refit(self) -> None:
        """Size from the text alone again (a new font or style, or no longer steady)."""
        self.setMinimumSize(0, 0)
        self.setMaximumSize(_ANY_SIZE, _ANY_SIZE)
        if self._steady:
            self.setFixedSize(self.sizeHint())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        kind = event.type()
        if self._steady and kind in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._refit()
        if kind in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange):
            self._apply_fill()


class SteadyWrappedLabel(QWidget):
    """A word-wrapped line of plain text (a selected item told in full) that keeps its
    height while its new text takes as many lines: the window is laid out again only when
    the count of lines changes (a new selection), not each second its age moves on.

    The text is a :class:`QLabel` placed by hand inside this widget (no layout), so its
    requests stop here; this widget is what the layout sees, at the label's height for
    the width it has.
    """

    def __init__(self, parent: QWidget | None = None, *, tone: str = "",
                 accessible_name: str = "") -> None:
        super().__init__(parent)
        self.label = QLabel("", self)
        if tone:
            self.label.setProperty("tone", tone)  # the style sheet's tones are for labels
        self.label.setAccessibleName(accessible_name)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # untrusted names, never markup
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setSizePolicy(policy)
        # Opaque (the window's colour, as beneath it): a new text repaints this line alone,
        # not first the dock and the window under it.
        self.setAutoFillBackground(True)

    def text(self) -> str:
        return self.label.text()

    def set_text(self, text: str) -> None:
        if text != self.label.text():
            self.label.setText(text)
            self._fit()

    def sizeHint(self) -> QSize:
        return QSize(self.label.sizeHint().width(), self._height_for(self.width()))

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self._height_for(self.width()))

    def _height_for(self, width: int) -> int:
        if not self.label.text():
            return 0
        return self.label.heightForWidth(width) if width > 0 else self.label.sizeHint().height()

    def _fit(self) -> None:
        height = self._height_for(self.width())
        if height != self.maximumHeight():  # fixed at the last height (none at first)
            self.setFixedHeight(height)  # the one layout: the text took another line count

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())
        if event.size().width() != event.oldSize().width():
            self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()
