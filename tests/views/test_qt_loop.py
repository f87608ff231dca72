"""The app's asyncio loop on the Qt thread (``views/qt_loop.py``): asyncio's semantics, Qt's
events in between, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from supervisor_desk.views.qt_loop import DeskEventLoop, new_event_loop
from tests.helpers import wait_until


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    """As the app runs its loop: ``asyncio.Runner`` with the app's factory, with a timeout."""
    return asyncio.run(asyncio.wait_for(coro, 10), loop_factory=new_event_loop)


@contextlib.contextmanager
def _socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair: ``ours`` (non-blocking, for the loop's readers) and ``theirs`` (the
    writing end), both closed at the end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def test_the_runner_gets_the_desk_loop(qapp: QApplication) -> None:
    async def scenario() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert isinstance(run(scenario()), DeskEventLoop)


def test_call_soon_runs_in_order_and_later_handles_on_the_next_turn(qapp: QApplication) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        done = loop.create_future()

        def first() -> None:
            order.append("a")
            loop.call_soon(order.append, "d")  # scheduled during the turn: after b and c
            loop.call_soon(done.set_result, None)

        loop.call_soon(first)
        loop.call_soon(order.append, "b")
        loop.call_soon(order.append, "c")
        await done
        return order

    assert run(scenario()) == ["a", "b", "c", "d"]


def test_a_cancelled_handle_never_runs(qapp: QApplication) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        ran: list[str] = []
        loop.call_soon(ran.append, "cancelled").cancel()
        loop.call_later(0.001, ran.append, "cancelled later").cancel()
        loop.call_soon(ran.append, "kept")
        await asyncio.sleep(0.02)
        return ran

    assert run(scenario()) == ["kept"]


def test_call_later_and_call_at_run_in_time_order_never_early(qapp: QApplication) -> None:
    async def scenario() -> list[tuple[str, bool]]:
        loop = asyncio.get_running_loop()
        ran: list[tuple[str, bool]] = []
        done = loop.create_future()

        def at(name: str, when: float) -> None:
            ran.append((name, loop.time() >= when))
            if len(ran) == 4:
                done.set_result(None)

        now = loop.time()
        loop.call_later(0.030, at, "30ms", now + 0.030)
        loop.call_at(now + 0.010, at, "10ms", now + 0.010)
        loop.call_later(0.020, at, "20ms", now + 0.020)
        cancelled = loop.call_later(0.005, at, "cancelled", now)
        cancelled.cancel()
        loop.call_later(0, at, "0ms", now)
        await done
        return ran

    assert run(scenario()) == [("0ms", True), ("10ms", True), ("20ms", True), ("30ms", True)]


def test_many_cancelled_timers_leave_the_heap(qapp: QApplication) -> None:
    """``wait_for`` and ``timeout`` cancel most of their timers: they must not pile up."""

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        for _ in range(500):
            loop.call_later(3600, lambda: None).cancel()
        await asyncio.sleep(0.002)  # a timer of its own fires and the heap is cleaned
        assert isinstance(loop, DeskEventLoop)
        return len(loop._scheduled)

    assert run(scenario()) < 100


def test_a_reader_on_a_socketpair_hears_each_write_and_stops_when_removed(
    qapp: QApplication,
) -> None:
    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        heard: list[bytes] = []
        with _socket_pair() as (ours, theirs):
            loop.add_reader(ours.fileno(), lambda: heard.append(ours.recv(64)))
            theirs.send(b"one")
            await wait_until(lambda: heard == [b"one"])
            theirs.send(b"two")
            await wait_until(lambda: heard == [b"one", b"two"])
            assert loop.remove_reader(ours.fileno())
            assert not loop.remove_reader(ours.fileno())
            theirs.send(b"unheard")
            # A sentinel through a second reader proves the first one had its chance.
            sentinel = loop.create_future()
            loop.add_reader(theirs.fileno(), lambda: None)
            loop.remove_reader(theirs.fileno())
            loop.call_later(0.02, sentinel.set_result, None)
            await sentinel
            return heard

    assert run(scenario()) == [b"one", b"two"]


def test_handles_scheduled_before_a_socket_was_ready_run_before_its_reader(
    qapp: QApplication,
) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        done = loop.create_future()
        with _socket_pair() as (ours, theirs):

            def on_readable() -> None:
                order.append(f"reader {ours.recv(64)!r}")
                if not done.done():
                    done.set_result(None)

            def writes_then_schedules() -> None:
                theirs.send(b"x")  # readable from now on, while "after the write" waits its turn
                for name in ("after the write", "and the next"):
                    loop.call_soon(order.append, name)

            loop.add_reader(ours.fileno(), on_readable)
            loop.call_soon(writes_then_schedules)
            await done
            loop.remove_reader(ours.fileno())
            return order

    assert run(scenario()) == ["after the write", "and the next", "reader b'x'"]


def test_a_reader_that_removes_itself_or_is_replaced_keeps_the_loop_working(
    qapp: QApplication,
) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        heard: list[str] = []
        with _socket_pair() as (ours, theirs):

            def second() -> None:
                heard.append(f"second {ours.recv(64)!r}")
                loop.remove_reader(ours.fileno())  # inside its own notifier's activation

            def first() -> None:
                heard.append(f"first {ours.recv(64)!r}")
                loop.add_reader(ours.fileno(), second)  # same descriptor, new reader

            loop.add_reader(ours.fileno(), first)
            theirs.send(b"1")
            await wait_until(lambda: len(heard) == 1)
            theirs.send(b"2")
            await wait_until(lambda: len(heard) == 2)
            # Streams work on the same loop afterwards (a notifier per transport).
            reader, writer = await asyncio.open_connection(sock=ours)
            theirs.send(b"3")
            heard.append(f"stream {await reader.read(64)!r}")
            writer.close()
            await writer.wait_closed()
            return heard

    assert run(scenario()) == ["first b'1'", "second b'2'", "stream b'3'"]


def test_a_reader_reentered_by_a_nested_qt_loop_is_muted_until_it_returns(
    qapp: QApplication,
) -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        calls = 0
        depth = 0
        deepest = 0
        with _socket_pair() as (ours, theirs):

            def on_readable() -> None:
                nonlocal calls, depth, deepest
                calls += 1
                depth += 1
                deepest = max(deepest, depth)
                if calls == 1:
                    QApplication.processEvents()  # the byte is still unread: level-triggered
                    QApplication.processEvents()
                ours.recv(64)
                depth -= 1

            loop.add_reader(ours.fileno(), on_readable)
            theirs.send(b"x")
            await wait_until(lambda: calls == 1 and depth == 0)
            theirs.send(b"y")  # re-enabled after the reader returned
            await wait_until(lambda: calls == 2)
            loop.remove_reader(ours.fileno())
            return deepest

    assert run(scenario()) == 1


def test_an_exception_in_a_callback_goes_to_the_exception_handler(qapp: QApplication) -> None:
    async def scenario() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))

        def fails() -> None:
            raise ValueError("boom")

        loop.call_soon(fails)
        loop.call_later(0.001, fails)
        after = loop.create_future()
        loop.call_later(0.01, after.set_result, None)  # the loop goes on after both
        await after
        return contexts

    contexts = run(scenario())
    assert [type(c["exception"]) for c in contexts] == [ValueError, ValueError]
    assert all(isinstance(c["handle"], asyncio.Handle) for c in contexts)


def test_qt_events_interleave_with_a_callback_that_reschedules_itself_forever(
    qapp: QApplication,
) -> None:
    async def scenario() -> tuple[bool, bool, int]:
        loop = asyncio.get_running_loop()
        spins = 0
        timer_fired = loop.create_future()
        posted_ran = loop.create_future()

        def spin() -> None:
            nonlocal spins
            spins += 1
            if not (timer_fired.done() and posted_ran.done()):
                loop.call_soon(spin)

        loop.call_soon(spin)
        QTimer.singleShot(20, lambda: timer_fired.set_result(True))
        QTimer.singleShot(0, lambda: posted_ran.set_result(True))  # a posted event in Qt 6
        return await timer_fired, await posted_ran, spins

    timer, posted, spins = run(scenario())
    assert timer and posted
    assert spins > 1


def test_call_soon_threadsafe_and_executors_hand_results_to_the_loop(qapp: QApplication) -> None:
    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        done = loop.create_future()

        def from_thread() -> None:
            for i in range(50):
                loop.call_soon_threadsafe(got.append, i)
            loop.call_soon_threadsafe(done.set_result, None)

        thread = threading.Thread(target=from_thread)
        thread.start()
        await done
        thread.join()
        answer = await loop.run_in_executor(None, sum, [1, 2, 3])
        return got, answer

    assert run(scenario()) == (list(range(50)), 6)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_handler_runs_on_the_loop(qapp: QApplication) -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        heard = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, heard.set_result, True)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            return await heard
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert run(scenario()) is True


def test_shutdown_cancels_tasks_and_leaves_nothing_running(qapp: QApplication) -> None:
    loops: list[DeskEventLoop] = []
    cancelled: list[str] = []

    async def sleeper() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append("sleeper")
            raise

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, DeskEventLoop)
        loops.append(loop)
        asyncio.get_running_loop().create_task(sleeper())
        await asyncio.sleep(0)
        await loop.run_in_executor(None, lambda: None)

    run(scenario())
    loop = loops[0]
    assert cancelled == ["sleeper"]  # the Runner cancelled and awaited it
    assert loop.is_closed()
    assert not loop._readers and not loop._writers and not loop._scheduled
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(lambda: None)
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_later(1, lambda: None)
