"""Who is signed in: the demo account, a stored token, or the sign-in dialog; and signing out.

The composition root asks this object for a :class:`SignedIn` and hands it to the live
view-models; it never touches the keyring or the dialog itself. Keyring calls block (an unlock
prompt, a slow D-Bus service), so every one runs in an executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.client.settings import Preferences
from supervisor_desk.views.sign_in_dialog import SignedIn, SignInFlow

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore
    from supervisor_desk.demo import DemoHub

log = logging.getLogger("supervisor_desk")


def open_credentials() -> CredentialStore:
    """The system keyring store (blocking: keyring's import and backend discovery are slow)."""
    from supervisor_desk.client.credentials import CredentialStore

    return CredentialStore()


class Account:
    """Signs in (demo, stored token, dialog) and out; owns the demo hub it started."""

    def __init__(
        self,
        window: QWidget,
        *,
        demo: bool = False,
        demo_rate: float = 15.0,
        demo_seed: int | None = None,
        credentials: CredentialStore | None = None,
        demo_future: concurrent.futures.Future[Any] | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self._window = window
        self._ca_file = ca_file
        self.is_demo = demo
        self._demo_rate = demo_rate
        self._demo_seed = demo_seed
        self._demo_future = demo_future
        self.credentials = credentials
        self.flow: SignInFlow | None = None
        self.demo_hub: DemoHub | None = None

    @property
    def note(self) -> str:
        """Why sign-in is session-only ("" when the keyring keeps it)."""
        return self.credentials.note if self.credentials is not None else ""

    async def open(self, prefs: Preferences) -> None:
        """Open the keyring store and the sign-in flow (before any sign-in)."""
        if self.credentials is None:
            loop = asyncio.get_running_loop()
            self.credentials = await loop.run_in_executor(None, open_credentials)
        self.flow = SignInFlow(self.credentials, prefs, self._window, ca_file=self._ca_file)

    async def sign_in_at_start(self, server: str | None) -> SignedIn | None:
        """The demo account, or the stored token for ``server`` (or the last one) if valid."""
        if self.is_demo:
            return await self._demo_sign_in()
        assert self.flow is not None, "open() first"
        return await self.flow.resume(server)

    async def ask(self, *, reason: str = "", server: str | None = None,
                  startup: bool = False) -> SignedIn | None:
        """The sign-in dialog until it succeeds (a SignedIn) or is cancelled (None);
        ``startup``: cancelling asks "Quit Supervisor Desk?" first."""
        assert self.flow is not None, "open() first"
        return await self.flow.ask(reason=reason, server=server, startup=startup)

    def close_dialog(self) -> None:
        if self.flow is not None and self.flow.dialog is not None:
            self.flow.dialog.reject()

    async def end(self, signed: SignedIn, *, revoke: bool = False, forget: bool = False) -> None:
        """Stop using ``signed``: revoke the token on the hub (sign-out) or just forget it
        locally (the hub refused it), then close its HTTP client."""
        if self.flow is not None:
            if revoke:
                await self.flow.sign_out(signed)
            elif forget:
                await self.flow.forget(signed)
        try:
            await signed.client.aclose()
        except (HubError, OSError) as exc:
            log.info("closing the hub client: %s", exc)

    async def _demo_sign_in(self) -> SignedIn:
        from supervisor_desk.demo import start_demo_hub

        loop = asyncio.get_running_loop()
        if self._demo_future is not None:
            self.demo_hub = await asyncio.wrap_future(self._demo_future)
        else:
            rate, seed = self._demo_rate, self._demo_seed
            self.demo_hub = await loop.run_in_executor(
                None, lambda: start_demo_hub(rate=rate, seed=seed)
            )
        assert self.demo_hub is not None
        client = HubClient(self.demo_hub.url)
        try:
            answer = await client.login(self.demo_hub.username, self.demo_hub.password)
        except BaseException:
            await client.aclose()
            raise
        # The demo account lives as long as this process: never put it in the keyring.
        return SignedIn(client, self.demo_hub.username, answer.user.name, answer.role, False)

    async def aclose(self) -> None:
        """Stop the demo hub (waiting for it if it is still starting)."""
        if self.demo_hub is None and self._demo_future is not None:
            try:
                self.demo_hub = await asyncio.wrap_future(self._demo_future)
            except Exception as exc:  # it never started: nothing to stop
                log.info("demo hub did not start: %s", exc)
        if self.demo_hub is not None:
            demo, self.demo_hub = self.demo_hub, None
            await asyncio.get_running_loop().run_in_executor(None, demo.stop)
