"""History through its real widgets against a real hub: paging, each filter, chips, sort,
metrics, empty and error states, live row updates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.filters import MessageCountFilter, SessionFilter
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.history import HistoryView, HistoryViewModel, HubSessionSource
from supervisor_desk.views.history.view import EMPTY_TEXT
from supervisor_desk.views.session_table_model import SessionColumn
from tests.helpers import wait_until
from tests.views.history_data import dispose_qt, history_events, post_history, with_teams

N = 60
PAGE = 10


@pytest.fixture
def hub(running_hub: Any) -> Iterator[Any]:
    post_history(running_hub, with_teams(history_events(N, now=datetime.now(UTC))))
    yield running_hub


class Harness:
    def __init__(self, hub: Any, qtbot: Any) -> None:
        self.client = HubClient(hub.url)
        self.vm = HistoryViewModel(page_size=PAGE)
        self.view = HistoryView(self.vm)
        self.view.resize(1400, 800)
        self.view.show()
        self.all: list[SessionSummary] = []
        self.texts: dict[str, list[str]] = {}

    async def start(self) -> None:
        await self.client.login("viewer", "viewer")
        page = await self.client.sessions(limit=500)
        self.all = page.items
        details = await asyncio.gather(*(self.client.session(s.id) for s in self.all))
        self.texts = {d.session.id: [m.text for m in d.messages] for d in details}
        self.vm.set_source(HubSessionSource(self.client))
        await self.settled()
        # Lookups finish inside this run of the loop (a task left half-way would be stepped
        # by Qt between two qrun() calls, outside any running asyncio loop).
        await wait_until(lambda: bool(self.vm.agents) and bool(self.vm.operators), 10)
        await wait_until(lambda: self.vm.metrics is not None, 10)

    async def settled(self) -> None:
        await asyncio.sleep(0)
        await wait_until(lambda: not self.vm.loading, 10)

    async def close(self) -> None:
        await self.vm.aclose()
        await self.client.aclose()

    def expected(self, flt: SessionFilter) -> set[str]:
        return {s.id for s in self.all if flt.matches(s, self.texts[s.id])}

    def shown_ids(self) -> set[str]:
        return {s.id for s in self.view.shown_sessions()}

    def range_text(self) -> str:
        return self.view.pagination.range_label.full_text

    async def show_all_matching(self) -> set[str]:
        while self.view.pagination.load_more_button.isEnabled():
            self.view.pagination.load_more_button.click()
            await self.settled()
        return self.shown_ids()


@pytest.fixture
def harness(hub: Any, qtbot: Any, qrun: Callable[..., Any]) -> Iterator[Harness]:
    h = Harness(hub, qtbot)
    qrun(h.start())
    yield h
    qrun(h.close())
    dispose_qt(h.view, h.vm)


def test_paging_buttons_previous_next_and_load_more(harness: Harness, qrun: Any) -> None:
    h = harness
    bar = h.view.pagination

    async def scenario() -> None:
        assert h.range_text() == f"Showing 1 to {PAGE} of {N} sessions"
        assert bar.visible_pages() == [1, 2, 3, 4, 5]
        assert not bar.previous_button.isEnabled() and bar.next_button.isEnabled()
        first_page = [s.id for s in h.view.shown_sessions()]
        # Newest first (default sort), exactly the hub's order.
        assert first_page == [s.id for s in h.all[:PAGE]]
        bar.next_button.click()
        await h.settled()
        assert h.range_text() == f"Showing 11 to 20 of {N} sessions"
        assert bar.previous_button.isEnabled()
        bar.page_buttons[4].click()  # page 5: the window recentres on it
        await h.settled()
        assert h.range_text() == f"Showing 41 to 50 of {N} sessions"
        assert bar.visible_pages() == [2, 3, 4, 5, 6]
        bar.page_buttons[4].click()  # page 6, the last
        await h.settled()
        assert h.range_text() == f"Showing 51 to 60 of {N} sessions"
        assert not bar.next_button.isEnabled() and not bar.load_more_button.isEnabled()
        bar.previous_button.click()
        await h.settled()
        assert h.range_text() == f"Showing 41 to 50 of {N} sessions"
        bar.page_buttons[0].click()  # page 2
        await h.settled()
        bar.previous_button.click()
        await h.settled()
        assert not bar.previous_button.isEnabled()
        bar.load_more_button.click()
        await h.settled()
        assert h.range_text() == f"Showing 1 to 20 of {N} sessions"
        assert [s.id for s in h.view.shown_sessions()] == [s.id for s in h.all[:20]]
        assert h.view.table_model.rowCount() == 20

    qrun(scenario())


def test_quick_bar_filters(harness: Harness, qrun: Any, qtbot: Any) -> None:
    h = harness
    bar = h.view.filter_bar

    async def check(flt: SessionFilter) -> None:
        try:
            await wait_until(lambda: h.vm.filter == flt, 5)
        except AssertionError:
            raise AssertionError(f"{h.vm.filter!r} {bar.search.text()!r} "
                                 f"{bar._debounce.isActive()}") from None
        await h.settled()
        expected = h.expected(flt)
        assert h.vm.total == len(expected)
        assert await h.show_all_matching() == expected

    async def scenario() -> None:
        # Debounced search: typing fires one request after the pause.
        qtbot.keyClicks(bar.search, "billing")
        assert h.vm.filter.q is None  # not yet: the debounce is running
        assert bar.search.text() == "billing", bar.search.text()
        await check(SessionFilter(q="billing"))
        assert 0 < h.vm.total < N
        bar.search.clear()
        qtbot.keyClicks(bar.search, "zurich cancel")
        bar.in_transcripts.click()
        await check(SessionFilter(text="zurich cancel"))
        bar.search.clear()
        bar.search.returnPressed.emit()
        await check(SessionFilter())
        bar.channel.setCurrentIndex(bar.channel.findData("whatsapp"))
        bar.channel.activated.emit(bar.channel.currentIndex())
        await check(SessionFilter(channel=("whatsapp",)))
        bar.status.setCurrentIndex(bar.status.findData("completed"))
        bar.status.activated.emit(bar.status.currentIndex())
        await check(SessionFilter(channel=("whatsapp",), status=("completed",)))
        bar.channel.setCurrentIndex(0)
        bar.channel.activated.emit(0)
        bar.status.setCurrentIndex(0)
        bar.status.activated.emit(0)
        await wait_until(lambda: h.vm.filter.is_empty(), 5)
        await wait_until(lambda: bool(h.vm.agents), 5)
        bar.agent.setCurrentIndex(bar.agent.findData("a-sales"))
        bar.agent.activated.emit(bar.agent.currentIndex())
        await check(SessionFilter(agent=("a-sales",)))
        bar.agent.setCurrentIndex(0)
        bar.agent.activated.emit(0)
        bar.dates.setCurrentIndex(bar.dates.findText("Last 24 hours"))
        bar.dates.activated.emit(bar.dates.currentIndex())
        await wait_until(lambda: h.vm.filter.started_after is not None, 5)
        await check(h.vm.filter)
        assert 0 < h.vm.total < N

    qrun(scenario())


def test_filter_dialog_every_field_chips_and_reset(harness: Harness, qrun: Any) -> None:
    h = harness
    dialog_filters = [
        ("agents", SessionFilter(agent=("a-billing", "a-voice"))),
        ("teams", SessionFilter(team=("billing", "support"))),
        ("channels", SessionFilter(channel=("web", "sip", "email"))),
        ("responsible", SessionFilter(responsible="human")),
        ("operators", SessionFilter(operator=("op-dana",))),
        ("user", SessionFilter(user="customer 1")),
        ("statuses", SessionFilter(status=("queued", "active"))),
        ("country", SessionFilter(country="FR")),
        ("ip", SessionFilter(ip="192.168.1.1")),
        ("messages", SessionFilter(messages=MessageCountFilter(op="gt", n=3))),
        ("messages", SessionFilter(messages=MessageCountFilter(op="le", n=1))),
        ("messages", SessionFilter(messages=MessageCountFilter(op="ge", n=2), messages_max=4)),
        ("attachments", SessionFilter(has_attachments=True)),
    ]
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    async def apply_via_dialog(fill: Callable[[Any], None]) -> None:
        dialog = h.view.open_filter_dialog()
        assert dialog.isVisible() and dialog.isModal()
        fill(dialog)
        dialog.apply_button.click()
        assert not dialog.isVisible()
        await h.settled()

    async def scenario() -> None:
        await wait_until(lambda: bool(h.vm.operators) and bool(h.vm.agents), 5)
        for name, flt in dialog_filters:
            def fill(d: Any, name: str = name, flt: SessionFilter = flt) -> None:
                d.set_filter(SessionFilter())
                if name == "agents":
                    d.agents.search.setText("bot")  # type to search: the voice desk hides
                    assert [i.isHidden() for i in d.agents.items()].count(True) == 1
                    for value in flt.agent:
                        d.agents.check_value(value)
                elif name == "teams":
                    d.teams.setText(" billing, support ,billing")
                elif name == "channels":
                    for value in flt.channel:
                        d.channels.check_value(value)
                elif name == "responsible":
                    d.responsible.setCurrentIndex(d.responsible.findData("human"))
                elif name == "operators":
                    d.operators.check_value("op-dana")
                elif name == "user":
                    d.user.setText("customer 1")
                elif name == "statuses":
                    for value in flt.status:
                        d.statuses.check_value(value)
                elif name == "country":
                    d.country.setText("fr")
                elif name == "ip":
                    d.ip.setText("192.168.1.1")
                elif name == "messages":
                    assert flt.messages is not None
                    d.messages_op.setCurrentIndex(d.messages_op.findData(flt.messages.op))
                    d.messages_n.setValue(flt.messages.n)
                    if flt.messages_max is not None:
                        d.messages_max.setValue(flt.messages_max)
                elif name == "attachments":
                    d.attachments.setCurrentIndex(1)
            await apply_via_dialog(fill)
            assert h.vm.filter == flt, name
            expected = h.expected(flt)
            assert h.vm.total == len(expected), name
            assert await h.show_all_matching() == expected, name
            assert h.view.filter_bar.filter_active
            assert h.view.chips.isVisible() and len(h.view.chips.chip_labels()) >= 1

        # Time ranges, entered in the chosen zone (UTC+2 here), AND-ed with a channel.
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("Europe/Helsinki")
        h.view.set_time_zone(zone)

        def fill_times(d: Any) -> None:
            from supervisor_desk.views.history.filter_dialog import to_zone_qdatetime

            d.set_filter(SessionFilter())
            d.started.from_check.setChecked(True)
            d.started.from_edit.setDateTime(to_zone_qdatetime(now - timedelta(days=3), zone))
            d.ended.to_check.setChecked(True)
            d.ended.to_edit.setDateTime(to_zone_qdatetime(now, zone))
            d.last_message.from_check.setChecked(True)
            d.last_message.from_edit.setDateTime(to_zone_qdatetime(now - timedelta(days=5), zone))
            d.channels.check_value("web")
            d.channels.check_value("whatsapp")
        await apply_via_dialog(fill_times)
        flt = h.vm.filter
        assert flt.started_after == now - timedelta(days=3)
        assert flt.ended_before == now and flt.last_message_after == now - timedelta(days=5)
        expected = h.expected(flt)
        assert await h.show_all_matching() == expected
        labels = h.view.chips.chip_labels()
        local = (now - timedelta(days=3)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        assert f"Start: from {local}" in labels
        assert {"Channel: Web", "Channel: WhatsApp"} <= set(labels)

        # Removing one chip loosens exactly that condition.
        h.view.chips.chip_button("channel=web").click()
        await h.settled()
        assert h.vm.filter.channel == ("whatsapp",)
        assert "Channel: Web" not in h.view.chips.chip_labels()
        # Reset clears everything; the button is no longer highlighted.
        dialog = h.view.open_filter_dialog()
        dialog.reset_button.click()
        await h.settled()
        assert h.vm.filter.is_empty() and h.vm.total == N
        assert not h.view.filter_bar.filter_active and not h.view.chips.isVisible()

    qrun(scenario())


def test_sort_by_header_and_menu(harness: Harness, qrun: Any) -> None:
    h = harness

    async def scenario() -> None:
        header = h.view.table.horizontalHeader()
        header.sectionClicked.emit(int(SessionColumn.MESSAGES))
        await h.settled()
        assert h.vm.sort == "-message_count"
        counts = [s.message_count for s in h.view.shown_sessions()]
        assert counts == sorted(counts, reverse=True)
        assert counts[0] == max(s.message_count for s in h.all)
        assert header.sortIndicatorSection() == SessionColumn.MESSAGES
        header.sectionClicked.emit(int(SessionColumn.MESSAGES))
        await h.settled()
        assert h.vm.sort == "message_count"
        assert h.view.shown_sessions()[0].message_count == min(
            s.message_count for s in h.all)
        for sort in ("-last_message_at", "ended_at", "-duration", "-wait"):
            combo = h.view.filter_bar.sort
            combo.setCurrentIndex(combo.findData(sort))
            combo.activated.emit(combo.currentIndex())
            await h.settled()
            assert h.vm.sort == sort
            expected = await h.client.sessions(sort=sort, limit=PAGE)
            assert [s.id for s in h.view.shown_sessions()] == [s.id for s in expected.items]

    qrun(scenario())


def test_metric_cards_follow_filters(harness: Harness, qrun: Any) -> None:
    h = harness
    cards = h.view.metric_cards.cards

    async def scenario() -> None:
        await wait_until(lambda: cards["total"].value() == f"{N:,}", 5)
        live = sum(1 for s in h.all if s.is_live)
        assert cards["live"].value() == str(live)
        h.vm.set_filter(SessionFilter(channel=("web",)))
        await wait_until(lambda: cards["total"].value() == str(
            len(h.expected(SessionFilter(channel=("web",))))), 5)
        assert cards["top_channel"].value() == "Web"

    qrun(scenario())


def test_empty_state_and_unreachable_banner_with_retry(
    harness: Harness, qrun: Any, qtbot: Any
) -> None:
    h = harness

    async def scenario() -> None:
        h.vm.set_filter(SessionFilter(q="no-such-session-anywhere"))
        await h.settled()
        assert h.vm.total == 0 and h.view.table_model.rowCount() == 0
        assert h.view.table._empty_text == EMPTY_TEXT
        assert h.range_text() == "No sessions"
        # A hub that does not answer: the banner names it and offers Retry.
        dead = HubClient("http://127.0.0.1:9", token="x", timeout=2)
        vm = HistoryViewModel(HubSessionSource(dead), page_size=PAGE)
        view = HistoryView(vm)
        view.show()
        vm.reload()
        await wait_until(lambda: view.banner.isVisible(), 10)
        assert view.banner.label.text().startswith("Hub unreachable")
        assert view.banner.label.textFormat() == Qt.TextFormat.PlainText
        view.banner.retry_button.click()
        assert vm.loading
        await wait_until(lambda: not vm.loading, 10)
        assert view.banner.isVisible()
        await vm.aclose()
        await dead.aclose()
        dispose_qt(view, vm)

    qrun(scenario())


class _Feed(QObject):
    """Stands in for LiveViewModel's signal; the summaries themselves come from the hub."""

    session_updated = Signal(object)


def test_rows_on_screen_update_from_the_feed(harness: Harness, qrun: Any, hub: Any) -> None:
    h = harness
    feed = _Feed()
    h.view.connect_live(feed)

    async def scenario() -> None:
        live = next(s for s in h.view.shown_sessions() if s.is_live)
        from tests.conftest import ingest

        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        await asyncio.to_thread(ingest, hub, [
            {"id": "late-msg", "type": "message.created", "session_id": live.id, "at": at,
             "data": {"id": "late-msg", "at": at, "author": {"role": "customer"},
                      "text": "still there?"}},
            {"id": "late-end", "type": "session.ended", "session_id": live.id, "at": at,
             "data": {"status": "completed", "end_reason": "resolved", "ended_at": at}},
        ])
        fresh = (await h.client.session(live.id)).session
        feed.session_updated.emit(fresh)
        row = h.view.table_model.row_of(live.id)
        shown = h.view.table_model.session_at(row)
        assert shown is not None and shown.status == "completed"
        assert shown.message_count == live.message_count + 1
        finish = h.view.table_model.index(row, SessionColumn.FINISH).data()
        assert finish not in ("---", None)
        # A session not on screen is ignored (History does not grow from the feed).
        other = fresh.model_copy(update={"id": "not-on-screen"})
        feed.session_updated.emit(other)
        assert h.view.table_model.row_of("not-on-screen") == -1
        QApplication.processEvents()

    qrun(scenario())
    dispose_qt(feed)


def test_a_refresh_keeps_the_scroll_position_another_page_starts_at_its_top(
        harness: Harness, qrun: Any) -> None:
    """An offline file still loading refreshes the page about once a second: a user who
    scrolled down stays where they are; moving to another page shows its top."""
    h = harness
    h.view.resize(1400, 360)

    async def scenario() -> None:
        h.view.pagination.load_more_button.click()
        await h.settled()
        bar = h.view.table.verticalScrollBar()
        await wait_until(lambda: bar.maximum() > 0)
        bar.setValue(bar.maximum())
        kept = bar.value()
        assert kept > 0
        h.vm.refresh()
        await h.settled()
        assert bar.value() == kept
        h.view.pagination.next_button.click()
        await h.settled()
        assert h.range_text() == f"Showing 21 to 30 of {N} sessions"
        assert bar.value() == 0

    qrun(scenario())


def test_a_quiet_refresh_neither_shows_busy_nor_blanks_the_cards(
        harness: Harness, qrun: Any) -> None:
    """The refresh an offline file still loading makes about once a second: fresh metrics, the
    rows only if they changed, no busy state (a whole extra repaint of the table) and no card
    placeholders."""
    h = harness
    busy: list[bool] = []
    metrics: list[object] = []
    rows: list[int] = []
    h.vm.loading_changed.connect(busy.append)
    h.vm.metrics_changed.connect(metrics.append)
    h.vm.rows_changed.connect(lambda sessions, _appended: rows.append(len(sessions)))

    async def scenario() -> None:
        h.vm.refresh(quiet=True)
        tasks = (h.vm._page_task, h.vm._metrics_task)
        await wait_until(lambda: all(t is not None and t.done() for t in tasks), 10)
        assert busy == []
        assert None not in metrics and h.vm.metrics is not None
        assert rows == []  # the same rows: not shown again (no model reset, no repaint)
        h.vm.refresh()  # F5: busy while it loads, cards wait for their figures
        await h.settled()
        assert busy == [True, False]
        assert metrics[0] is None
        await wait_until(lambda: h.vm.metrics is not None, 10)

    qrun(scenario())
