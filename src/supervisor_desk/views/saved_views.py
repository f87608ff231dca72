"""The Views menu and History's list of views: save the History view (filters, columns, sort)
or the Analytics view (range, chart set, filters) under a name, apply, rename or delete one,
and share them as a file. Menu and list are drawn from the one list of views held here.

The file format and its checks are ``models/saved_views.py``; this controller only reads the
pages' state and applies a view back to them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMenu, QWidget

from supervisor_desk.client.paths import config_dir
from supervisor_desk.models.filters import FilterError
from supervisor_desk.models.saved_views import (
    SavedView,
    SavedViewError,
    analytics_view,
    history_view,
    merge_views,
    read_views,
    rename_view,
    write_views,
)
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.session_table_model import SessionColumn

if TYPE_CHECKING:  # the page is built on first show; its charts' library loads with it
    from supervisor_desk.views.analytics.page import AnalyticsPage

log = logging.getLogger(__name__)


def views_path() -> Path:
    return config_dir() / "saved_views.json"


class SavedViewsController(QObject):
    """Owns the Views menu. ``status`` reports what happened (the window's status bar)."""

    status = Signal(str)
    view_applied = Signal(str)  # "history" or "analytics": the page to show
    views_changed = Signal()

    def __init__(self, history: HistoryView, analytics: AnalyticsPage,
                 on_analytics: Callable[[], bool], parent: QWidget,
                 path: Path | None = None) -> None:
        super().__init__(parent)
        self._parent = parent
        self.history = history
        self.analytics = analytics
        self._on_analytics = on_analytics
        self.path = path or views_path()
        self.menu = QMenu("&Views", parent)
        self.menu.aboutToShow.connect(self._rebuild)
        self._dialog: QWidget | None = None
        try:
            self.views = read_views(self.path)
        except SavedViewError as exc:
            log.warning("saved views not loaded: %s", exc)
            self.views = []
        self.list = history.saved_views
        self.list.apply_requested.connect(self.apply)
        self.list.rename_requested.connect(self._ask_rename)
        self.list.delete_requested.connect(self.delete)
        self.views_changed.connect(self._on_views_changed)
        self._on_views_changed()

    # ------------------------------------------------------------------ state

    def current_view(self, name: str) -> SavedView:
        if self._on_analytics():
            charts = self.analytics.vm
            return analytics_view(name, charts.filter, charts.range_name,
                                  self.analytics.visible_charts())
        table = self.history.table
        columns = [c.name.lower() for c in SessionColumn if not table.isColumnHidden(c)]
        return history_view(name, self.history.vm.filter, self.history.vm.sort, columns)

    def save_as(self, name: str) -> SavedView:
        view = self.current_view(name.strip())
        self._set_views(merge_views(self.views, [view]))
        self.status.emit(f"View \u201c{view.name}\u201d saved.")
        return view

    def apply(self, view: SavedView) -> None:
        try:
            flt = view.session_filter()
        except FilterError as exc:
            self.status.emit(f"View \u201c{view.name}\u201d has a bad filter: {exc}")
            return
        if view.kind == "analytics":
            if view.charts is not None:
                self.analytics.set_visible_charts(view.charts)
            if view.range is not None:
                self.analytics.set_range_name(view.range)
            self.analytics.vm.set_filter(flt)
        else:
            if view.columns is not None:
                names = set(view.columns)
                for column in SessionColumn:
                    self.history.table.setColumnHidden(column, column.name.lower() not in names)
            if view.sort is not None:
                self.history.vm.set_sort(view.sort)
            self.history.vm.set_filter(flt)
        self.view_applied.emit(view.kind)
        self.status.emit(f"View \u201c{view.name}\u201d applied.")

    def import_file(self, path: Path) -> int:
        try:
            incoming = read_views(path)
        except SavedViewError as exc:
            self.status.emit(f"Could not import {path.name}: {exc}")
            return 0
        self._set_views(merge_views(self.views, incoming))
        self.status.emit(f"Imported {len(incoming)} view(s) from {path.name}.")
        return len(incoming)

    def export_file(self, path: Path) -> None:
        write_views(path, self.views)
        self.status.emit(f"Exported {len(self.views)} view(s) to {path.name}.")

    def delete(self, view: SavedView) -> None:
        self._set_views([v for v in self.views if v is not view])
        self.status.emit(f"View \u201c{view.name}\u201d deleted.")

    def rename(self, view: SavedView, name: str) -> bool:
        """Rename ``view``; a bad or taken name is reported on ``status`` and changes nothing."""
        try:
            views = rename_view(self.views, view, name)
        except SavedViewError as exc:
            self.status.emit(f"View \u201c{view.name}\u201d not renamed: {exc}")
            return False
        self._set_views(views)
        self.status.emit(f"View \u201c{view.name}\u201d renamed to \u201c{name.strip()}\u201d.")
        return True

    def _set_views(self, views: list[SavedView]) -> None:
        self.views = views
        self._persist()
        self.views_changed.emit()

    def _on_views_changed(self) -> None:
        self._rebuild()
        self.list.set_views(self.views)

    def _persist(self) -> None:
        try:
            write_views(self.path, self.views)
        except OSError as exc:
            self.status.emit(f"Could not save the views: {exc}")

    # ------------------------------------------------------------------ menu

    def _rebuild(self) -> None:
        menu = self.menu
        menu.clear()
        menu.addAction("Save current view as\u2026", self._ask_name)
        menu.addSeparator()
        for kind, title in (("history", "History"), ("analytics", "Analytics")):
            views = [v for v in self.views if v.kind == kind]
            if views:
                section = menu.addSection(title)
                section.setEnabled(False)
            for view in views:
                menu.addAction(view.name, functools.partial(self.apply, view))
        if self.views:
            menu.addSeparator()
            delete = menu.addMenu("Delete view")
            for view in self.views:
                delete.addAction(f"{view.name} ({view.kind})", functools.partial(self.delete, view))
        menu.addSeparator()
        menu.addAction("Import views\u2026", self._ask_import)
        export = menu.addAction("Export views\u2026", self._ask_export)
        export.setEnabled(bool(self.views))

    def _ask_name(self) -> None:
        dialog = QInputDialog(self._parent)
        dialog.setWindowTitle("Save view")
        page = "Analytics" if self._on_analytics() else "History"
        dialog.setLabelText(f"Name of this {page} view:")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.textValueSelected.connect(
            lambda name: self.save_as(name) if name.strip() else None)
        self._dialog = dialog
        dialog.open()

    def _ask_rename(self, view: SavedView) -> None:
        dialog = QInputDialog(self._parent)
        dialog.setWindowTitle("Rename view")
        dialog.setLabelText(f"New name of the {view.kind} view \u201c{view.name}\u201d:")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setTextValue(view.name)
        dialog.textValueSelected.connect(lambda name: self.rename(view, name))
        self._dialog = dialog
        dialog.open()

    def _ask_import(self) -> None:
        dialog = QFileDialog(self._parent, "Import views", str(Path.home()),
                             "Saved views (*.json);;All files (*)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda name: self.import_file(Path(name)))
        self._dialog = dialog
        dialog.open()

    def _ask_export(self) -> None:
        dialog = QFileDialog(self._parent, "Export views", str(Path.home() / "views.json"),
                             "Saved views (*.json)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(lambda name: self.export_file(Path(name)))
        self._dialog = dialog
        dialog.open()
