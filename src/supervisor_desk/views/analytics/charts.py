"""One chart of the Analytics page: stacked bars, lines or category bars (pyqtgraph), with
exact values on hover, a click that names the bucket, and PNG/CSV export."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

from supervisor_desk.views.theme import current_theme, readable_on

ChartKind = Literal["stacked", "lines", "categories"]
BAR_CONTRAST = 2.0  # against the page: a bar or line must stand out, not be read as text


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: QColor
    key: str = ""  # what a drill-down filters on (a channel, a status), if anything


@dataclass(frozen=True)
class ChartData:
    """``labels`` name the x positions (bucket starts in ms for time charts)."""

    title: str
    kind: ChartKind
    labels: Sequence[str]
    series: Sequence[Series]
    bucket_starts: Sequence[int] = field(default=())
    bucket_ms: int = 0
    unit: str = ""
    category_keys: Sequence[str] = ()  # ids behind ``labels`` of a category chart (agents)

    def rows(self) -> list[list[str]]:
        header = ["bucket_start" if self.bucket_starts else "category",
                  *(s.name for s in self.series)]
        out = [header]
        for i, label in enumerate(self.labels):
            first = (datetime.fromtimestamp(self.bucket_starts[i] / 1000, UTC)
                     .strftime("%Y-%m-%dT%H:%M:%SZ") if self.bucket_starts else label)
            out.append([first, *("" if s.values[i] is None else _number(s.values[i])
                                 for s in self.series)])
        return out


LEGEND_MAX = 6  # two rows of three: more covered the bars of a quarter-screen chart


def legend_names(series: Sequence[Series]) -> set[str]:
    """The series the legend names: those with data, the largest first, at most LEGEND_MAX
    (hovering a bar lists every series)."""
    totals = [(sum(v or 0.0 for v in s.values), i, s.name) for i, s in enumerate(series)
              if any(v is not None for v in s.values)]
    totals.sort(key=lambda t: (-t[0], t[1]))
    return {name for _total, _i, name in totals[:LEGEND_MAX]}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


class ChartPanel(QWidget):
    """A titled chart. ``bucket_clicked(index, series key)`` on a click over a bar or point
    (the key of the stacked segment under the pointer; "" elsewhere)."""

    bucket_clicked = Signal(int, str)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analytics_chart")
        self.data: ChartData | None = None
        self.title = QLabel(title, self)
        self.title.setProperty("tone", "heading")
        self.plot = pg.PlotWidget(self)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(170)
        # The labels chosen by ticks() fit; pyqtgraph would otherwise drop some of them once
        # text fills 20-60 % of the axis.
        self.plot.getAxis("bottom").setStyle(textFillLimits=[(0, 0.95)])
        # Above the plot area's top-left, in rows of up to three (four overflowed a chart a
        # quarter of a 1280 px screen wide), on a backing so bars that reach the top stay
        # readable through it.
        self.legend = self.plot.addLegend(offset=(6, 2), labelTextSize="8pt", colCount=3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        self.plot.getPlotItem().vb.sigResized.connect(self._on_view_resized)
        self.plot.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)

    # ------------------------------------------------------------------ drawing

    def set_data(self, data: ChartData) -> None:
        self.data = data
        theme = current_theme()
        self.plot.clear()
        self.legend.clear()
        self.plot.setBackground(theme.color("base"))
        text = theme.color("text")
        for axis in ("left", "bottom"):
            item = self.plot.getAxis(axis)
            item.setPen(text)
            item.setTextPen(text)
        self.legend.setLabelTextColor(text)
        backing = theme.color("base")
        backing.setAlphaF(0.8)
        self.legend.setBrush(backing)
        n = len(data.labels)
        xs = list(range(n))
        named = legend_names(data.series)
        # Channel colours as the badges have them, nudged (same hue) where a theme's page
        # would swallow them (Intercom's near-black on dark, pale ones on high contrast).
        page = theme.color("base")
        data = ChartData(data.title, data.kind, data.labels, [
            Series(s.name, s.values, readable_on(s.color, page, BAR_CONTRAST), s.key)
            for s in data.series], data.bucket_starts, data.bucket_ms, data.unit,
            data.category_keys)
        self.data = data
        if data.kind in ("stacked", "categories"):
            base = [0.0] * n
            width = 0.8 / (1 if data.kind == "stacked" else max(1, len(data.series)))
            for k, s in enumerate(data.series):
                heights = [v or 0.0 for v in s.values]
                x: list[float]
                if data.kind == "stacked":
                    x, y0 = [float(i) for i in xs], base[:]
                    base = [b + h for b, h in zip(base, heights, strict=True)]
                else:
                    x = [i - 0.4 + width * (k + 0.5) for i in xs]
                    y0 = [0.0] * n
                bars = pg.BarGraphItem(x=x, height=heights, y0=y0, width=width,
                                       brush=s.color, pen=pg.mkPen(s.color.darker(130)))
                self.plot.addItem(bars)
                if s.name in named:
                    self.legend.addItem(bars, s.name)
        else:
            for s in data.series:
                if all(v is None for v in s.values):
                    continue  # nothing to draw (pyqtgraph warns on an all-NaN line)
                ys = [float("nan") if v is None else float(v) for v in s.values]
                line = self.plot.plot(xs, ys, pen=pg.mkPen(s.color, width=2), symbol="o",
                                      symbolSize=4, symbolBrush=s.color, connect="finite")
                if s.name in named:
                    self.legend.addItem(line, s.name)
        self._set_ticks()
        self.plot.setXRange(-0.6, max(0, n - 1) + 0.6, padding=0)
        # Counts, seconds and shares are never negative: the axis starts at 0 (auto-range put
        # an all-zero line mid-plot on a -0.4…0.4 scale) and a share ends at 100 %.
        if data.unit == " %":
            top = 100.0
        elif data.kind == "stacked":
            top = max([sum(s.values[i] or 0.0 for s in data.series) for i in xs], default=0.0)
        else:
            top = max([v for s in data.series for v in s.values if v is not None], default=0.0)
        self.plot.setYRange(0, max(1.0, top), padding=0.05)

    def ticks(self) -> list[tuple[int, str]]:
        """The x labels that fit the plot's width side by side (at 125 % six times ran into
        each other on a quarter-screen chart): times evenly spaced, every category named,
        its name shortened with "…" to its bar's width (hovering shows it whole)."""
        if self.data is None or not self.data.labels:
            return []
        labels = self.data.labels
        metrics = QFontMetrics(self.plot.getAxis("bottom").style.get("tickFont")
                               or self.plot.font())
        gap = metrics.horizontalAdvance("MM")
        room = max(1.0, self.plot.getPlotItem().vb.width() or self.plot.width() - 60.0)
        if not self.data.bucket_starts:
            slot = room / len(labels) - gap / 4
            if slot >= metrics.horizontalAdvance("Ab…"):
                return [(i, metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(slot)))
                        for i, label in enumerate(labels)]
        widest = max(metrics.horizontalAdvance(label) for label in labels)
        fit = max(1, int(room // (widest + gap)))
        step = max(1, -(-len(labels) // fit))
        return [(i, labels[i]) for i in range(0, len(labels), step)]

    def _set_ticks(self) -> None:
        self.plot.getAxis("bottom").setTicks([self.ticks()])

    def _on_view_resized(self, *_args: object) -> None:
        # The plot area's own width is known only once its layout ran (after our resize).
        if self.data is not None:
            self._set_ticks()

    # ------------------------------------------------------------------ hover and click

    def _index_at(self, scene_pos: QPointF) -> int | None:
        if self.data is None or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        index = round(point.x())
        return index if 0 <= index < len(self.data.labels) else None

    def series_at(self, index: int, y: float) -> str:
        """The key of the stacked segment of bar ``index`` that holds height ``y``."""
        if self.data is None or self.data.kind != "stacked":
            return ""
        top = 0.0
        for s in self.data.series:
            top += s.values[index] or 0.0
            if y < top:
                return s.key
        return ""

    def describe(self, index: int) -> str:
        assert self.data is not None
        lines = [self.data.labels[index]]
        for s in self.data.series:
            value = s.values[index]
            shown = "no data" if value is None else _number(value) + self.data.unit
            lines.append(f"{s.name}: {shown}")
        return "\n".join(lines)

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        index = self._index_at(scene_pos)
        if index is None:
            QToolTip.hideText()
            return
        view = self.plot.mapFromScene(scene_pos)
        QToolTip.showText(self.plot.mapToGlobal(view), self.describe(index), self.plot)

    def _on_scene_mouse_clicked(self, event: object) -> None:
        button = getattr(event, "button", lambda: None)()
        if button != Qt.MouseButton.LeftButton:
            return
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        index = self._index_at(scene_pos)
        if index is not None:
            y = self.plot.getPlotItem().vb.mapSceneToView(scene_pos).y()
            self.bucket_clicked.emit(index, self.series_at(index, y))

    # ------------------------------------------------------------------ export

    def save_png(self, path: Path) -> bool:
        return self.grab().save(str(path), "PNG")

    def save_csv(self, path: Path) -> None:
        if self.data is None:
            raise ValueError("the chart has no data yet")
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(self.data.rows())
