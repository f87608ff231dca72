"""Desktop notifications over ``org.freedesktop.Notifications`` (Linux/BSD), without Qt.

Why not ``QSystemTrayIcon.showMessage``: on an XEmbed tray (trayer, stalonetray, many tiling
window-manager bars, XFCE/MATE panels without StatusNotifier support) Qt 6 draws its own
balloon next to the icon and never talks to the desktop's notification daemon, so nothing
reaches the notification centre, history or do-not-disturb. Only Qt's StatusNotifier path
(KDE, GNOME with the AppIndicator extension) calls ``Notify``. Sending ``Notify`` ourselves
gives the same result on every Linux desktop that has a notification server, and tells us
when the user clicked one (``ActionInvoked``).

Uses jeepney's asyncio integration (jeepney comes with keyring's SecretService backend on
Linux), so it runs on the app's qasync loop. Where jeepney or a notification server is missing
(Windows, macOS, a bare X session), ``start()`` returns False and the caller falls back to the
tray balloon.

The body is untrusted text (customer names, messages): servers that advertise
``body-markup`` interpret a subset of HTML, so it is escaped for them; the summary is plain
text by specification.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
MAX_BODY = 300  # servers truncate differently; keep it short and predictable


class Urgency(IntEnum):
    LOW = 0
    NORMAL = 1
    CRITICAL = 2


def escape_body(text: str, markup: bool) -> str:
    """Body text as the server must receive it: escaped when it would parse markup."""
    text = text.replace("\r", "")
    if len(text) > MAX_BODY:
        text = text[: MAX_BODY - 1] + "…"
    return html.escape(text, quote=False) if markup else text


class DesktopNotifier:
    """Client of the session bus notification server.

    ``on_action(notification_id, action_key)`` is called when the user clicks a notification
    (key ``"default"``) or one of its buttons; ``on_closed(notification_id, reason)`` when it
    goes away. Both run on the event loop that called ``start()``.
    """

    def __init__(self, app_name: str, *, desktop_entry: str = "supervisor-desk",
                 icon: str = "supervisor-desk",
                 on_action: Callable[[int, str], None] | None = None,
                 on_closed: Callable[[int, int], None] | None = None,
                 bus: str = "SESSION") -> None:
        self.app_name = app_name
        self.desktop_entry = desktop_entry
        self.icon = icon
        self.on_action = on_action
        self.on_closed = on_closed
        self._bus = bus
        self._router: Any = None
        self._router_cm: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._sent: set[int] = set()

    @property
    def available(self) -> bool:
        return self._router is not None

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    @property
    def supports_markup(self) -> bool:
        return "body-markup" in self._capabilities

    @property
    def supports_actions(self) -> bool:
        return "actions" in self._capabilities

    async def start(self, wait_s: float = 3.0) -> bool:
        """Connect and ask the server what it can do; False if there is no usable server."""
        try:
            from jeepney import DBusAddress, MatchRule, new_method_call
            from jeepney.bus_messages import message_bus
            from jeepney.io.asyncio import open_dbus_router
        except ImportError:
            return False
        try:
            cm = open_dbus_router(bus=self._bus)
            router = await asyncio.wait_for(cm.__aenter__(), wait_s)
        except (OSError, KeyError, ValueError, EOFError, TimeoutError) as exc:
            log.info("no session bus for notifications: %s", exc)
            return False
        try:
            addr = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
            reply = await asyncio.wait_for(
                router.send_and_get_reply(new_method_call(addr, "GetCapabilities")), wait_s)
            if reply.header.message_type.name != "method_return":
                raise LookupError(f"GetCapabilities failed: {reply.body}")
            self._capabilities = frozenset(reply.body[0])
            rule = MatchRule(type="signal", interface=INTERFACE, path=OBJECT_PATH)
            await asyncio.wait_for(
                router.send_and_get_reply(message_bus.AddMatch(rule)), wait_s)
        except (LookupError, OSError, TimeoutError) as exc:
            log.info("no desktop notification server: %s", exc)
            with contextlib.suppress(Exception):
                await cm.__aexit__(None, None, None)
            return False
        self._router, self._router_cm = router, cm
        self._listener = asyncio.get_running_loop().create_task(self._listen(rule))
        return True

    async def _listen(self, rule: Any) -> None:
        with self._router.filter(rule, bufsize=100) as queue:
            while True:
                msg = await queue.get()
                member = msg.header.fields.get(_member_field())
                if member == "ActionInvoked" and self.on_action is not None:
                    nid, key = msg.body
                    if nid in self._sent:
                        self.on_action(int(nid), str(key))
                elif member == "NotificationClosed":
                    nid, reason = msg.body
                    if nid in self._sent:
                        self._sent.discard(nid)
                        if self.on_closed is not None:
                            self.on_closed(int(nid), int(reason))

    async def notify(self, summary: str, body: str = "", *,
                     actions: Sequence[tuple[str, str]] = (("default", "Open"),),
                     urgency: Urgency = Urgency.NORMAL, timeout_ms: int = -1,
                     replaces_id: int = 0, category: str | None = None) -> int:
        """Show a notification; returns its server id (0 when not connected)."""
        if self._router is None:
            return 0
        from jeepney import DBusAddress, new_method_call

        flat_actions: list[str] = []
        if self.supports_actions:
            for key, label in actions:
                flat_actions += [key, label]
        hints: dict[str, tuple[str, Any]] = {
            "urgency": ("y", int(urgency)),
            "desktop-entry": ("s", self.desktop_entry),
        }
        if category:
            hints["category"] = ("s", category)
        addr = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
        msg = new_method_call(addr, "Notify", "susssasa{sv}i", (
            self.app_name, replaces_id, self.icon, summary.replace("\n", " "),
            escape_body(body, self.supports_markup), flat_actions, hints, timeout_ms))
        reply = await self._router.send_and_get_reply(msg)
        if reply.header.message_type.name != "method_return":
            log.warning("Notify failed: %s", reply.body)
            return 0
        nid = int(reply.body[0])
        self._sent.add(nid)
        return nid

    async def close_notification(self, notification_id: int) -> None:
        if self._router is None:
            return
        from jeepney import DBusAddress, new_method_call

        addr = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
        await self._router.send_and_get_reply(
            new_method_call(addr, "CloseNotification", "u", (notification_id,)))

    async def aclose(self) -> None:
        """Stop listening and disconnect; safe to call twice."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._router_cm is not None:
            cm, self._router_cm, self._router = self._router_cm, None, None
            with contextlib.suppress(Exception):
                await cm.__aexit__(None, None, None)


def _member_field() -> Any:
    from jeepney import HeaderFields

    return HeaderFields.member
