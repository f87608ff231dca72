"""The one owner of the desktop's background tasks: it names, tracks, cancels and reports them.

Every view-model receives a ``TaskScope`` from the app's ``TaskOwner``. A scope cancels only
its own tasks (a view-model closing, a page reload), while the owner keeps a strong reference
to every task in the process, cancels them all at shutdown, and routes every unexpected
failure to one reporter (the app's error dialog and log) instead of "Task exception was never
retrieved" at garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

FailureReporter = Callable[[asyncio.Task[Any], BaseException], None]


def _report_to_loop(task: asyncio.Task[Any], exc: BaseException) -> None:
    """Default reporter: the running loop's exception handler (the app installs its own)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        log.error("task %s failed", task.get_name(), exc_info=exc)
        return
    loop.call_exception_handler(
        {"message": f"task {task.get_name()} failed", "exception": exc, "task": task}
    )


class TaskOwner:
    """Strong references to every background task; the only place that cancels them all."""

    def __init__(self, report: FailureReporter | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._report = report or _report_to_loop

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    def set_reporter(self, report: FailureReporter) -> None:
        self._report = report

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def scope(self, name: str) -> TaskScope:
        """A group of tasks one view-model can cancel on its own, still owned and reported here."""
        return TaskScope(self, name)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._report(task, exc)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self, grace: float = 5.0) -> None:
        """Cancel every task and wait up to ``grace`` seconds for them to finish."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.warning("task %s did not stop within %.0f s", task.get_name(), grace)


class TaskScope:
    """The tasks of one view-model or dialog: spawned through, and reported by, the owner."""

    def __init__(self, owner: TaskOwner, name: str) -> None:
        self.owner = owner
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = self.owner.spawn(coro, name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        """Cancel this scope's tasks without waiting (a Qt slot, a synchronous close)."""
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel this scope's tasks and wait until each has finished."""
        await cancel_and_wait(self._tasks)


def standalone_scope(name: str) -> TaskScope:
    """A scope with its own owner, for a view-model used outside the app (tests, tools)."""
    return TaskOwner().scope(name)


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task and wait until each has finished.

    Their failures were already reported where they happened (done callbacks, error signals);
    at shutdown only "stopped" matters, so nothing is re-raised here.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
