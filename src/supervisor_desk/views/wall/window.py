"""The Wall window: a grid of read-only live transcripts, each with its session header.

Clicking a tile asks the main window to open that session (``session_clicked``). The tiles
reuse the virtualised :class:`TranscriptView`, so a long conversation costs what is on screen.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.markers import CHANNEL_LABELS, format_duration
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.chat.transcript_view import TranscriptView
from supervisor_desk.views.clock import OnScreenWatch
from supervisor_desk.views.wall.selection import MODE_LABELS
from supervisor_desk.views.wall.viewmodel import LAYOUTS, WallTile, WallViewModel

ENDED_OPACITY = 0.35
_VIEW = "view:"  # combo data of a saved view's entry


def tile_header(s: SessionSummary | None, session_id: str, now: datetime,
                alert: str | None = None) -> str:
    """Customer · agent · channel · wait (or how it ended) · the alert's severity, if any."""
    if s is None:
        return f"Session {session_id[:12]}"
    customer = s.user.name or s.user.external_id or s.user.id
    channel = CHANNEL_LABELS.get(s.channel, s.channel)
    agent = s.responsible.operator.name if s.responsible.operator else s.agent.name
    if s.status == "queued":
        waited = (now - waiting_since(s)).total_seconds()
        state = f"waiting {format_duration(max(0.0, waited))}"
    elif s.is_live:
        since = s.accepted_at or s.started_at
        state = f"active {format_duration(max(0.0, (now - since).total_seconds()))}"
    else:
        state = f"{s.status}"
    alerted = f" · {alert} alert" if alert else ""
    return f"{customer} · {agent} · {channel} · {state}{alerted}"


class ElidedLabel(QLabel):
    """One line of plain text cut with "…" to the width it gets (the whole text is its
    tooltip), so a long header never widens its tile past a third of the screen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # customer names are untrusted
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.full_text = ""

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(
            self.full_text, Qt.TextElideMode.ElideRight, max(0, self.width())))


class Veil(QWidget):
    """A translucent sheet over an ended session's tile (the page colour at 1 - ENDED_OPACITY),
    clicks passing through. A QGraphicsOpacityEffect did the same by rendering the whole tile
    off screen on every repaint (on every tile, even at opacity 1) and garbled it at 125 %."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def paintEvent(self, _event: QPaintEvent) -> None:
        color = QColor(self.palette().color(QPalette.ColorRole.Window))
        color.setAlphaF(1.0 - ENDED_OPACITY)
        QPainter(self).fillRect(self.rect(), color)


class WallTileWidget(QFrame):
    clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("wall_tile")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.session_id: str | None = None
        self.header = ElidedLabel(self)
        self.header.setObjectName("wall_tile_header")
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self.transcript = TranscriptView(self)
        self.transcript.set_stick_to_bottom(True)
        self.transcript.viewport().installEventFilter(self)
        self.veil = Veil(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.transcript, 1)

    def show_tile(self, tile: WallTile | None, now: datetime, alert: str | None = None) -> None:
        if tile is None:
            self.session_id = None
            self.header.set_full_text("No session to show")
            self.transcript.hide()
            self.veil.hide()
            return
        if tile.session_id != self.session_id:
            self.session_id = tile.session_id
            self.transcript.setModel(tile.model)
        self.transcript.show()
        self.header.set_full_text(tile_header(tile.summary, tile.session_id, now, alert))
        self.header.setProperty("alert", alert or "")
        self.setToolTip(f"Session {tile.session_id}: click to open it in the main window")
        self.veil.setVisible(tile.ended_at is not None)
        self.veil.raise_()

    @property
    def faded(self) -> bool:
        """Whether the tile shows its session as ended (veiled)."""
        return not self.veil.isHidden()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.veil.setGeometry(self.rect())

    def eventFilter(self, watched: object, event: object) -> bool:
        if isinstance(event, QMouseEvent) and event.type() == QMouseEvent.Type.MouseButtonRelease:
            self._clicked(event)
        return False

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._clicked(event)
        super().mouseReleaseEvent(event)

    def _clicked(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.session_id is not None:
            self.clicked.emit(self.session_id)


class WallWindow(QWidget):
    session_clicked = Signal(str)
    pin_requested = Signal()  # pin the main window's selected session

    def __init__(self, vm: WallViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("wall_window")
        self.setWindowTitle("Wall - Supervisor Desk")
        # Shown and not minimised, or not (the app lets the hub hold events when no window
        # shows live state).
        self.on_screen_watch = OnScreenWatch(self)
        self.vm = vm
        self.layout_combo = QComboBox(self)
        for name in LAYOUTS:
            label = "Auto" if name == "auto" else name.replace("x", "\N{MULTIPLICATION SIGN}")
            self.layout_combo.addItem(label, name)
        self.mode_combo = QComboBox(self)
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self.pin_button = QPushButton("Pin selected session", self)
        self.pin_button.setToolTip("Pin the session selected in the main window to the wall")
        self.clear_pins = QPushButton("Clear pins", self)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Layout:", self))
        bar.addWidget(self.layout_combo)
        bar.addWidget(QLabel("Show:", self))
        bar.addWidget(self.mode_combo)
        bar.addWidget(self.pin_button)
        bar.addWidget(self.clear_pins)
        bar.addStretch(1)
        self.grid_host = QWidget(self)
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self.tiles: list[WallTileWidget] = []
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.grid_host, 1)
        self.layout_combo.setCurrentIndex(max(0, self.layout_combo.findData(vm.layout_name)))
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(vm.mode)))
        self.layout_combo.currentIndexChanged.connect(
            lambda _i: vm.set_layout(str(self.layout_combo.currentData())))
        self._saved: dict[str, SessionFilter] = {}
        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo_changed)
        self.pin_button.clicked.connect(self.pin_requested)
        self.clear_pins.clicked.connect(self._on_clear_pins_clicked)
        vm.tiles_changed.connect(self._on_vm_tiles_changed)
        vm.time_zone_changed.connect(self._on_vm_time_zone_changed)
        vm.tile_changed.connect(self._on_vm_tile_changed)
        self.resize(1280, 860)
        self._on_vm_tiles_changed()

    def set_saved_filters(self, saved: dict[str, SessionFilter]) -> None:
        """Saved History views offered under "Show:" beside the built-in choices."""
        current = self.mode_combo.currentData()
        self.mode_combo.blockSignals(True)
        for i in range(self.mode_combo.count() - 1, -1, -1):
            if str(self.mode_combo.itemData(i)).startswith(_VIEW):
                self.mode_combo.removeItem(i)
        self._saved = dict(saved)
        for name in saved:
            self.mode_combo.addItem(f"View: {name}", _VIEW + name)
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(current)))
        self.mode_combo.blockSignals(False)

    def _on_mode_combo_changed(self, _index: int) -> None:
        data = str(self.mode_combo.currentData())
        if data.startswith(_VIEW):
            self.vm.show_saved_filter(self._saved.get(data.removeprefix(_VIEW)))
        elif data == "filter":
            self.vm.show_saved_filter(None)
        else:
            self.vm.saved_filter = None
            self.vm.set_mode(data)

    def _on_clear_pins_clicked(self) -> None:
        for sid in list(self.vm.pinned):
            self.vm.unpin(sid)

    def _on_vm_tiles_changed(self) -> None:
        count = max(1, len(self.vm.tiles))
        while len(self.tiles) < count:
            widget = WallTileWidget(self.grid_host)
            widget.transcript.chat_delegate.set_time_zone(self.vm.tz)
            widget.clicked.connect(self.session_clicked)
            self.tiles.append(widget)
        while len(self.tiles) > count:
            widget = self.tiles.pop()
            self.grid.removeWidget(widget)
            widget.deleteLater()
        columns = self.vm.columns()
        now = datetime.now(UTC)
        for i, widget in enumerate(self.tiles):
            self.grid.addWidget(widget, i // columns, i % columns)
            tile = self.vm.tiles[i] if i < len(self.vm.tiles) else None
            widget.show_tile(tile, now, self.vm.alert_state(tile.session_id) if tile else None)

    def _on_vm_time_zone_changed(self, tz: tzinfo) -> None:
        for widget in self.tiles:
            widget.transcript.chat_delegate.set_time_zone(tz)
            widget.transcript.viewport().update()

    def _on_vm_tile_changed(self, index: int) -> None:
        if 0 <= index < len(self.tiles) and index < len(self.vm.tiles):
            tile = self.vm.tiles[index]
            alert = self.vm.alert_state(tile.session_id) if tile is not None else None
            self.tiles[index].show_tile(tile, datetime.now(UTC), alert)
