"""The alert rules file in the user's profile, and export/import of rules to share in a team.

``alert-rules.json`` in the config folder holds a :class:`RuleSet`. A missing file is a new
install (the default rules). A file this version cannot read is never overwritten silently:
it is kept next to the new one as ``alert-rules.json.unreadable`` and the user is told.
Writes are atomic (temp file + fsync + rename). Blocking: call from an executor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from supervisor_desk.client.paths import config_dir
from supervisor_desk.models.alerts.defaults import BUILTIN_IDS, default_rules
from supervisor_desk.models.alerts.rules import RuleSet
from supervisor_desk.models.atomic_file import write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "alert-rules.json"
MAX_FILE_BYTES = 2_000_000


class RulesFileError(ValueError):
    """A rules file that cannot be used, with a sentence the user can act on."""


def rules_path() -> Path:
    return config_dir() / FILE_NAME


def parse_rules(text: str, source: str = "the file") -> RuleSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesFileError(f"{source} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError as exc:  # e.g. a number too long to convert
        raise RulesFileError(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "supervisor-desk-alert-rules":
        raise RulesFileError(f"{source} is not a Supervisor Desk alert rules file")
    if data.get("version") != 1:
        raise RulesFileError(
            f"{source} has rules version {data.get('version')!r}; this version reads 1")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RulesFileError(
            f"{source} has an invalid rule ({where}: {first['msg']}); "
            f"{exc.error_count()} problem(s) in all"
        ) from None


def read_rules_file(path: Path) -> RuleSet:
    """The rules in ``path``; :class:`RulesFileError` with a clear reason if unusable."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RulesFileError(f"{path.name} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(f"cannot read {path.name}: {exc}") from None
    return parse_rules(text, path.name)


def write_rules_file(path: Path, rules: RuleSet) -> Path:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    return write_atomically(path, rules.model_dump_json(indent=2, exclude_defaults=False))


def load_rules(path: Path | None = None) -> tuple[RuleSet, str | None]:
    """The profile's rules and a warning for the user (None when all is well)."""
    source = path if path is not None else rules_path()
    if not source.exists():
        return default_rules(), None
    try:
        return read_rules_file(source), None
    except RulesFileError as exc:
        kept = source.with_name(source.name + ".unreadable")
        with contextlib.suppress(OSError):
            os.replace(source, kept)
        message = f"{exc}. It was kept as {kept.name}; using the default alert rules."
        log.warning("%s", message)
        return default_rules(), message


def save_rules(rules: RuleSet, path: Path | None = None) -> Path:
    return write_rules_file(path if path is not None else rules_path(), rules)


def merge_imported(current: RuleSet, imported: RuleSet) -> RuleSet:
    """Rules from a shared file join the user's: same id replaces, new ids are added.

    The user's own quiet hours and sound settings stay (they are personal), and the built-in
    routine rules stay built in.
    """
    incoming = {r.id: r for r in imported.rules}
    merged = []
    for rule in current.rules:
        new = incoming.pop(rule.id, None)
        if new is None:
            merged.append(rule)
        else:
            merged.append(new.model_copy(update={"builtin": rule.id in BUILTIN_IDS}))
    merged += [r.model_copy(update={"builtin": False}) for r in incoming.values()]
    return current.model_copy(update={"rules": tuple(merged)})
