"""Item views whose viewport paints its own background, so Qt paints nothing beneath them.

The style sheet's style turns a styled scroll area's viewport fill off (so that the view's
rounded, styled background shows through it). Then every repaint of a few cells (the
second's tick of a duration or an alert's age, an event's cell) is painted first by each
widget under the view (the window, the splitter or dock, the pages…) and then by the view.
Filled with the same colour (what showed through: the view's base where the style sheet
styles the view, the window's where nothing does), the pixels are the same
(``tests/views/test_session_table_view.py``, ``tests/views/alerts/test_panel.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette

if TYPE_CHECKING:
    from PySide6.QtWidgets import QAbstractScrollArea

    _ScrollArea = QAbstractScrollArea
else:
    _ScrollArea = object


class FilledViewport(_ScrollArea):
    """Mixin, listed before the view's Qt class: fills the viewport again after each polish
    by a style (the first, and a theme's new style sheet), once the view's own handling of
    it (which turns the fill off) is done."""

    # The colour that showed through the unfilled viewport.
    viewport_role = QPalette.ColorRole.Base

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.Polish:
            self._fill_viewport()
        return handled

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.StyleChange:
            self._fill_viewport()

    def _fill_viewport(self) -> None:
        viewport = self.viewport()
        if viewport.backgroundRole() != self.viewport_role:
            viewport.setBackgroundRole(self.viewport_role)
        if not viewport.autoFillBackground():
            viewport.setAutoFillBackground(True)
