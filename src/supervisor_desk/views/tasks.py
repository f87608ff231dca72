"""Task ownership shared by the view-models: each keeps its tasks and closes them the same way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
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
