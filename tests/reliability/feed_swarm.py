"""Many raw feed clients in their own process (so the desktop's memory is measured alone).

``python -m tests.reliability.feed_swarm URL TOKEN N`` runs N websocket clients that each
follow the feed from the current seq, resume with ``after`` on any close, check there is no gap
or double, and print one JSON line of totals for every line on stdin (and once more when it closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@dataclass
class Tally:
    start_seq: int = 0
    seq: int = 0
    events: int = 0
    gaps: int = 0
    doubles: int = 0
    reconnects: int = 0
    resyncs: int = 0


async def follow(url: str, token: str, tally: Tally) -> None:
    ws_url = url.replace("http", "ws", 1) + "/api/v1/feed"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        live = (await http.get(f"{url}/api/v1/live", headers=headers)).json()
    epoch, tally.seq = live["epoch"], live["seq"]
    tally.start_seq = tally.seq
    while True:
        try:
            async with connect(f"{ws_url}?epoch={epoch}&after={tally.seq}",
                               additional_headers=headers, max_size=2**24,
                               ping_interval=20, ping_timeout=60) as ws:
                hello = json.loads(await ws.recv())
                if not hello["resumed"]:
                    tally.resyncs += 1
                    return
                async for raw in ws:
                    seq = json.loads(raw)["seq"]
                    if seq <= tally.seq:
                        tally.doubles += 1
                    elif seq != tally.seq + 1:
                        tally.gaps += 1
                        tally.seq = seq
                    else:
                        tally.seq = seq
                        tally.events += 1
        except (ConnectionClosed, OSError, InvalidStatus, TimeoutError):
            tally.reconnects += 1
            await asyncio.sleep(0.2)


async def main(url: str, token: str, count: int) -> None:
    tallies = [Tally() for _ in range(count)]
    tasks = [asyncio.create_task(follow(url, token, t)) for t in tallies]
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps({"clients": [asdict(t) for t in tallies]}), flush=True)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    print(json.dumps({"clients": [asdict(t) for t in tallies]}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
