"""A page of the main window built the first time it is shown.

Pages that are not on screen at start (Analytics: ten charts and their plotting library) cost
start-up time for nothing; a :class:`LazyPage` stands in the page stack and builds its content
from a factory on its first show, or when the app asks for it earlier (:meth:`content`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyPage(QWidget):
    """Holds the place of a page; ``content()`` builds it (once) with ``factory``."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factory: Callable[[], QWidget] | None = factory
        self._content: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._content is not None

    def content(self) -> QWidget:
        if self._content is None:
            assert self._factory is not None
            factory, self._factory = self._factory, None
            self._content = factory()
            self._layout.addWidget(self._content)
            self._content.show()  # shown with its holder (a late child would show a turn late)
        return self._content

    def showEvent(self, event: QShowEvent) -> None:
        self.content()
        super().showEvent(event)
