"""The Analytics page's state: range, filter, SLA, and the report of the current source.

The source is the hub (``GET /analytics``) or an offline index; both compute the report with
``models/analytics.py``. A range that reaches *now* moves with the feed: a second after events
arrive, only its last hour is read again and spliced in (``models.analytics.splice_tail``);
the range-wide tables (hand-over, durations, workload) are read whole at most every
``FULL_REFRESH_S`` seconds while the feed moves. Other ranges refresh on demand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.analytics import (
    DEFAULT_SLA_SECONDS,
    AnalyticsError,
    AnalyticsReport,
    TimeRange,
    named_range,
    splice_tail,
    tail_range,
)
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.offline_index import OfflineIndex
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.tasks import TaskScope

log = logging.getLogger(__name__)

AnalyticsSource = Callable[[SessionFilter, TimeRange, int], Awaitable[AnalyticsReport]]
TAIL_DELAY_MS = 1000  # events of one burst are read in one tail query
FULL_REFRESH_S = 120


class AnalyticsViewModel(QObject):
    report_changed = Signal(object)
    loading_changed = Signal(bool)
    error_changed = Signal(str)
    range_name_changed = Signal(str)

    report = ObservableProperty[AnalyticsReport | None](None)
    loading = ObservableProperty(False)
    error = ObservableProperty("")
    range_name = ObservableProperty("today")

    def __init__(self, tasks: TaskScope, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.source: AnalyticsSource | None = None
        self.filter = SessionFilter()
        self.custom_range: TimeRange | None = None
        # The preference the alert rules' wait thresholds will feed.
        self.sla_seconds = DEFAULT_SLA_SECONDS
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._stale_tables = False  # the feed moved since the range was read whole
        # Whether the page is on screen (the app's clock tells): off screen the feed only
        # marks the tail stale and catch_up() reads it when the page shows again.
        self.on_screen: Callable[[], bool] = lambda: True
        self._stale_tail = False
        self._generation = 0  # a tail read for an older full read is dropped
        self._tail_timer = QTimer(self)
        self._tail_timer.setSingleShot(True)
        self._tail_timer.setInterval(TAIL_DELAY_MS)
        self._tail_timer.timeout.connect(self._on_tail_timer_timeout)
        self._full_timer = QTimer(self)
        self._full_timer.setInterval(FULL_REFRESH_S * 1000)
        self._full_timer.timeout.connect(self._on_full_timer_timeout)
        self._full_timer.start()

    def set_sla_seconds(self, seconds: int) -> None:
        """The wait answered "within SLA" (the alert rules' first wait threshold)."""
        if seconds != self.sla_seconds:
            self.sla_seconds = seconds
            self.refresh()

    def set_source(self, source: AnalyticsSource | None) -> None:
        self.source = source
        self.report = None
        if source is not None:
            self.refresh()

    def set_filter(self, flt: SessionFilter) -> None:
        self.filter = flt
        self.refresh()

    def set_range(self, name: str, custom: TimeRange | None = None) -> None:
        self.custom_range = custom if name == "custom" else None
        self.range_name = name
        self.refresh()

    def time_range(self) -> TimeRange:
        if self.range_name == "custom" and self.custom_range is not None:
            return self.custom_range
        return named_range(self.range_name if self.range_name != "custom" else "today",
                           self.clock(), self.clock().astimezone().utcoffset())

    def is_live_range(self) -> bool:
        return self.time_range().end_ms >= to_ms(self.clock())

    def note_feed_activity(self, *_args: object) -> None:
        """The feed moved: a live range re-reads its last hour a moment later."""
        self._stale_tables = True
        if not self.on_screen():
            self._stale_tail = True
            return
        if not self._tail_timer.isActive():
            self._tail_timer.start()

    def catch_up(self) -> None:
        """The page is on screen: read the tail the feed moved while it was not."""
        if self._stale_tail:
            self._stale_tail = False
            self.refresh_tail()

    def refresh(self) -> None:
        if self.source is None:
            return
        self._stale_tables = False
        self._generation += 1
        self._tasks.spawn(self._load(self.source, self.filter, self.time_range()), "analytics")

    def refresh_tail(self) -> None:
        """Read the last hour of a live range again and splice it into the report (the whole
        range when the report is of other buckets, e.g. a new bucket began)."""
        report, source = self.report, self.source
        if source is None or report is None or self.loading:
            return
        rng = self.time_range()
        tail = tail_range(rng, to_ms(self.clock()))
        if tail is None:
            return
        if (report.start_ms, report.end_ms, report.bucket_ms) != \
                (rng.start_ms, rng.end_ms, rng.bucket_ms):
            self.refresh()
            return
        self._tasks.spawn(self._load_tail(source, self.filter, tail, self._generation),
                          "analytics-tail")

    async def _load_tail(self, source: AnalyticsSource, flt: SessionFilter, tail: TimeRange,
                         generation: int) -> None:
        try:
            fresh = await source(flt, tail, self.sla_seconds)
        except Exception as exc:  # the next burst or full read tries again
            log.warning("analytics tail failed: %s", exc)
            return
        report = self.report
        if report is None or generation != self._generation or flt != self.filter:
            return
        try:
            self.report = splice_tail(report, fresh)
        except AnalyticsError:  # the range moved on meanwhile: read it whole
            self.refresh()

    async def _load(self, source: AnalyticsSource, flt: SessionFilter, rng: TimeRange) -> None:
        self.loading = True
        try:
            report = await source(flt, rng, self.sla_seconds)
        except Exception as exc:  # shown on the page; the charts keep the last report
            log.warning("analytics failed: %s", exc)
            self.error = str(exc) or type(exc).__name__
            return
        finally:
            self.loading = False
        self.error = ""
        self.report = report

    def _on_tail_timer_timeout(self) -> None:
        self.refresh_tail()

    def _on_full_timer_timeout(self) -> None:
        if self._stale_tables and self.source is not None and not self.loading \
                and self.on_screen() and self.is_live_range():
            self.refresh()


def _ms_moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def hub_analytics_source(client: HubClient) -> AnalyticsSource:
    """The hub computes the report (``GET /analytics``)."""

    async def fetch(flt: SessionFilter, rng: TimeRange, sla: int) -> AnalyticsReport:
        return await client.analytics(flt, _ms_moment(rng.start_ms), _ms_moment(rng.end_ms),
                                      rng.bucket_ms // 1000, sla)

    return fetch


def offline_analytics_source(index: OfflineIndex, now: datetime,
                             executor: Executor | None = None) -> AnalyticsSource:
    """An exported file: the same function over the index, off the Qt thread (on the index's
    own thread when given, the one that also appends to it)."""

    async def fetch(flt: SessionFilter, rng: TimeRange, sla: int) -> AnalyticsReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, index.analytics, flt, rng, to_ms(now), sla)

    return fetch
