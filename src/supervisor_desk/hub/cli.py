"""``supervisor-hub``: init, user add, token create, webhook add/list/remove/deliveries/replay,
serve."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_DB = "supervisor-hub.db"
DB_ENV = "SUPERVISOR_HUB_DB"
_DB_HELP = (f"a SQLite file, or a PostgreSQL URL (postgresql://user@host/db; the password from "
            f"~/.pgpass or PGPASSWORD, never the command line); default ${DB_ENV} or {DEFAULT_DB}")


def _db_target(text: str) -> str | Path:
    """``--db``: a PostgreSQL URL as it is, anything else a SQLite file path."""
    from supervisor_desk.hub.store import is_database_url

    return text if is_database_url(text) else Path(text)


def _db(args: argparse.Namespace) -> str | Path:
    """The database of this command: ``--db``, else ``$SUPERVISOR_HUB_DB``, else the file."""
    import os

    if args.db is not None:
        return args.db  # type: ignore[no-any-return]
    return _db_target(os.environ.get(DB_ENV) or DEFAULT_DB)


def _shown(db: str | Path) -> str:
    """The database for messages: a URL without its user and password."""
    text = str(db)
    return text.split("://", 1)[0] + "://" + text.rsplit("@", 1)[-1] if "@" in text else text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisor-hub", description="The Supervisor Desk hub: ingest, feed and REST."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create or migrate the database (idempotent)")
    init.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    migrate = sub.add_parser(
        "migrate", help="bring the database's schema up to this hub's version (idempotent; "
        "safe while other replicas run)")
    migrate.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a user (or reset its role and password)")
    add.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "supervisor", "admin"])
    add.add_argument("--password-stdin", action="store_true", required=True,
                     help="read the password from the first line of standard input")

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token and print it alone")
    create.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    create.add_argument("--name", required=True, help="a label for the token")
    create.add_argument("--role", required=True,
                        choices=["ingest", "viewer", "supervisor", "admin"])

    _add_webhook_commands(sub)

    from supervisor_desk.hub import import_audio

    import_audio.add_parser(sub)
    serve = sub.add_parser("serve", help="serve the hub")
    serve.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    serve.add_argument("--files-dir", type=Path, default=None, metavar="DIR",
                       help="with a PostgreSQL --db: the folder of uploaded files' bytes, "
                       "one folder shared by every replica (default ./hub-files)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--simulate", nargs="?", type=float, const=20.0, default=None,
                       metavar="RATE", help="run the traffic simulator (events/s, default 20)")
    serve.add_argument("--seed", type=int, default=None, help="seed of the simulator")
    serve.add_argument("--tls-cert", type=Path, default=None, metavar="PEM",
                       help="serve https/wss with this certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", type=Path, default=None, metavar="PEM",
                       help="private key of --tls-cert")
    _add_network_limits(serve)
    voice = serve.add_argument_group("voice sessions (see docs/protocol.md)")
    voice.add_argument(
        "--max-file-mb", type=_positive(float), default=None, metavar="MB",
        help="largest file or recording an upload may be (default $SUPERVISOR_HUB_MAX_FILE_MB "
        "or 200)")
    voice.add_argument(
        "--transcribe-workers", type=_positive(int), default=None, metavar="N",
        help="recordings transcribed at once, one worker process each (default "
        "$SUPERVISOR_HUB_TRANSCRIBE_WORKERS or 1)")
    voice.add_argument(
        "--transcribe-duty", type=_positive(float), default=None, metavar="FRACTION",
        help="share of the time a worker spends recognising, up to 1; it rests the rest so "
        "ingest and the feed keep their speed (default $SUPERVISOR_HUB_TRANSCRIBE_DUTY or 0.3)")
    voice.add_argument(
        "--whisper-model", type=Path, default=None, metavar="DIR",
        help="transcribe with this faster-whisper model directory (CTranslate2 format, e.g. a "
        "copy of Systran/faster-whisper-small; needs the 'whisper' extra) instead of the "
        "bundled pocketsphinx (default $SUPERVISOR_HUB_WHISPER_MODEL)")
    retries = serve.add_argument_group("webhook deliveries (see docs/protocol.md)")
    retries.add_argument(
        "--webhook-retry-for", type=_positive(float), default=24 * 3600.0, metavar="SECONDS",
        help="retry a failing delivery for this long, then dead-letter it (default 86400)")
    retries.add_argument(
        "--webhook-first-retry", type=_positive(float), default=5.0, metavar="SECONDS",
        help="wait before the first retry; doubles each time up to an hour (default 5)")
    retries.add_argument(
        "--webhook-timeout", type=_positive(float), default=10.0, metavar="SECONDS",
        help="time one delivery attempt may take (default 10)")
    return parser


def _add_webhook_commands(sub: Any) -> None:
    from supervisor_desk.hub.store.webhooks import WEBHOOK_EVENTS

    hook = sub.add_parser("webhook", help="manage outbound webhooks")
    hook_sub = hook.add_subparsers(dest="webhook_command", required=True)
    add = hook_sub.add_parser("add", help="register an endpoint; prints its id and secret")
    add.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    add.add_argument("url")
    add.add_argument("--event", action="append", choices=WEBHOOK_EVENTS, default=None,
                     help="an event type to send (repeatable; default: all)")
    add.add_argument("--secret-stdin", action="store_true",
                     help="read the signing secret (whsec_<base64>) from standard input "
                          "instead of generating one")
    listing = hook_sub.add_parser("list", help="list the endpoints")
    listing.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    remove = hook_sub.add_parser("remove", help="remove an endpoint and its deliveries")
    remove.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    remove.add_argument("webhook_id")
    deliveries = hook_sub.add_parser("deliveries", help="list an endpoint's deliveries")
    deliveries.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    deliveries.add_argument("webhook_id")
    deliveries.add_argument("--state", choices=["pending", "delivered", "dead"], default=None)
    deliveries.add_argument("--limit", type=int, default=100)
    replay = hook_sub.add_parser("replay", help="send dead deliveries again")
    replay.add_argument("--db", type=_db_target, default=None, help=_DB_HELP)
    replay.add_argument("webhook_id")
    replay.add_argument("--delivery", type=int, action="append", default=None,
                        help="a delivery id (repeatable; default: every dead one)")


def _webhook(args: argparse.Namespace) -> int:
    import json

    from supervisor_desk.hub.store import open_store
    from supervisor_desk.hub.store.webhooks import WebhookError

    storage = open_store(_db(args))
    try:
        command = args.webhook_command
        if command == "add":
            secret = sys.stdin.readline().strip() if args.secret_stdin else None
            hook = storage.add_webhook(args.url, args.event, secret)
            sys.stdout.write(f"{hook.id}\t{hook.secret}\n")
        elif command == "list":
            for item in storage.webhooks():
                sys.stdout.write(f"{item.id}\t{item.url}\t{','.join(item.events)}\n")
        elif command == "remove":
            if not storage.remove_webhook(args.webhook_id):
                sys.stderr.write(f"error: no webhook {args.webhook_id!r}\n")
                return 1
        elif command == "deliveries" or command == "replay":
            if storage.webhook(args.webhook_id) is None:
                sys.stderr.write(f"error: no webhook {args.webhook_id!r}\n")
                return 1
            if command == "replay":
                count = storage.replay_webhook(args.webhook_id, args.delivery)
                sys.stderr.write(f"{count} dead deliveries queued again\n")
            else:
                for found in storage.webhook_deliveries(args.webhook_id, args.state, args.limit):
                    sys.stdout.write(json.dumps(found.public()) + "\n")
    except WebhookError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    finally:
        storage.close()
    return 0


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
        return value

    return parse


def _add_network_limits(serve: argparse.ArgumentParser) -> None:
    from supervisor_desk.hub import connlimits, feed

    limits = serve.add_argument_group("connection limits (see docs/reliability.md)")
    limits.add_argument(
        "--max-connections", type=_positive(int), default=connlimits.MAX_CONNECTIONS, metavar="N",
        help="open connections in total (default %(default)s, lowered to fit the descriptor "
             f"limit minus {connlimits.RESERVED_DESCRIPTORS + connlimits.EVICTION_BURST})")
    limits.add_argument(
        "--max-connections-per-address", type=_positive(int),
        default=connlimits.MAX_CONNECTIONS_PER_ADDRESS, metavar="N",
        help="open connections per client address; trusted proxies are exempt "
             "(default %(default)s)")
    limits.add_argument(
        "--header-timeout", type=_positive(float), default=connlimits.HEADER_TIMEOUT,
        metavar="SECONDS",
        help="a request's headers must arrive within this (default %(default)s)")
    limits.add_argument(
        "--body-timeout", type=_positive(float), default=connlimits.BODY_TIMEOUT,
        metavar="SECONDS",
        help="a request body that stops arriving for this long is dropped (default %(default)s)")
    limits.add_argument(
        "--feed-max-unsent-bytes", type=_positive(int), default=feed.MAX_UNSENT_BYTES,
        metavar="BYTES",
        help="a feed client further behind than this is closed with 4008 (default %(default)s)")
    limits.add_argument(
        "--feed-max-unsent-frames", type=_positive(int), default=feed.MAX_UNSENT_FRAMES,
        metavar="N", help="the same limit in frames (default %(default)s)")
    limits.add_argument(
        "--feed-stall-timeout", type=_positive(float), default=feed.STALL_SECONDS,
        metavar="SECONDS",
        help="a feed socket that takes no byte for this long is closed with 4008 "
             "(default %(default)s)")
    limits.add_argument(
        "--ws-deflate", action="store_true",
        help="compress websocket frames (permessage-deflate) for clients that offer it: "
             "about 4x less feed traffic, but each frame is compressed once per client, "
             "which costs the fan-out CPU on a busy floor (default: off)")
    limits.add_argument(
        "--forwarded-allow-ips", default="", metavar="ADDRESSES",
        help="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
             "is trusted ('*' for any); default: none, the peer address is the client's")
    limits.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"],
        help="log level of the hub and uvicorn (tokens are redacted at every level)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from supervisor_desk.hub.store import open_store

    if args.command in ("init", "migrate"):
        storage = open_store(_db(args))
        storage.close()
        sys.stderr.write(f"database ready: {_shown(_db(args))}" + "\n")
        return 0
    if args.command == "user":
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            sys.stderr.write("error: no password on standard input" + "\n")
            return 2
        storage = open_store(_db(args))
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
        storage = open_store(_db(args))
        try:
            token, _ = storage.create_token(args.name, args.role)
        finally:
            storage.close()
        sys.stdout.write(token + "\n")
        return 0
    if args.command == "webhook":
        return _webhook(args)
    if args.command == "import-audio":
        from supervisor_desk.hub import import_audio

        return import_audio.run(args)
    if args.command == "serve":
        return _serve(args)
    return 2  # pragma: no cover - argparse requires a command


def _serve(args: argparse.Namespace) -> int:
    from supervisor_desk.hub import heap
    from supervisor_desk.hub.connlimits import ConnectionLimits, parse_trusted
    from supervisor_desk.hub.feed import FeedLimits
    from supervisor_desk.hub.logredact import install_log_redaction
    from supervisor_desk.hub.server import HubServer
    from supervisor_desk.hub.store import open_store
    from supervisor_desk.hub.tls import TlsConfigError, load_tls
    from supervisor_desk.hub.transcribe.jobs import VoiceSettings
    from supervisor_desk.hub.webhooks import RetrySchedule

    install_log_redaction()
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        tls = load_tls(args.tls_cert, args.tls_key)
    except TlsConfigError as exc:
        sys.stderr.write(f"error: {exc}" + "\n")
        return 2
    try:
        trusted = parse_trusted(args.forwarded_allow_ips)
    except ValueError as exc:
        sys.stderr.write(f"error: --forwarded-allow-ips: {exc}" + "\n")
        return 2
    limits = ConnectionLimits(
        max_connections=args.max_connections,
        max_per_address=args.max_connections_per_address,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )
    feed_limits = FeedLimits(
        max_unsent_frames=args.feed_max_unsent_frames,
        max_unsent_bytes=args.feed_max_unsent_bytes,
        stall_seconds=args.feed_stall_timeout,
    )
    voice = VoiceSettings.from_env().override(
        max_file_mb=args.max_file_mb, workers=args.transcribe_workers,
        duty=args.transcribe_duty, whisper_model=args.whisper_model)
    if voice.whisper_model is not None:
        # Now rather than at the first job: a wrong path or a broken model stops the start.
        from supervisor_desk.hub.transcribe import whisper

        try:
            whisper.load(voice.whisper_model)
        except whisper.WhisperModelError as exc:
            sys.stderr.write(f"error: --whisper-model: {exc}" + "\n")
            return 2
    storage = open_store(_db(args), files_dir=args.files_dir)
    # Several replicas on one database: only one may run the simulator (a second one would
    # double the traffic). A store that can be shared says who holds the role.
    claim = getattr(storage, "claim_single_writer", None)
    if args.simulate is not None and claim is not None and not claim("simulator"):
        storage.close()
        sys.stderr.write("error: another hub replica already runs the simulator on this "
                         "database; start this one without --simulate" + "\n")
        return 2
    try:
        server = HubServer(storage, host=args.host, port=args.port, tls=tls, limits=limits,
                           feed_limits=feed_limits, forwarded_allow_ips=trusted,
                           log_level=args.log_level, ws_deflate=args.ws_deflate,
                           webhook_schedule=RetrySchedule(first=args.webhook_first_retry,
                                                          retry_for=args.webhook_retry_for,
                                                          timeout=args.webhook_timeout),
                           voice=voice)
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
    # The server is built: freeze the start-up heap out of the collector's walks.
    heap.settle()
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
