"""Qt test fixtures: one qasync loop per test, driven from synchronous pytest-qt tests.

pytest-qt has no qasync support (pytest-qt#448), so GUI scenarios are ``async def``
coroutines run with ``qrun(coro)``; while one runs, Qt events are processed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.views.gc_policy import active_policy, release_policy
from supervisor_desk.views.qt_loop import DeskEventLoop
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.theme import THEMES, current_theme

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _collector_given_back() -> Iterator[None]:
    """A test must not end with the garbage-collection policy held (an offline window or a
    view-model left open): automatic collection would stay off for every later test in the
    process, which would then fail far from the cause. Released here, and this test fails.
    (Torn down after the collection below, which destroys what the test dropped.)"""
    yield
    if active_policy() is not None:
        while active_policy() is not None:
            release_policy()
        pytest.fail("the test left the garbage-collection policy held (a window or a "
                    "view-model still open): the collector would stay off after it",
                    pytrace=False)


@pytest.fixture(autouse=True)
def _collect_garbage_on_qt_thread() -> Iterator[None]:
    """Collect the test's Qt objects here, on the Qt thread.

    Left to Python's cyclic GC, a hub server thread of the next test could run the collection,
    destroy qasync's timer objects off their thread and leave Qt a dangling timer (seen as a
    rare segfault in hub-backed Qt tests).
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _app_owns_quit(qapp: QApplication) -> Iterator[None]:
    """As in the app (``DeskApp.run``): closing or hiding the last window never quits Qt
    (see ``qapp`` in tests/conftest.py), whatever a test set it to."""
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(False)


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    loop = DeskEventLoop(qapp)  # the app's loop (app.py)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
        # A test that leaves tasks running hides a shutdown bug: fail it, naming them.
        assert not pending, f"tasks left running: {[t.get_name() for t in pending]}"


@pytest.fixture
def qrun(qloop: qasync.QEventLoop) -> Callable[..., Any]:
    """Run a coroutine on the test's qasync loop, with a timeout (seconds)."""

    def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
        return qloop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run


def shown_styled_table(
    qtbot: Any, model: SessionTableModel, *, width: int, height: int
) -> tuple[QWidget, SessionTableView]:
    """The live table of ``model`` as the app styles it (its object name, the theme's palette
    and style sheet on its window), its clock still, shown in a ``width`` x ``height`` window."""
    window = QWidget()
    qtbot.addWidget(window)
    window.setPalette(current_theme().palette())
    window.setStyleSheet(current_theme().stylesheet())
    view = SessionTableView(window)
    view.setObjectName("liveTable")
    view.set_live(False)
    view.setModel(model)
    QVBoxLayout(window).addWidget(view)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    return window, view


class EventsSeen(QObject):  # type: ignore[misc]
    """Who received events of ``kind`` while this filters (installed on the application:
    every widget): the objects, and their class and object names as they were then."""

    def __init__(self, kind: QEvent.Type) -> None:
        super().__init__()
        self._kind = kind
        self.objects: list[QObject] = []
        self.names: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == self._kind:
            self.objects.append(watched)
            self.names.append(f"{type(watched).__name__}:{watched.objectName()}")
        return False


@contextlib.contextmanager
def events_seen(kind: QEvent.Type) -> Iterator[EventsSeen]:
    """Every widget's events of ``kind`` while the ``with`` block runs."""
    seen = EventsSeen(kind)
    app = QApplication.instance()
    app.installEventFilter(seen)
    try:
        yield seen
    finally:
        app.removeEventFilter(seen)


class PaintRecorder(QObject):  # type: ignore[misc]
    """The paint events of what it filters (a viewport, or every widget of the application):
    the widget that painted, and the bounding rectangle of the region it painted."""

    def __init__(self) -> None:
        super().__init__()
        self.painted: list[QObject] = []
        self.rects: list[QRect] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.painted.append(watched)
            self.rects.append(event.region().boundingRect())  # type: ignore[attr-defined]
        return False


def painted_cell(delegate: QStyledItemDelegate, view: SessionTableView, index: Any,
                 state: QStyle.StateFlag, *, width: int = 120, alternate: bool = False,
                 style_first: bool = False) -> QImage:
    """One cell painted by ``delegate`` alone with the option the table would give it (in
    ``state``, on an alternate row or not), over the table's base colour; ``style_first``:
    the style's item without text drawn beneath it first."""
    option = QStyleOptionViewItem()
    option.initFrom(view.viewport())
    option.widget = view
    option.state = state
    option.rect = QRect(0, 0, width, 28)
    option.font = view.font()
    option.textElideMode = Qt.TextElideMode.ElideRight
    if alternate:
        option.features = QStyleOptionViewItem.ViewItemFeature.Alternate
    image = QImage(width, 28, QImage.Format.Format_RGB32)
    image.fill(view.viewport().palette().base().color())
    painter = QPainter(image)
    if style_first:
        view.style().drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, view)
    delegate.paint(painter, option, index)
    painter.end()
    return image


_S = QStyle.StateFlag
# The states a table's cell is painted in, by name (for delegate tests against the style).
CELL_STATES: dict[str, QStyle.StateFlag] = {
    "active": _S.State_Enabled | _S.State_Active,
    "inactive window": _S.State_Enabled,
    "disabled": _S.State_None,
    "selected": _S.State_Enabled | _S.State_Active | _S.State_Selected,
    "selected, inactive window": _S.State_Enabled | _S.State_Selected,
    "focused": _S.State_Enabled | _S.State_Active | _S.State_HasFocus,
    "hovered": _S.State_Enabled | _S.State_Active | _S.State_MouseOver,
}


def show_theme(window: QWidget, name: str) -> None:
    """``window`` in theme ``name``, as the app themes its windows (palette and style sheet)."""
    theme = THEMES[name]
    window.setPalette(theme.palette())
    window.setStyleSheet(theme.stylesheet())
    QApplication.processEvents()
