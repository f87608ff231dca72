"""Writes the manual pages of ``supervisor-desk`` and ``supervisor-hub`` from their argparse
parsers, so the pages always match the programs' options.

Usage: python installer/manpages.py OUTDIR VERSION   (installer/build.sh runs it; writes
OUTDIR/supervisor-desk.1 and OUTDIR/supervisor-hub.1, uncompressed roff).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# Sections argparse cannot know: where the hub package keeps its files and how to reach docs.
EXTRA_SECTIONS: dict[str, list[tuple[str, str]]] = {
    "supervisor-desk": [
        ("FILES", "Settings and the server list are kept per user by Qt "
                  "(~/.config/supervisor-desk); passwords and tokens only in the desktop "
                  "keyring (Secret Service)."),
        ("SEE ALSO", "supervisor-hub(1); docs/install.md and docs/architecture.md in the "
                     "project sources."),
    ],
    "supervisor-hub": [
        ("FILES", "/etc/supervisor-hub/supervisor-hub.conf: the options the systemd unit "
                  "passes to 'supervisor-hub serve' (Debian package).\n"
                  "/var/lib/supervisor-hub/hub.db: the database of the packaged service.\n"
                  "Every command that takes --db defaults to supervisor-hub.db in the "
                  "current directory."),
        ("SEE ALSO", "supervisor-desk(1), systemctl(1), journalctl(1); docs/install.md and "
                     "docs/protocol.md in the project sources."),
    ],
}


def _roff(text: str) -> str:
    """Escapes text for roff: backslashes, hyphens, and a leading dot or quote."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line
                     for line in out.splitlines())


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction]:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def _options(parser: argparse.ArgumentParser, with_help: bool = True) -> list[str]:
    lines: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        if isinstance(action, argparse._HelpAction) and not with_help:
            continue  # every command has -h; the page says it once, under OPTIONS
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + (action.metavar or action.dest.upper())  # type: ignore[operator]
                if action.choices:
                    metavar = " {" + ",".join(map(str, action.choices)) + "}"
            heads = ", ".join(f"\\fB{_roff(o)}\\fR{_roff(metavar)}" for o in action.option_strings)
        else:
            heads = f"\\fI{_roff(str(action.metavar or action.dest))}\\fR"
        help_text = (action.help or "") % {"default": action.default, "prog": parser.prog} \
            if action.help and "%(" in action.help else (action.help or "")
        lines += [".TP", heads, _roff(help_text)]
    return lines


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    lines: list[str] = []
    for sub in _subparsers(parser):
        helps = {choice.dest: choice.help for choice in sub._choices_actions}
        for name, child in sub.choices.items():
            full = f"{prefix} {name}".strip()
            lines += [".SS " + _roff(full), ".nf", _roff(child.format_usage().removeprefix(
                "usage: ").strip()), ".fi"]
            about = child.description or helps.get(name) or ""
            if about:
                lines += [".PP", _roff(about)]
            options = _options(child, with_help=False)
            if options:
                lines += [".RS", *options, ".RE"]
            lines += _commands(child, full)
    return lines


def manpage(parser: argparse.ArgumentParser, version: str, date: str) -> str:
    prog = parser.prog
    lines = [
        f'.TH "{prog.upper()}" "1" "{date}" "{prog} {version}" "User Commands"',
        ".SH NAME",
        f"{_roff(prog)} \\- {_roff((parser.description or '').rstrip('.'))}",
        ".SH SYNOPSIS", ".nf", _roff(parser.format_usage().removeprefix("usage: ").strip()),
        ".fi",
        ".SH DESCRIPTION", _roff(parser.description or ""),
    ]
    options = _options(parser)
    if options:
        lines += [".SH OPTIONS", *options]
    commands = _commands(parser, prog)
    if commands:
        lines += [".SH COMMANDS", *commands]
    for title, body in EXTRA_SECTIONS.get(prog, []):
        lines += [f".SH {title}"]
        for paragraph in body.split("\n"):
            lines += [".PP", _roff(paragraph)]
    return "\n".join(lines) + "\n"


def _parsers() -> list[Callable[[], argparse.ArgumentParser]]:
    from supervisor_desk.__main__ import build_parser
    from supervisor_desk.hub.cli import _parser as hub_parser

    return [build_parser, hub_parser]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    outdir, version = Path(argv[0]), argv[1]
    outdir.mkdir(parents=True, exist_ok=True)
    # Reproducible: the date comes from SOURCE_DATE_EPOCH when the build sets it.
    stamp = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    when = (datetime.datetime.fromtimestamp(stamp, datetime.UTC) if stamp
            else datetime.datetime.now(datetime.UTC))
    # Usage lines wrap at this width whatever the terminal of the build.
    os.environ["COLUMNS"] = "80"
    for make in _parsers():
        parser = make()
        (outdir / f"{parser.prog}.1").write_text(
            manpage(parser, version, when.strftime("%Y-%m-%d")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
