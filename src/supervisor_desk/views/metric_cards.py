"""The row of metric cards above the table: total, live, queued, last 24 h, top channel,
longest wait (8bit-ai's cards plus Avaamo's queue figures)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from supervisor_desk.models.markers import format_duration
from supervisor_desk.models.metrics import LiveMetrics
from supervisor_desk.models.wire import ChannelCount, Metrics
from supervisor_desk.models.wording import plural
from supervisor_desk.views.icons import channel_label


class MetricCard(QFrame):
    def __init__(self, key: str, title: str, accent: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"metric_{key}")
        self.setProperty("metricCard", True)
        self.setProperty("accent", accent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(0)
        self._title = QLabel(title, self)
        self._title.setObjectName("metricTitle")
        self._title.setTextFormat(Qt.TextFormat.PlainText)
        self._value = QLabel("…", self)
        self._value.setObjectName("metricValue")
        self._value.setTextFormat(Qt.TextFormat.PlainText)
        self._caption = QLabel("", self)
        self._caption.setObjectName("metricCaption")
        self._caption.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self._title)
        layout.addWidget(self._value)
        layout.addWidget(self._caption)

    def set_value(self, value: str, caption: str = "") -> None:
        if self._value.text() != value:
            self._value.setText(value)
        if self._caption.text() != caption:
            self._caption.setText(caption)

    def value(self) -> str:
        return self._value.text()

    def caption(self) -> str:
        return self._caption.text()

    def title(self) -> str:
        return self._title.text()

    def set_title(self, title: str) -> None:
        """Another name for the figure (offline review: "Live at export", not "Live now")."""
        self._title.setText(title)


class MetricCards(QWidget):
    """Six cards; :meth:`set_metrics` updates only the labels whose text changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        self.cards: dict[str, MetricCard] = {}
        for key, title, accent in (
            ("total", "Total sessions", "slate"),
            ("live", "Live now", "green"),
            ("queued", "Queued", "amber"),
            ("recent", "Last 24 h", "blue"),
            ("top_channel", "Top channel", "purple"),
            ("longest_wait", "Longest wait", "red"),
        ):
            card = MetricCard(key, title, accent, self)
            self.cards[key] = card
            layout.addWidget(card)

    def set_metrics(self, m: LiveMetrics) -> None:
        """The Live page's figures (``None`` totals: the hub has not answered yet)."""
        self._set_skeleton(False)
        self.cards["total"].set_value(
            f"{m.total:,}" if m.total is not None else "…", "all time, this hub"
        )
        self._set_common(m.live, m.active, m.queued, m.longest_wait_seconds)
        self.cards["recent"].set_value(
            f"{m.recent_24h:,}" if m.recent_24h is not None else "…", "started in the last 24 h"
        )
        self._set_top_channel(m.top_channel, "live", "no live sessions")

    def set_history_metrics(self, m: Metrics | None, *, scope: str) -> None:
        """History's or an offline file's figures; ``None`` shows skeletons while loading."""
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
