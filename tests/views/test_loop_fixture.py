"""The qasync fixture runs sockets and Qt timers together (QtAsyncio cannot, see
docs/architecture.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QTimer

from tests.helpers import wait_until


def test_qasync_loop_runs_sockets_and_qt_timers(qrun: Any) -> None:
    fired: list[bool] = []

    async def scenario() -> bytes:
        QTimer.singleShot(10, lambda: fired.append(True))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        line = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        await wait_until(lambda: bool(fired))
        return line

    assert qrun(scenario()) == b"ping\n"
    assert fired == [True]
