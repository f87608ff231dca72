"""The order of the live sessions table, Qt-free: one definition for the table and its tests.

The table sorts a plain Python list with these keys (docs/architecture.md, "No
QSortFilterProxyModel"); this module says what the keys are. ``LONGEST_WAIT`` (Avaamo):
queued sessions first, the longest waiting on top, then active ones, the longest conversation
on top. ``ARRIVAL`` (ixHello): the order sessions were first seen, new ones at the bottom.
``GIVEN``: the order the hub or an offline index returned (History), as is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from supervisor_desk.models.wire import SessionSummary


class LiveOrder(StrEnum):
    """How rows are ordered when no column sort is active. Values are stored in preferences."""

    LONGEST_WAIT = "longest_wait"
    ARRIVAL = "arrival"
    GIVEN = "given"
    # Alias kept while views/main_window.py still spells it so (removed once it does not).
    PRIORITY = "longest_wait"


# The orders a supervisor can choose for the Live page (GIVEN belongs to History).
LIVE_ORDERS: tuple[LiveOrder, ...] = (LiveOrder.LONGEST_WAIT, LiveOrder.ARRIVAL)

LIVE_ORDER_TITLES: dict[LiveOrder, str] = {
    LiveOrder.LONGEST_WAIT: "Queued first, longest waiting",
    LiveOrder.ARRIVAL: "Arrival order (new at the bottom)",
}

QUEUED_RANK = 0
ACTIVE_RANK = 1
_LIVE_RANK = {"queued": QUEUED_RANK, "active": ACTIVE_RANK}


class LiveOrdering:
    """Sort keys of the rows of one table: arrival numbers plus the live order's rule.

    Keys are unique (they end with the session id or its arrival number), so a sorted list
    of keys can be bisected to find a row.
    """

    def __init__(self, order: LiveOrder = LiveOrder.LONGEST_WAIT) -> None:
        self.order = order
        self._arrival: dict[str, int] = {}
        self._next_arrival = 0
        # The live rank a session had last while live, so an ended row keeps its place.
        self._last_rank: dict[str, int] = {}

    def clear(self) -> None:
        self._arrival.clear()
        self._last_rank.clear()
        self._next_arrival = 0

    def note(self, session: SessionSummary) -> None:
        """Remember a session's arrival (first sight only) and its live rank."""
        if session.id not in self._arrival:
            self._arrival[session.id] = self._next_arrival
            self._next_arrival += 1
        self.note_rank(session)

    def note_rank(self, session: SessionSummary) -> None:
        rank = _LIVE_RANK.get(session.status)
        if rank is not None:
            self._last_rank[session.id] = rank
        elif session.id not in self._last_rank:
            # Arrived already ended: where it would have been when it was last live.
            waiting = session.queued_at is not None and session.accepted_at is None
            self._last_rank[session.id] = QUEUED_RANK if waiting else ACTIVE_RANK

    def forget(self, session_id: str) -> None:
        self._arrival.pop(session_id, None)
        self._last_rank.pop(session_id, None)

    def arrival(self, session_id: str) -> int:
        """Position in arrival order (first sight); 0 for a session never noted."""
        return self._arrival.get(session_id, 0)

    def key(self, session: SessionSummary) -> tuple[Any, ...]:
        """The ascending sort key of ``session`` in :attr:`order`."""
        if self.order is not LiveOrder.LONGEST_WAIT:
            return (self.arrival(session.id),)
        rank = self._last_rank.get(session.id, ACTIVE_RANK)
        if rank == QUEUED_RANK:
            # Longest wait first = earliest queue time first.
            anchor = (session.queued_at or session.started_at).timestamp()
        else:
            # Longest conversation first = earliest acceptance (start when never queued).
            anchor = (session.accepted_at or session.started_at).timestamp()
        return (rank, anchor, session.id)
