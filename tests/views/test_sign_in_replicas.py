"""Sign-in to a hub served by several replicas: the server field takes every replica's
address (pasted one per line, or comma-separated); the sign-in reaches one that answers, and
the entry is remembered and resumed as one server."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from supervisor_desk.client.credentials import SERVICE, CredentialStore
from supervisor_desk.client.settings import Preferences
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.sign_in_dialog import SignInFlow
from tests.helpers import MemoryKeyring
from tests.views.test_sign_in import submit


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_several_addresses_sign_in_through_the_one_that_answers(
    running_hub: EmbeddedHub, qrun: Any,
) -> None:
    backend = MemoryKeyring()
    prefs = Preferences()
    flow = SignInFlow(CredentialStore(backend), prefs)
    down = f"http://127.0.0.1:{_closed_port()}"
    entry = f"{down}, {running_hub.url}"

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask())
        await submit(flow, f"{down}\n{running_hub.url}\n", "viewer", "viewer")  # pasted lines
        signed = await asyncio.wait_for(task, 15)
        assert signed is not None and signed.role == "viewer"
        assert signed.client.base_url == entry
        assert signed.client.active_url == running_hub.url
        await signed.client.aclose()
        assert prefs.servers == [entry] and prefs.last_server == entry
        assert (SERVICE, f"viewer@{entry}") in backend.secrets
        resumed = await SignInFlow(CredentialStore(backend), prefs).resume()
        assert resumed is not None and resumed.client.addresses == (down, running_hub.url)
        await resumed.client.aclose()

    qrun(scenario())
