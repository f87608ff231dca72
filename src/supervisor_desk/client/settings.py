"""User preferences: a small JSON file in the user's config folder. Never any secret.

The file lives in the config folder ``client.paths.config_dir()`` resolves (the platform's,
or ``$SUPERVISOR_DESK_HOME/config`` when that variable is set: tests and portable installs).
Writes are atomic (temporary file + rename) so a crash mid-write keeps the old file. A
damaged file never stops the app: the readable fields are kept, the rest fall back to
defaults, and a warning says what happened. Reading and writing touch the disk: callers on
the Qt thread run :func:`load_preferences` / :meth:`Preferences.save` in an executor.

Window geometry and table layout are Qt state and live in QSettings (the views own them).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supervisor_desk.client.paths import config_dir, preferences_path
from supervisor_desk.client.tls import normalize_pin
from supervisor_desk.models.atomic_file import write_atomically
from supervisor_desk.models.live_order import LIVE_ORDERS, LiveOrder
from supervisor_desk.models.wording import StartedDisplay

log = logging.getLogger(__name__)

__all__ = [
    "NotificationPrefs",
    "Preferences",
    "ServerTrust",
    "config_dir",
    "load_preferences",
    "preferences_path",
    "split_server_address",
    "strip_credentials",
]

MAX_RECENT_FILES = 10
MAX_SERVERS = 20


# One hub served by several replicas is one server entry listing their addresses, separated
# by commas, spaces or new lines ("https://a:8765, https://b:8765"); the desktop fails over
# between them (client/rest.py, client/feed.py).
SERVER_SEPARATOR = ", "
_SEPARATORS = re.compile(r"[\s,;]+")


def split_server_address(text: str) -> list[str]:
    """The addresses in one server entry, in order, without repeats or empty parts."""
    found: list[str] = []
    for part in _SEPARATORS.split(text.strip()):
        if part and part not in found:
            found.append(part)
    return found


def strip_credentials(url: str) -> str:
    """A server address (or a list of replicas' addresses) without user/password parts, query
    or fragment (never persist them)."""
    clean: list[str] = []
    for one in split_server_address(url):
        parts = urlsplit(one)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        address = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        if address not in clean:
            clean.append(address)
    return SERVER_SEPARATOR.join(clean)


class NotificationPrefs(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    new_sessions: bool = True
    ended_sessions: bool = True  # ended normally (completed, cancelled, transferred)
    failed_sessions: bool = True  # ended with status failed
    paused: bool = False
    # At most one desktop notification per kind in this many seconds (the rest are counted
    # into the next one).
    min_interval_s: float = Field(default=60.0, ge=0.0, le=3600.0)


class ServerTrust(BaseModel):
    """How one server's certificate is checked beyond the operating system's trust store.

    The path of a CA certificate file (never its content, never any key) and SHA-256
    fingerprints the server's certificate must match (none: no pinning).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    ca_file: str | None = None
    pins: tuple[str, ...] = ()

    @field_validator("pins")
    @classmethod
    def _check_pins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_pin(p) for p in value))

    @property
    def is_default(self) -> bool:
        return not self.ca_file and not self.pins


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    version: int = 1
    servers: list[str] = Field(default_factory=list)
    last_server: str | None = None
    last_username: str | None = None
    # Last username per server, so switching servers pre-fills the right name.
    usernames: dict[str, str] = Field(default_factory=dict)
    time_zone: str = "local"
    # View → Theme: "system" follows the desktop's colour scheme (views/theme.py).
    theme: Literal["system", "light", "dark", "high_contrast"] = "system"
    notifications: NotificationPrefs = Field(default_factory=NotificationPrefs)
    live_order: LiveOrder = LiveOrder.LONGEST_WAIT
    # The Live list's View options (views/live_options.py); 0 minutes = until Refresh.
    live_keep_ended_minutes: int = Field(default=2, ge=0, le=24 * 60)
    live_hide_ended: bool = False
    live_started_display: StartedDisplay = StartedDisplay.CLOCK
    # The Live list's changes shown with the clock's tick, once a second (the hub gathers them).
    live_each_second: bool = True
    recent_files: list[str] = Field(default_factory=list)
    last_export_dir: str | None = None
    # Per server entry: its own CA file and pinned certificates (see ServerTrust).
    server_trust: dict[str, ServerTrust] = Field(default_factory=dict)

    @field_validator("live_order")
    @classmethod
    def _check_live_order(cls, value: LiveOrder) -> LiveOrder:
        if value not in LIVE_ORDERS:
            raise ValueError(f"{value.value!r} is not an order of the Live page")
        return value

    @field_validator("time_zone")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        if value == "local":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("servers")
    @classmethod
    def _clean_servers(cls, value: list[str]) -> list[str]:
        seen: list[str] = []
        for url in value:
            clean = strip_credentials(url)
            if clean and clean not in seen:
                seen.append(clean)
        return seen[:MAX_SERVERS]

    @field_validator("last_server")
    @classmethod
    def _clean_last_server(cls, value: str | None) -> str | None:
        return strip_credentials(value) if value else value

    @field_validator("server_trust")
    @classmethod
    def _clean_server_trust(cls, value: dict[str, ServerTrust]) -> dict[str, ServerTrust]:
        return {strip_credentials(url): trust for url, trust in value.items()
                if not trust.is_default}

    # -------------------------------------------------------------------------------------
    # Changes the app makes

    def remember_sign_in(self, server_url: str, username: str) -> None:
        """Put the server first in the list and remember who signed in to it."""
        server = strip_credentials(server_url)
        self.servers = [server, *(s for s in self.servers if s != server)]
        self.last_server = server
        self.last_username = username
        self.usernames = {**self.usernames, server: username}

    def trust_for(self, server_url: str) -> ServerTrust:
        return self.server_trust.get(strip_credentials(server_url), ServerTrust())

    def set_trust(self, server_url: str, trust: ServerTrust) -> None:
        server = strip_credentials(server_url)
        self.server_trust = {**{k: v for k, v in self.server_trust.items() if k != server},
                             **({} if trust.is_default else {server: trust})}

    def forget_server(self, server_url: str) -> None:
        server = strip_credentials(server_url)
        self.servers = [s for s in self.servers if s != server]
        self.usernames = {k: v for k, v in self.usernames.items() if k != server}
        self.server_trust = {k: v for k, v in self.server_trust.items() if k != server}
        if self.last_server == server:
            self.last_server = self.servers[0] if self.servers else None

    def add_recent_file(self, path: Path | str) -> None:
        name = str(Path(path).resolve())
        self.recent_files = [name, *(p for p in self.recent_files if p != name)][
            :MAX_RECENT_FILES
        ]

    # -------------------------------------------------------------------------------------
    # Disk (blocking)

    def save(self, path: Path | None = None) -> Path:
        """Write atomically; returns the path written."""
        target = path if path is not None else preferences_path()
        return write_atomically(target, self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        return load_preferences(path)[0]


def load_preferences(path: Path | None = None) -> tuple[Preferences, str | None]:
    """Read the preferences; returns them and a warning for the user (None when all is well).

    A missing file is the first run (defaults, no warning). An unreadable file, invalid JSON
    or invalid fields give defaults for what cannot be used, and a warning.
    """
    source = path if path is not None else preferences_path()
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Preferences(), None
    except (OSError, UnicodeDecodeError) as exc:
        return _warn(source, f"could not be read ({type(exc).__name__})")
    try:
        data = json.loads(text)
    except ValueError:
        return _warn(source, "is not valid JSON")
    if not isinstance(data, dict):
        return _warn(source, "does not hold settings")
    try:
        return Preferences.model_validate(data), None
    except ValidationError as exc:
        bad = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        kept: dict[str, Any] = {k: v for k, v in data.items() if k not in bad}
        try:
            prefs = Preferences.model_validate(kept)
        except ValidationError:
            return _warn(source, "holds settings this version cannot read")
        message = (
            f"Some settings in {source} were invalid and were reset to defaults: "
            + ", ".join(bad)
        )
        log.warning("%s", message)
        return prefs, message


def _warn(source: Path, problem: str) -> tuple[Preferences, str]:
    message = f"The settings file {source} {problem}; using default settings."
    log.warning("%s", message)
    return Preferences(), message
