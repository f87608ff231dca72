"""The window's header as a supervisor sees it: the live order box shows its whole title."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QComboBox, QStyle, QStyleOptionComboBox, QWidget
from pytestqt.qtbot import QtBot

from supervisor_desk.models.live_order import LIVE_ORDERS, LiveOrder
from supervisor_desk.views import theme
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.session_table_model import SessionTableModel


@pytest.fixture
def themed(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's stylesheet on (the combo's padding and border come from it)."""
    saved_palette, saved_sheet = qapp.palette(), qapp.styleSheet()
    controller = theme.ThemeController(qapp, "light")
    monkeypatch.setattr(theme, "_controller", controller)
    controller.apply()
    yield
    controller.deleteLater()
    qapp.setPalette(saved_palette)
    qapp.setStyleSheet(saved_sheet)


def _text_room(combo: QComboBox, width: int | None = None) -> int:
    """Width of the part of the combo that draws the current text (at ``width``)."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    if width is not None:
        option.rect.setWidth(width)
    return combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField,
        combo,
    ).width()


def test_live_order_box_shows_its_whole_title_or_folds_away(themed: None, qtbot: QtBot) -> None:
    """At any window width the box either shows the whole title of every order or is folded
    away (View → Live order has the same choice); at 1366x768 @ 125 % (1093 logical pixels)
    the header squeezed it to "Queued first, longes" (a 12-character minimum)."""
    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    for title in ("History", "Analytics"):  # the header as the app builds it, signed in
        window.add_page(title, QWidget())
    window.set_user("demo", "supervisor", "http://127.0.0.1:8765")
    window.set_connection("connected", "Connected")
    window.show()
    qtbot.waitExposed(window)
    combo = window.order_combo
    shown_at: list[int] = []
    for width in (1280, 1093, 1000, 900, 800):
        window.resize(width, 650)
        if width < window.minimumSizeHint().width():
            continue
        qtbot.waitUntil(lambda: window.width() == width)  # noqa: B023 (waited for here)
        QApplication.processEvents()  # the header folds on its resize
        if not combo.isVisible():
            continue
        shown_at.append(width)
        for order in LIVE_ORDERS:
            window.set_live_order(order)
            needed = combo.fontMetrics().horizontalAdvance(combo.currentText())
            assert _text_room(combo) >= needed, (width, order, _text_room(combo), needed)
            # A layout gives it its size hint (the real window did: 172 px for 188 of text).
            at_hint = _text_room(combo, combo.sizeHint().width())
            assert at_hint >= needed, (order, at_hint, needed)
    # 1366x768 at 125 %: the page title folds away first, the box stays (and is whole).
    assert {1280, 1093} <= set(shown_at), shown_at
    window.set_live_order(LiveOrder.LONGEST_WAIT)


def test_header_folds_again_when_a_control_changes_its_width(themed: None, qtbot: QtBot) -> None:
    """Not only on resize: when the pill's words shrink, the order box comes back."""
    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    for title in ("History", "Analytics"):
        window.add_page(title, QWidget())
    window.set_user("demo", "supervisor", "http://127.0.0.1:8765")
    window.set_connection("reconnecting", "Reconnecting in 30 s — the hub did not answer")
    window.show()
    qtbot.waitExposed(window)
    # The width where the long pill pushes the box out depends on the fonts at hand: narrow the
    # window until it does (1366x768 at 125 % with the usual fonts), as a user would.
    folded_at = None
    for width in range(1280, window.minimumSizeHint().width() - 1, -40):
        window.resize(width, 590)
        qtbot.waitUntil(lambda: window.width() == width)  # noqa: B023 (waited for here)
        QApplication.processEvents()  # the header folds on its resize
        if not window.order_combo.isVisible():
            folded_at = width
            break
    assert folded_at is not None, "the long pill never pushed the order box out"
    window.set_connection("connected", "Connected")
    qtbot.waitUntil(lambda: window.order_combo.isVisible())
