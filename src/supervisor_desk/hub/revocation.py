"""Open feed sockets follow their token: revoked or expired means closed with 4401.

The handshake checks the token once; a supervisor who signs out, whose tokens an admin revokes,
or whose sign-in expires must not keep receiving customer conversations on a socket opened
earlier. Each feed connection re-checks its token every ``service.token_check_interval``
seconds (one indexed lookup on a reader thread) and the hub also wakes every watcher at once
when it revokes tokens itself (logout, admin revoke), so those take effect immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import TYPE_CHECKING

from supervisor_desk.hub.store.interface import StoreUnavailable
from supervisor_desk.models.wire import FEED_CLOSE_UNAUTHORIZED

if TYPE_CHECKING:
    from supervisor_desk.hub.service import HubService

CLOSE_CODE = FEED_CLOSE_UNAUTHORIZED
CLOSE_REASON = "sign-in revoked or expired"
# Often enough that a token revoked through another replica (several hubs on one PostgreSQL
# database) closes this replica's feeds within 2 s; one indexed lookup per open feed each time.
TOKEN_CHECK_SECONDS = 1.0


# One wake-up event per service (per hub) and event loop: revocations done by this hub.
_wakeups: weakref.WeakKeyDictionary[object, asyncio.Event] = weakref.WeakKeyDictionary()


def _wakeup(service: object) -> asyncio.Event:
    event = _wakeups.get(service)
    if event is None:
        event = _wakeups[service] = asyncio.Event()
    return event


def revoked_now(service: object) -> None:
    """Tell every feed watcher of ``service`` to re-check its token now (on the loop thread)."""
    event = _wakeups.get(service)
    if event is not None:
        event.set()
        # Each watcher waits on the event it found; a fresh one serves the next revocation.
        _wakeups[service] = asyncio.Event()


async def watch_token(service: HubService, token: str) -> None:
    """Return once ``token`` no longer authenticates (revoked, expired, user re-created)."""
    interval = float(getattr(service, "token_check_interval", TOKEN_CHECK_SECONDS))
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wakeup(service).wait(), interval)
        try:
            principal = await service.read(service.storage.principal, token)
        except StoreUnavailable:
            # The database is away (a restart, a fail-over): that says nothing about the
            # token. The feed stays open and the token is checked again next time.
            continue
        if principal is None:
            return
