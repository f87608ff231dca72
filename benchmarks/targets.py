"""Every figure the suite reports, with its target, its same-run baseline and its ceiling.

``better`` says which direction is good. ``baseline`` names the figure of the naive way measured
in the same run (ratio = baseline / value for "lower", value / baseline for "higher"), ``limit``
the figure of the machine's ceiling (raw SQLite, a bare websockets broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Figure:
    key: str
    unit: str
    better: Literal["lower", "higher"]
    target: float | None = None
    baseline: str | None = None
    limit: str | None = None
    meaning: str = ""


FIGURES: tuple[Figure, ...] = (
    Figure("table.sort_100k_ms", "ms", "lower", 100, "table.naive_sort_100k_ms",
           meaning="re-sort the history table of 100k rows"),
    Figure("table.naive_sort_100k_ms", "ms", "lower", meaning="QSortFilterProxyModel sort"),
    Figure("table.sort_100k_worst_ms", "ms", "lower", 150,
           meaning="the slowest header click of the columns sorted (median is the figure above)"),
    Figure("table.sort_100k_cpu_ms", "ms", "lower", None, "table.naive_sort_100k_cpu_ms",
           meaning="CPU time of the sort (no waiting for a core on the shared machine)"),
    Figure("table.naive_sort_100k_cpu_ms", "ms", "lower", meaning="CPU time of the proxy sort"),
    Figure("table.filter_100k_ms", "ms", "lower", 100, "table.naive_filter_100k_ms",
           meaning="apply a filter to 100k rows"),
    Figure("table.naive_filter_100k_ms", "ms", "lower", meaning="QSortFilterProxyModel filter"),
    Figure("table.filter_100k_cpu_ms", "ms", "lower", None, "table.naive_filter_100k_cpu_ms",
           meaning="CPU time of the filter"),
    Figure("table.naive_filter_100k_cpu_ms", "ms", "lower",
           meaning="CPU time of the proxy filter"),
    Figure("table.tick_ms", "ms", "lower", 20, "table.naive_tick_ms",
           meaning="one-second duration tick over the live table"),
    Figure("table.naive_tick_ms", "ms", "lower", meaning="whole-column dataChanged via proxy"),
    Figure("table.tick_cpu_ms", "ms", "lower", None, "table.naive_tick_cpu_ms",
           meaning="CPU time of the tick"),
    Figure("table.naive_tick_cpu_ms", "ms", "lower", meaning="CPU time of the proxy tick"),
    Figure("table.sort_100k_paged_ms", "ms", "lower", 100,
           meaning="History/offline header click: the index sorts 100k, the table shows a page"),
    Figure("table.filter_100k_paged_ms", "ms", "lower", 100,
           meaning="History/offline filter: the index filters 100k, the table shows a page"),
    Figure("table.sort_live_10k_ms", "ms", "lower", 30,
           meaning="header click on the live table (10k rows), the model's own sort"),
    Figure("table.load_100k_ms", "ms", "lower",
           meaning="replace every row (snapshot, sign-in) and paint"),
    Figure("feed.event_to_row_p50_ms", "ms", "lower", None, "feed.poll_1s_staleness_p50_ms",
           meaning="websocket frame read -> row painted, median"),
    Figure("feed.event_to_row_p99_ms", "ms", "lower", 100, "feed.poll_1s_staleness_p99_ms",
           meaning="websocket frame read -> row painted, p99"),
    Figure("feed.poll_1s_staleness_p50_ms", "ms", "lower",
           meaning="polling REST every 1 s: event -> seen, median"),
    Figure("feed.poll_1s_staleness_p99_ms", "ms", "lower", meaning="polling every 1 s, p99"),
    Figure("feed.poll_10s_staleness_p99_ms", "ms", "lower", meaning="polling every 10 s, p99"),
    Figure("feed.ingest_to_row_p50_ms", "ms", "lower", None, "feed.poll_1s_staleness_p50_ms",
           meaning="platform POST -> row painted (end to end, like the polling figure), median"),
    Figure("feed.ingest_to_row_p99_ms", "ms", "lower", None, "feed.poll_1s_staleness_p99_ms",
           meaning="platform POST -> row painted, p99"),
    Figure("feed.event_to_model_p99_ms", "ms", "lower",
           meaning="frame read -> model signal (the 80 ms frame batching), p99"),
    Figure("feed.max_stall_ms", "ms", "lower", 50, meaning="longest Qt-thread stall under load"),
    Figure("feed.max_stall_thread_cpu_ms", "ms", "lower", 30,
           meaning="CPU the Qt thread itself spent inside the longest-busy gap (our code)"),
    Figure("feed.events_per_s", "ev/s", "higher", 1000, meaning="events applied per second"),
    Figure("feed.rss_mb", "MB", "lower", 400, meaning="desktop RSS with 10k live sessions"),
    Figure("feed.paint_cpu_p50_ms", "ms", "lower", 8,
           meaning="Qt-thread CPU of one viewport paint (32 rows), median"),
    Figure("feed.gc_max_ms", "ms", "lower", 20,
           meaning="longest cyclic garbage collection during the feed run"),
    Figure("startup.first_rows_ms", "ms", "lower", 1500, meaning="cold start to live rows"),
    Figure("startup.first_rows_app_ms", "ms", "lower",
           meaning="the app's own clock (from its __main__ import) to live rows"),
    Figure("startup.first_rows_cpu_ms", "ms", "lower",
           meaning="CPU of the app's process (all threads, demo hub too) up to live rows"),
    Figure("startup.quit_ms", "ms", "lower", meaning="SIGTERM -> process exited cleanly"),
    Figure("detail.open_2000_msgs_ms", "ms", "lower", 500,
           meaning="open a 2,000-message session, full transcript laid out"),
    Figure("offline.first_rows_ms", "ms", "lower", 1000, meaning="open 100k export: first rows"),
    Figure("offline.open_100k_s", "s", "lower", 8,
           meaning="open 100k export (393 MB JSONL) in the window: read, indexed, searchable"),
    Figure("offline.rss_mb", "MB", "lower", 800, meaning="RSS with a 100k export open"),
    Figure("offline.max_stall_ms", "ms", "lower", 50,
           meaning="longest Qt-thread stall while the 100k export loads (the app's way)"),
    Figure("offline.thread_max_stall_ms", "ms", "lower",
           meaning="the same, the file read by a thread of the app's own process"),
    Figure("offline.process_max_stall_ms", "ms", "lower",
           meaning="the same, the file parsed in a child process"),
    Figure("offline.thread_indexed_s", "s", "lower",
           meaning="open to fully indexed, read by a thread of the app's own process"),
    Figure("offline.process_indexed_s", "s", "lower",
           meaning="open to fully indexed, parsed in a child process"),
    Figure("hub.ingest_events_per_s", "ev/s", "higher", 15000, None, "hub.raw_sqlite_events_per_s",
           meaning="durable ingest, batches of 100"),
    Figure("hub.raw_sqlite_events_per_s", "ev/s", "higher",
           meaning="plain sqlite3 executemany of the same rows (ceiling)"),
    Figure("hub.fanout_p99_ms", "ms", "lower", 100, None, "hub.bare_broadcast_p99_ms",
           meaning="ingest -> 50 feed clients, p99"),
    Figure("hub.bare_broadcast_p99_ms", "ms", "lower",
           meaning="bare websockets broadcast to 50 clients, p99 (ceiling)"),
    Figure("hub.list_query_ms", "ms", "lower", 150,
           meaning="sessions list, two filters, 100k sessions / 1M messages"),
    Figure("hub.export_100k_rss_mb", "MB", "lower",
           meaning="hub RSS while streaming a 100k export"),
    # Issue 15: alert rules, 10,000 live sessions, 50 rules, 1,000 events/s.
    Figure("alerts.engine_p99_ms", "ms", "lower", 1,
           meaning="rule evaluation per applied batch on the Qt thread, p99"),
    Figure("alerts.engine_cpu_p99_ms", "ms", "lower", 1,
           meaning="the same as Qt-thread CPU time (no waiting for a core)"),
    Figure("alerts.batch_p99_ms", "ms", "lower", 1,
           meaning="evaluation and telling the user (banners) per batch, p99"),
    Figure("alerts.event_to_notice_p99_ms", "ms", "lower", 200,
           meaning="triggering event -> notification raised, p99"),
    # Issue 16: voice sessions.
    Figure("voice.realtime_factor", "x", "higher", None,
           meaning="seconds of audio transcribed per second, on the hub's worker"),
    Figure("voice.ingest_change_pct", "%", "higher", -10,
           meaning="hub ingest rate while a transcription runs vs without (no worse than -10 %)"),
    Figure("voice.feed_change_pct", "%", "lower", 10,
           meaning="feed latency p99 while a transcription runs vs without (no worse than +10 %)"),
    # Issue 19: analytics and the Wall.
    Figure("analytics.report_30d_ms", "ms", "lower", 200, "analytics.naive_30d_ms",
           meaning="hub analytics, 30 days over 100k sessions / 1M messages"),
    Figure("analytics.naive_30d_ms", "ms", "lower",
           meaning="every session's columns read into Python and bucketed there"),
    Figure("analytics.report_hour_ms", "ms", "lower", 200, meaning="hub analytics, last hour"),
    Figure("analytics.report_30d_channel_ms", "ms", "lower", 200,
           meaning="hub analytics, 30 days, one channel filtered"),
    Figure("wall.max_stall_ms", "ms", "lower", 50,
           meaning="longest Qt-thread stall, 9 tiles at 1,000 events/s"),
    # Issue 20: a quiet app (50 live sessions, 5 events/s, % of one core).
    Figure("idle.shown_5eps.cpu_pct", "%", "lower", 1, meaning="window shown"),
    Figure("idle.hidden_5eps.cpu_pct", "%", "lower", 0.3, meaning="closed to the tray"),
    Figure("idle.minimised_5eps.cpu_pct", "%", "lower", 0.3, meaning="window minimised"),
    Figure("idle.rss_ratio_8h_10min", "x", "lower", 1.1,
           meaning="RSS after 8 simulated hours over RSS after 10 minutes"),
    # The runner itself.
    Figure("suite.quick_s", "s", "lower", 180,
           meaning="python -m benchmarks --quick, every module, wall time"),
)

# Figures only a run at full size reports (names carry the size, or the run is shift-long).
FULL_ONLY = frozenset({"offline.open_100k_s", "idle.rss_ratio_8h_10min"})
# Figures only a quick run of every module reports.
QUICK_ONLY = frozenset({"suite.quick_s"})

BY_KEY = {f.key: f for f in FIGURES}
