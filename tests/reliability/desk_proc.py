"""The desktop's Qt-free live path in its own process, so a test can SIGSTOP it.

``python -m tests.reliability.desk_proc URL TOKEN`` follows the hub with FeedClient +
SessionStore; every line on stdin gets one JSON line back: seq, snapshots, connections, the
live sessions' fingerprint, whether any event came twice, and the states seen so far.
"""

from __future__ import annotations

import asyncio
import json
import sys

from supervisor_desk.client.rest import HubClient
from tests.reliability.desk import Desk


async def main(url: str, token: str) -> None:
    client = HubClient(url, token)
    desk = Desk(client)
    desk.start()
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps({
            "seq": desk.feed.seq,
            "snapshots": desk.snapshots,
            "connections": desk.feed.connections,
            "state": desk.state.value if desk.state else None,
            "states": [s.value for _, s, _ in desk.states],
            "doubles": len(desk.event_ids) - len(set(desk.event_ids)),
            "ordered": all(b > a for a, b in zip(desk.seqs, desk.seqs[1:], strict=False)),
            "fingerprint": {k: list(v) for k, v in desk.fingerprint().items()},
        }), flush=True)
    await desk.stop()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
