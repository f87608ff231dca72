"""Offline review: export from a real hub, open the file with no network, see the same
sessions, messages, results and logs; filters work locally; bad files explain themselves."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QRect
from PySide6.QtGui import QImage, QPaintEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.export import write_export
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.lock_slices import foreground
from supervisor_desk.models.wire import SessionDetail, SessionSummary
from supervisor_desk.views.offline import OfflineReview, OfflineWindow, open_file_command
from supervisor_desk.views.offline import loader as offline_loader
from supervisor_desk.views.offline import window as offline_window
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.views.history_data import dispose_qt, history_events, post_history

BAD = Path(__file__).parents[1] / "models" / "bad_files"
N = 40


@pytest.fixture
def exported(running_hub: Any, tmp_path: Path) -> Iterator[
        tuple[dict[str, Path], list[SessionSummary], dict[str, SessionDetail], dict[str, Any]]]:
    post_history(running_hub, history_events(N, seed=3, now=datetime.now(UTC)))

    async def fetch() -> tuple[dict[str, Path], list[SessionSummary], dict[str, SessionDetail],
                               dict[str, Any]]:
        async with HubClient(running_hub.url) as client:
            await client.login("viewer", "viewer")
            files = {}
            for fmt in ("json", "jsonl", "csv"):
                files[fmt] = tmp_path / f"export.{fmt}"
                await client.export(fmt, None, files[fmt])
            sessions = (await client.sessions(limit=500)).items
            details = {s.id: await client.session(s.id) for s in sessions}
            logs = {s.id: await client.logs(s.id, "system") for s in sessions}
            return files, sessions, details, logs

    # A plain asyncio loop in its own thread: the export is the hub client's business, and
    # keeping it off the test's Qt loop keeps this fixture independent of Qt.
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(asyncio.run, fetch()).result()
    running_hub.stop()  # from here on, nothing may need the network


@pytest.fixture
def opener(qapp: Any, qrun: Callable[..., Any]) -> Iterator[Callable[[Path], OfflineWindow]]:
    """Opens offline windows and closes them cleanly (tasks ended, loader stopped)."""
    windows: list[OfflineWindow] = []

    def open_window(path: Path) -> OfflineWindow:
        # Not qtbot.addWidget: pytest-qt would delete the window before this fixture's
        # teardown could end its tasks.
        window = OfflineWindow(path)
        window.show()
        window.start()
        windows.append(window)
        return window

    yield open_window
    for window in windows:
        qrun(window.aclose())
        dispose(window)


def dispose(*objects: Any) -> None:
    dispose_qt(*objects)



async def _loaded(window: OfflineWindow) -> None:
    await wait_until(lambda: window.loader.done, 20)
    # The refresh at the load's end is quiet (no busy state): its page is waited for too.
    await wait_until(lambda: not window.history_vm.fetching, 5)


def _all_shown(window: OfflineWindow) -> list[SessionSummary]:
    vm = window.history_vm
    page = window.loader.index.query(vm.filter, vm.sort, 0, 10_000)  # type: ignore[union-attr]
    return page.items


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_then_open_offline_shows_the_same_sessions_messages_results_and_logs(
    exported: Any, opener: Any, qrun: Callable[..., Any], fmt: str
) -> None:
    files, sessions, details, logs = exported
    window = opener(files[fmt])

    async def scenario() -> None:
        await _loaded(window)
        assert "offline file" in window.windowTitle()
        assert window.offline_label.text().startswith(f"Offline file · {files[fmt]}")
        assert f"{N:,} sessions" in window.offline_label.text()
        assert window.history.pagination.range_label.text() == f"Showing 1 to 50 of {N} sessions" \
            if N > 50 else f"Showing 1 to {N} of {N} sessions"
        assert _all_shown(window) == sessions  # same summaries, same (hub) order
        # The cards are computed beside the rows (the index thread gives way to the Qt thread
        # every half millisecond): "…" until they are ready.
        await wait_until(lambda: window.history.metric_cards.cards["total"].value() == str(N), 5)
        # Open sessions: chat, results dock and logs come from the file.
        pane = window.detail
        chosen = max(sessions, key=lambda s: (s.message_count, len(s.results)))
        target = next(s for s in sessions if details[s.id].messages and logs[s.id])
        for s in (chosen, target):
            assert window.history.table.select_session(s.id)
            await wait_until(lambda s=s: window.detail_vm.summary is not None
                             and window.detail_vm.summary.id == s.id, 5)
            await wait_until(lambda s=s: pane.chat.message_count == len(details[s.id].messages),
                             5)
            assert window.results_dock.summary == s
        pane.set_logs_visible(True)
        await wait_until(lambda: pane.logs._entries.get("system") == logs[target.id], 5)
        assert pane.handover_button.isHidden()  # nothing to hand over in a file

    qrun(scenario())


def test_offline_filters_match_the_hub_through_the_widgets(
    exported: Any, opener: Any, qrun: Callable[..., Any]
) -> None:
    files, sessions, details, _ = exported
    window = opener(files["jsonl"])
    texts = {sid: [m.text for m in d.messages] for sid, d in details.items()}

    async def scenario() -> None:
        await _loaded(window)
        bar = window.history.filter_bar
        bar.channel.setCurrentIndex(bar.channel.findData("whatsapp"))
        bar.channel.activated.emit(bar.channel.currentIndex())
        await wait_until(lambda: window.history_vm.filter.channel == ("whatsapp",), 5)
        await wait_until(lambda: not window.history_vm.loading, 5)
        flt = window.history_vm.filter
        expected = [s.id for s in sessions if flt.matches(s, texts[s.id])]
        assert [s.id for s in _all_shown(window)] == expected
        assert window.history_vm.total == len(expected)
        bar.search.setText("cancel")
        bar.in_transcripts.setChecked(True)
        await wait_until(lambda: window.history_vm.filter.text == "cancel", 5)
        await wait_until(lambda: not window.history_vm.loading, 5)
        flt = window.history_vm.filter
        expected = [s.id for s in sessions if flt.matches(s, texts[s.id])]
        assert [s.id for s in _all_shown(window)] == expected

    qrun(scenario())


def test_csv_opens_with_summaries_only(
    exported: Any, opener: Any, qrun: Callable[..., Any]
) -> None:
    files, sessions, _, _ = exported
    window = opener(files["csv"])

    async def scenario() -> None:
        await _loaded(window)
        shown = {s.id: s for s in _all_shown(window)}
        assert set(shown) == {s.id for s in sessions}
        for s in sessions:
            assert (shown[s.id].status, shown[s.id].channel, shown[s.id].message_count) == (
                s.status, s.channel, s.message_count)
        assert "no transcripts" in window.offline_label.text()

    qrun(scenario())


def test_rows_appear_while_a_big_file_is_still_being_read(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline_loader, "BATCH", 300)
    path = tmp_path / "big.jsonl"
    write_export(path, "jsonl", make_records(3000, n_messages=2))
    window = opener(path)
    seen: list[tuple[int, bool]] = []
    window.history_vm.rows_changed.connect(
        lambda rows, _appended: seen.append((len(rows), window.loader.done)))

    async def scenario() -> None:
        await _loaded(window)
        assert seen and seen[0][0] == 50 and seen[0][1] is False  # first page before the end
        assert window.history_vm.total == 3000
        assert window.progress.isHidden()

    qrun(scenario())


class _ViewportPaints(QObject):
    """The table viewport's paint rectangles, and whether its updates were held then."""

    def __init__(self) -> None:
        super().__init__()
        self.paints: list[tuple[int, bool]] = []  # (height painted, updates held)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            held = isinstance(watched, QWidget) and not watched.updatesEnabled()
            self.paints.append((event.rect().height(), held))
        return False


def _screen_of_table(window: OfflineWindow) -> QImage:
    """What the screen shows of the table's viewport (the window's backing store)."""
    viewport = window.history.table.viewport()
    shot = window.screen().grabWindow(window.winId()).toImage()
    origin = viewport.mapTo(window, QPoint(0, 0))
    return shot.copy(QRect(origin, viewport.size()))


def test_the_first_page_is_drawn_ahead_in_bands_then_shown_as_drawn_at_once(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any]
) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(300, n_messages=2))
    window = opener(path)
    viewport = window.history.table.viewport()
    seen = _ViewportPaints()
    viewport.installEventFilter(seen)

    async def scenario() -> None:
        await _loaded(window)
        await wait_until(lambda: viewport.updatesEnabled() and seen.paints[-1][1] is False, 5)
        held = [height for height, was_held in seen.paints if was_held]
        band = -(-viewport.height() // offline_window.FIRST_PAGE_BANDS)
        # Drawn ahead band by band while the screen kept the empty table, then painted whole.
        assert len(held) == offline_window.FIRST_PAGE_BANDS
        assert all(height <= band for height in held)
        assert seen.paints[-1] == (viewport.height(), False)
        assert len(window.history.shown_sessions()) == 50
        assert window.history_vm.total == 300
        # What the screen shows is what painting the page at once shows (no event between).
        shown = _screen_of_table(window)
        viewport.repaint()
        assert _screen_of_table(window) == shown

    qrun(scenario())


def test_a_file_written_newest_first_keeps_its_first_page_while_read_without_resets(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub exports newest first, the page's order: once the first rows are shown, the
    refreshes while the rest is read bring the same page, which is not reset and repainted."""
    monkeypatch.setattr(offline_loader, "BATCH", 300)
    path = tmp_path / "newest_first.jsonl"
    records = make_records(3000, n_messages=2)
    write_export(path, "jsonl", sorted(records, key=lambda r: r.session.started_at,
                                       reverse=True))
    switch_interval = sys.getswitchinterval()
    window = opener(path)
    resets: list[int] = []
    window.history_vm.rows_changed.connect(lambda rows, _appended: resets.append(len(rows)))

    async def scenario() -> None:
        await _loaded(window)
        assert window.history_vm.total == 3000
        assert resets == [50]  # the first page, once
        # The 1 ms switch interval of the load (lock_slices) ends with it.
        await window.loader.wait()
        assert sys.getswitchinterval() == pytest.approx(switch_interval)
        newest = max(records, key=lambda r: r.session.started_at).session.id
        assert window.history.shown_sessions()[0].id == newest

    qrun(scenario())


def test_the_progress_bar_follows_the_batches_in_a_turn_of_its_own(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any]
) -> None:
    """A new value repaints the bar (and every pending region of the window) at once: batches
    coming in a burst move it once, to the latest figure, after the batch's own turn."""
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(5))
    window = opener(path)
    values: list[int] = []
    window.progress.valueChanged.connect(values.append)

    async def scenario() -> None:
        await _loaded(window)
        window.progress.show()
        values.clear()
        for done in (100, 200, 300, 400):
            window.loader.progress_changed.emit(done, 1000)
        assert values == []  # not from the batch's turn
        await wait_until(lambda: bool(values), 5)
        assert values == [400]
        assert window.progress.text() == "Reading… 40%"

    qrun(scenario())


class _PaintsSeen(QObject):
    """Whether the reading threads were told to stand aside at each paint of a widget."""

    def __init__(self) -> None:
        super().__init__()
        self.standing_aside: list[bool] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.standing_aside.append(foreground.busy)
        return False


def test_the_reading_threads_stand_aside_for_the_whole_window_repaint_not_only_the_table(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any]
) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(5))
    window = opener(path)
    seen = _PaintsSeen()
    window.offline_label.installEventFilter(seen)  # a status bar label, no Python paint

    async def scenario() -> None:
        await _loaded(window)
        seen.standing_aside.clear()
        window.offline_label.update()
        await wait_until(lambda: bool(seen.standing_aside), 5)
        assert all(seen.standing_aside)
        assert not foreground.busy  # and back to work once the window is painted

    qrun(scenario())


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("truncated.json", "truncated"),
        ("wrong_version.jsonl", "unsupported export version 2"),
        ("other_tool.csv", "missing columns"),
        ("binary.json", "binary"),
        ("notes.txt", "unknown file type"),
    ],
)
def test_bad_files_show_a_dialog_naming_file_and_problem(
    qapp: Any, name: str, problem: str
) -> None:
    review = OfflineReview()
    assert review.open(BAD / name) is None
    box = review.error_box
    assert box is not None and box.isVisible()
    assert box.text().startswith(f"{name}: ") and problem in box.text()
    dispose(box, review)


def test_partly_bad_jsonl_shows_the_valid_sessions_and_counts_the_rest(
    qapp: Any, qrun: Callable[..., Any]
) -> None:
    review = OfflineReview()
    window = review.open(BAD / "invalid_utf8.jsonl")
    assert window is not None

    async def scenario() -> None:
        await _loaded(window)
        assert window.history_vm.total == 3
        assert "1 skipped" in window.offline_label.text()
        box = window.error_box
        assert box is not None and box.isVisible() and box.icon() == QMessageBox.Icon.Warning
        assert "invalid_utf8.jsonl: 1 record could not be read" in box.text()
        assert "line 3: invalid UTF-8" in box.text()
        await window.aclose()

    qrun(scenario())
    dispose(window.error_box, window, review)


def test_html_in_fields_stays_text(opener: Any, qrun: Callable[..., Any]) -> None:
    window = opener(BAD / "html_script.jsonl")

    async def scenario() -> None:
        await _loaded(window)
        model = window.history.table_model
        agents = {model.index(r, 2).data() for r in range(model.rowCount())}
        assert "<b>Bold</b> bot" in agents
        await window.aclose()

    qrun(scenario())


def test_command_line_open_of_a_bad_file(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("truncated.json", "wrong_version.jsonl", "other_tool.csv", "invalid_utf8.json"):
        assert open_file_command(BAD / name) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: " in err
    assert open_file_command(BAD / "does-not-exist.jsonl") == 2
    assert "cannot open" in capsys.readouterr().err


def test_truncated_json_loaded_in_the_window_keeps_the_rows_read(
    opener: Any, qrun: Callable[..., Any]
) -> None:
    window = opener(BAD / "truncated.json")

    async def scenario() -> None:
        await _loaded(window)
        assert window.loader.error.startswith("truncated.json: the file ends early")
        assert window.error_box is not None and window.error_box.isVisible()
        assert window.history_vm.total >= 1
        await window.aclose()

    qrun(scenario())


def test_an_export_is_a_record_live_sessions_stop_at_exported_at_in_the_chosen_zone(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any]
) -> None:
    from zoneinfo import ZoneInfo

    from supervisor_desk.models.markers import format_duration
    from supervisor_desk.views.session_table_model import SessionColumn
    from tests.models.export_samples import T0, make_record

    exported_at = T0 + timedelta(hours=2)
    path = tmp_path / "then.jsonl"
    write_export(path, "jsonl", [make_record(i) for i in range(6)], exported_at=exported_at)
    review = OfflineReview(time_zone=ZoneInfo("Asia/Tokyo"))
    window = review.open(path)
    assert window is not None

    def shown(model: Any, session_id: str, column: SessionColumn) -> str:
        return str(model.index(model.row_of(session_id), column).data())

    async def scenario() -> None:
        await _loaded(window)
        live = window.history.metric_cards.cards["live"]
        assert live.title() == "Live at export" and live.value() == "2"  # s0000, s0003
        model = window.history.table_model
        active = window.loader.index.get("s0000")  # type: ignore[union-attr]
        assert active is not None and active.status == "active"
        durations = shown(model, "s0000", SessionColumn.DURATION)
        await asyncio.sleep(1.2)  # a tick later: the file's clock has not moved
        model.tick(0, model.rowCount() - 1)
        assert shown(model, "s0000", SessionColumn.DURATION) == durations
        assert window.history.table.select_session("s0000")
        await wait_until(lambda: window.results_dock.summary is not None, 5)
        facts = window.results_dock.facts()
        assert facts["Duration"] == format_duration(7200)  # started T0, exported 2 h later
        assert facts["Start"] == "2026-03-02 18:00:00"  # 09:00 UTC in Tokyo
        review.set_time_zone(ZoneInfo("UTC"))
        assert window.results_dock.facts()["Start"] == "2026-03-02 09:00:00"
        await window.aclose()

    qrun(scenario())
    dispose(window, review)


def test_a_csv_session_says_its_transcript_is_not_in_the_file(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any]
) -> None:
    from supervisor_desk.views.offline.window import CSV_TRANSCRIPT_NOTE
    from tests.models.export_samples import make_record

    path = tmp_path / "rows.csv"
    write_export(path, "csv", [make_record(1, n_messages=20)])
    window = opener(path)

    async def scenario() -> None:
        await _loaded(window)
        assert window.history.table.select_session("s0001")
        chat = window.detail.chat
        await wait_until(lambda: chat.model.position_of("s0001/note") is not None, 5)
        texts = [r.text for r in chat.model.rows()]
        assert CSV_TRANSCRIPT_NOTE in texts
        assert chat.title_label.text() == "Chat · no transcript in this file"
        assert "0 messages" not in chat.title_label.text()

    qrun(scenario())


def test_the_window_fits_a_small_screen_whatever_the_file_name(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any]
) -> None:
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    folder.mkdir(parents=True)
    path = folder / ("sessions-exported-for-the-quarterly-review-" * 3 + ".jsonl")
    write_export(path, "jsonl", make_records(30))
    window = opener(path)

    async def scenario() -> None:
        await _loaded(window)
        # 1366 px at 125 % is 1092 logical px; 1280 px at 100 % is wider.
        assert window.minimumSizeHint().width() <= 1366 / 1.25
        window.resize(1092, 700)
        await wait_until(lambda: window.width() == 1092, 5)

    qrun(scenario())


def test_a_gzip_export_opens_with_its_transcripts_and_leaves_no_copy(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any]
) -> None:
    import gzip

    records = make_records(12, n_messages=4)
    plain = tmp_path / "plain.jsonl"
    write_export(plain, "jsonl", records)
    packed = tmp_path / "export.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    review = OfflineReview()
    window = review.open(packed)
    assert window is not None

    async def scenario() -> Path:
        await _loaded(window)
        assert window.history_vm.total == 12
        assert window.history.table.select_session("s0005")
        await wait_until(lambda: window.detail.chat.message_count == 4, 5)
        assert window.loader.reader is not None
        copy = window.loader.reader.data_path
        assert copy != packed and copy.exists()
        await window.aclose()
        return copy

    copy = qrun(scenario())
    assert not copy.exists()
    dispose(window, review)


def test_long_transcripts_stop_the_load_within_the_memory_bound_keeping_the_rows(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any]
) -> None:
    path = tmp_path / "chatty.jsonl"
    write_export(path, "jsonl", make_records(1500, n_messages=30))
    window = OfflineWindow(path)
    window.loader.max_transcript_bytes = 300_000  # a small bound for a small file
    window.show()
    window.start()

    async def scenario() -> None:
        await _loaded(window)
        assert "transcripts of the first" in window.loader.error
        assert "export a filtered subset" in window.loader.error
        assert window.error_box is not None and window.error_box.isVisible()
        assert 0 < window.history_vm.total < 1500  # what was read stays reviewable
        await window.aclose()

    qrun(scenario())
    dispose(window.error_box, window)


def test_the_index_is_queried_and_grown_off_the_qt_thread(
    tmp_path: Path, opener: Any, qrun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from supervisor_desk.models.offline_index import OfflineIndex

    threads: set[str] = set()
    for name in ("add", "query", "metrics"):
        original = getattr(OfflineIndex, name)

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            threads.add(threading.current_thread().name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(OfflineIndex, name, spy)
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(500, n_messages=2))
    window = opener(path)

    async def scenario() -> None:
        await _loaded(window)
        window.history_vm.set_sort("message_count")
        await wait_until(lambda: not window.history_vm.loading, 5)

    qrun(scenario())
    assert threads and all(name.startswith("offline-index") for name in threads), threads


def test_a_window_closed_by_the_user_ends_its_reading_and_threads(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any]
) -> None:
    path = tmp_path / "big.jsonl"
    write_export(path, "jsonl", make_records(3000, n_messages=2))
    review = OfflineReview()
    window = review.open(path)
    assert window is not None

    async def scenario() -> None:
        await wait_until(lambda: window.history_vm.total > 0, 10)
        window.close()  # while still reading: hidden at once, deleted once shut down
        assert window.isHidden()
        await wait_until(lambda: not review.windows, 10)

    qrun(scenario())
    dispose(review)


def test_analytics_of_a_file_counts_its_sessions_as_of_the_export(
    exported: Any, opener: Any, qrun: Callable[..., Any]
) -> None:
    files, sessions, _details, _logs = exported
    window = opener(files["jsonl"])

    async def scenario() -> None:
        await _loaded(window)
        window.analytics_action.trigger()
        await wait_until(lambda: window.analytics_vm.report is not None, 10)

    qrun(scenario())
    report = window.analytics_vm.report
    assert report is not None and report.sessions == N == len(sessions)
    assert report.now_ms == to_ms(window.export_moment())  # the file's moment, not the clock
    assert window.analytics_page is not None and window.analytics_page.isVisible()
    assert window.analytics_page.status.text() == f"{N} sessions in the range"
    # History's filter narrows the charts too.
    window.history_vm.set_filter(SessionFilter(status=("completed",)))
    completed = sum(1 for s in sessions if s.status == "completed")

    async def narrowed() -> None:
        await wait_until(lambda: window.analytics_vm.report is not None
                         and window.analytics_vm.report.sessions == completed, 10)

    qrun(narrowed())
