"""One table column's sort keys, kept by arrival number so a header click is one argsort.

A key is extracted once per session version (the object it came from is kept beside it, so a
new version is noticed by identity, in a C loop, at the next click) and stored in NumPy arrays
indexed by the row's arrival number, which follows a session through every sort and move.
Text keys are stored as codes of their distinct values; the codes are ranked by a plain
Python sort of the distinct values (a few hundred names, not 100,000 rows), so ordering by
rank is ordering by the text, and equal texts tie. A key that follows the clock (a queued
wait, an ended session without an end time) is flagged and re-read at every click. No Qt here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# Keys of a batch of sessions: numeric columns give arrays (most significant first), text
# columns one list of comparable values.
Extract = Callable[[Sequence[Any]], "list[np.ndarray[Any, Any]] | list[Any]"]


class ColumnKeys:
    """Sort keys of one column by arrival number, with the session each was read from."""

    def __init__(self, extract: Extract, *, ranked: bool, parts: int = 1,
                 follows_clock: Callable[[Any], bool] | None = None) -> None:
        self._extract = extract
        self._ranked = ranked
        self._follows_clock = follows_clock
        self._parts: list[np.ndarray[Any, Any]] = [
            np.zeros(0, dtype=np.int64 if ranked else np.float64) for _ in range(parts)]
        self._sources: np.ndarray[Any, Any] = np.full(0, None, dtype=object)
        self._volatile: np.ndarray[Any, Any] = np.zeros(0, dtype=bool)
        self._codes: dict[Any, int] = {}
        self._distinct: list[Any] = []
        self._ranks: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int64)
        # The model's generation when every shown row's key was last known current.
        self.synced = -1
        # Whether the last keys() had rows whose key follows the clock (so an order made
        # with them cannot simply be reversed later).
        self.followed_clock = False
        # shed(): the sources from this position on have been let go of.
        self._shed_from: int | None = None

    def _grow(self, size: int) -> None:
        if size <= len(self._sources):
            return
        capacity = max(size, 2 * len(self._sources), 64)
        grown = capacity - len(self._sources)
        self._parts = [np.concatenate((p, np.zeros(grown, dtype=p.dtype))) for p in self._parts]
        self._sources = np.concatenate((self._sources, np.full(grown, None, dtype=object)))
        self._volatile = np.concatenate((self._volatile, np.zeros(grown, dtype=bool)))

    def store(self, sessions: Sequence[Any], slots: np.ndarray[Any, Any]) -> None:
        """Extract and keep the keys of ``sessions`` (at arrival numbers ``slots``)."""
        if not len(sessions):
            return
        self._grow(int(slots.max()) + 1)
        values = self._extract(sessions)
        if self._ranked:
            codes = self._codes
            for value in set(values).difference(codes):
                codes[value] = len(self._distinct)
                self._distinct.append(value)
            self._parts[0][slots] = np.fromiter(map(codes.__getitem__, values),
                                                dtype=np.int64, count=len(values))
        else:
            for part, column in zip(self._parts, values, strict=True):
                part[slots] = column
        self._sources[slots] = np.fromiter(sessions, dtype=object, count=len(sessions))
        if self._follows_clock is not None:
            self._volatile[slots] = np.fromiter(map(self._follows_clock, sessions), dtype=bool,
                                                count=len(sessions))

    def shed(self, count: int) -> bool:
        """Let go of up to ``count`` of the sessions and distinct values kept, the last ones
        first (the keys of a table that was loaded again are dropped a piece at a time:
        100,000 references freed at once held the Qt thread 10-20 ms). True once nothing is
        left; the keys are not used after the first call."""
        end = len(self._sources) if self._shed_from is None else self._shed_from
        start = max(0, end - count)
        self._sources[start:end] = None
        self._shed_from = start
        count -= end - start
        if count > 0 and self._distinct:
            take = min(count, len(self._distinct))
            del self._distinct[len(self._distinct) - take:]
            codes = self._codes
            for _ in range(min(take, len(codes))):
                codes.popitem()
        return start == 0 and not self._distinct and not self._codes

    def forget(self, slot: int) -> None:
        """A session left the table: drop the reference to it."""
        if slot < len(self._sources):
            self._sources[slot] = None

    def refresh(self, rows: Sequence[Any], slots: np.ndarray[Any, Any]) -> None:
        """Re-extract the rows whose session is not the version their key came from."""
        self._grow(int(slots.max()) + 1 if len(slots) else 0)
        current = np.fromiter(map(operator.is_, rows, self._sources[slots]), dtype=bool,
                              count=len(rows))
        stale = np.flatnonzero(~current)
        if len(stale):
            self.store([rows[i] for i in stale.tolist()], slots[stale])

    @property
    def outgrown(self) -> int:
        """The most arrival numbers or distinct values kept: both only grow while a live
        table runs (every new session takes both), so the model starts afresh past a bound."""
        return max(len(self._sources), len(self._distinct))

    @property
    def distinct_values(self) -> int:
        """How many distinct values a ranked column has seen (what ranking them costs)."""
        return len(self._distinct)

    @property
    def ranked(self) -> bool:
        """Every distinct value seen so far has its rank (or the column is not ranked)."""
        return not self._ranked or len(self._ranks) == len(self._distinct)

    def rank(self) -> None:
        """Rank the distinct values seen so far (done by the first click otherwise)."""
        if self._ranked and len(self._ranks) != len(self._distinct):
            distinct = self._distinct
            by_value = sorted(range(len(distinct)), key=distinct.__getitem__)
            self._ranks = np.empty(len(distinct), dtype=np.int64)
            self._ranks[np.array(by_value, dtype=np.int64)] = np.arange(len(distinct))

    def keys(self, rows: Sequence[Any], slots: np.ndarray[Any, Any]
             ) -> list[np.ndarray[Any, Any]]:
        """The rows' keys (rows at ``slots``, all current), most significant first."""
        if self._ranked:
            self.rank()
            return [self._ranks[self._parts[0][slots]]]
        keys = [part[slots] for part in self._parts]
        self.followed_clock = False
        if self._follows_clock is not None:
            moving = np.flatnonzero(self._volatile[slots])
            self.followed_clock = bool(len(moving))
            if len(moving):
                # Computed now, for this click only: the stored value would age.
                fresh = self._extract([rows[i] for i in moving.tolist()])
                for key, column in zip(keys, fresh, strict=True):
                    key[moving] = column
        return keys


def order_by(keys: list[np.ndarray[Any, Any]], arrivals: np.ndarray[Any, Any]
             ) -> np.ndarray[Any, Any]:
    """Row positions ordered by ``keys`` (most significant first), ties by arrival number.

    One integer key (a ranked text, a count) and the arrival number fit one int64, whose
    plain argsort is several times faster than ``lexsort`` over the two (values are unique,
    so the sort needs no stability); anything else is a ``lexsort``.
    """
    if len(keys) == 1 and keys[0].dtype.kind == "i" and len(arrivals):
        key, width = keys[0], int(arrivals.max()) + 1
        low, high = int(key.min()), int(key.max())
        if low >= 0 and (high + 1) * width < 2**62:
            ordered: np.ndarray[Any, Any] = np.argsort(key * width + arrivals)
            return ordered
    # lexsort's last key is the primary one; arrival breaks ties.
    return np.lexsort([arrivals, *reversed(keys)])
