"""The row of metric cards above the table: total, live, queued, last 24 h, top channel,
longest wait (8bit-ai's cards plus Avaamo's queue figures)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QWidget

from supervisor_desk.models.alerts.rules import wait_severity
from supervisor_desk.models.markers import format_duration
from supervisor_desk.models.metrics import LiveMetrics
from supervisor_desk.models.wire import ChannelCount, Metrics
from supervisor_desk.models.wording import plural
from supervisor_desk.views.alerts.highlight import card_accent
from supervisor_desk.views.clock import on_screen, screen_clock
from supervisor_desk.views.icons import channel_label
from supervisor_desk.views.steady_labels import SteadyLabel

COMPACT_VALUE_PT = 12.0  # the value's size when a card shrinks to one line


class MetricCard(QFrame):
    """Title, value and caption; *compact*: one line, value then title, caption on hover."""

    def __init__(self, key: str, title: str, accent: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"metric_{key}")
        self.setProperty("metricCard", True)
        self.setProperty("accent", accent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(12, 8, 12, 8)
        self._grid.setSpacing(0)
        self._title = QLabel(title, self)
        self._title.setObjectName("metricTitle")
        self._title.setTextFormat(Qt.TextFormat.PlainText)
        self._value = SteadyLabel("…", self)
        self._value.setObjectName("metricValue")
        self._value.setTextFormat(Qt.TextFormat.PlainText)
        self._caption = SteadyLabel("", self)
        self._caption.setObjectName("metricCaption")
        self._caption.setTextFormat(Qt.TextFormat.PlainText)
        for figure in (self._value, self._caption):
            figure.fill_with("card_bg")  # their new figures repaint them alone
        self.compact = False
        self._place()

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self._place()

    def _place(self) -> None:
        grid = self._grid
        for label in (self._title, self._value, self._caption):
            grid.removeWidget(label)
        if self.compact:
            grid.setContentsMargins(10, 3, 10, 3)
            grid.setHorizontalSpacing(6)
            # A widget-level rule wins over the theme's size and keeps its colour.
            self._value.setStyleSheet(f"font-size: {COMPACT_VALUE_PT}pt;")
            # On one line the value's width places the title: it follows the text.
            self._value.set_steady(False)
            self._caption.set_steady(False)
            grid.addWidget(self._value, 0, 0, Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(self._title, 0, 1, Qt.AlignmentFlag.AlignVCenter)
            grid.setColumnStretch(1, 1)
            self._caption.hide()
        else:
            grid.setContentsMargins(12, 8, 12, 8)
            grid.setHorizontalSpacing(0)
            self._value.setStyleSheet("")
            grid.addWidget(self._title, 0, 0, 1, 2)
            grid.addWidget(self._value, 1, 0, 1, 2, Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(self._caption, 2, 0, 1, 2, Qt.AlignmentFlag.AlignLeft)
            grid.setColumnStretch(1, 0)
            self._caption.show()
            self._value.set_steady(True)
            self._caption.set_steady(True)
        self._sync_tooltip()

    def compact_width(self) -> int:
        """The width this card needs on one line (whatever it shows now)."""
        font = QFont(self._value.font())
        font.setPointSizeF(COMPACT_VALUE_PT)
        value = QFontMetrics(font).horizontalAdvance(self._value.text())
        return 10 + value + 6 + self._title.sizeHint().width() + 10 + 6  # + border

    def set_value(self, value: str, caption: str = "") -> None:
        self._value.set_text(value)
        self._caption.set_text(caption)
        self._sync_tooltip()

    def _sync_tooltip(self) -> None:
        caption = self._caption.text()
        self.setToolTip(f"{self._title.text()}: {self._value.text()} — {caption}"
                        if self.compact and caption else "")

    def value(self) -> str:
        return self._value.text()

    def caption(self) -> str:
        return self._caption.text()

    def title(self) -> str:
        return self._title.text()

    def set_title(self, title: str) -> None:
        """Another name for the figure (offline review: "Live at export", not "Live now")."""
        self._title.setText(title)

    def set_accent(self, accent: str) -> None:
        if self.property("accent") == accent:
            return
        self.setProperty("accent", accent)
        self.style().unpolish(self)
        self.style().polish(self)


class MetricCards(QWidget):
    """Six cards; :meth:`set_metrics` updates only the labels whose text changed.

    On a narrow window the cards shrink to one line each, six in a row or, narrower still,
    three in two rows, so the row never makes the window wider than a small screen.
    """

    SPACING = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(self.SPACING)
        self._grid = layout
        self._columns = 6
        self._full_width = 0  # what the full cards needed when they last showed
        self.cards: dict[str, MetricCard] = {}
        self.wait_thresholds: list[tuple[int, str]] = []  # set from the alert rules
        # Live figures that came just before the second's tick, shown by it (_hold_for_tick).
        self._held: LiveMetrics | None = None
        self._on_clock = False
        for column, (key, title, accent) in enumerate((
            ("total", "Total sessions", "slate"),
            ("live", "Live now", "green"),
            ("queued", "Queued", "amber"),
            ("recent", "Last 24 h", "blue"),
            ("top_channel", "Top channel", "purple"),
            ("longest_wait", "Longest wait", "red"),
        )):
            card = MetricCard(key, title, accent, self)
            self.cards[key] = card
            layout.addWidget(card, 0, column)

    @property
    def compact(self) -> bool:
        return any(card.compact for card in self.cards.values())

    @property
    def columns(self) -> int:
        return self._columns

    def _row_width(self, widths: list[int], columns: int) -> int:
        per_row = [max(widths[i::columns]) for i in range(columns)]
        return sum(per_row) + self.SPACING * (columns - 1)

    def minimumSizeHint(self) -> QSize:
        """Three one-line cards per row (the narrowest arrangement)."""
        widths = [card.compact_width() for card in self.cards.values()]
        hint = super().minimumSizeHint()
        return QSize(self._row_width(widths, 3), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(event.size().width())

    def _arrange(self, width: int) -> None:
        cards = list(self.cards.values())
        if not self.compact:
            self._full_width = self._row_width(
                [c.minimumSizeHint().width() for c in cards], 6)
        compact_widths = [c.compact_width() for c in cards]
        if width >= self._full_width:
            compact, columns = False, 6
        elif width >= self._row_width(compact_widths, 6):
            compact, columns = True, 6
        else:
            compact, columns = True, 3
        for card in cards:
            card.set_compact(compact)
        if columns != self._columns:
            self._columns = columns
            for card in cards:
                self._grid.removeWidget(card)
            for i, card in enumerate(cards):
                self._grid.addWidget(card, i // columns, i % columns)

    def set_metrics(self, m: LiveMetrics) -> None:
        """The Live page's figures (``None`` totals: the hub has not answered yet).

        Figures that come within ~100 ms of the clock's tick (a new session counted from the
        feed) are shown by the tick: one paint and one flush of the window for both."""
        if self._hold_for_tick(m):
            return
        self._held = None
        self._set_skeleton(False)
        self.cards["total"].set_value(
            f"{m.total:,}" if m.total is not None else "…", "all time, this hub"
        )
        self._set_common(m.live, m.active, m.queued, m.longest_wait_seconds)
        self.cards["recent"].set_value(
            f"{m.recent_24h:,}" if m.recent_24h is not None else "…", "started in the last 24 h"
        )
        self._set_top_channel(m.top_channel, "live", "no live sessions")

    def _hold_for_tick(self, m: LiveMetrics) -> bool:
        clock = screen_clock()
        if not clock.holds_for_tick() or not on_screen(self):
            return False
        self._held = m
        if not self._on_clock:
            self._on_clock = True
            clock.subscribe(self, self._on_clock_tick)
        return True

    def _on_clock_tick(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self.set_metrics(held)

    def set_history_metrics(self, m: Metrics | None, *, scope: str) -> None:
        """History's or an offline file's figures; ``None`` shows skeletons while loading."""
        self._held = None
        if m is None:
            self._set_skeleton(True)
            for card in self.cards.values():
                card.set_value("…", "loading")
            return
        self._set_skeleton(False)
        self.cards["total"].set_value(f"{m.total:,}", scope)
        self._set_common(m.live, m.active, m.queued, m.longest_wait_seconds)
        self.cards["recent"].set_value(f"{m.recent_24h:,}", "started in the last 24 h")
        self._set_top_channel(m.top_channel, None, "no sessions")

    def _set_common(self, live: int, active: int, queued: int, wait: float | None) -> None:
        self.cards["live"].set_value(f"{live:,}", f"{active:,} active")
        self.cards["queued"].set_value(f"{queued:,}", "waiting for an agent")
        # The wait alert rules' thresholds colour the card (neutral under the first one).
        level = wait_severity(self.wait_thresholds, wait) if wait is not None else None
        self.cards["longest_wait"].set_accent(card_accent(level) if self.wait_thresholds
                                              else "red")
        if wait is not None:
            self.cards["longest_wait"].set_value(format_duration(wait), "oldest in the queue")
        else:
            self.cards["longest_wait"].set_value("---", "nobody waiting")

    def _set_top_channel(self, top: ChannelCount | None, scope: str | None, empty: str) -> None:
        card = self.cards["top_channel"]
        if top is None:
            card.set_value("---", empty)
            return
        count = plural(top.count, "session")
        card.set_value(channel_label(top.channel), f"{count} {scope}" if scope else count)

    def _set_skeleton(self, skeleton: bool) -> None:
        for card in self.cards.values():
            if card.property("skeleton") != skeleton:
                card.setProperty("skeleton", skeleton)
