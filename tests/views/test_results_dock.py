"""ResultsDock: contact info, parameters, results, facts; empty states; copy; collapse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea
from pytestqt.qtbot import QtBot

from supervisor_desk.views.results_dock import (
    DOCK_MIN_WIDTH,
    NO_CONTACT,
    NO_METADATA,
    NO_PARAMETERS,
    NO_RESULTS,
    NO_SELECTION_TIP,
    ResultsDock,
)
from tests.views.chat_samples import T0, summary


@pytest.fixture
def dock(qtbot: QtBot) -> ResultsDock:
    widget = ResultsDock(time_zone="UTC")
    qtbot.addWidget(widget)
    widget.resize(340, 800)
    widget.show()
    return widget


def test_nothing_selected(dock: ResultsDock) -> None:
    assert dock.empty_label.isVisible()
    assert not dock.contact_section.isVisible()


def test_full_session(dock: ResultsDock) -> None:
    dock.set_session(
        summary(
            status="completed",
            end_reason="resolved",
            ended_at=T0 + timedelta(minutes=3, seconds=45),
        )
    )
    assert dock.contact_section.values() == {
        "Name": "Dana Whitfield",
        "Email": "dana@example.com",
        "Phone": "+49 30 1234567",
        "Telegram": "---",
        "WhatsApp": "---",
        "LinkedIn": "---",
    }
    assert dock.parameters_section.values() == {
        "customer_id": "12345",
        "plan": "Premium",
        "utm_source": "google",
    }
    assert dock.results_section.values() == {
        "Payment Date": "2026-02-15",
        "Promise to Pay": "promised",
    }
    facts = dock.facts()
    assert facts["UUID"] == summary().id
    assert facts["Channel"] == "Web"
    assert facts["Stage"] == "PROD"
    assert facts["Start"] == "2026-11-21 14:02:11"
    assert facts["End"] == "2026-11-21 14:05:56"
    assert facts["Duration"] == "3m 45s"
    assert facts["Team"] == "Billing"
    assert facts["Responsible"] == "AI"
    assert dock.windowTitle() == "Parameters && results"


def test_empty_states(dock: ResultsDock) -> None:
    dock.set_session(summary(contact=None, parameters={}, results={}))
    assert dock.contact_section.values() == {"": NO_CONTACT}
    assert dock.parameters_section.values() == {"": NO_PARAMETERS}
    assert dock.results_section.values() == {"": NO_RESULTS}
    # A contact whose fields are all empty is no contact either.
    dock.set_session(summary(contact={"name": " ", "email": None}))
    assert dock.contact_section.values() == {"": NO_CONTACT}


def test_results_fill_in_while_active(dock: ResultsDock) -> None:
    dock.set_session(summary(results={}))
    assert dock.results_section.values() == {"": NO_RESULTS}
    dock.set_session(summary(results={"Human Name": "John Smith"}, version=2))
    assert dock.results_section.values() == {"Human Name": "John Smith"}


def test_operator_responsible_and_live_duration_ticks(dock: ResultsDock, qtbot: QtBot) -> None:
    dock.set_session(
        summary(responsible={"kind": "human", "operator": {"id": "o", "name": "Anna Petrova"}})
    )
    assert dock.facts()["Responsible"] == "Anna Petrova"
    first = dock.facts()["Duration"]
    qtbot.waitUntil(lambda: dock.facts()["Duration"] != first, timeout=3000)


def test_untrusted_values_are_plain_text(dock: ResultsDock) -> None:
    dock.set_session(summary(parameters={"<b>k</b>": "<img src=http://127.0.0.1:1/x>"}))
    labels = dock.parameters_section.body.findChildren(QLabel)
    assert labels and all(label.textFormat() == Qt.TextFormat.PlainText for label in labels)
    assert dock.parameters_section.values() == {"<b>k</b>": "<img src=http://127.0.0.1:1/x>"}


def test_copy_uuid_and_customer_view_request(dock: ResultsDock, qtbot: QtBot) -> None:
    dock.set_session(summary())
    with qtbot.waitSignal(dock.uuid_copied, timeout=1000):
        qtbot.mouseClick(dock.copy_uuid_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == summary().id
    with qtbot.waitSignal(dock.customer_view_requested, timeout=1000) as signal:
        qtbot.mouseClick(dock.customer_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].user.id == "user-42"


def test_sections_collapse_by_clicking_their_title(dock: ResultsDock, qtbot: QtBot) -> None:
    dock.set_session(summary())
    section = dock.parameters_section
    assert section.body.isVisible()
    qtbot.mouseClick(section.title_button, Qt.MouseButton.LeftButton)
    assert section.collapsed and not section.body.isVisible()
    qtbot.mouseClick(section.title_button, Qt.MouseButton.LeftButton)
    assert not section.collapsed and section.body.isVisible()


def test_long_values_wrap_beside_their_label_and_copy_unchanged(
    dock: ResultsDock, qtbot: QtBot
) -> None:
    from supervisor_desk.models.markers import breakable
    from supervisor_desk.models.wire import Contact

    email = "jose.hansen49.very.long.address@example.com"
    s = summary().model_copy(update={"contact": Contact(name="José", email=email)})
    dock.resize(230, 700)
    dock.set_session(s)
    # The value keeps its column (no label alone on a line) and reads back unchanged.
    assert dock.contact_section.values()["Email"] == email
    email_label = next(lb for lb in dock.contact_section.findChildren(QLabel)
                       if lb.text().replace("\u200b", "") == email)
    key_label = next(lb for lb in dock.contact_section.findChildren(QLabel)
                     if lb.text() == "Email:")
    qtbot.waitUntil(lambda: email_label.x() > key_label.x() + key_label.width())
    assert email_label.y() == key_label.y()
    assert breakable(email).replace("\u200b", "") == email
    assert "\u200b" in breakable(email)
    assert breakable("2026-11-21 14:02:11").count("\u200b") == 2  # after the dashes only
    dock.copy_uuid_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == s.id


def test_customer_view_needs_a_selected_session(dock: ResultsDock, qtbot: QtBot) -> None:
    assert not dock.customer_button.isEnabled()
    assert dock.customer_button.toolTip() == NO_SELECTION_TIP
    dock.set_session(summary())
    assert dock.customer_button.isEnabled()
    dock.set_session(None)
    assert not dock.customer_button.isEnabled()


def test_metadata_key_values_are_shown(dock: ResultsDock) -> None:
    dock.set_session(summary(metadata={"crm_ticket": "T-99812", "campaign": "winter <b>sale</b>"}))
    assert dock.metadata_section.values() == {
        "campaign": "winter <b>sale</b>",
        "crm_ticket": "T-99812",
    }
    dock.set_session(summary(metadata={}))
    assert dock.metadata_section.values() == {"": NO_METADATA}


def test_user_info_is_reachable_by_keyboard(dock: ResultsDock, qtbot: QtBot) -> None:
    """What the table shows on hover (country, city, IP) is a Tab away in the dock."""
    dock.set_session(
        summary(
            user={"id": "user-42", "name": "Dana Whitfield", "is_mobile": True},
            location={
                "ip": "203.0.113.7",
                "country_code": "de",
                "country": "Germany",
                "city": "Berlin",
            },
        )
    )
    values = dock.user_section.values()
    assert values["Country"] == "Germany (DE)" and values["City"] == "Berlin"
    assert values["IP"] == "203.0.113.7" and values["Device"] == "Mobile"
    ip_label = next(
        w for w in dock.findChildren(QLabel) if w.text().replace("\u200b", "") == "203.0.113.7"
    )
    qtbot.waitUntil(ip_label.isVisible)  # rows added to a shown dock appear on the next turn
    dock.activateWindow()
    dock.customer_button.setFocus()
    reached: list[str] = []
    for _ in range(60):
        qtbot.keyClick(QApplication.focusWidget() or dock, Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        if isinstance(focused, QLabel):
            reached.append(focused.text().replace("\u200b", ""))
    assert {"Berlin", "203.0.113.7", "Germany (DE)"} <= set(reached)
    # Selected from the keyboard and copied like any text.
    ip_label.setFocus()
    qtbot.keyClick(ip_label, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(ip_label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text().replace("\u200b", "") == "203.0.113.7"


def test_at_its_narrowest_no_wrapped_value_is_cut(dock: ResultsDock, qtbot: QtBot) -> None:
    """At the dock's minimum width every wrapped label gets the width of its longest
    unbreakable run and the height its lines need (at 200 px ids, cities and names were cut)."""
    from supervisor_desk.models.wire import Location, UserInfo

    s = summary().model_copy(update={
        "user": UserInfo(id="cus_e39b7bf6bf1234", name="Chloé Dubois-Montgomery",
                     external_id="crm-295037-aaaa"),
        "location": Location(ip="192.0.2.123", country_code="GB", country="United Kingdom",
                             city="Manchester"),
        "metadata": {"flow": "billing", "queue_position_estimate": "3"},
    })
    dock.set_session(s)
    assert dock.minimumWidth() >= DOCK_MIN_WIDTH
    dock.resize(dock.minimumWidth(), 900)

    def cut() -> list[tuple[str, int, int]]:
        return [
            (label.text(), label.width(), label.height())
            for label in dock.findChildren(QLabel)
            if label.isVisible() and label.wordWrap()
            and (label.heightForWidth(label.width()) > label.height() + 1
                 or label.width() < label.minimumSizeHint().width() - 1)
        ]

    # Layout settles over a few event-loop turns; at 200 px it never did.
    qtbot.waitUntil(lambda: dock.width() == dock.minimumWidth() and not cut(), timeout=3000)



def _cut_labels(dock: ResultsDock) -> list[tuple[str, int, int]]:
    """Wrapped labels on screen shorter than their lines, narrower than their longest run,
    or reaching past the dock's right edge with no scroll bar to reach them."""
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea)
    viewport = scroll.viewport()
    scrolls = scroll.horizontalScrollBar().isVisible()
    return [
        (label.text(), label.width(), label.height())
        for label in dock.findChildren(QLabel)
        if label.isVisible() and label.wordWrap()
        and (label.heightForWidth(label.width()) > label.height() + 1
             or label.width() < label.minimumSizeHint().width() - 1
             or (not scrolls
                 and label.mapTo(viewport, QPoint(label.width(), 0)).x() > viewport.width()))
    ]


def test_switching_sessions_in_the_window_gives_every_value_the_lines_it_needs(
    qtbot: QtBot,
) -> None:
    """In the main window at its narrowest dock: long values, then a session with short ones,
    then long again. Each value is laid out for its own text (values kept the previous
    session's heights, and the feed's 16-character customer ids were cut at the edge)."""
    from supervisor_desk.models.wire import Location, UserInfo
    from supervisor_desk.views.main_window import MainWindow
    from supervisor_desk.views.session_table_model import SessionTableModel

    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    window.show()
    window.resize(1093, 590)  # 1366x768 at 125 %
    qtbot.waitExposed(window)
    dock = window.results_dock
    long_text = "a reason written out at length by the platform, " * 3
    long = summary("11111111-2222-4333-8444-555555555555",
                   responsible={"kind": "unassigned"}).model_copy(update={
        "user": UserInfo(id="cus_899d09cc1234abcd", name="Laura Wójcik",
                         external_id="crm-368636"),
        "location": Location(ip="192.0.2.99", country_code="FR", country="France",
                             city="Lyon"),
        "parameters": {"utm_source": "newsletter-december-winter-campaign", "note": long_text},
        "results": {"Summary": long_text, "Payment Date": "2026-02-15"},
    })
    short = summary("66666666-7777-4888-8999-000000000000").model_copy(update={
        "user": UserInfo(id="u1", name="Al"),
        "location": Location(ip="192.0.2.1", country_code="DE", country="Germany"),
        "parameters": {"a": "b"},
        "results": {"ok": "yes"},
    })
    for shown in (long, short, long):
        dock.set_session(shown)
        qtbot.waitUntil(lambda: not _cut_labels(dock), timeout=3000)
        assert dock.user_section.values()["User ID"] == shown.user.id
    assert dock.width() <= dock.minimumWidth() + 30, "the test is about a narrow dock"
    assert not dock.widget().horizontalScrollBar().isVisible()  # ids wrap, nothing scrolls
