"""Closing an offline window while its file is still read, after a session was opened in the
chat: every Qt object is destroyed on the Qt thread, on the child-process and the thread path.

The reading thread (and the index's) allocate far more than the Qt thread, so Python's cycle
collector used to run there and free a Qt object left in a reference cycle off the Qt thread
(Qt: "QObject::killTimer: Timers cannot be stopped from another thread").
"""

from __future__ import annotations

import gc
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from supervisor_desk.models.export import write_export
from supervisor_desk.views.offline import OfflineReview, OfflineWindow
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.views.history_data import dispose_qt
from tests.views.qt_garbage import QtCycle

RUNS = 4
CYCLES = 50
HELD_AT = 8  # past the appends the reading thread keeps in flight (loader.PENDING_ADDS)


@pytest.fixture
def qt_warnings() -> Iterator[list[str]]:
    """Qt's warnings, each with the thread that raised it and the Python stack there."""
    seen: list[str] = []

    def handler(kind: QtMsgType, context: Any, message: str) -> None:
        # The offscreen platform's note about size hints is no fault of the code under test.
        if kind != QtMsgType.QtDebugMsg and "propagateSizeHints" not in message:
            seen.append(f"{message} [thread {threading.current_thread().name}]\n"
                        + "".join(traceback.format_stack(limit=12)))

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)


def _held_after(batches: Iterator[Any], gate: threading.Event) -> Iterator[Any]:
    """The file's batches, the ``HELD_AT``-th held until ``gate`` opens: the read is still
    running when the window closes, however fast this machine reads."""
    try:
        for n, item in enumerate(batches):
            if n == HELD_AT:
                gate.wait(60)
            yield item
    finally:
        batches.close()  # type: ignore[attr-defined]


async def _open_a_session_then_close(review: OfflineReview, window: OfflineWindow,
                                     loaded: list[Any], destroyed_on: list[str],
                                     gate: threading.Event) -> None:
    await wait_until(lambda: window.history_vm.total > 0, 20)
    window.detail_vm.select("s0001")  # the chat reads it on the index's thread
    for _ in range(CYCLES):
        QtCycle(destroyed_on)
    await wait_until(lambda: bool(loaded), 10)
    assert not window.loader.done  # still reading
    gate.set()  # the reading thread goes on, and meets the close
    window.close()
    await wait_until(lambda: not review.windows, 20)


@pytest.mark.parametrize("process_from_bytes", [0, None], ids=["child-process", "thread"])
def test_closing_mid_read_destroys_every_qt_object_on_the_qt_thread(
    process_from_bytes: int | None, tmp_path: Path, qapp: Any, qrun: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch, qt_warnings: list[str],
) -> None:
    from supervisor_desk.views.offline import loader

    monkeypatch.setattr(loader, "PROCESS_FROM_BYTES", process_from_bytes)
    gate = threading.Event()
    read_here = loader._read_here
    monkeypatch.setattr(loader, "_read_here", lambda reader: _held_after(read_here(reader), gate))

    class HeldReadProcess(loader.ExportReadProcess):
        def batches(self) -> Any:
            return _held_after(super().batches(), gate)

    monkeypatch.setattr(loader, "ExportReadProcess", HeldReadProcess)
    path = tmp_path / "big.jsonl"
    write_export(path, "jsonl", make_records(12_000, n_messages=2))
    destroyed_on: list[str] = []
    for _ in range(RUNS):
        gate.clear()
        review = OfflineReview()
        window = review.open(path)
        assert window is not None

        loaded: list[Any] = []
        window.detail_vm.detail_loaded.connect(loaded.append)
        qrun(_open_a_session_then_close(review, window, loaded, destroyed_on, gate))
        dispose_qt(review)
        assert not qt_warnings, "\n".join(qt_warnings)
    assert gc.isenabled()  # the automatic collector is back once the windows have gone
    gc.collect()
    assert len(destroyed_on) == RUNS * CYCLES
    assert set(destroyed_on) == {threading.main_thread().name}
