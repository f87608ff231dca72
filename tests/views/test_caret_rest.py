"""A focused search box stops blinking after a rest without typing, and blinks again at a key."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from supervisor_desk.views.history.caret_rest import CaretRest
from supervisor_desk.views.history.filter_bar import QuickFilterBar


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def focused_box(qtbot: QtBot) -> tuple[QWidget, QLineEdit, QLineEdit]:
    window = QWidget()
    qtbot.addWidget(window)
    box, other = QLineEdit(window), QLineEdit(window)
    layout = QVBoxLayout(window)
    layout.addWidget(box)
    layout.addWidget(other)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    return window, box, other


def test_the_caret_rests_after_no_input_and_blinks_again_at_a_key(qtbot: QtBot) -> None:
    flash = QGuiApplication.styleHints().cursorFlashTime()
    _window, box, _other = focused_box(qtbot)
    rest = CaretRest(box, rest_ms=300)
    box.setFocus()
    counter = PaintCounter()
    box.installEventFilter(counter)
    qtbot.waitUntil(lambda: counter.paints >= 2, timeout=3000)  # blinking
    qtbot.waitUntil(lambda: rest.resting, timeout=3000)
    qtbot.wait(50)
    counter.paints = 0
    qtbot.wait(flash + 200)  # more than a whole blink: nothing repaints the box
    assert counter.paints == 0
    assert box.hasFocus()

    qtbot.keyClick(box, Qt.Key.Key_A)
    assert not rest.resting
    assert QGuiApplication.styleHints().cursorFlashTime() == flash
    assert box.text() == "a"
    counter.paints = 0
    qtbot.waitUntil(lambda: counter.paints >= 2, timeout=3000)  # blinking again


def test_another_box_blinks_as_the_desktop_says(qtbot: QtBot) -> None:
    flash = QGuiApplication.styleHints().cursorFlashTime()
    _window, box, other = focused_box(qtbot)
    rest = CaretRest(box, rest_ms=100)
    box.setFocus()
    qtbot.waitUntil(lambda: rest.resting, timeout=3000)
    other.setFocus()
    assert not rest.resting
    assert QGuiApplication.styleHints().cursorFlashTime() == flash


def test_history_s_search_box_rests_its_caret(qtbot: QtBot) -> None:
    bar = QuickFilterBar()
    qtbot.addWidget(bar)
    assert isinstance(bar.caret_rest, CaretRest)
    assert bar.caret_rest.parent() is bar.search  # the box watched, as above
