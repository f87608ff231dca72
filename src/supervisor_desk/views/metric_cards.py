"""The row of metric cards above the table: total, live, queued, last 24 h, top channel,
longest wait (8bit-ai's cards plus Avaamo's queue figures)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from supervisor_desk.models.markers import format_duration
from supervisor_desk.views.live_viewmodel import LiveMetrics


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
        self.cards["total"].set_value(
            f"{m.total:,}" if m.total is not None else "…", "all time, this hub"
        )
        self.cards["live"].set_value(f"{m.live:,}", f"{m.active:,} active")
        self.cards["queued"].set_value(f"{m.queued:,}", "waiting for an agent")
        self.cards["recent"].set_value(
            f"{m.recent_24h:,}" if m.recent_24h is not None else "…", "sessions started"
        )
        if m.top_channel:
            self.cards["top_channel"].set_value(m.top_channel, f"{m.top_channel_count:,} live")
        else:
            self.cards["top_channel"].set_value("---", "no live sessions")
        if m.longest_wait_seconds is not None:
            self.cards["longest_wait"].set_value(
                format_duration(m.longest_wait_seconds), "oldest in the queue"
            )
        else:
            self.cards["longest_wait"].set_value("---", "nobody waiting")
