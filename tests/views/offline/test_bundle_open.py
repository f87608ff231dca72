"""Opening a .zip bundle: unpacked in a worker thread behind an "Opening…" dialog, so the Qt
thread keeps running; cancelling the dialog leaves no window and no unpacked folder."""

from __future__ import annotations

import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer

from supervisor_desk.models.export import write_export
from supervisor_desk.views.offline import OfflineReview, OfflineWindow
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.views.history_data import dispose_qt

SESSIONS = 6000


def _bundle(tmp_path: Path) -> Path:
    export = tmp_path / "calls.jsonl"
    write_export(export, "jsonl", make_records(SESSIONS, n_messages=4))
    bundle = tmp_path / "calls.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(export, export.name)
    export.unlink()
    return bundle


@pytest.fixture(autouse=True)
def _own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bundles unpack into this test's own temporary folder: the folders counted below are
    this test's, whatever another test (another worker of ``make test``) opens meanwhile."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))


def _unpacked_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("sd-bundle-*"))


def test_a_big_bundle_opens_while_the_qt_thread_keeps_running(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any]
) -> None:
    bundle = _bundle(tmp_path)
    review = OfflineReview()
    opened: list[OfflineWindow] = []
    review.window_opened.connect(opened.append)
    ticks: list[int] = []
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.append(len(opened)))

    async def scenario() -> None:
        ticker.start()
        assert review.open(bundle) is None  # its window comes once unpacked
        assert review.opening_box is not None and review.opening_box.isVisible()
        await wait_until(lambda: bool(opened), 30)
        ticker.stop()
        # The dialog goes when the opening task has ended, a turn after the window came.
        await wait_until(lambda: review.opening_box is None, 5)
        window = opened[0]
        await wait_until(lambda: window.loader.done, 30)
        assert window.loader.report.sessions == SESSIONS
        await review.aclose()

    qrun(scenario(), timeout=60)
    # The Qt thread ran its timer over and over while the bundle was being unpacked.
    assert ticks.count(0) >= 20
    dispose_qt(ticker, review)


@pytest.mark.parametrize("unpacking", [False, True], ids=["at-once", "while-unpacking"])
def test_cancelling_the_opening_leaves_no_window_and_no_folder(
    unpacking: bool, tmp_path: Path, qapp: Any, qrun: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from supervisor_desk.views.offline import review as review_module

    # The thread unpacks only once the dialog was closed, however fast the machine.
    started, closed = threading.Event(), threading.Event()
    unpack = review_module._unpack_and_check

    def unpack_after_close(bundle: Path, into: Path) -> Path:
        started.set()
        closed.wait(10)
        return unpack(bundle, into)

    monkeypatch.setattr(review_module, "_unpack_and_check", unpack_after_close)
    bundle = _bundle(tmp_path)
    before = _unpacked_folders()
    review = OfflineReview()
    states: list[bool] = []
    review.opening_changed.connect(states.append)

    async def scenario() -> None:
        review.open(bundle)
        box = review.opening_box
        assert states == [True] and box is not None
        if unpacking:
            await wait_until(started.is_set, 5)
        box.close()
        closed.set()  # the user closes the "Opening…" dialog: gives up
        await wait_until(lambda: states == [True, False], 30)
        await wait_until(lambda: not review.tasks.tasks, 30)

    qrun(scenario(), timeout=60)
    assert not review.windows
    assert _unpacked_folders() == before
    dispose_qt(review)
