"""Who is signed in: the demo account, a stored token, or the sign-in dialog; and signing out.

The composition root asks this object for a :class:`SignedIn` and hands it to the live
view-models; it never touches the keyring or the dialog itself. Keyring calls block (an unlock
prompt, a slow D-Bus service), so every one runs in an executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.client.settings import Preferences
from supervisor_desk.views.sign_in_dialog import SignedIn, SignInFlow
from supervisor_desk.views.tasks import TaskScope, standalone_scope

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore
    from supervisor_desk.demo import DemoHub

log = logging.getLogger("supervisor_desk")


# How long start-up waits for the system keyring before going on without it.
KEYRING_PATIENCE_S = 3.0
WAITING_NOTE = (
    "Waiting for the system keyring (it may be asking to be unlocked). You can sign in now: "
    "your sign-in is kept while the app runs and stored in the keyring when it answers."
)


def open_credentials() -> CredentialStore:
    """The system keyring store (blocking: keyring's import and backend discovery are slow)."""
    from supervisor_desk.client.credentials import CredentialStore

    return CredentialStore()


def _session_only_store() -> CredentialStore:
    """Tokens in memory only, while the keyring has not answered yet."""
    from keyring.backends import fail

    from supervisor_desk.client.credentials import CredentialStore

    class _WaitingForKeyring(CredentialStore):
        @property
        def note(self) -> str:
            return WAITING_NOTE

    return _WaitingForKeyring(fail.Keyring())  # type: ignore[no-untyped-call]


class Account:
    """Signs in (demo, stored token, dialog) and out; owns the demo hub it started.

    The system keyring never holds up start-up: if it has not answered within
    ``keyring_patience`` seconds (an unlock prompt, a slow D-Bus service), sign-in goes on
    session-only and ``waiting_for_keyring`` says so; when the keyring answers,
    :meth:`keyring_answered` stores the token of whoever signed in meanwhile.
    """

    keyring_patience = KEYRING_PATIENCE_S

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
        tasks: TaskScope | None = None,
    ) -> None:
        self._window = window
        self._tasks = tasks or standalone_scope("account")
        self._ca_file = ca_file
        self.is_demo = demo
        self._demo_rate = demo_rate
        self._demo_seed = demo_seed
        self._demo_future = demo_future
        self.credentials = credentials
        self.flow: SignInFlow | None = None
        self.demo_hub: DemoHub | None = None
        self._prefs: Preferences | None = None
        # The keyring's late answer: (a flow over its store, a valid stored sign-in or None).
        self._keyring_late: asyncio.Task[tuple[SignInFlow, SignedIn | None]] | None = None

    @property
    def note(self) -> str:
        """Why sign-in is session-only ("" when the keyring keeps it)."""
        return self.credentials.note if self.credentials is not None else ""

    async def open(self, prefs: Preferences) -> None:
        """Remember the preferences the sign-in flow works with (before any sign-in)."""
        self._prefs = prefs

    def _flow_for(self, store: CredentialStore) -> SignInFlow:
        assert self._prefs is not None, "open() first"
        return SignInFlow(store, self._prefs, self._window, ca_file=self._ca_file)

    @property
    def waiting_for_keyring(self) -> bool:
        return self._keyring_late is not None and not self._keyring_late.done()

    async def sign_in_at_start(self, server: str | None) -> SignedIn | None:
        """The demo account, or the stored token for ``server`` (or the last one) if valid.

        None when nothing valid is stored, or when the keyring is too slow to answer: then
        the flow is session-only (:attr:`waiting_for_keyring`) and the dialog says why.
        """
        if self.is_demo:
            return await self._demo_sign_in()

        async def open_and_resume() -> tuple[SignInFlow, SignedIn | None]:
            store = self.credentials
            if store is None:
                store = await asyncio.get_running_loop().run_in_executor(None, open_credentials)
            flow = self._flow_for(store)
            resumed: SignedIn | None = await flow.resume(server)
            return flow, resumed

        attempt = self._tasks.spawn(open_and_resume(), "keyring-open-and-resume")
        done, _ = await asyncio.wait({attempt}, timeout=self.keyring_patience)
        if done:
            answer: tuple[SignInFlow, SignedIn | None] = attempt.result()
            flow, signed = answer
            self.credentials = flow.credentials
            self.flow = flow  # it knows why a resume failed; the dialog says so
            return signed
        log.warning("the system keyring did not answer within %.1f s: signing in session-only",
                    self.keyring_patience)
        self._keyring_late = attempt
        self.flow = self._flow_for(_session_only_store())
        return None

    async def keyring_answered(self, current: Callable[[], SignedIn | None]) -> bool:
        """Wait for the keyring's late answer; store the token of ``current()`` (whoever is
        signed in by then) there; True if it was kept.

        From then on sign-ins and sign-outs use the keyring. A sign-in the keyring itself
        resumed meanwhile is not needed any more (someone signed in already): closed.
        """
        late = self._keyring_late
        if late is None:
            return False
        try:
            flow, resumed = await late
        except Exception as exc:  # the keyring failed outright: stay session-only
            log.warning("the system keyring failed: %s", type(exc).__name__)
            return False
        finally:
            self._keyring_late = None
        if resumed is not None:
            await resumed.client.aclose()
        store = flow.credentials
        self.credentials = store
        if self.flow is not None:
            self.flow.credentials = store
        signed = current()
        if signed is None or signed.client.token is None:
            return False
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(
            None, store.save, signed.client.base_url, signed.username, signed.client.token))

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
        """Stop waiting for the keyring; stop the demo hub (waiting for it if still starting)."""
        if self._keyring_late is not None:
            self._keyring_late.cancel()  # its executor call ends on its own; nobody waits
            self._keyring_late = None
        if self.demo_hub is None and self._demo_future is not None:
            try:
                self.demo_hub = await asyncio.wrap_future(self._demo_future)
            except Exception as exc:  # it never started: nothing to stop
                log.info("demo hub did not start: %s", exc)
        if self.demo_hub is not None:
            demo, self.demo_hub = self.demo_hub, None
            await asyncio.get_running_loop().run_in_executor(None, demo.stop)
