"""LogsDrawer: tabs, "No logs found", search with highlights and arrows, copy, refresh."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.views.logs_drawer import NO_LOGS, LogsDrawer
from tests.views.chat_samples import system_logs, trace_logs


@pytest.fixture
def drawer(qtbot: QtBot) -> LogsDrawer:
    widget = LogsDrawer(time_zone="UTC")
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    widget.show()
    return widget


def test_no_logs_found(drawer: LogsDrawer) -> None:
    assert drawer.tabs.tabText(0) == "Trace Logs" and drawer.tabs.tabText(1) == "System Logs"
    for page in drawer.pages.values():
        assert page.empty_label.text() == NO_LOGS and not page.showing_text
    drawer.set_logs("system", [])
    assert drawer.pages["system"].empty_label.text() == NO_LOGS


def test_trace_logs_separate_each_call(drawer: LogsDrawer) -> None:
    drawer.set_logs("trace", trace_logs())
    text = drawer.text("trace")
    assert text.count("#######") == 4
    assert "####### LLM call 1 · 2026-11-21 14:02:16 #######\nAgent: main-conversation\n" in text
    assert "Prompt:\nYou are Billing assistant." in text
    assert 'Action: set_result\nAction Input: {"invoice": "INV-2026-1043"}' in text


def test_system_logs(drawer: LogsDrawer) -> None:
    drawer.set_logs("system", system_logs())
    lines = drawer.text("system").splitlines()
    assert lines[0] == "2026-11-21 14:02:11  INFO     Session opened, agent Billing assistant v14"
    assert lines[2].startswith("2026-11-21 14:04:11  WARNING  Handover tool called")


def test_search_highlights_and_arrows(drawer: LogsDrawer, qtbot: QtBot) -> None:
    drawer.set_logs("trace", trace_logs())
    drawer.set_logs("system", system_logs())
    qtbot.keyClicks(drawer.search_edit, "invoice")
    qtbot.waitUntil(lambda: drawer.count_label.text() == "1 of 3", timeout=2000)
    edit = drawer.pages["trace"].text_edit
    assert len(edit.extraSelections()) == 3
    assert drawer.current_match_text().lower() == "invoice"
    qtbot.mouseClick(drawer.next_button, Qt.MouseButton.LeftButton)
    assert drawer.count_label.text() == "2 of 3"
    qtbot.mouseClick(drawer.prev_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(drawer.prev_button, Qt.MouseButton.LeftButton)
    assert drawer.count_label.text() == "3 of 3"
    qtbot.keyClick(drawer.search_edit, Qt.Key.Key_Return)
    assert drawer.count_label.text() == "1 of 3"
    # Switching tabs searches the other tab.
    drawer.show_tab("system")
    assert drawer.count_label.text() == "1 of 1"  # lookup_invoice(...)
    assert drawer.search("no such words") == 0
    assert drawer.count_label.text() == "No matches"
    assert drawer.search("handover") == 1
    assert drawer.pages["system"].text_edit.extraSelections()[0].cursor.selectedText() == "Handover"


def test_copy_active_tab(drawer: LogsDrawer, qtbot: QtBot) -> None:
    drawer.set_logs("trace", trace_logs())
    drawer.set_logs("system", system_logs())
    drawer.show_tab("system")
    with qtbot.waitSignal(drawer.copied, timeout=1000):
        qtbot.mouseClick(drawer.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == drawer.text("system")
    assert drawer.status_label.text() == "System Logs copied to the clipboard"
    drawer.show_tab("trace")
    qtbot.mouseClick(drawer.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text().startswith("####### LLM call 1")


def test_refresh_and_ctrl_f(drawer: LogsDrawer, qtbot: QtBot) -> None:
    drawer.set_logs("trace", trace_logs())
    with qtbot.waitSignal(drawer.refresh_requested, timeout=1000):
        qtbot.mouseClick(drawer.refresh_button, Qt.MouseButton.LeftButton)
    assert drawer.status_label.text() == "Loading logs…"
    drawer.set_logs("trace", trace_logs())
    assert drawer.status_label.text() == ""
    edit = drawer.pages["trace"].text_edit
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert drawer.search_edit.hasFocus()


def test_log_text_is_never_rich(drawer: LogsDrawer) -> None:
    from supervisor_desk.models.wire import SystemLogEntry
    from tests.views.chat_samples import T0

    drawer.set_logs("system", [SystemLogEntry(at=T0, text="<a href='file:///etc/passwd'>x</a>")])
    assert "<a href='file:///etc/passwd'>x</a>" in drawer.text("system")


def test_search_box_keeps_a_usable_width_in_a_narrow_pane(
    drawer: LogsDrawer, qtbot: QtBot
) -> None:
    usable = drawer.search_edit.fontMetrics().horizontalAdvance("Search logs") + 60
    drawer.resize(900, 300)
    qtbot.waitUntil(lambda: not drawer.stacked)
    assert drawer.search_edit.width() >= usable
    # Narrower than search + actions side by side: the actions go under the search.
    narrow = drawer.minimumSizeHint().width()
    assert narrow < 420
    drawer.resize(narrow, 300)
    qtbot.waitUntil(lambda: drawer.stacked)
    qtbot.waitUntil(lambda: drawer.search_edit.width() >= usable)
    for button in (drawer.copy_button, drawer.refresh_button, drawer.close_button):
        assert drawer.rect().contains(button.geometry())
    drawer.resize(900, 300)
    qtbot.waitUntil(lambda: not drawer.stacked)
