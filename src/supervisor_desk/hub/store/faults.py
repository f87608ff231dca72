"""Turning a database driver's exceptions into the store's errors, for both backends: each
backend says which of its exceptions are faults of the database (``store_fault``); the rest
are bugs and stay what they were."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from supervisor_desk.hub.store.interface import StoreUnavailable

FaultOf = Callable[[BaseException], StoreUnavailable | None]


@contextlib.contextmanager
def translating(driver_errors: tuple[type[BaseException], ...], fault_of: FaultOf
                ) -> Iterator[None]:
    """Raise the store's error for a database fault inside the block (chained to the cause)."""
    try:
        yield
    except driver_errors as exc:
        fault = fault_of(exc)
        if fault is None:
            raise
        raise fault from exc
