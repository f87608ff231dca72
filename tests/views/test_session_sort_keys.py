"""Column sorts on ready key arrays order rows exactly as a plain Python sort of the sort role.

The table reads each column's sort keys in idle slices after a load and re-reads, at a click,
only the rows whose session changed; keys that follow the clock are read at every click. A
random history of loads, frames, removals, clock steps, idle slices and header clicks must
leave, after every click, the rows in ``sorted(key=(sort role, arrival))`` order (reversed
for a descending click).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views import session_table_model
from supervisor_desk.views.session_sort_keys import ColumnKeys
from supervisor_desk.views.session_table_model import (
    LiveOrder,
    SessionColumn,
    SessionTableModel,
    SortRole,
)
from tests.views.test_session_table_model import T0, Clock, make

STATUSES = ("queued", "active", "completed", "failed")
NAMES = ("Ana", "ben", "Çelik", None, "ana")


def _session(sid: str, n: int, version: int = 1) -> SessionSummary:
    status = STATUSES[n % 4]
    return make(
        sid, status=status, started=n % 5, version=version, messages=n % 3,
        queued=(n % 5) if n % 4 == 0 or n % 7 == 3 else None,
        accepted=(n % 7) if n % 4 == 1 else None,
        ended=(30 + n % 3) if status in ("completed", "failed") and n % 6 else None,
        channel=("web", "whatsapp", "email")[n % 3],
        user={"id": f"u{n}", "name": NAMES[n % 5]},
        location={"ip": f"10.0.{n % 2}.{n % 6}", "country_code": ("DE", "FR", None)[n % 3]},
        last_message_at=(T0 + timedelta(seconds=n % 4)) if n % 5 else None,
        team=("north", None, "South")[n % 3],
    )


STEPS = st.lists(st.one_of(
    st.tuples(st.just("sort"), st.sampled_from([*SessionColumn, -1]), st.booleans()),
    st.tuples(st.just("frame"), st.lists(st.integers(0, 40), min_size=1, max_size=6)),
    st.tuples(st.just("remove"), st.lists(st.integers(0, 40), max_size=3)),
    st.tuples(st.just("clock"), st.integers(1, 90)),
    st.tuples(st.just("idle"), st.integers(1, 4)),
    st.tuples(st.just("order"), st.booleans()),  # History's order or the live one
), min_size=1, max_size=14)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(0, 14), given_order=st.booleans(), steps=STEPS,
       slack=st.sampled_from([4096, 4096, 2]))
def test_a_click_orders_rows_like_a_plain_sort_of_the_sort_role_then_arrival(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch, first: int, given_order: bool,
    steps: list[tuple[Any, ...]], slack: int,
) -> None:
    # Idle slices of one small chunk each, at once: a click often lands mid-way.
    monkeypatch.setattr(session_table_model, "_WARM_DELAY_MS", 0)
    monkeypatch.setattr(session_table_model, "_WARM_CHUNK_ROWS", 3)
    monkeypatch.setattr(session_table_model, "_WARM_SLICE_S", 0.0)
    monkeypatch.setattr(session_table_model, "_WARM_AFTER_FRAME_S", 0.0)  # slices after frames
    # With a slack of 2, keys are read afresh at every click, as after a day of arrivals.
    monkeypatch.setattr(session_table_model, "_KEYS_SLACK", slack)
    clock = Clock()
    model = SessionTableModel(clock=clock, time_zone=UTC)
    model.set_live_order(LiveOrder.GIVEN if given_order else LiveOrder.LONGEST_WAIT)
    loaded = [_session(f"s{n:02d}", n) for n in range(first)]
    model.set_sessions(loaded)
    latest = {s.id: s for s in loaded}
    # Arrival numbers as the model notes them: a load in the given order (History) or by
    # start (live), then each new id of a frame in turn; a removed id forgets its number.
    noted = loaded if given_order else sorted(loaded, key=lambda s: (s.started_at, s.id))
    arrival = {s.id: k for k, s in enumerate(noted)}
    next_arrival = len(arrival)
    for step in steps:
        match step:
            case ("sort", column, descending):
                order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
                model.sort(column, order)
                if column < 0:
                    continue
                shown = [model.session_at(r) for r in range(model.rowCount())]
                assert all(s is not None and s is latest[s.id] for s in shown)
                roles = {s.id: model.data(model.index(r, column), SortRole)
                         for r, s in enumerate(shown) if s is not None}
                expected = sorted(roles, key=lambda sid: (roles[sid], arrival[sid]),
                                  reverse=descending)
                assert [s.id for s in shown if s is not None] == expected, (column, descending)
            case ("frame", numbers):
                batch: dict[str, SessionSummary] = {}
                for n in numbers:
                    sid = f"s{n:02d}"
                    old = latest.get(sid)
                    version = old.version + 1 if old is not None else 1
                    batch[sid] = _session(sid, n + version, version)
                    if old is None and sid not in arrival:
                        arrival[sid] = next_arrival
                        next_arrival += 1
                model.apply_changes(list(batch.values()))
                latest.update(batch)
            case ("remove", numbers):
                gone = [f"s{n:02d}" for n in numbers]
                model.remove_sessions(gone)
                for sid in gone:
                    latest.pop(sid, None)
                    arrival.pop(sid, None)
            case ("clock", seconds):
                clock.now += timedelta(seconds=seconds)
            case ("order", given):
                model.set_live_order(LiveOrder.GIVEN if given else LiveOrder.LONGEST_WAIT)
            case ("idle", slices):
                for _ in range(slices):
                    QApplication.processEvents()


def test_a_waiting_sessions_wait_is_read_at_every_click(qapp: QApplication) -> None:
    """A queued wait grows with the clock past a fixed one: neither the stored key nor the
    reverse of the last order may be used for it."""
    clock = Clock()
    model = SessionTableModel(clock=clock, time_zone=UTC)
    model.set_live_order(LiveOrder.GIVEN)
    waiting = make("waiting", status="queued", queued=0)
    done = make("done", status="completed", queued=0, ended=30)  # waited 30 s, then ended
    model.set_sessions([waiting, done])
    clock.now = T0 + timedelta(seconds=10)

    def shown() -> list[str]:
        return [model.session_at(r).id for r in range(model.rowCount())]  # type: ignore[union-attr]

    model.sort(SessionColumn.WAIT, Qt.SortOrder.AscendingOrder)
    assert shown() == ["waiting", "done"]  # 10 s < 30 s
    clock.now = T0 + timedelta(seconds=100)
    model.sort(SessionColumn.WAIT, Qt.SortOrder.DescendingOrder)
    assert shown() == ["waiting", "done"]  # 100 s > 30 s: not the reverse of the last order
    model.sort(SessionColumn.MESSAGES, Qt.SortOrder.AscendingOrder)
    model.sort(SessionColumn.WAIT, Qt.SortOrder.AscendingOrder)
    assert shown() == ["done", "waiting"]


def test_switching_the_live_order_while_keys_are_read_keeps_duration_exact(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duration's key depends on the live order; a switch in the middle of reading it
    restarts that column, and the keys read before the switch are not trusted."""
    monkeypatch.setattr(session_table_model, "_WARM_DELAY_MS", 0)
    monkeypatch.setattr(session_table_model, "_WARM_CHUNK_ROWS", 2)
    monkeypatch.setattr(session_table_model, "_WARM_SLICE_S", 0.0)
    rows = [_session(f"s{n:02d}", n) for n in range(6)]
    for slices in range(3 * len(SessionColumn) + 2):
        model = SessionTableModel(clock=Clock(), time_zone=UTC)
        model.set_sessions(rows)
        for _ in range(slices):
            QApplication.processEvents()
        model.set_live_order(LiveOrder.GIVEN)
        while model.sort_keys_warming:
            QApplication.processEvents()
        model.sort(SessionColumn.DURATION, Qt.SortOrder.AscendingOrder)
        shown = [model.session_at(r) for r in range(model.rowCount())]
        by_start = sorted(rows, key=lambda s: (s.started_at, s.id))  # the live arrival order
        arrival = {s.id: k for k, s in enumerate(by_start)}
        roles = {s.id: model.data(model.index(r, SessionColumn.DURATION), SortRole)
                 for r, s in enumerate(shown) if s is not None}
        assert [s.id for s in shown if s is not None] == sorted(
            roles, key=lambda sid: (roles[sid], arrival[sid])), slices


def test_an_idle_slice_due_in_a_frames_turn_waits_and_the_keys_are_still_read(
    qtbot: Any, qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame's apply and the paint that follows are the Qt thread's longest busy stretch
    under feed load: a slice due in that event-loop turn reads nothing and comes back."""
    monkeypatch.setattr(session_table_model, "_WARM_DELAY_MS", 0)
    monkeypatch.setattr(session_table_model, "_WARM_AFTER_FRAME_S", 60.0)  # a slow machine
    model = SessionTableModel(clock=Clock(), time_zone=UTC)
    rows = [_session(f"s{n:02d}", n) for n in range(40)]
    model.set_sessions(rows)
    model.apply_changes([_session("s03", 3, version=2)])
    assert model.sort_keys_warming
    for _ in range(5):
        qapp.processEvents()
    assert model._warm_from == 0 and len(model._warm_columns) == len(SessionColumn)
    monkeypatch.setattr(session_table_model, "_WARM_AFTER_FRAME_S", 0.01)
    qtbot.waitUntil(lambda: not model.sort_keys_warming)
    model.sort(SessionColumn.USER, Qt.SortOrder.AscendingOrder)
    users = [model.data(model.index(r, SessionColumn.USER), SortRole)
             for r in range(model.rowCount())]
    assert users == sorted(users)


def test_released_keys_let_go_of_their_references_a_piece_at_a_time() -> None:
    sessions = [_session(f"s{n:02d}", n) for n in range(40)]
    keys = ColumnKeys(lambda rows: [s.id for s in rows], ranked=True)
    keys.store(sessions, session_table_model.np.arange(40))
    assert keys.distinct_values == 40
    steps = 0
    while not keys.shed(15):
        steps += 1
        assert steps < 10
    # 40 sessions (in room for 64) and 40 distinct values, 15 at a time.
    assert steps == 6
    assert keys.distinct_values == 0
    assert all(source is None for source in keys._sources)


def test_a_key_read_afresh_at_a_click_is_not_put_back_by_the_idle_reading(
        qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle slices read the keys of the rows as loaded; a row changed since, whose key a
    click already read afresh, must not sort by its old key at the next click."""
    monkeypatch.setattr(session_table_model, "_WARM_DELAY_MS", 0)
    monkeypatch.setattr(session_table_model, "_WARM_SLICE_S", 0.0)
    monkeypatch.setattr(session_table_model, "_WARM_AFTER_FRAME_S", 0.0)
    model = SessionTableModel(clock=Clock(), time_zone=UTC)
    model.set_live_order(LiveOrder.LONGEST_WAIT)
    model.set_sessions([_session("s00", 0), _session("s01", 1)])  # queued, active
    model.apply_changes([_session("s00", 2, version=2)])  # s00 completed since the load

    def shown() -> list[tuple[str, str]]:
        rows = [model.session_at(r) for r in range(model.rowCount())]
        return [(s.id, s.status) for s in rows if s is not None]

    descending = Qt.SortOrder.DescendingOrder
    model.sort(SessionColumn.STATUS, descending)
    assert shown() == [("s00", "completed"), ("s01", "active")]
    QApplication.processEvents()  # an idle slice reads the loaded rows' keys
    model.sort(SessionColumn.STATUS, descending)
    assert shown() == [("s00", "completed"), ("s01", "active")]
