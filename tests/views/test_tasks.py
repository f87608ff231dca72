"""TaskOwner / TaskScope: every task tracked, scopes cancel their own, failures reported once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from supervisor_desk.views.tasks import TaskOwner


def test_failure_is_reported_with_the_task_name(qrun: Callable[..., Any]) -> None:
    reported: list[tuple[str, str]] = []
    owner = TaskOwner(lambda task, exc: reported.append((task.get_name(), str(exc))))

    async def boom() -> None:
        raise ValueError("hub said no")

    async def scenario() -> None:
        task = owner.scope("history").spawn(boom(), "history-page")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next loop turn

    qrun(scenario())
    assert reported == [("history-page", "hub said no")]
    assert not owner.tasks


def test_scope_cancels_only_its_own_tasks(qrun: Callable[..., Any]) -> None:
    owner = TaskOwner(lambda task, exc: None)

    async def scenario() -> tuple[bool, bool]:
        started = asyncio.Event()

        async def wait_forever() -> None:
            started.set()
            await asyncio.Event().wait()

        mine, other = owner.scope("detail"), owner.scope("live")
        mine_task = mine.spawn(wait_forever(), "detail-load")
        other_task = other.spawn(wait_forever(), "live-feed")
        await started.wait()
        await mine.aclose()
        result = (mine_task.cancelled(), other_task.done())
        await owner.aclose()
        return result

    mine_cancelled, other_done = qrun(scenario())
    assert mine_cancelled and not other_done
    assert not owner.tasks


def test_cancellation_is_not_a_failure(qrun: Callable[..., Any]) -> None:
    reported: list[BaseException] = []
    owner = TaskOwner(lambda task, exc: reported.append(exc))

    async def scenario() -> None:
        task = owner.spawn(asyncio.sleep(60), "sleeper")
        await asyncio.sleep(0)
        owner.cancel_all()
        await asyncio.wait([task])
        await asyncio.sleep(0)

    qrun(scenario())
    assert reported == []
