"""A desktop notification server the e2e tests own.

Owns ``org.freedesktop.Notifications`` on the session bus named by DBUS_SESSION_BUS_ADDRESS and
appends every ``Notify`` call as one JSON line to the file given on the command line, so a test
can assert exactly what a real notification daemon (dunst, GNOME Shell…) would have been asked
to show. It advertises ``body-markup`` like those daemons do, so unescaped customer text would
be rendered as markup there: tests check the body is escaped.

A private method lets a test play the user clicking a notification:
``io.github.supervisordesk.TestNotifications.Invoke(id u, action s)`` emits the standard
``ActionInvoked`` and ``NotificationClosed`` signals.

Run as ``python notification_service.py OUT.jsonl`` (jeepney only; no Qt).
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

BUS_NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
TEST_IFACE = "io.github.supervisordesk.TestNotifications"
CAPABILITIES = ["body", "body-markup", "actions", "icon-static", "persistence"]

INTROSPECTION = f"""<node>
 <interface name="{BUS_NAME}">
  <method name="Notify">
   <arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="in" type="s"/>
   <arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="in" type="as"/>
   <arg direction="in" type="a{{sv}}"/><arg direction="in" type="i"/>
   <arg direction="out" type="u"/>
  </method>
  <method name="CloseNotification"><arg direction="in" type="u"/></method>
  <method name="GetCapabilities"><arg direction="out" type="as"/></method>
  <method name="GetServerInformation">
   <arg direction="out" type="s"/><arg direction="out" type="s"/>
   <arg direction="out" type="s"/><arg direction="out" type="s"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
 </interface>
 <interface name="{TEST_IFACE}">
  <method name="Invoke"><arg direction="in" type="u"/><arg direction="in" type="s"/></method>
 </interface>
</node>"""


def _plain(value: Any) -> Any:
    """Turn a D-Bus variant's value into JSON; image data is summarised, not copied."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _hints(raw: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {key: _plain(val) for key, (_sig, val) in raw.items()}


def serve(out: Path) -> None:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(BUS_NAME, 0x4))  # DO_NOT_QUEUE
    if reply.body[0] != 1:  # 1 = primary owner
        sys.exit(f"could not own {BUS_NAME} (RequestName answered {reply.body[0]})")
    emitter = DBusAddress(PATH, interface=BUS_NAME)
    ids = itertools.count(1)
    with out.open("a", encoding="utf-8") as log:
        while True:
            msg = conn.receive()
            if msg.header.message_type != MessageType.method_call:
                continue
            iface = msg.header.fields.get(HeaderFields.interface)
            member = msg.header.fields.get(HeaderFields.member)
            if member == "Notify":
                app, replaces, icon, summary, body, actions, hints, timeout = msg.body
                nid = replaces or next(ids)
                record = {
                    "id": nid, "app_name": app, "replaces_id": replaces, "icon": icon,
                    "summary": summary, "body": body, "actions": list(actions),
                    "hints": _hints(hints), "timeout": timeout, "time": time.time(),
                    "sender": msg.header.fields.get(HeaderFields.sender),
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
                conn.send(new_method_return(msg, "u", (nid,)))
            elif member == "GetCapabilities":
                conn.send(new_method_return(msg, "as", (CAPABILITIES,)))
            elif member == "GetServerInformation":
                info = ("supervisor-desk-test", "supervisor-desk", "1", "1.2")
                conn.send(new_method_return(msg, "ssss", info))
            elif member == "CloseNotification":
                conn.send(new_method_return(msg))
                conn.send(new_signal(emitter, "NotificationClosed", "uu", (msg.body[0], 3)))
            elif iface == TEST_IFACE and member == "Invoke":
                nid, action = msg.body
                conn.send(new_method_return(msg))
                conn.send(new_signal(emitter, "ActionInvoked", "us", (nid, action)))
                conn.send(new_signal(emitter, "NotificationClosed", "uu", (nid, 2)))
            elif member == "Introspect":
                conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                    (f"no method {member}",)))


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(Path(sys.argv[1]))


if __name__ == "__main__":
    main()
