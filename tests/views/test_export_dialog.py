"""Export through the real dialog from a real hub: JSONL/JSON reopen with the same sessions,
CSV keeps the visible columns, Cancel leaves no file, the last folder is remembered."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.export import ExportReader, iter_records
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.views.export_dialog import ExportDialog, ExportViewModel, csv_columns
from supervisor_desk.views.session_table_model import SessionColumn
from tests.helpers import wait_until
from tests.views.history_data import dispose_qt, history_events, post_history


@pytest.fixture
def client(running_hub: Any, qrun: Callable[..., Any]) -> Iterator[HubClient]:
    post_history(running_hub, history_events(30, seed=9, now=datetime.now(UTC)))
    c = HubClient(running_hub.url)
    qrun(c.login("viewer", "viewer"))
    yield c
    qrun(c.aclose())


@pytest.fixture
def dialogs(qrun: Callable[..., Any]) -> Iterator[list[ExportDialog]]:
    made: list[ExportDialog] = []
    yield made
    for dialog in made:
        qrun(dialog.vm.aclose())  # ends its tasks and its CSV projection thread
        dispose_qt(dialog, dialog.vm)


def _dialog(made: list[ExportDialog], client: HubClient, flt: SessionFilter,
            **kwargs: Any) -> ExportDialog:
    vm = ExportViewModel(client)
    dialog = ExportDialog(vm, flt, **kwargs)
    made.append(dialog)
    dialog.open()
    return dialog


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_respects_filters_and_reopens_with_messages_and_logs(
    client: HubClient, dialogs: Any, qrun: Callable[..., Any], tmp_path: Path, fmt: str
) -> None:
    flt = SessionFilter(status=("completed", "failed"))
    remembered: list[str] = []
    dialog = _dialog(dialogs, client, flt)
    dialog.folder_chosen.connect(remembered.append)
    dialog.set_format(fmt)  # type: ignore[arg-type]
    dest = tmp_path / f"out.{fmt}"
    dialog.set_destination(dest)

    async def scenario() -> None:
        dialog.export_button.click()
        assert not dialog.export_button.isEnabled()
        await wait_until(lambda: not dialog.vm.running, 20)
        assert dialog.status_label.text().startswith("Exported ")
        expected = await client.sessions(flt, limit=500)
        records = list(iter_records(dest))
        assert [r.session for r in records] == expected.items
        for record in records[:5]:
            detail = await client.session(record.session.id)
            assert record.messages == detail.messages
            assert record.logs.system == await client.logs(record.session.id, "system")

    qrun(scenario())
    assert remembered == [str(tmp_path)]
    assert dialog.cancel_button.text() == "Close"


def test_csv_keeps_the_visible_columns(
    client: HubClient, dialogs: Any, qrun: Callable[..., Any], tmp_path: Path
) -> None:
    visible = [SessionColumn.ID, SessionColumn.AGENT, SessionColumn.MESSAGES,
               SessionColumn.FINISH]
    dialog = _dialog(dialogs, client, SessionFilter(), visible_columns=visible)
    dialog.set_format("csv")
    assert dialog.destination().suffix == ".csv"
    dest = tmp_path / "out.csv"
    dialog.set_destination(dest)

    async def scenario() -> None:
        dialog.export_button.click()
        await wait_until(lambda: not dialog.vm.running, 20)
        with dest.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == [c for c in ("status", "session_id", "agent", "channel", "started_at",
                                       "message_count", "ended_at")
                           if c in csv_columns(visible)]
        assert len(rows) == 31
        # The projection can still be reviewed offline.
        assert len(ExportReader(dest).read_all()) == 30

    qrun(scenario())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cancel_leaves_no_file(
    client: HubClient, dialogs: Any, qrun: Callable[..., Any], tmp_path: Path
) -> None:
    dialog = _dialog(dialogs, client, SessionFilter())
    folder = tmp_path / "exports"
    folder.mkdir()
    dest = folder / "cancelled.jsonl"
    dialog.set_destination(dest)

    async def scenario() -> None:
        dialog.export_button.click()
        dialog.cancel_button.click()
        await wait_until(lambda: not dialog.vm.running, 10)
        assert dialog.status_label.text() == "Export cancelled; no file was written"
        await dialog.vm.aclose()

    qrun(scenario())
    assert list(folder.iterdir()) == []


def test_file_chooser_starts_in_the_last_folder(client: HubClient, dialogs: Any,
                                                tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    dialog = _dialog(dialogs, client, SessionFilter(channel=("web",)), last_folder=str(folder),
                     matching=12)
    assert dialog.destination().parent == folder
    assert "Channel: Web" in dialog.scope_label.text() and "(12 sessions)" in \
        dialog.scope_label.text()
    chooser = dialog.choose_file()
    assert chooser.isVisible() and Path(chooser.directory().absolutePath()) == folder
    chooser.fileSelected.emit(str(folder / "mine.jsonl"))
    assert dialog.destination() == folder / "mine.jsonl"
    chooser.close()
