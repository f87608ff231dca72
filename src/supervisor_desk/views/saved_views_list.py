"""A compact, keyboard-usable list of the saved views, shown under History's filter bar.

One row of names: a click or Enter applies a view; the context menu (right click or the Menu
key), F2 and Delete rename or delete it. The views themselves live in
:class:`~supervisor_desk.views.saved_views.SavedViewsController`, which fills this list and the
Views menu from the same list, so both always show the same views.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QWidget,
)

from supervisor_desk.models.saved_views import SavedView

_KIND_SUFFIX = {"history": "", "analytics": " \u00b7 Analytics"}


class SavedViewsList(QWidget):
    """Hidden while there are no views. Signals carry the :class:`SavedView` concerned."""

    apply_requested = Signal(object)
    rename_requested = Signal(object)
    delete_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("savedViewsList")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.setSpacing(6)
        title = QLabel("Views:", self)
        layout.addWidget(title)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Saved views")
        self.list.setToolTip("Saved views: click or Enter applies; F2 renames, Delete deletes; "
                             "right click or the Menu key for more")
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setSpacing(2)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        # Each name framed like a chip, in the theme's own colours.
        self.list.setStyleSheet(
            "QListWidget::item { border: 1px solid palette(mid); border-radius: 9px;"
            " padding: 1px 8px; }")
        # More views than the row holds: a scroll bar appears under them (see _fit_height).
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.horizontalScrollBar().rangeChanged.connect(self._fit_height)
        self._fit_height()
        title.setBuddy(self.list)
        layout.addWidget(self.list, 1)
        self.list.installEventFilter(self)
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.list.itemClicked.connect(self._on_list_item_activated)
        self.list.customContextMenuRequested.connect(self._on_list_context_menu)
        self._menu: QMenu | None = None
        self.hide()

    def set_views(self, views: Sequence[SavedView]) -> None:
        self.list.clear()
        for view in views:
            item = QListWidgetItem(view.name + _KIND_SUFFIX[view.kind])
            item.setData(Qt.ItemDataRole.UserRole, view)
            item.setToolTip(f"{view.kind.capitalize()} view \u201c{view.name}\u201d")
            self.list.addItem(item)
        self.setVisible(bool(views))

    def _fit_height(self, _low: int = 0, high: int = 0) -> None:
        bar = self.list.horizontalScrollBar()
        rows = self.list.sizeHintForRow(0) if self.list.count() else 0
        height = max(rows, self.list.fontMetrics().height() + 8) + 6
        self.list.setFixedHeight(height + (bar.sizeHint().height() if high > 0 else 0))

    def view_at(self, row: int) -> SavedView | None:
        item = self.list.item(row)
        view = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return view if isinstance(view, SavedView) else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # F2 and Delete as in a file manager, read from the list's own keys (no shortcut:
        # they must not fire while another widget of the page has the focus).
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            signal = {Qt.Key.Key_F2: self.rename_requested,
                      Qt.Key.Key_Delete: self.delete_requested}.get(Qt.Key(event.key()))
            view = self.view_at(self.list.currentRow())
            if signal is not None and view is not None \
                    and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                signal.emit(view)
                return True
        return super().eventFilter(watched, event)

    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        self.apply_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _on_list_context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos) or self.list.currentItem()
        if item is None:
            return
        view = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Apply", lambda: self.apply_requested.emit(view))
        menu.addAction("Rename\u2026", lambda: self.rename_requested.emit(view))
        menu.addAction("Delete", lambda: self.delete_requested.emit(view))
        self._menu = menu
        menu.popup(self.list.viewport().mapToGlobal(pos))
