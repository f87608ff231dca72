"""The live-session reducer: what the live table shows after snapshots and feed events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.state import WATCHED_FIELDS, SessionStore, changed_fields
from supervisor_desk.models.wire import SessionSummary, StoredEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def summary(sid: str, version: int = 1, status: str = "active", **extra: Any) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid,
        "agent": {"id": "a1", "name": "Sales bot"},
        "channel": "web",
        "status": status,
        "user": {"id": f"u-{sid}"},
        "started_at": T0,
        "version": version,
    }
    data.update(extra)
    return SessionSummary.model_validate(data)


_event_counter = 0


def session_event(kind: str, s: SessionSummary, event_id: str | None = None) -> StoredEvent:
    global _event_counter
    _event_counter += 1
    return StoredEvent(
        id=event_id or f"e{_event_counter}",
        type=kind,  # type: ignore[arg-type]
        session_id=s.id,
        at=T0,
        data=s.model_dump(mode="json"),
    )


def message_event(sid: str, seq: int, *, event_id: str | None = None, text: str = "hi",
                  kind: str = "message.created", attachments: bool = False) -> StoredEvent:
    data: dict[str, Any] = {
        "id": f"m-{sid}-{seq}", "session_id": sid, "seq": seq,
        "at": (T0 + timedelta(seconds=seq)).isoformat(),
        "author": {"role": "customer"}, "text": text,
    }
    if attachments:
        data["attachments"] = [{"name": "a.png", "mime": "image/png", "size": 3}]
    return StoredEvent(id=event_id or f"ev-{kind}-{sid}-{seq}-{text}", type=kind,  # type: ignore[arg-type]
                       session_id=sid, at=T0, data=data)


def test_started_session_is_added_then_updated_then_ended() -> None:
    store = SessionStore()
    change = store.apply(session_event("session.started", summary("s1", 1, "queued")))
    assert change is not None and change.kind == "added"
    change = store.apply(session_event("session.updated", summary("s1", 2, "active")))
    assert change is not None and change.kind == "updated"
    assert store.get("s1") is not None and store.get("s1").status == "active"  # type: ignore[union-attr]
    change = store.apply(session_event(
        "session.ended", summary("s1", 3, "completed", end_reason="resolved", ended_at=T0)))
    assert change is not None and change.kind == "ended"
    assert change.session is not None and change.session.end_reason == "resolved"
    assert len(store) == 1 and store.live_count == 0 and store.ended_count == 1


def test_stale_and_duplicate_versions_are_ignored() -> None:
    store = SessionStore()
    store.apply(session_event("session.started", summary("s1", 1, "queued")))
    store.apply(session_event("session.updated", summary("s1", 3, "active", stage="pay")))
    assert store.apply(session_event("session.updated", summary("s1", 2, "queued"))) is None
    assert store.apply(session_event("session.updated", summary("s1", 3, "active"))) is None
    current = store.get("s1")
    assert current is not None and current.version == 3 and current.stage == "pay"


def test_ended_session_stays_until_refresh_and_is_not_resurrected() -> None:
    store = SessionStore()
    store.reset([summary("live", 1), summary("done", 1)])
    ended = summary("done", 2, "failed", end_reason="error", ended_at=T0)
    store.apply(session_event("session.ended", ended))
    assert {s.id for s in store} == {"live", "done"}
    assert store.drop_ended() == ["done"]
    assert {s.id for s in store} == {"live"}
    # A late replay of anything up to the end must not bring the row back.
    assert store.apply(session_event("session.ended", ended)) is None
    assert store.apply(session_event("session.updated", summary("done", 1))) is None
    assert "done" not in store


def test_snapshot_replaces_state() -> None:
    store = SessionStore()
    store.reset([summary("a"), summary("b")])
    store.apply(session_event("session.ended", summary("b", 2, "completed", ended_at=T0)))
    store.reset([summary("a", 5), summary("c")])
    assert sorted(s.id for s in store) == ["a", "c"]
    assert store.get("a").version == 5  # type: ignore[union-attr]


def test_snapshot_can_keep_ended_rows_until_refresh() -> None:
    store = SessionStore()
    store.reset([summary("a"), summary("b")])
    store.apply(session_event("session.ended", summary("b", 2, "completed", ended_at=T0)))
    store.reset([summary("a", 5), summary("c")], keep_ended=True)
    assert sorted(s.id for s in store) == ["a", "b", "c"]
    assert store.drop_ended() == ["b"]


def test_messages_deduplicated_and_counted() -> None:
    store = SessionStore()
    store.reset([summary("s1", message_count=2)])
    # Messages already counted by the snapshot are replays.
    assert store.apply(message_event("s1", 2)) is None
    change = store.apply(message_event("s1", 3, attachments=True))
    assert change is not None and change.kind == "message"
    assert change.message is not None and change.message.seq == 3
    assert change.session is not None and change.session.message_count == 3
    assert change.session.has_attachments
    assert change.session.last_message_at == T0 + timedelta(seconds=3)
    assert store.apply(message_event("s1", 3)) is None
    # A session update that had not yet counted the message does not lower the count.
    store.apply(session_event("session.updated", summary("s1", 2, message_count=2)))
    assert store.get("s1").message_count == 3  # type: ignore[union-attr]


def test_message_updates_pass_once_per_event() -> None:
    store = SessionStore()
    store.reset([summary("s1", message_count=1)])
    upd = message_event("s1", 1, kind="message.updated", event_id="upd-1")
    change = store.apply(upd)
    assert change is not None and change.kind == "message"
    assert store.apply(upd) is None


def test_message_for_unknown_session_has_no_session() -> None:
    store = SessionStore()
    change = store.apply(message_event("ghost", 1))
    assert change is not None and change.session is None and change.message is not None


def test_log_events_change_nothing() -> None:
    store = SessionStore()
    store.reset([summary("s1")])
    event = StoredEvent(id="l1", type="log.appended", session_id="s1", at=T0,
                        data={"kind": "system", "entries": [{"at": "2026-03-01T12:00:00Z",
                                                             "text": "x"}]})
    assert store.apply(event) is None


# --------------------------------------------------------------------------------------------
# Convergence: at-least-once delivery in any order ends in the same state.


def _counted(msgs: int) -> dict[str, Any]:
    # What the hub's summary says once it has counted ``msgs`` messages (see _history).
    return {
        "message_count": msgs,
        "last_message_at": T0 + timedelta(seconds=msgs) if msgs else None,
        "has_attachments": msgs >= 2,
    }


def _history(n_sessions: int, steps: list[int]) -> list[StoredEvent]:
    """A legal event history: sessions start, get updates and messages, some end."""
    events: list[StoredEvent] = []
    for i in range(n_sessions):
        sid = f"s{i}"
        version = 1
        msgs = 0
        current = summary(sid, version, "queued")
        events.append(session_event("session.started", current, f"{sid}-start"))
        for step in range(steps[i % len(steps)]):
            if step % 3 == 2:
                msgs += 1
                events.append(message_event(sid, msgs, event_id=f"{sid}-m{msgs}",
                                            attachments=msgs == 2))
                continue
            version += 1
            current = summary(sid, version, "active", stage=f"stage{step}", **_counted(msgs))
            events.append(session_event("session.updated", current, f"{sid}-v{version}"))
        if i % 2 == 0:
            version += 1
            events.append(session_event("session.ended", summary(
                sid, version, "completed", ended_at=T0, **_counted(msgs)), f"{sid}-end"))
    return events


def _state(store: SessionStore) -> dict[str, dict[str, Any]]:
    return {s.id: s.model_dump() for s in store}


@settings(max_examples=60, deadline=None)
@given(
    n_sessions=st.integers(1, 5),
    steps=st.lists(st.integers(0, 8), min_size=1, max_size=5),
    data=st.data(),
)
def test_any_interleaving_of_duplicates_and_replays_converges(
    n_sessions: int, steps: list[int], data: st.DataObject
) -> None:
    history = _history(n_sessions, steps)
    reference = SessionStore()
    reference.apply_many(history)

    # Deliver every event at least once, some several times, in any order.
    extra = data.draw(st.lists(st.sampled_from(history), max_size=len(history) * 2))
    delivered = data.draw(st.permutations(history + extra))
    store = SessionStore()
    store.apply_many(delivered)
    assert _state(store) == _state(reference)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(0, 200), replay_from=st.integers(0, 200))
def test_resume_with_overlapping_replay_converges(cut: int, replay_from: int) -> None:
    history = _history(6, [7, 3, 8])
    cut = min(cut, len(history))
    replay_from = min(replay_from, cut)
    reference = SessionStore()
    reference.apply_many(history)
    store = SessionStore()
    store.apply_many(history[:cut])
    # Reconnect: the hub replays from an older position; duplicates are dropped.
    changes = store.apply_many(history[replay_from:])
    assert _state(store) == _state(reference)
    # ... and nothing the user already saw is reported again.
    clean = SessionStore()
    clean.apply_many(history[:cut])
    assert changes == clean.apply_many(history[cut:])


def test_update_for_a_session_never_seen_adds_it() -> None:
    # E.g. the start happened before a snapshot we missed: show it rather than drop it.
    store = SessionStore()
    change = store.apply(session_event("session.updated", summary("late", 4)))
    assert change is not None and change.kind == "added"
    change = store.apply(session_event(
        "session.ended", summary("gone", 3, "cancelled", ended_at=T0)))
    assert change is not None and change.kind == "ended" and "gone" in store


def test_iteration_is_a_stable_copy() -> None:
    store = SessionStore()
    store.reset([summary("a"), summary("b")])
    for s in store:  # applying while iterating (a listener doing both) must not break
        store.apply(session_event("session.updated", summary(s.id, 2)))
    assert [s.version for s in store] == [2, 2]


def test_refresh_memory_is_bounded(monkeypatch: Any) -> None:
    """Days of Refresh must not grow memory: only the newest dropped sessions are remembered."""
    import supervisor_desk.models.state as state

    monkeypatch.setattr(state, "_MAX_TOMBSTONES", 3)
    store = SessionStore()
    for i in range(5):
        store.apply(session_event("session.started", summary(f"s{i}", 1)))
        store.apply(session_event("session.ended", summary(f"s{i}", 2, status="completed")))
        store.drop_ended()
    # The three most recently dropped sessions still refuse a stale replay; the oldest is gone.
    assert store.apply(session_event("session.ended", summary("s4", 2, status="completed"))) is None
    assert len(store._tombstones) == 3
    assert "s0" not in store._tombstones


def test_drop_ended_by_id_forgets_only_those_ended_sessions() -> None:
    store = SessionStore()
    store.reset([summary("a"), summary("b"), summary("live")])
    for sid in ("a", "b"):
        store.apply(session_event("session.ended", summary(sid, 2, "completed", ended_at=T0)))
    assert store.drop_ended(["a", "live", "ghost"]) == ["a"]
    assert [s.id for s in store] == ["b", "live"]
    # A replay of the dropped session does not bring it back.
    assert store.apply(session_event("session.ended", summary("a", 2, "completed",
                                                               ended_at=T0))) is None


def test_live_tally_counts_what_counting_every_session_would() -> None:
    # The Live cards read the store's running counts; they must equal a count of the sessions.
    import random

    from supervisor_desk.models.metrics import live_metrics, live_metrics_of_counts

    rng = random.Random(3)
    store = SessionStore()
    latest: dict[str, SessionSummary] = {}
    store.reset([summary("snap-q", status="queued", queued_at=T0),
                 summary("snap-a", channel="whatsapp")])
    latest.update({s.id: s for s in store})
    now = T0 + timedelta(minutes=30)
    for step in range(300):
        roll = rng.random()
        if roll < 0.25 or not latest:
            sid = f"s{step}"
            status = rng.choice(("queued", "active"))
            s = summary(sid, status=status, channel=rng.choice(("web", "phone", "email")),
                        queued_at=T0 + timedelta(seconds=step) if status == "queued" else None)
            store.apply(session_event("session.started", s))
        elif roll < 0.35:
            store.apply(message_event(rng.choice(sorted(latest)), step))
        elif roll < 0.4:
            store.drop_ended()
        else:
            old = latest[rng.choice(sorted(latest))]
            status = rng.choice(("queued", "active", "completed"))
            update: dict[str, Any] = {"version": old.version + 1, "status": status,
                                      "channel": rng.choice(("web", "phone"))}
            if status == "completed":
                update |= {"ended_at": T0 + timedelta(seconds=step), "end_reason": "resolved"}
            kind = "session.ended" if status == "completed" else "session.updated"
            store.apply(session_event(kind, old.model_copy(update=update)))
        latest = {s.id: s for s in store}
        tally = store.live_tally()
        assert live_metrics_of_counts(tally.by_status, tally.by_channel,
                                      tally.oldest_waiting_since_ms, None, now) \
            == live_metrics(store, None, now)
    assert store.live_tally().by_status  # the walk kept live sessions to count


def test_an_update_tells_the_summary_it_replaced_and_which_watched_fields_changed() -> None:
    store = SessionStore()
    store.apply(session_event("session.started", summary("s1")))
    first = store.get("s1")
    change = store.apply(session_event("session.updated", summary("s1", 2, channel="phone")))
    assert change is not None and change.kind == "updated"
    assert change.previous is first
    assert change.changed == {"*", "channel"}
    counted = store.apply(session_event("session.updated",
                                        summary("s1", 3, channel="phone", message_count=4)))
    assert counted is not None and counted.changed == {"*"}
    # A message counted into the summary: the copy replaced the stored one, no watched field.
    before = store.get("s1")
    heard = store.apply(message_event("s1", 5))
    assert heard is not None and heard.previous is before and heard.changed == {"*"}
    assert heard.session is store.get("s1") and heard.session is not before


_watched_parts = st.fixed_dictionaries({
    "status": st.sampled_from(["queued", "active", "completed"]),
    "channel": st.sampled_from(["web", "phone"]),
    "agent": st.fixed_dictionaries({"id": st.sampled_from(["a1", "a2"]),
                                    "name": st.sampled_from(["Bot", "Sales bot"])}),
    "responsible": st.one_of(st.just({"kind": "ai"}), st.fixed_dictionaries({
        "kind": st.just("human"),
        "operator": st.fixed_dictionaries({"id": st.sampled_from(["o1", "o2"]),
                                           "name": st.just("Ann")})})),
    "location": st.fixed_dictionaries({"country_code": st.sampled_from(["FR", "DE", None]),
                                       "city": st.sampled_from(["Lyon", None])}),
    "metadata": st.dictionaries(st.sampled_from(["tier", "vip"]), st.sampled_from(["a", "b"])),
    "queued_at": st.sampled_from([None, T0, T0 + timedelta(seconds=1)]),
    "started_at": st.sampled_from([T0, T0 + timedelta(seconds=1)]),
})


@settings(max_examples=200, deadline=None)
@given(old=_watched_parts, new=_watched_parts)
def test_changed_fields_names_exactly_the_watched_fields_that_differ(
        old: dict[str, Any], new: dict[str, Any]) -> None:
    # Parsed apart, as an update from the feed is: no part is shared with the stored summary.
    before = summary("s1", 1, **old)
    after = SessionSummary.model_validate(summary("s1", 2, **new).model_dump(mode="json"))
    differ = {f for f in WATCHED_FIELDS if getattr(before, f) != getattr(after, f)}
    assert changed_fields(before, after) == {"*", *differ}
