"""Complete histories spread over past days, as ingest batches, for tests and benchmarks.

100,000 sessions / 1,000,000 messages take about a minute on a busy 2-core machine: plain
dicts, no per-event validation. Ids depend on the seed alone, so loading the same dataset (same
seed and ``now``) twice is a no-op; with another ``now`` the same ids carry other times, which a
hub refuses as reused event ids (409).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from supervisor_desk.simulator.runner import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from supervisor_desk.simulator.story import Event, SessionStory, World


def _estimate_size(event: Event) -> int:
    """A safe upper estimate of an event's JSON size, without serialising it."""
    typ = event["type"]
    data = event["data"]
    if typ == "message.created":
        return (500 + 2 * len(data["text"]) + 250 * len(data["attachments"])
                + 40 * len(data["quick_replies"]))
    if typ == "log.appended":
        size = 120
        for entry in data["entries"]:
            size += 160 + 2 * (len(entry.get("text", "")) + len(entry.get("prompt", "")))
            generation = entry.get("generation")
            if generation:
                size += 2 * (len(generation["action"]) + len(generation["action_input"]))
        return size
    if typ == "session.started":
        return 1800
    return 500


def _compact(events: list[Event]) -> list[Event]:
    """Fold delivery/reaction updates into their messages and logs into one event per kind.

    A stored history does not need every intermediate receipt as its own event; this keeps a
    100,000-session dataset near one event per message while the final state is the same.
    """
    messages: dict[str, dict[str, Any]] = {}
    logs: dict[str, Event] = {}
    out: list[Event] = []
    ended: Event | None = None
    for event in events:
        typ = event["type"]
        data = event["data"]
        if typ == "message.created":
            messages[data["id"]] = data
            out.append(event)
        elif typ == "message.updated":
            target = messages.get(data["id"])
            if target is None:
                out.append(event)
                continue
            for key in ("reaction", "delivery"):
                if key in data:
                    target[key] = data[key]
        elif typ == "log.appended":
            kept = logs.get(data["kind"])
            if kept is None:
                logs[data["kind"]] = event
            else:
                kept["data"]["entries"].extend(data["entries"])
                kept["at"] = event["at"]
        elif typ == "session.ended":
            ended = event
        else:
            out.append(event)
    # The merged logs go last (before the end), stamped no earlier than what precedes them
    # so the session's events stay in time order (same-format RFC 3339 strings sort as text).
    latest = max((e["at"] for e in out), default="")
    for kept in logs.values():
        latest = kept["at"] = max(kept["at"], latest)
        out.append(kept)
    if ended is not None:
        out.append(ended)
    return out


def build_dataset(
    n_sessions: int,
    *,
    seed: int,
    messages_per_session: int = 10,
    live_fraction: float = 0.1,
    now: datetime | None = None,
    days: float = 14.0,
    hostile: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """Complete histories of ``n_sessions`` sessions, as ingest batches (≤1000 events, ≤1 MiB).

    Ended sessions started over the past ``days`` (oldest first) and carry exactly
    ``messages_per_session`` messages each; the last ``round(n_sessions * live_fraction)``
    sessions started in the last 20 minutes and are still queued or active at ``now``.
    """
    if not 0.0 <= live_fraction <= 1.0:
        raise ValueError("live_fraction must be within [0, 1]")
    rng = random.Random(seed)
    world = World(rng, max_customers=max(200, n_sessions // 3), hostile=hostile)
    now_t = (now or datetime.now(UTC)).timestamp()
    n_live = round(n_sessions * live_fraction)
    n_hist = n_sessions - n_live
    oldest = max(days * 86400.0, 7200.0)
    starts = sorted(now_t - rng.uniform(7200.0, oldest) for _ in range(n_hist))
    size_budget = int(MAX_BATCH_BYTES * 0.95)
    batch: list[dict[str, Any]] = []
    size = 0
    for i in range(n_sessions):
        live = i >= n_hist
        story = SessionStory(world, rng, n_messages=messages_per_session)
        t = now_t - rng.uniform(30.0, 1200.0) if live else starts[i]
        events: list[Event] = []
        while True:
            delay = story.advance()
            if delay is None:
                break
            t += delay
            if live and events and (t > now_t or story.closing):
                break
            events.append(story.emit(t))
        for event in _compact(events):
            est = _estimate_size(event)
            if batch and (len(batch) >= MAX_BATCH_EVENTS or size + est > size_budget):
                yield batch
                batch = []
                size = 0
            batch.append(event)
            size += est
    if batch:
        yield batch
