"""``supervisor-desk`` command line: the desktop app (``--demo`` runs a demo hub beside it)."""

from __future__ import annotations

import time

_STARTED = time.monotonic()  # before the heavy imports: the cold-start clock starts here

if __name__ == "__main__":  # python -m: Ctrl+C during the imports below waits for the loop too
    from supervisor_desk.client import early_signals

    early_signals.hold()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisor-desk",
        description="Watch live AI-agent sessions, read transcripts and get tray alerts.",
    )
    parser.add_argument("--server", metavar="URL", help="hub address (e.g. https://hub:8765)")
    parser.add_argument(
        "--ca-file", metavar="PATH", type=Path,
        help="also trust this CA certificate (PEM) for the hub; kept with the server entry",
    )
    parser.add_argument(
        "--demo", action="store_true",
        help="start a demo hub with simulated traffic in this process and sign in to it",
    )
    parser.add_argument(
        "--screenshot", metavar="PATH", type=Path,
        help="save a PNG of the main window once the first live rows are shown",
    )
    parser.add_argument(
        "--exit-after", metavar="SECONDS", type=float,
        help="quit cleanly after this many seconds",
    )
    parser.add_argument("--demo-rate", type=float, default=15.0, help=argparse.SUPPRESS)
    parser.add_argument("--demo-seed", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    review = commands.add_parser(
        "open", help="review an exported file (.json, .jsonl, .csv) offline, without a hub",
        description="Open an exported sessions file for offline review (no network).",
    )
    review.add_argument("file", metavar="FILE", type=Path)
    return parser


def _version() -> str:
    from supervisor_desk import __version__

    return f"supervisor-desk {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # a real process (not a test calling main): Ctrl+C waits for the loop
        from supervisor_desk.client import early_signals

        early_signals.hold()
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    if args.command == "open":
        return _open_file(args.file, screenshot=args.screenshot, exit_after=args.exit_after)
    if args.exit_after is not None and args.exit_after <= 0:
        build_parser().error("--exit-after needs a positive number of seconds")
    ca_file: Path | None = None
    if args.ca_file is not None:
        from supervisor_desk.client.tls import check_ca_file

        try:
            ca_file = check_ca_file(args.ca_file)
        except ValueError as exc:
            build_parser().error(f"--ca-file: {exc}")
    demo_future = _start_demo_early(args.demo_rate, args.demo_seed) if args.demo else None
    from supervisor_desk.app import AppOptions, run_app

    state_file = os.environ.get("SUPERVISOR_DESK_STATE_FILE")
    options = AppOptions(
        server=args.server,
        ca_file=ca_file,
        demo=args.demo,
        screenshot=args.screenshot.resolve() if args.screenshot else None,
        exit_after=args.exit_after,
        state_file=Path(state_file).resolve() if state_file else None,
        demo_rate=args.demo_rate,
        demo_seed=args.demo_seed,
        started_at=_STARTED,
        freeze_gc=True,
    )
    return run_app(options, demo_future=demo_future)


def _open_file(path: Path, *, screenshot: Path | None, exit_after: float | None) -> int:
    try:
        return _review_file(path, screenshot=screenshot, exit_after=exit_after)
    except KeyboardInterrupt:  # Ctrl+C while Qt is still loading: before any window exists
        return 130


def _review_file(path: Path, *, screenshot: Path | None, exit_after: float | None) -> int:
    from supervisor_desk.app import create_qapp
    from supervisor_desk.logging_setup import setup_logging
    from supervisor_desk.views.gc_policy import hold_policy, release_policy
    from supervisor_desk.views.offline import open_file_command

    setup_logging()
    create_qapp()  # our name, icon and theme; the review then runs on it
    hold_policy()  # garbage collected on the Qt thread for the review's lifetime, as in the app
    try:
        return open_file_command(
            path, screenshot=screenshot.resolve() if screenshot else None, exit_after=exit_after)
    finally:
        release_policy()


def _start_demo_early(rate: float, seed: int | None) -> Future[Any]:
    """Start the demo hub now, so it boots while Qt and the window load.

    It boots in a child process (``supervisor_desk.demo``), on the other core: in a thread of
    this process its imports and history took turns with the window's for the interpreter
    lock, and the first live rows waited for both. The thread here only waits for its answer.
    """
    from supervisor_desk.demo import start_demo_hub_process

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-hub-start")

    def start() -> Any:
        return start_demo_hub_process(rate=rate, seed=seed)

    future = executor.submit(start)
    executor.shutdown(wait=False)
    return future


if __name__ == "__main__":
    sys.exit(main())
