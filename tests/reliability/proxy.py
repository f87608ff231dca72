"""A TCP proxy the tests own, between a client and the hub, that breaks the link on demand.

- ``stall()``: stop forwarding in both directions, keep every socket open (a dead link: only
  pings can notice); ``unstall()`` lets bytes flow again.
- ``drop()``: close every connection cleanly (FIN), as a restarting middlebox would.
- ``reset()``: abort every connection (RST), as a NAT that forgot the flow would.
- ``refuse = True``: new connections are closed at once.
- ``rcvbuf``: a small receive window towards the hub, so a stall makes a slow consumer.

Runs on the test's event loop; ``url`` is the address clients use instead of the hub's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, rcvbuf: int | None = None) -> None:
        self.target = (target_host, target_port)
        # A small receive buffer towards the hub turns off the kernel's autotuning (up to tens
        # of MB on loopback), so a stalled link pushes back on the hub within kilobytes.
        self.rcvbuf = rcvbuf
        self.refuse = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.reset()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    @property
    def open_links(self) -> int:
        return len(self._links)

    def stall(self) -> None:
        self._flowing.clear()

    def unstall(self) -> None:
        self._flowing.set()

    def drop(self) -> None:
        for client, upstream in list(self._links):
            for writer in (client, upstream):
                with contextlib.suppress(Exception):
                    writer.close()
        self._links.clear()

    def reset(self) -> None:
        for client, upstream in list(self._links):
            for writer in (client, upstream):
                sock = writer.get_extra_info("socket")
                with contextlib.suppress(Exception):
                    if sock is not None:
                        # Linger 0: close sends RST instead of FIN.
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    writer.transport.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.target)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            writer.close()
            return
        self.accepted += 1
        link = (writer, up_writer)
        self._links.add(link)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst, link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    link: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if link not in self._links:
                    break  # dropped or reset while we held these bytes
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if link in self._links:
                self._links.discard(link)
                for writer in link:
                    with contextlib.suppress(Exception):
                        writer.close()
