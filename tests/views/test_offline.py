"""Offline review: export from a real hub, open the file with no network, see the same
sessions, messages, results and logs; filters work locally; bad files explain themselves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.export import write_export
from supervisor_desk.models.wire import SessionDetail, SessionSummary
from supervisor_desk.views.offline import OfflineReview, OfflineWindow, open_file_command
from supervisor_desk.views.offline import loader as offline_loader
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
    await wait_until(lambda: not window.history_vm.loading, 5)


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
        assert window.history.metric_cards.cards["total"].value() == str(N)
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
