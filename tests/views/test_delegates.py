"""The status dots and channel badges drawn from kept looks are the ones drawn afresh, through
selection, alternate rows, an alert's tint and a change of theme."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QStyle

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.delegates import ChannelBadgeDelegate, StatusDotDelegate
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.theme import THEMES
from tests.views.conftest import CELL_STATES, painted_cell, show_theme, shown_styled_table

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CHANNELS = ("web", "whatsapp", "phone", "email", "telegram")


def session(i: int) -> SessionSummary:
    status = ("queued", "active", "completed")[i % 3]
    data: dict[str, Any] = {
        "id": f"s{i:03d}", "agent": {"id": "a1", "name": "Sales bot"},
        "channel": CHANNELS[i % len(CHANNELS)], "modality": "chat", "status": status,
        "user": {"id": f"u{i}", "name": f"User {i}"},
        "started_at": T0 + timedelta(seconds=i), "version": 1,
    }
    if status == "completed":
        data["ended_at"] = T0 + timedelta(seconds=i + 60)
        data["end_reason"] = "user_disconnect"
    return SessionSummary.model_validate(data)


def test_kept_looks_are_the_looks_drawn_afresh(qtbot: Any, qapp: QApplication) -> None:
    model = SessionTableModel(clock=lambda: T0 + timedelta(hours=1), time_zone=UTC)
    model.set_sessions([session(i) for i in range(16)])
    model.set_alerts(lambda sid: "critical" if sid == "s004" else None, [])  # a tinted row
    window, view = shown_styled_table(qtbot, model, width=900, height=560)
    view.select_session("s007")
    qapp.processEvents()

    def drawn() -> QImage:
        qapp.processEvents()
        return view.grab().toImage()

    def drawn_afresh() -> QImage:
        kept = (view.itemDelegateForColumn(SessionColumn.STATUS),
                view.itemDelegateForColumn(SessionColumn.CHANNEL))
        view.setItemDelegateForColumn(SessionColumn.STATUS, StatusDotDelegate(view))
        view.setItemDelegateForColumn(SessionColumn.CHANNEL, ChannelBadgeDelegate(view))
        image = drawn()
        view.setItemDelegateForColumn(SessionColumn.STATUS, kept[0])
        view.setItemDelegateForColumn(SessionColumn.CHANNEL, kept[1])
        return image

    drawn()  # the looks are kept from here on
    assert drawn() == drawn_afresh()
    view.select_session("s002")  # another row selected, another one back to stripes
    assert drawn() == drawn_afresh()
    dark = THEMES["dark"]
    window.setPalette(dark.palette())
    window.setStyleSheet(dark.stylesheet())
    assert drawn() == drawn_afresh()


# Drawn by the delegate as before when focused: the focus frame is translucent, and the style
# drawing it twice is not what a cell shows.
PLAIN_OR_DRAWN = {k: v for k, v in CELL_STATES.items() if k != "focused"}


@pytest.mark.parametrize("state", PLAIN_OR_DRAWN.values(), ids=PLAIN_OR_DRAWN.keys())
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_plain_cell_skips_the_styles_background_and_looks_the_same(
    qtbot: Any, qapp: QApplication, state: QStyle.StateFlag, theme: str
) -> None:
    # The style's item without text draws nothing of a plain cell's own: skipping it there
    # leaves the same pixels as drawing it first, in every state and on a tinted row.
    model = SessionTableModel(clock=lambda: T0 + timedelta(hours=1), time_zone=UTC)
    model.set_sessions([session(i) for i in range(8)])
    model.set_alerts(lambda sid: "critical" if sid == "s004" else None, [])
    window, view = shown_styled_table(qtbot, model, width=900, height=400)
    show_theme(window, theme)
    for delegate in (StatusDotDelegate(view), ChannelBadgeDelegate(view)):
        column = (SessionColumn.STATUS if isinstance(delegate, StatusDotDelegate)
                  else SessionColumn.CHANNEL)
        for row in range(model.rowCount()):
            for alternate in (False, True):
                index = model.index(row, column)
                assert painted_cell(delegate, view, index, state, alternate=alternate) == (
                    painted_cell(delegate, view, index, state, alternate=alternate,
                                 style_first=True)), (row, column, alternate)
