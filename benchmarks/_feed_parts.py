"""The processes around the desktop in ``feed_bench``: a hub, a platform posting events, a poller.

    python -m benchmarks._feed_parts hub DIR N_LIVE          # serve until stdin closes
    python -m benchmarks._feed_parts ingest DIR RATE SECONDS # post RATE events/s, then log
    python -m benchmarks._feed_parts poll DIR INTERVAL SECONDS

Each runs in its own process so the desktop under test shares neither its interpreter nor its
GIL with them (on a real site the hub is another machine). They meet through files in DIR:
``hub.json`` (url, tokens, live ids), ``ingest.json`` (per POST: monotonic time before sending,
the hub's ``last_seq``, event count), ``poll.json`` (per GET: monotonic time the parsed
snapshot was in hand, its ``seq``, fetch milliseconds). ``time.monotonic`` is one system-wide
clock on Linux, so the desktop can compare its own timestamps with these.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._sessions import session_dict
from supervisor_desk.models.wire import format_timestamp

STARTED_FIELDS = ("agent", "channel", "modality", "status", "responsible", "team", "user",
                  "location", "started_at", "queued_at", "accepted_at", "metadata")
STAGES = ("greeting", "identify", "diagnose", "resolve", "wrap-up")
TEXTS = ("Where is my parcel?", "I was charged twice this month.", "Can I change my address?",
         "The app says my card is blocked.", "Thanks, that helped!", "Still waiting…")


def _post(client: httpx.Client, url: str, token: str, events: list[dict[str, Any]]) -> int:
    answer = client.post(f"{url}/api/v1/ingest", json={"events": events},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60.0)
    if answer.status_code != 200:
        raise RuntimeError(f"ingest refused: {answer.status_code} {answer.text[:500]}")
    return int(answer.json()["last_seq"])


def started_event(sid: str, data: dict[str, Any], at: str) -> dict[str, Any]:
    body = {k: data[k] for k in STARTED_FIELDS if data.get(k) is not None}
    return {"id": f"{sid}-start", "type": "session.started", "session_id": sid, "at": at,
            "data": body}


def serve_hub(directory: Path, n_live: int) -> None:
    from supervisor_desk.hub.embedded import EmbeddedHub

    hub = EmbeddedHub(directory / "hub.db")
    ingest_token = hub.create_token("bench-platform", "ingest")
    desk_token = hub.create_token("bench-desk", "supervisor")
    hub.start()
    try:
        rng = random.Random(11)
        now = datetime.now(UTC)
        ids: list[str] = []
        batch: list[dict[str, Any]] = []
        started = time.monotonic()
        with httpx.Client() as client:
            for i in range(n_live):
                data = session_dict(rng, i, now, live=True)
                sid = f"live-{i:06d}"
                ids.append(sid)
                batch.append(started_event(sid, data, data["started_at"]))
                if len(batch) == 1000:
                    _post(client, hub.url, ingest_token, batch)
                    batch = []
            if batch:
                _post(client, hub.url, ingest_token, batch)
        info = {"url": hub.url, "ingest_token": ingest_token, "token": desk_token,
                "live_ids": ids, "preload_s": round(time.monotonic() - started, 2)}
        tmp = directory / "hub.json.part"
        tmp.write_text(json.dumps(info))
        tmp.replace(directory / "hub.json")
        sys.stdin.read()  # until the bench closes our stdin
    finally:
        hub.stop()


class Platform:
    """A contact centre's traffic over the pre-loaded live sessions, valid by construction:
    48 % session.updated, 48 % message.created, 2 % new sessions, 2 % sessions ending."""

    def __init__(self, live_ids: list[str], seed: int = 5, tag: str = "") -> None:
        self.rng = random.Random(seed)
        self.tag = tag  # unique per run: the hub skips an event id it already stored
        self.live = list(live_ids)
        self.position = {sid: i for i, sid in enumerate(self.live)}
        self.messages: dict[str, int] = {}
        self.counter = 0
        self.new = 0

    def _pick(self) -> str:
        return self.live[self.rng.randrange(len(self.live))]

    def _drop(self, sid: str) -> None:
        i = self.position.pop(sid)
        last = self.live.pop()
        if last != sid:
            self.live[i] = last
            self.position[last] = i

    def events(self, n: int) -> list[dict[str, Any]]:
        at = format_timestamp(datetime.now(UTC))
        out: list[dict[str, Any]] = []
        ended: set[str] = set()
        for _ in range(n):
            self.counter += 1
            eid = f"bench-{self.tag}-{self.counter}"
            roll = self.rng.random()
            if roll < 0.02 or len(self.live) < 100:
                self.new += 1
                sid = f"new-{self.tag}-{self.new:07d}"
                data = session_dict(self.rng, self.new, datetime.now(UTC), live=True)
                data["started_at"] = at
                out.append(started_event(sid, data, at))
                self.position[sid] = len(self.live)
                self.live.append(sid)
                continue
            sid = self._pick()
            while sid in ended:
                sid = self._pick()
            if roll < 0.04:
                out.append({"id": eid, "type": "session.ended", "session_id": sid, "at": at,
                            "data": {"status": "completed", "end_reason": "resolved"}})
                ended.add(sid)
                self._drop(sid)
            elif roll < 0.52:
                out.append({"id": eid, "type": "session.updated", "session_id": sid, "at": at,
                            "data": {"stage": self.rng.choice(STAGES),
                                     "metadata": {"bench_event": str(self.counter)}}})
            else:
                k = self.messages.get(sid, 0) + 1
                self.messages[sid] = k
                out.append({"id": eid, "type": "message.created", "session_id": sid, "at": at,
                            "data": {"id": f"{sid}-{self.tag}-{k}", "at": at,
                                     "author": {"role": self.rng.choice(("customer", "ai")),
                                                "name": None},
                                     "text": self.rng.choice(TEXTS)}})
        return out


def run_ingest(directory: Path, rate: float, seconds: float) -> None:
    """Post ``rate`` events/s in small batches (every 50 ms, as a busy platform would)."""
    info = json.loads((directory / "hub.json").read_text())
    # A later run continues from the sessions the previous one left live (ended ones refuse
    # further events).
    state = directory / "platform.json"
    live_ids = json.loads(state.read_text()) if state.exists() else info["live_ids"]
    platform = Platform(live_ids, seed=int(time.time()), tag=f"{int(time.time() * 1000):x}")
    log: list[tuple[float, int, int]] = []
    sent = 0
    with httpx.Client() as client:
        start = time.monotonic()
        while (now := time.monotonic()) - start < seconds:
            due = int(rate * (now - start)) - sent
            if due <= 0:
                time.sleep(0.05 - (now - start) % 0.05)
                continue
            events = platform.events(min(due, 1000))
            before = time.monotonic()
            last_seq = _post(client, info["url"], info["ingest_token"], events)
            log.append((before, last_seq, len(events)))
            sent += len(events)
        took = time.monotonic() - start
    state.write_text(json.dumps(platform.live))
    (directory / "ingest.json").write_text(json.dumps(
        {"log": log, "sent": sent, "seconds": took, "posts": len(log)}))


async def _poll(directory: Path, interval: float, seconds: float) -> None:
    from supervisor_desk.client.rest import HubClient

    info = json.loads((directory / "hub.json").read_text())
    log: list[tuple[float, int, float]] = []
    async with HubClient(info["url"], info["token"]) as client:
        start = time.monotonic()
        tick = start
        while time.monotonic() - start < seconds:
            before = time.monotonic()
            snapshot = await client.live()  # fetched and parsed, as a dashboard would
            seen = time.monotonic()
            log.append((seen, snapshot.seq, (seen - before) * 1000))
            tick += interval  # a fixed-rate timer (setInterval), never faster than answers
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
    (directory / f"poll-{interval:g}.json").write_text(json.dumps({"log": log}))


def main(argv: list[str]) -> None:
    role, directory = argv[0], Path(argv[1])
    if role == "hub":
        serve_hub(directory, int(argv[2]))
    elif role == "ingest":
        run_ingest(directory, float(argv[2]), float(argv[3]))
    elif role == "poll":
        asyncio.run(_poll(directory, float(argv[2]), float(argv[3])))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
