"""Which sessions the Wall shows (no Qt): pinned ones, the longest waiting, or a filter.

Tiles stay put: a session already on the wall keeps its slot while it still qualifies (or
has ended and is fading out); free slots take the next sessions in the mode's order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Literal, get_args

from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.wire import SessionSummary

WallMode = Literal["pinned", "longest_waiting", "alerts", "filter"]
WALL_MODES: tuple[str, ...] = get_args(WallMode)
MODE_LABELS = {"pinned": "Pinned sessions", "longest_waiting": "Longest waiting",
               "alerts": "With open alerts", "filter": "History's filter"}


def candidates(sessions: Iterable[SessionSummary], mode: str, pinned: Sequence[str],
               flt: SessionFilter, now: datetime,
               alerting: Collection[str] = ()) -> list[str]:
    """Live session ids in the order the mode ranks them (``alerting``: ids with an alert)."""
    live = [s for s in sessions if s.is_live]
    if mode == "alerts":
        live = [s for s in live if s.id in alerting]
    if mode == "pinned":
        by_id = {s.id: s for s in live}
        return [sid for sid in pinned if sid in by_id]
    if mode == "filter":
        chosen = [s for s in live if flt.matches(s)]
        return [s.id for s in sorted(chosen, key=lambda s: (to_ms(s.started_at), s.id))]
    queued = [s for s in live if s.status == "queued"]
    active = [s for s in live if s.status == "active"]

    def waited(s: SessionSummary) -> int:
        return to_ms(now) - to_ms(waiting_since(s))

    # Waiting customers first (longest first), then the longest conversations.
    ranked = sorted(queued, key=lambda s: (-waited(s), s.id)) + sorted(
        active, key=lambda s: (to_ms(s.accepted_at or s.started_at), s.id))
    return [s.id for s in ranked]


def assign(current: Sequence[str | None], ranked: Sequence[str], keep: set[str],
           slots: int) -> list[str | None]:
    """New tile contents: ``current`` ids in ``keep`` stay in place; the rest fill in order."""
    tiles: list[str | None] = [sid if sid in keep else None for sid in list(current)[:slots]]
    tiles += [None] * (slots - len(tiles))
    shown = {sid for sid in tiles if sid is not None}
    fresh = iter(sid for sid in ranked if sid not in shown)
    for i, sid in enumerate(tiles):
        if sid is None:
            tiles[i] = next(fresh, None)
    return tiles
