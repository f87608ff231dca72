"""Session detail: open a long transcript, append live messages, scroll, on the Qt thread.

Figures (milliseconds):
- ``detail.first_screen_2000_msgs_ms``: ``set_detail`` until the first rows are painted;
- ``detail.open_2000_msgs_ms``: ``set_detail`` until every row is measured and laid out
  (the scroll bar is final) and painted;
- ``detail.append_p50_ms`` / ``detail.append_max_ms``: one live message appended to a
  2,000-message transcript that is being followed, until it is laid out, scrolled into view
  at the bottom and painted;
- ``detail.scroll_max_stall_ms``: the longest single frame while paging through the whole
  2,000-message transcript (each page: scroll + paint of rows never painted before);
- ``detail.open_10000_*``: the same for 10,000 messages (full run only), with the longest
  single Qt-thread stall while the batched layout runs (``layout_max_stall_ms``).

Run: ``python -m benchmarks.detail_bench [--quick] [--json out.json]``.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from benchmarks._common import Results, main_for, percentile, rss_mb
from supervisor_desk.models.wire import Message, SessionDetail, SessionSummary

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

_CUSTOMER = [
    "Hi, I was charged twice for my October invoice.",
    "It's INV-2026-1043. Card ending 4417.",
    "Can you also change the delivery address to my office? It's Hauptstraße 5, 10115 Berlin.",
    "ok",
    "Thanks, that helps a lot! When will I see the refund on my statement?",
    "I tried the link but it says my session expired, and then the page kept reloading "
    "forever. I'm on Firefox on a Mac if that matters.",
]
_AI = [
    "Sorry about that! Let me check your account.",
    "I can see **two charges** of €49.00 on 2026-10-03. I'll flag one for a refund.",
    "Sure — here's what I need:\n\n1. the invoice number\n2. the last four digits of the card\n\n"
    "See [our billing FAQ](https://example.com/billing-faq).",
    "Done. The refund usually takes 3-5 business days.",
    "Could you try again with this link: [reset](https://example.com/reset)? If it still "
    "fails, clear cookies for example.com and reload.",
    "```\nRef: RF-88213\nAmount: 49.00 EUR\n```",
]


def build_detail(n: int, session_id: str = "bench-session", live: bool = False) -> SessionDetail:
    """A believable transcript: customer/AI turns, some Markdown, reactions, deliveries."""
    messages = []
    for i in range(1, n + 1):
        customer = i % 2 == 1
        texts = _CUSTOMER if customer else _AI
        data: dict[str, Any] = {
            "id": f"m{i}",
            "session_id": session_id,
            "seq": i,
            "at": T0 + timedelta(seconds=15 * i),
            "author": {"role": "customer" if customer else "ai"},
            "text": texts[(i * 7) % len(texts)],
        }
        if customer and i % 5 == 0:
            data["delivery"] = {"status": "read", "at": T0 + timedelta(seconds=15 * i + 3)}
        if not customer and i % 9 == 0:
            data["reaction"] = "up"
        if not customer and i % 23 == 0:
            data["quick_replies"] = ["Yes", "No", "Talk to a human"]
        if customer and i % 41 == 0:
            data["attachments"] = [
                {
                    "name": "photo.jpg",
                    "mime": "image/jpeg",
                    "size": 182_000,
                    "url": "https://files.example.com/photo.jpg",
                }
            ]
        messages.append(Message.model_validate(data))
    summary = SessionSummary.model_validate(
        {
            "id": session_id,
            "agent": {"id": "a", "name": "Billing assistant"},
            "channel": "web",
            "status": "active" if live else "completed",
            "end_reason": None if live else "resolved",
            "ended_at": None if live else (T0 + timedelta(seconds=15 * n + 60)).isoformat(),
            "user": {"id": "u1", "name": "Dana"},
            "started_at": T0.isoformat(),
            "message_count": n,
        }
    )
    return SessionDetail(session=summary, messages=messages)


class _PaintWatch(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.last_paint = 0.0
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
            self.last_paint = time.perf_counter()
        return False


def _open(view: Any, watch: _PaintWatch, detail: SessionDetail) -> dict[str, float]:
    """Open ``detail``; returns first screen, full layout and the longest stall (ms)."""
    app = QApplication.instance()
    assert app is not None
    view.set_detail(None)
    app.processEvents()
    view.delegate.invalidate()
    watch.paints = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    view.set_detail(detail)
    first = None
    stall = 0.0
    while True:
        before = time.perf_counter()
        app.processEvents()
        after = time.perf_counter()
        stall = max(stall, after - before)
        if first is None and watch.paints:
            first = watch.last_paint - start
        if view.list_view.fully_measured and watch.paints:
            # Everything measured; one more round lays out the last batch and paints.
            app.processEvents()
            view.list_view.viewport().repaint()
            break
        if after - start > 60:
            raise RuntimeError("layout did not finish within 60 s")
    full = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "first": (first or full) * 1000,
        "full": full * 1000,
        "stall": stall * 1000,
        "cpu": cpu * 1000,
    }


def run(quick: bool) -> Results:
    from supervisor_desk.views.chat import ChatView

    app = QApplication.instance() or QApplication([])
    view = ChatView(time_zone="UTC")
    view.resize(900, 800)
    view.show()
    watch = _PaintWatch()
    view.list_view.viewport().installEventFilter(watch)
    app.processEvents()
    results: Results = {}

    detail = build_detail(2000)
    _open(view, watch, build_detail(50, "warm-up"))  # first-use costs (fonts, caches)
    runs = [_open(view, watch, detail) for _ in range(1 if quick else 3)]
    results["detail.first_screen_2000_msgs_ms"] = round(min(r["first"] for r in runs), 1)
    results["detail.open_2000_msgs_ms"] = round(min(r["full"] for r in runs), 1)
    results["detail.open_2000_layout_max_stall_ms"] = round(min(r["stall"] for r in runs), 1)
    # CPU time of this process: on the shared box the wall time includes waiting for a core.
    results["detail.open_2000_msgs_cpu_ms"] = round(min(r["cpu"] for r in runs), 1)

    # Scrolling: page through the whole transcript, rows painted for the first time.
    bar = view.list_view.verticalScrollBar()
    bar.setValue(0)
    app.processEvents()
    stalls = []
    while bar.value() < bar.maximum():
        start = time.perf_counter()
        bar.setValue(bar.value() + bar.pageStep())
        view.list_view.viewport().repaint()
        app.processEvents()
        stalls.append((time.perf_counter() - start) * 1000)
    results["detail.scroll_pages"] = len(stalls)
    results["detail.scroll_p50_ms"] = round(percentile(stalls, 50), 2)
    results["detail.scroll_max_stall_ms"] = round(max(stalls), 1)

    # Live: a followed 2,000-message session gets 50 new messages, one at a time.
    live = build_detail(2000, "live-session", live=True)
    _open(view, watch, live)
    for _ in range(20):
        app.processEvents()
    appends: list[float] = []
    append_cpu: list[float] = []
    for i in range(2001, 2051):
        msg = Message.model_validate(
            {
                "id": f"m{i}",
                "session_id": "live-session",
                "seq": i,
                "at": T0 + timedelta(seconds=15 * i),
                "author": {"role": "customer"},
                "text": f"new live message number {i}, with **some** Markdown",
            }
        )
        paints = watch.paints
        cpu_start = time.process_time()
        start = time.perf_counter()
        view.append_message(msg)
        # Done when the new row is laid out, on screen at the bottom, and painted.
        viewport = view.list_view.viewport()
        while True:
            app.processEvents()
            rect = view.list_view.visualRect(view.index_of(f"live-session/m/m{i}"))
            visible = rect.isValid() and rect.top() >= 0 and rect.bottom() <= viewport.height() + 2
            if visible and watch.paints > paints:
                break
            if time.perf_counter() - start > 10:
                raise RuntimeError("appended message never became visible")
        appends.append((time.perf_counter() - start) * 1000)
        append_cpu.append((time.process_time() - cpu_start) * 1000)
        # A realistic gap: let any follow-up batched layout run before the next message.
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            app.processEvents()
    results["detail.append_p50_ms"] = round(percentile(appends, 50), 2)
    results["detail.append_max_ms"] = round(max(appends), 1)
    results["detail.append_cpu_p50_ms"] = round(percentile(append_cpu, 50), 2)
    results["detail.append_followed"] = bar.value() == bar.maximum()

    if not quick:
        big = build_detail(10_000, "big-session")
        r = _open(view, watch, big)
        results["detail.first_screen_10000_msgs_ms"] = round(r["first"], 1)
        results["detail.open_10000_msgs_ms"] = round(r["full"], 1)
        results["detail.open_10000_layout_max_stall_ms"] = round(r["stall"], 1)
        results["detail.open_10000_msgs_cpu_ms"] = round(r["cpu"], 1)

    results["detail.rss_mb"] = round(rss_mb(), 1)
    # Context for the figures: the 2-core box is shared, so say how busy it was.
    start = time.perf_counter()
    sum(range(3_000_000))
    results["detail.cpu_calibration_ms"] = round((time.perf_counter() - start) * 1000, 1)
    results["detail.load_avg_1m"] = round(os.getloadavg()[0], 2)
    view.close()
    return results


if __name__ == "__main__":
    main_for(run)
