"""``supervisor-hub import-audio FILE --agent NAME``: post a recording to a running hub.

A batch job's view of the import: it talks HTTP to the hub with an ingest (or supervisor)
token, exactly as any other client would, and never opens the database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from supervisor_desk.models.wire import CHANNELS

TOKEN_ENV = "SUPERVISOR_HUB_TOKEN"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "import-audio", help="create a voice session on a running hub from a recording",
        description="Upload a recording (WAV, FLAC, OGG/Opus, MP3) to a running hub, which "
        "creates a voice session at once and transcribes it. Stereo: left = customer, "
        "right = agent. Prints the session id.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--agent", required=True, help="the agent's name")
    parser.add_argument("--channel", default="phone", choices=CHANNELS)
    parser.add_argument("--customer", default="Customer", help="the customer's name")
    parser.add_argument("--agent-role", default="ai", choices=["ai", "human"])
    parser.add_argument("--server", default="http://127.0.0.1:8765", help="the hub's URL")
    parser.add_argument("--token-stdin", action="store_true",
                        help=f"read the token from standard input (else ${TOKEN_ENV})")
    parser.add_argument("--wait", action="store_true",
                        help="wait for the transcription to finish and print its state")


def _chunks(path: Path, size: int = 256 * 1024) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


def run(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token_stdin else os.environ.get(TOKEN_ENV, "")
    if not token:
        sys.stderr.write(f"error: no token (--token-stdin or ${TOKEN_ENV})\n")
        return 2
    if not args.file.is_file():
        sys.stderr.write(f"error: no such file: {args.file}\n")
        return 2
    headers = {"Authorization": f"Bearer {token}",
               "Content-Length": str(args.file.stat().st_size)}
    params = {"agent": args.agent, "channel": args.channel, "customer": args.customer,
              "agent_role": args.agent_role, "name": args.file.name}
    base = args.server.rstrip("/") + "/api/v1"
    try:
        with httpx.Client(timeout=httpx.Timeout(30.0, read=600.0)) as client:
            answer = client.post(f"{base}/sessions/import-audio", params=params,
                                 headers=headers, content=_chunks(args.file))
            if answer.status_code != 202:
                sys.stderr.write(f"error: {answer.status_code} {_message(answer)}\n")
                return 1
            session_id = answer.json()["session"]["id"]
            sys.stdout.write(session_id + "\n")
            sys.stdout.flush()
            if not args.wait:
                return 0
            while True:
                job = client.get(f"{base}/sessions/{session_id}/transcription",
                                 headers={"Authorization": f"Bearer {token}"}).json()
                if job["state"] in ("done", "failed", "cancelled"):
                    sys.stderr.write(f"transcription {job['state']}"
                                     + (f": {job['error']}" if job.get("error") else "") + "\n")
                    return 0 if job["state"] == "done" else 1
                time.sleep(1.0)
    except httpx.HTTPError as exc:
        sys.stderr.write(f"error: cannot reach the hub at {args.server}: {exc}\n")
        return 1


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        return f"{body['error']}: {body['message']}"
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]
