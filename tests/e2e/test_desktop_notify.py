"""client/desktop_notify.py against a real session bus and the bench's notification server."""

from __future__ import annotations

import asyncio

import pytest

from supervisor_desk.client.desktop_notify import DesktopNotifier, Urgency, escape_body
from tests.e2e.desktop import VirtualDesktop
from tests.helpers import wait_until


@pytest.mark.asyncio
async def test_notification_reaches_the_server_escaped_and_reports_clicks(
        desktop: VirtualDesktop) -> None:
    clicks: list[tuple[int, str]] = []
    closed: list[tuple[int, int]] = []
    notifier = DesktopNotifier("Supervisor Desk", bus=desktop.bus_address,
                               on_action=lambda nid, key: clicks.append((nid, key)),
                               on_closed=lambda nid, reason: closed.append((nid, reason)))
    assert await notifier.start()
    try:
        assert notifier.supports_markup
        nid = await notifier.notify("New session", "Customer <b>Bob</b> & co: <a href=x>hi</a>",
                                    urgency=Urgency.NORMAL, category="im.received")
        assert nid > 0
        note = desktop.wait_for_notification(lambda n: n["id"] == nid)
        assert note["app_name"] == "Supervisor Desk"
        assert note["summary"] == "New session"
        assert note["body"] == ("Customer &lt;b&gt;Bob&lt;/b&gt; &amp; co: "
                                "&lt;a href=x&gt;hi&lt;/a&gt;")
        assert note["actions"] == ["default", "Open"]
        assert note["hints"]["desktop-entry"] == "supervisor-desk"
        assert note["hints"]["urgency"] == 1

        await asyncio.to_thread(desktop.invoke_notification, nid, "default")
        await wait_until(lambda: bool(clicks) and bool(closed))
        assert clicks == [(nid, "default")]
        assert closed == [(nid, 2)]
    finally:
        await notifier.aclose()
        await notifier.aclose()


@pytest.mark.asyncio
async def test_start_reports_no_server_on_a_bus_without_one(desktop: VirtualDesktop) -> None:
    notifier = DesktopNotifier("x", bus="unix:path=/nonexistent/bus")
    assert not await notifier.start()
    assert not notifier.available
    assert await notifier.notify("ignored") == 0


def test_escape_body_only_when_the_server_parses_markup() -> None:
    assert escape_body("a <b> & c", markup=True) == "a &lt;b&gt; &amp; c"
    assert escape_body("a <b> & c", markup=False) == "a <b> & c"
    assert len(escape_body("x" * 1000, markup=False)) == 300
