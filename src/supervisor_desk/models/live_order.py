"""The order of the live sessions table, Qt-free: one definition for the table and its tests.

The table sorts a plain Python list with these keys (docs/architecture.md, "No
QSortFilterProxyModel"); this module says what the keys are.

- ``LONGEST_WAIT`` (Avaamo): queued sessions first, the longest waiting on top; then active
  ones, the longest conversation on top; then the ended ones still shown, in the order they
  ended. An ended row never sorts above a live one: the top of the list is "who needs
  someone now".
- ``ARRIVAL`` (ixHello): the order sessions were first seen, new ones at the bottom; ended
  rows below the live ones here too.
- ``GIVEN``: the order the hub or an offline index returned (History), as is.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from supervisor_desk.models.wire import SessionSummary


class LiveOrder(StrEnum):
    """How rows are ordered when no column sort is active. Values are stored in preferences."""

    LONGEST_WAIT = "longest_wait"
    ARRIVAL = "arrival"
    GIVEN = "given"


# The orders a supervisor can choose for the Live page (GIVEN belongs to History).
LIVE_ORDERS: tuple[LiveOrder, ...] = (LiveOrder.LONGEST_WAIT, LiveOrder.ARRIVAL)

LIVE_ORDER_TITLES: dict[LiveOrder, str] = {
    LiveOrder.LONGEST_WAIT: "Queued first, longest waiting",
    LiveOrder.ARRIVAL: "Arrival order (new at the bottom)",
}
# The header's order box: short enough to stay whole beside the page switch at 1366x768 at
# 125 % (the full title is its tooltip and the View menu's wording).
LIVE_ORDER_SHORT_TITLES: dict[LiveOrder, str] = {
    LiveOrder.LONGEST_WAIT: "Longest wait first",
    LiveOrder.ARRIVAL: "Arrival order",
}

QUEUED_RANK = 0
ACTIVE_RANK = 1
ENDED_RANK = 2
_LIVE_RANK = {"queued": QUEUED_RANK, "active": ACTIVE_RANK}


def conversation_start(session: SessionSummary) -> datetime:
    """When the conversation began: acceptance after a queue, else the session's start."""
    return session.accepted_at or session.started_at


def waiting_since(session: SessionSummary) -> datetime:
    """When a queued session started waiting (its start if the platform sent no queue time)."""
    return session.queued_at or session.started_at


def order_seconds(session: SessionSummary, now: datetime) -> float:
    """The time the default order ranks by, as the Duration column shows it.

    Queued: the wait so far. Active: the conversation so far (since accepted). Ended: the
    conversation's length. Never negative (clock skew between platform and desktop).
    """
    if session.status == "queued":
        return max(0.0, (now - waiting_since(session)).total_seconds())
    end = session.ended_at if session.ended_at is not None else now
    if session.status not in _LIVE_RANK and session.accepted_at is None and (
        session.queued_at is not None
    ):
        # Ended in the queue: it never had a conversation; its time is the wait.
        return max(0.0, (end - waiting_since(session)).total_seconds())
    return max(0.0, (end - conversation_start(session)).total_seconds())


class LiveOrdering:
    """Sort keys of the rows of one table: arrival numbers plus the live order's rule.

    Keys are unique (they end with the session id or its arrival number), so a sorted list
    of keys can be bisected to find a row.
    """

    def __init__(self, order: LiveOrder = LiveOrder.LONGEST_WAIT) -> None:
        self.order = order
        self._arrival: dict[str, int] = {}
        self._next_arrival = 0

    def clear(self) -> None:
        self._arrival.clear()
        self._next_arrival = 0

    def note(self, session: SessionSummary) -> None:
        """Remember a session's arrival (first sight only)."""
        if session.id not in self._arrival:
            self._arrival[session.id] = self._next_arrival
            self._next_arrival += 1

    def forget(self, session_id: str) -> None:
        self._arrival.pop(session_id, None)

    def arrival(self, session_id: str) -> int:
        """Position in arrival order (first sight); 0 for a session never noted."""
        return self._arrival.get(session_id, 0)

    def key(self, session: SessionSummary) -> tuple[Any, ...]:
        """The ascending sort key of ``session`` in :attr:`order`."""
        if self.order is LiveOrder.GIVEN:
            return (self.arrival(session.id),)
        if self.order is LiveOrder.ARRIVAL:
            ended = session.status not in _LIVE_RANK
            return (ENDED_RANK if ended else QUEUED_RANK, self.arrival(session.id))
        if session.status == "queued":
            # Longest wait first = earliest queue time first.
            return (QUEUED_RANK, waiting_since(session).timestamp(), session.id)
        if session.status in _LIVE_RANK:
            # Longest conversation first = earliest acceptance (start when never queued).
            return (ACTIVE_RANK, conversation_start(session).timestamp(), session.id)
        # Ended rows below every live one, in the order they ended (newest at the bottom).
        finished = session.ended_at or session.started_at
        return (ENDED_RANK, finished.timestamp(), session.id)
