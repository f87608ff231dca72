"""Qt-thread CPU of the asyncio loop's own work: qasync's loop, the app's, plain asyncio.

    python -m benchmarks.loop_micro [--quick] [--rounds N]

Not one of ``python -m benchmarks``'s modules (it measures a mechanism, not a target). Each
figure is the calling thread's CPU (``time.thread_time``) per operation, offscreen:

- ``round_trip``: ``call_soon(future.set_result)`` then awaiting the future (two callbacks:
  the result, then the task's wake-up);
- ``socket_wake``: a byte written by another thread wakes a trivial ``add_reader`` callback
  (the writer waits for each byte to be read, so each is one wake-up);
- ``stream_read``: the same byte read by a task awaiting ``StreamReader.read`` (transport,
  protocol, future and task: the path a websocket frame takes);
- ``sleep``: ``await asyncio.sleep(0.002)`` (a timer handle through ``call_later``; qasync
  truncates a delay to whole milliseconds, so a shorter sleep does not sleep at all there).

Loops alternate round by round so the machine's load falls on all three alike; the median of
the rounds is printed with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication

from supervisor_desk.views.qt_loop import DeskEventLoop


async def _round_trips(n: int) -> float:
    loop = asyncio.get_running_loop()
    started = time.thread_time()
    for _ in range(n):
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future
    return (time.thread_time() - started) / n


def _writer(sock: socket.socket, n: int, read: threading.Event) -> None:
    for _ in range(n):
        read.clear()
        sock.send(b"x")
        read.wait(5)


async def _socket_wakes(n: int) -> float:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    read = threading.Event()
    done = loop.create_future()
    count = 0

    def on_readable() -> None:
        nonlocal count
        ours.recv(16)
        count += 1
        read.set()
        if count == n and not done.done():
            done.set_result(None)

    loop.add_reader(ours.fileno(), on_readable)
    writer = threading.Thread(target=_writer, args=(theirs, n, read))
    started = time.thread_time()
    writer.start()
    await done
    took = time.thread_time() - started
    loop.remove_reader(ours.fileno())
    writer.join()
    ours.close()
    theirs.close()
    return took / n


async def _stream_reads(n: int) -> float:
    ours, theirs = socket.socketpair()
    reader, writer_stream = await asyncio.open_connection(sock=ours)
    read = threading.Event()
    writer = threading.Thread(target=_writer, args=(theirs, n, read))
    started = time.thread_time()
    writer.start()
    for _ in range(n):
        await reader.read(16)
        read.set()
    took = time.thread_time() - started
    writer.join()
    writer_stream.close()
    await writer_stream.wait_closed()
    theirs.close()
    return took / n


async def _sleeps(n: int) -> float:
    started = time.thread_time()
    for _ in range(n):
        await asyncio.sleep(0.002)
    return (time.thread_time() - started) / n


async def _all(n: int) -> dict[str, float]:
    return {
        "round_trip": await _round_trips(n * 10),
        "socket_wake": await _socket_wakes(n),
        "stream_read": await _stream_reads(n),
        "sleep": await _sleeps(n),
    }


def run(quick: bool = False, rounds: int = 5) -> dict[str, Any]:
    app = QApplication.instance() or QApplication([])
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "qasync": lambda: qasync.QEventLoop(app),
        "desk": lambda: DeskEventLoop(app),
        "asyncio": asyncio.new_event_loop,
    }
    n = 300 if quick else 2000
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in factories}
    for _ in range(rounds):
        for name, factory in factories.items():
            figures = asyncio.run(_all(n), loop_factory=factory)
            for key, value in figures.items():
                samples[name].setdefault(key, []).append(value)
    return {
        f"{name}.{key}_us": round(statistics.median(values) * 1e6, 2)
        for name, by_key in samples.items()
        for key, values in by_key.items()
    } | {"load_average": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = run(args.quick, args.rounds)
    for key, value in figures.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
