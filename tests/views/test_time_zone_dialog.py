"""View → Time zone…: choosing a zone re-times the table, chat and dock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.time_zone_dialog import TimeZoneDialog, zone_names


def test_dialog_offers_local_utc_and_iana_zones_and_refuses_unknown(qtbot: Any) -> None:
    names = zone_names()
    assert names[:2] == ["local", "UTC"] and "Europe/Berlin" in names
    dialog = TimeZoneDialog("Europe/Berlin")
    qtbot.addWidget(dialog)
    assert dialog.combo.currentText() == "Europe/Berlin"
    chosen: list[str] = []
    dialog.time_zone_chosen.connect(chosen.append)
    dialog.combo.setEditText("Mars/Olympus")
    dialog.accept()
    assert chosen == [] and dialog.error_label.isVisibleTo(dialog)
    dialog.combo.setEditText("Asia/Tokyo")
    dialog.accept()
    assert chosen == ["Asia/Tokyo"]


def test_window_shows_times_in_the_chosen_zone(qtbot: Any) -> None:
    model = SessionTableModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    started = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    model.set_sessions([SessionSummary.model_validate({
        "id": "tz-1", "agent": {"id": "a", "name": "Bot"}, "channel": "web",
        "status": "completed", "user": {"id": "u"}, "started_at": started,
        "ended_at": started})])
    window.set_time_zone("UTC")
    start = model.index(0, SessionColumn.START)
    assert "23:30" in start.data(Qt.ItemDataRole.DisplayRole)
    window.set_time_zone("Asia/Tokyo")  # UTC+9, no daylight saving
    assert "08:30" in model.index(0, SessionColumn.START).data(Qt.ItemDataRole.DisplayRole)
    assert str(window.chat.time_zone) == "Asia/Tokyo"
