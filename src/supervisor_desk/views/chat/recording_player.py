"""The player under the chat of a voice session: play/pause, seek bar, speed, Save as….

``RecordingPlayer.load(fetch, name)`` gets the recording from the detail view-model: the hub's
file with the user's token, streamed in ``Range`` chunks into a private temporary folder as
the decoder reaches them (:mod:`supervisor_desk.client.recording_stream`; playback starts
after the first chunk, a seek fetches from its offset), or a file of an offline bundle copied
whole. It is decoded as it plays on a worker thread
(:mod:`supervisor_desk.client.recording_audio`) through the same output library as the alert
sounds. The seek bar marks the transcript's segments; ``position_changed``
(ms) lets the chat highlight and follow the message being spoken. Save as… copies the
fetched bytes to a file the user chooses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QWidget,
)
from shiboken6 import isValid

from supervisor_desk.client.audio import AudioError
from supervisor_desk.client.recording_audio import SPEEDS, RecordingPlayback
from supervisor_desk.client.recording_stream import CHUNK, RangeCache, RecordingSource
from supervisor_desk.models.filenames import safe_filename
from supervisor_desk.views.tasks import TaskScope, standalone_scope

RecordingFetch = Callable[[Path], Awaitable[Any]]
_TICK_MS = 50
_RANGE_TIMEOUT_S = 60.0
RangeRead = Callable[[int, int], Coroutine[Any, Any, tuple[bytes, int]]]


class _LoopFetch:
    """``read_range`` for decoder threads: run on the player's loop, waited for there.

    ``cancel()`` (the player cleared) makes every waiting thread give up at once.
    """

    def __init__(self, read_range: RangeRead, loop: asyncio.AbstractEventLoop) -> None:
        self._read_range = read_range
        self._loop = loop
        self._pending: set[concurrent.futures.Future[tuple[bytes, int]]] = set()
        self._lock = threading.Lock()
        self._cancelled = False

    def __call__(self, first: int, last: int) -> bytes:
        with self._lock:
            if self._cancelled:
                raise OSError("the recording was closed")
            try:
                future: concurrent.futures.Future[tuple[bytes, int]] = (
                    asyncio.run_coroutine_threadsafe(
                        self._read_range(first, last), self._loop))
            except RuntimeError:  # the loop has closed: the app is quitting
                raise OSError("the recording was closed") from None
            self._pending.add(future)
        try:
            data, _ = future.result(_RANGE_TIMEOUT_S)
        except concurrent.futures.CancelledError:
            raise OSError("the recording was closed") from None
        except concurrent.futures.TimeoutError:
            raise OSError("the hub did not send the recording in time") from None
        except Exception as exc:  # the hub's refusal or a dropped link, in words
            raise OSError(getattr(exc, "message", None) or str(exc)) from None
        finally:
            with self._lock:
                self._pending.discard(future)
        return data

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            pending, self._pending = list(self._pending), set()
        for future in pending:
            future.cancel()


def clock_text(ms: int) -> str:
    seconds = max(0, ms) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


class SegmentSlider(QSlider):
    """A horizontal seek bar (ms) with the transcript's segments drawn as marks under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.segments: list[tuple[int, int]] = []
        self.setMinimumHeight(22)

    def set_segments(self, segments: Sequence[tuple[int, int]]) -> None:
        self.segments = list(segments)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self.segments or self.maximum() <= 0:
            return
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        groove = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self)
        painter = QPainter(self)
        colour = QColor(self.palette().highlight().color())
        colour.setAlpha(150)
        span = max(1, self.maximum())
        for start, end in self.segments:
            x0 = groove.left() + groove.width() * start // span
            x1 = max(x0 + 2, groove.left() + groove.width() * end // span)
            painter.fillRect(QRect(x0, self.height() - 4, x1 - x0, 3), colour)
        painter.end()


class RecordingPlayer(QWidget):
    """Hidden until a recording is loaded; ``clear()`` hides it and frees the decoded audio."""

    position_changed = Signal(int)  # ms into the recording
    loaded = Signal()
    failed = Signal(str)
    saved = Signal(str)  # the path written

    def __init__(self, parent: QWidget | None = None, *, tasks: TaskScope | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recordingPlayer")
        self.tasks = tasks or standalone_scope("recording-player")
        self.playback: RecordingPlayback | None = None
        self.file: Path | None = None
        self._cache: RangeCache | None = None  # a streamed recording's chunks so far
        self._range_fetch: _LoopFetch | None = None
        self._folder: Path | None = None
        self._name = "recording"
        self._load_task: asyncio.Task[Any] | None = None
        self._generation = 0

        self.play_button = QToolButton(self)
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play the recording")
        self.play_button.clicked.connect(self.toggle)
        self.slider = SegmentSlider(self)
        self.slider.setRange(0, 0)
        self.slider.setSingleStep(1000)  # arrow keys: 1 s
        self.slider.setPageStep(5000)  # a click in the groove, Page Up/Down: 5 s
        self.slider.sliderMoved.connect(self._on_slider_moved)
        self.slider.sliderReleased.connect(lambda: self.seek(self.slider.value()))
        self.slider.actionTriggered.connect(self._on_slider_action)
        self.time_label = QLabel("0:00 / 0:00", self)
        self.time_label.setTextFormat(Qt.TextFormat.PlainText)
        self.speed_box = QComboBox(self)
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}\u00d7", speed)  # the multiplication sign
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(self._on_speed_box_changed)
        self.save_button = QToolButton(self)
        self.save_button.setText("Save as…")
        self.save_button.setToolTip("Save the recording to a file")
        self.save_button.clicked.connect(lambda: self.save_as())
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setProperty("tone", "secondary")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addWidget(self.speed_box)
        layout.addWidget(self.save_button)
        layout.addWidget(self.status_label)

        self._timer = QTimer(self)
        self._timer.setInterval(_TICK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._set_ready(False)
        self.hide()

    # --- loading ------------------------------------------------------------------------
    def load(self, fetch: RecordingFetch, name: str) -> asyncio.Task[Any]:
        """Fetch and decode a recording; the player shows at once with "Loading…"."""
        self.clear()
        self._name = safe_filename(name, "recording")
        self.status_label.setText("Loading the recording…")
        self.show()
        self._generation += 1
        self._load_task = self.tasks.spawn(
            self._load(fetch, self._generation), f"recording-load-{self._name}")
        return self._load_task

    async def _load(self, fetch: RecordingFetch, generation: int) -> None:
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-recording-"))
        self._folder = folder
        # Gone with the player too, should the window be destroyed without clear().
        self.destroyed.connect(lambda *_: shutil.rmtree(folder, ignore_errors=True))
        dest = folder / self._name
        cache: RangeCache | None = None
        try:
            if isinstance(fetch, RecordingSource) and fetch.read_range is not None:
                cache = await self._stream(fetch.read_range, dest)
                opener: Callable[[], Any] = cache.reader
            else:
                await fetch(dest)
                opener = functools.partial(dest.open, "rb")
            playback = await asyncio.to_thread(RecordingPlayback, opener)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown under the chat; the transcript stays readable
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if generation == self._generation and isValid(self):
                self.status_label.setText(f"Recording unavailable: {message}")
                self.failed.emit(message)
            return
        if generation != self._generation or not isValid(self):
            playback.close()
            return
        self.playback = playback
        self.file = dest
        self._cache = cache
        # A decoder waiting to read ahead would wait for ever once the player is gone.
        range_fetch = self._range_fetch if cache is not None else None
        self.destroyed.connect(lambda *_: _abandon(playback, range_fetch))
        self.slider.setRange(0, playback.duration_ms)
        self.status_label.setText("")
        self._set_ready(True)
        self._show_position(0)
        self.loaded.emit()

    async def _stream(self, read_range: RangeRead, dest: Path) -> RangeCache:
        """A cache of the hub's file at ``dest``, its first chunk already in."""
        first, size = await read_range(0, CHUNK - 1)
        loop = asyncio.get_running_loop()
        self._range_fetch = fetch = _LoopFetch(read_range, loop)
        cache = await asyncio.to_thread(RangeCache, size, fetch, dest)
        await asyncio.to_thread(cache.put, 0, first)
        return cache

    def clear(self) -> None:
        """Stop, forget the recording and hide (another session, or none, is shown)."""
        self._generation += 1
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._load_task = None
        self._timer.stop()
        if self._range_fetch is not None:
            self._range_fetch.cancel()  # a decoder waiting on the hub gives up now
            self._range_fetch = None
        if self.playback is not None:
            self.playback.close()
        self.playback = None
        self.file = None
        self._cache = None
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        self.slider.setRange(0, 0)
        self.slider.set_segments([])
        self.speed_box.blockSignals(True)
        self.speed_box.setCurrentIndex(0)
        self.speed_box.blockSignals(False)
        self._set_ready(False)
        self.status_label.setText("")
        self.hide()

    def closeEvent(self, event: Any) -> None:
        self.clear()
        super().closeEvent(event)

    def set_segments(self, segments: Sequence[tuple[int, int]]) -> None:
        self.slider.set_segments(segments)

    # --- transport ----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.playback is not None and self.playback.playing

    def position_ms(self) -> int:
        return self.playback.position_ms() if self.playback is not None else 0

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.playback is None:
            return
        try:
            self.playback.play()
        except AudioError as exc:
            self.status_label.setText(str(exc))
            return
        self.play_button.setText("⏸")
        self.play_button.setToolTip("Pause")
        self._timer.start()

    def pause(self) -> None:
        if self.playback is not None:
            self.playback.pause()
        self._timer.stop()
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play the recording")
        self._show_position(self.position_ms())

    def seek(self, ms: int) -> None:
        if self.playback is None:
            return
        self.playback.seek(ms)
        self._show_position(self.playback.position_ms())

    def set_speed(self, speed: float) -> asyncio.Task[Any] | None:
        index = self.speed_box.findData(speed)
        if index < 0:
            return None
        self.speed_box.setCurrentIndex(index)
        return self._speed_task

    _speed_task: asyncio.Task[Any] | None = None

    def _on_speed_box_changed(self, index: int) -> None:
        speed = float(self.speed_box.itemData(index))
        if self.playback is None:
            return
        self._speed_task = self.tasks.spawn(self._change_speed(speed), "recording-speed")

    async def _change_speed(self, speed: float) -> None:
        playback = self.playback
        if playback is None:
            return
        try:
            # Decoding goes on from the current position at the new speed, on its thread.
            playback.set_speed(speed)
        except AudioError as exc:
            self.status_label.setText(str(exc))

    # --- save ---------------------------------------------------------------------------
    def save_as(self, dest: Path | None = None) -> asyncio.Task[Any] | None:
        """Copy the recording to ``dest`` (None: ask where with a file dialog)."""
        if self.file is None:
            return None
        if dest is None:
            name, _ = QFileDialog.getSaveFileName(self, "Save recording", self._name)
            if not name:
                return None
            dest = Path(name)
        return self.tasks.spawn(self._save(self.file, dest), "recording-save")

    async def _save(self, source: Path, dest: Path) -> None:
        cache = self._cache
        try:
            if cache is not None and not cache.complete:
                self.status_label.setText("Fetching the rest of the recording…")
                await asyncio.to_thread(cache.fill)
            await asyncio.to_thread(shutil.copyfile, source, dest)
        except OSError as exc:
            self.status_label.setText(f"Could not save: {exc.strerror or exc}")
            return
        self.status_label.setText(f"Saved {dest.name}")
        self.saved.emit(str(dest))

    # --- internals ----------------------------------------------------------------------
    def _set_ready(self, ready: bool) -> None:
        for widget in (self.play_button, self.slider, self.speed_box, self.save_button):
            widget.setEnabled(ready)
        if not ready:
            self.play_button.setText("▶")

    def _on_slider_moved(self, value: int) -> None:
        self.time_label.setText(f"{clock_text(value)} / {clock_text(self.slider.maximum())}")

    def _on_slider_action(self, action: int) -> None:
        # Page clicks and arrow keys: the slider's value is set after this signal.
        if action != QSlider.SliderAction.SliderMove.value:
            QTimer.singleShot(0, self, lambda: self.seek(self.slider.value()))

    def _on_timer_timeout(self) -> None:
        playback = self.playback
        if playback is None:
            self._timer.stop()
            return
        if playback.error is not None:
            self.pause()
            self.status_label.setText(f"Recording unavailable: {playback.error}")
            return
        if playback.finished:
            self.pause()
            return
        self._show_position(playback.position_ms())

    def _show_position(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(ms)
            self.slider.blockSignals(False)
        self.time_label.setText(f"{clock_text(ms)} / {clock_text(self.slider.maximum())}")
        self.position_changed.emit(ms)


def _abandon(playback: RecordingPlayback, range_fetch: _LoopFetch | None) -> None:
    """The player is gone: its decoder stops, and stops waiting for the hub."""
    if range_fetch is not None:
        range_fetch.cancel()
    playback.close(wait=False)
