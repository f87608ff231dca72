"""The live-session reducer: snapshot + feed events -> the sessions the live table shows.

Qt-free and pure Python so it can be unit-tested on its own and run at feed speed (10,000
sessions, 1,000 events/s). Application is idempotent: the feed is at-least-once across
reconnects (replays, resyncs), so every event is judged by the session's ``version`` (and a
message's per-session ``seq``) rather than trusted to be new.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from supervisor_desk.models.filters import to_ms
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.wire import (
    LIVE_STATUSES,
    Message,
    SessionSummary,
    StoredEvent,
)

ChangeKind = Literal["added", "updated", "ended", "message"]

_SESSION_EVENTS = frozenset({"session.started", "session.updated", "session.ended"})
_MESSAGE_EVENTS = frozenset({"message.created", "message.updated"})
# Event ids remembered to drop exact duplicates of events that carry no version
# (message.updated); bounded so a day-long feed does not grow memory without limit. The feed
# resumes after its last seq and the hub's ingest drops repeated ids, so a duplicate can only
# be recent: 10,000 ids (half an hour of a 5 events/s floor) is plenty. 50,000 took ~3 hours
# to fill and ~10 MB, the whole RSS growth of a shift (benchmarks/idle_bench.py).
_SEEN_EVENT_IDS = 10_000


@dataclass(frozen=True, slots=True)
class SessionChange:
    """What one applied event changed, for the table and notifications.

    ``added``: a session the store did not hold; ``updated``: a live session changed;
    ``ended``: a session went from live to ended (or arrived already ended);
    ``message``: a message was created or updated (``session`` is the session after it,
    ``None`` if the store does not hold the session).
    """

    kind: ChangeKind
    session: SessionSummary | None
    message: Message | None = None
    # ``updated``: the summary this one replaced and which of WATCHED_FIELDS differ from it
    # (see changed_fields), found where the store holds both versions anyway; None: not told
    # (a reader that needs it compares itself). ``ended`` of a session the store held live:
    # the summary it replaced (``changed`` not told: a reader judges an ending as a whole).
    previous: SessionSummary | None = None
    changed: frozenset[str] | None = None


# The summary fields a change record names when they change (what the alert rules derive
# state from); any other field's change shows as "*" alone.
WATCHED_FIELDS = ("status", "end_reason", "metadata", "responsible", "channel", "agent",
                  "location", "queued_at", "started_at")


def _watched_values(s: SessionSummary) -> tuple[Any, ...]:
    # The parts that are models by their fields' dicts: a parsed update shares none of its
    # parts with the stored summary, and a model's == costs ~0.55 us where its dict's costs
    # ~0.05. Wire models keep no extras or private attributes, so two of one class are
    # equal exactly when their dicts are.
    return (s.status, s.end_reason, s.metadata, s.responsible.__dict__, s.channel,
            s.agent.__dict__, s.location.__dict__, s.queued_at, s.started_at)


# What changed_fields says of an update that changed none of WATCHED_FIELDS (the usual one: a
# version, a count).
UNCHANGED_FIELDS = frozenset({"*"})
_CHANGED_SETS: dict[tuple[str, ...], frozenset[str]] = {}


def changed_fields(old: SessionSummary, new: SessionSummary) -> frozenset[str]:
    """Which of WATCHED_FIELDS differ, plus "*" (a session update can change anything)."""
    before, after = _watched_values(old), _watched_values(new)
    # Tuples compare items by identity first: a summary rebuilt with model_copy shares its
    # unchanged parts, so the usual update (a version, a count) costs one comparison.
    if before == after:
        return UNCHANGED_FIELDS
    names = tuple(f for f, a, b in zip(WATCHED_FIELDS, before, after, strict=True) if a != b)
    found = _CHANGED_SETS.get(names)
    if found is None:
        found = _CHANGED_SETS[names] = frozenset({"*", *names})
    return found


# Refresh can run for days; remembering every dropped session would grow without bound.
_MAX_TOMBSTONES = 50_000


@dataclass(frozen=True, slots=True)
class LiveTally:
    """Counts of the live sessions a store holds, kept as events apply (the Live cards read
    them every second: counting 10,000 sessions each time took ~16 ms of the Qt thread)."""

    by_status: dict[str, int]
    by_channel: dict[str, int]
    oldest_waiting_since_ms: int | None  # the longest-waiting queued session's queue time

class SessionStore:
    """Live sessions keyed by id, plus ended ones kept until :meth:`drop_ended`.

    Not thread-safe: one owner (the live view-model) calls it from one thread.
    """

    def __init__(self) -> None:
        # Insertion order is arrival order: first sight, snapshots by start time.
        self._sessions: dict[str, SessionSummary] = {}
        # Highest message seq seen per session, to drop replayed message.created events and to
        # keep message_count/last_message_at right when message events outrun session updates.
        self._message_seq: dict[str, int] = {}
        self._last_message_at: dict[str, datetime] = {}
        self._with_attachments: set[str] = set()
        # Versions of ended sessions dropped by Refresh: a late replay must not resurrect them.
        self._tombstones: dict[str, int] = {}
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._live_by_status: Counter[str] = Counter()
        self._live_by_channel: Counter[str] = Counter()
        self._queued_since_ms: dict[str, int] = {}

    # ---------------------------------------------------------------------------------------
    # Reading

    def get(self, session_id: str) -> SessionSummary | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[SessionSummary]:
        return iter(list(self._sessions.values()))

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def sessions(self) -> list[SessionSummary]:
        return list(self._sessions.values())

    @property
    def live_count(self) -> int:
        return sum(1 for s in self._sessions.values() if s.status in LIVE_STATUSES)

    def live_tally(self) -> LiveTally:
        return LiveTally(
            by_status=+self._live_by_status,  # unary +: without the zero counts
            by_channel=+self._live_by_channel,
            oldest_waiting_since_ms=min(self._queued_since_ms.values(), default=None),
        )

    @property
    def ended_count(self) -> int:
        return len(self._sessions) - self.live_count

    # ---------------------------------------------------------------------------------------
    # Writing

    def reset(self, sessions: Iterable[SessionSummary], *, keep_ended: bool = False) -> None:
        """Replace the state with a snapshot (initial load, resync, epoch change).

        ``keep_ended`` keeps sessions that already ended and are not in the snapshot, so a
        resync does not make ended rows vanish before the user's Refresh.
        """
        kept: dict[str, SessionSummary] = {}
        if keep_ended:
            kept = {
                sid: s for sid, s in self._sessions.items() if s.status not in LIVE_STATUSES
            }
        self._sessions = {}
        self._live_by_status.clear()
        self._live_by_channel.clear()
        self._queued_since_ms.clear()
        self._message_seq = {}
        self._last_message_at = {}
        self._with_attachments = set()
        self._tombstones = {}
        self._seen_events.clear()
        for s in kept.values():
            self._store_new(s)
        for s in sorted(sessions, key=lambda s: (s.started_at, s.id)):
            kept.pop(s.id, None)
            if s.id in self._sessions:
                self._replace(s)
                self._message_seq[s.id] = s.message_count
            else:
                self._store_new(s)

    def apply(self, event: StoredEvent) -> SessionChange | None:
        """Apply one feed event; ``None`` when it is stale, a duplicate, or changes nothing."""
        if event.type in _SESSION_EVENTS:
            return self._apply_session(event)
        if event.type in _MESSAGE_EVENTS:
            return self._apply_message(event)
        return None  # log.appended: logs are fetched on demand by the detail view

    def apply_many(self, events: Iterable[StoredEvent]) -> list[SessionChange]:
        changes = []
        for event in events:
            change = self.apply(event)
            if change is not None:
                changes.append(change)
        return changes

    def drop_ended(self, session_ids: Iterable[str] | None = None) -> list[str]:
        """Forget ended sessions (all: Refresh; or these: their time on screen is up).

        Returns the ids removed; live sessions and unknown ids among ``session_ids`` stay.
        """
        if session_ids is None:
            gone = [sid for sid, s in self._sessions.items() if s.status not in LIVE_STATUSES]
        else:
            gone = [sid for sid in dict.fromkeys(session_ids)
                    if (s := self._sessions.get(sid)) is not None
                    and s.status not in LIVE_STATUSES]
        for sid in gone:
            s = self._sessions.pop(sid)
            self._tally(s, -1)
            self._tombstones[sid] = s.version
            if len(self._tombstones) > _MAX_TOMBSTONES:
                # Oldest first (dicts keep insertion order): a replay reaches back only to our
                # own position, so only recently dropped sessions can be re-announced.
                del self._tombstones[next(iter(self._tombstones))]
            self._message_seq.pop(sid, None)
            self._last_message_at.pop(sid, None)
            self._with_attachments.discard(sid)
        return gone

    # ---------------------------------------------------------------------------------------
    # Internals

    def _tally(self, session: SessionSummary, sign: int) -> None:
        """Count ``session`` in (+1) or out of (-1) the live tally."""
        if session.status not in LIVE_STATUSES:
            return
        self._live_by_status[session.status] += sign
        self._live_by_channel[session.channel] += sign
        if session.status == "queued":
            if sign > 0:
                self._queued_since_ms[session.id] = to_ms(waiting_since(session))
            else:
                del self._queued_since_ms[session.id]

    def _replace(self, session: SessionSummary) -> None:
        """A new version of a session the store holds."""
        self._tally(self._sessions[session.id], -1)
        self._sessions[session.id] = session
        self._tally(session, +1)

    def _store_new(self, session: SessionSummary) -> None:
        self._sessions[session.id] = session
        self._tally(session, +1)
        self._message_seq[session.id] = max(
            self._message_seq.get(session.id, 0), session.message_count
        )

    def _apply_session(self, event: StoredEvent) -> SessionChange | None:
        sid = event.session_id
        version = event.data.get("version")
        current = self._sessions.get(sid)
        # Cheap pre-check on the raw dict: most replays are stale and need no parsing.
        if isinstance(version, int):
            if current is not None and version <= current.version:
                return None
            if current is None and version <= self._tombstones.get(sid, 0):
                return None
        session = event.session()
        if session is None:
            return None
        if current is not None and session.version <= current.version:
            return None
        if current is None and session.version <= self._tombstones.get(sid, 0):
            return None
        session = self._merge_messages(session)
        if current is None:
            self._store_new(session)
            if session.status in LIVE_STATUSES:
                return SessionChange("added", session)
            return SessionChange("ended", session)
        self._replace(session)
        if current.status in LIVE_STATUSES and session.status not in LIVE_STATUSES:
            return SessionChange("ended", session, previous=current)
        return SessionChange("updated", session, previous=current,
                             changed=changed_fields(current, session))

    def _merge_messages(self, session: SessionSummary) -> SessionSummary:
        # A message event may be applied before the session update that counts it (or the hub
        # may not send one): never let a session copy count fewer messages than we have seen.
        seen = self._message_seq.get(session.id, 0)
        last_at = self._last_message_at.get(session.id)
        update: dict[str, Any] = {}
        if seen > session.message_count:
            update["message_count"] = seen
        if last_at is not None and (
            session.last_message_at is None or last_at > session.last_message_at
        ):
            update["last_message_at"] = last_at
        if not session.has_attachments and session.id in self._with_attachments:
            update["has_attachments"] = True
        return session.model_copy(update=update) if update else session

    def _apply_message(self, event: StoredEvent) -> SessionChange | None:
        if event.id in self._seen_events:
            return None
        message = event.message()
        if message is None:
            return None
        sid = message.session_id
        if event.type == "message.created":
            if message.seq <= self._message_seq.get(sid, 0):
                self._remember(event.id)
                return None
            self._message_seq[sid] = message.seq
            previous_at = self._last_message_at.get(sid)
            if previous_at is None or message.at > previous_at:
                self._last_message_at[sid] = message.at
            if message.attachments:
                self._with_attachments.add(sid)
        self._remember(event.id)
        session = previous = self._sessions.get(sid)
        if session is not None and event.type == "message.created":
            update: dict[str, Any] = {}
            if message.seq > session.message_count:
                update["message_count"] = message.seq
            if session.last_message_at is None or message.at > session.last_message_at:
                update["last_message_at"] = message.at
            if message.attachments and not session.has_attachments:
                update["has_attachments"] = True
            if update:
                session = session.model_copy(update=update)
                self._replace(session)
                # Only counts moved: none of WATCHED_FIELDS.
                return SessionChange("message", session, message, previous=previous,
                                     changed=UNCHANGED_FIELDS)
        return SessionChange("message", session, message)

    def _remember(self, event_id: str) -> None:
        seen = self._seen_events
        seen[event_id] = None
        if len(seen) > _SEEN_EVENT_IDS:
            seen.popitem(last=False)

