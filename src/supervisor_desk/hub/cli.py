"""``supervisor-hub``: init, user add, token create, serve."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DB = "supervisor-hub.db"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisor-hub", description="The Supervisor Desk hub: ingest, feed and REST."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create or migrate the database (idempotent)")
    init.add_argument("--db", type=Path, default=Path(DEFAULT_DB))

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user (or reset its role and password)")
    add.add_argument("--db", type=Path, default=Path(DEFAULT_DB))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "supervisor", "admin"])
    add.add_argument("--password-stdin", action="store_true", required=True,
                     help="read the password from the first line of standard input")

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token and print it alone")
    create.add_argument("--db", type=Path, default=Path(DEFAULT_DB))
    create.add_argument("--name", required=True, help="a label for the token")
    create.add_argument("--role", required=True,
                        choices=["ingest", "viewer", "supervisor", "admin"])

    serve = sub.add_parser("serve", help="serve the hub")
    serve.add_argument("--db", type=Path, default=Path(DEFAULT_DB))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--simulate", nargs="?", type=float, const=20.0, default=None,
                       metavar="RATE", help="run the traffic simulator (events/s, default 20)")
    serve.add_argument("--seed", type=int, default=None, help="seed of the simulator")
    serve.add_argument("--tls-cert", type=Path, default=None, metavar="PEM",
                       help="serve https/wss with this certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", type=Path, default=None, metavar="PEM",
                       help="private key of --tls-cert")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from supervisor_desk.hub.storage import Storage

    if args.command == "init":
        storage = Storage(args.db)
        storage.close()
        sys.stderr.write(f"database ready: {args.db}" + "\n")
        return 0
    if args.command == "user":
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            sys.stderr.write("error: no password on standard input" + "\n")
            return 2
        storage = Storage(args.db)
        try:
            storage.add_user(args.name, args.role, password)
        except ValueError as exc:
            sys.stderr.write(f"error: {exc}" + "\n")
            return 2
        finally:
            storage.close()
        sys.stderr.write(f"user {args.name!r} ({args.role}) saved" + "\n")
        return 0
    if args.command == "token":
        storage = Storage(args.db)
        try:
            token, _ = storage.create_token(args.name, args.role)
        finally:
            storage.close()
        sys.stdout.write(token + "\n")
        return 0
    if args.command == "serve":
        return _serve(args)
    return 2  # pragma: no cover - argparse requires a command


def _serve(args: argparse.Namespace) -> int:
    from supervisor_desk.hub.server import HubServer
    from supervisor_desk.hub.storage import Storage
    from supervisor_desk.hub.tls import TlsConfigError, load_tls

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        tls = load_tls(args.tls_cert, args.tls_key)
    except TlsConfigError as exc:
        sys.stderr.write(f"error: {exc}" + "\n")
        return 2
    storage = Storage(args.db)
    try:
        server = HubServer(storage, host=args.host, port=args.port, tls=tls)
    except OSError as exc:
        storage.close()
        sys.stderr.write(f"error: cannot listen on {args.host}:{args.port}: {exc}" + "\n")
        return 1

    def listening(url: str) -> None:
        sys.stdout.write(f"listening on {url}\n")
        sys.stdout.flush()

    # uvicorn re-raises the SIGTERM it handled once shut down; under the default handler that
    # kills the process (exit -15) after a clean stop. The re-raise lands here instead.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        # uvicorn's serve() turns SIGTERM/SIGINT into a graceful shutdown on the main thread.
        asyncio.run(
            server.serve(on_listening=listening, simulate_rate=args.simulate, seed=args.seed)
        )
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
