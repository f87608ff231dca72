"""Session filters and sort orders: one definition for the hub, the desktop and offline review.

The hub turns a :class:`SessionFilter` into SQL (``hub/query.py``); the desktop sends it as query
parameters (:meth:`SessionFilter.to_query`) and matches exported sessions offline with
:meth:`SessionFilter.matches`. Both sides share the helpers below, so a filter means the same
thing everywhere. No Qt here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supervisor_desk.models.wire import (
    CHANNELS,
    LIVE_STATUSES,
    RESPONSIBLE_KINDS,
    STATUSES,
    SessionSummary,
    format_timestamp,
    parse_timestamp,
)

CountOp = Literal["eq", "ne", "gt", "lt", "ge", "le"]
SortKey = Literal["started_at", "last_message_at", "ended_at", "message_count", "wait", "duration"]
COUNT_OPS: tuple[str, ...] = get_args(CountOp)
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
DEFAULT_SORT = "-started_at"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_WORD = re.compile(r"[^\W_]+")
# Text that both sides search for `q=`; fields joined by a separator no one types.
SEARCH_SEPARATOR = "\x1f"


class FilterError(ValueError):
    """A bad filter or sort; ``details`` names each bad parameter (``{loc, message, type}``)."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        super().__init__("; ".join(str(d["message"]) for d in details) or "bad filter")


def normalize_words(text: str) -> list[str]:
    """Words of ``text`` folded for search: lower case, accents removed, punctuation dropped.

    Mirrors SQLite FTS5 ``unicode61 remove_diacritics 2`` so the hub's full-text search and
    the desktop's offline matching agree: "Élodie's CAFÉ" -> ["elodie", "s", "cafe"].
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(stripped.lower())


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, exact (no float rounding)."""
    return (moment - _EPOCH) // _MS


def ceil_ms(moment: datetime) -> int:
    """The first whole millisecond at or after ``moment`` (bounds on ms-precision data)."""
    delta = moment - _EPOCH
    whole = delta // _MS
    return whole if delta == whole * _MS else whole + 1


def search_text(
    agent_name: str,
    user_id: str,
    user_name: str | None,
    external_id: str | None,
    metadata: Iterable[str],
    parameters: Iterable[str],
) -> str:
    """What ``q=`` looks into besides the id prefix, lower-cased."""
    parts = [agent_name, user_id, user_name or "", external_id or "", *metadata, *parameters]
    return SEARCH_SEPARATOR.join(parts).lower()


def user_search_text(user_id: str, user_name: str | None) -> str:
    """What ``user=`` looks into (a substring of the user id or name), lower-cased."""
    return f"{user_id}{SEARCH_SEPARATOR}{user_name or ''}".lower()


def summary_search_text(s: SessionSummary) -> str:
    return search_text(
        s.agent.name, s.user.id, s.user.name, s.user.external_id,
        s.metadata.values(), s.parameters.values(),
    )


def _query_timestamp(moment: datetime) -> str:
    """RFC 3339 for a query: milliseconds, or microseconds when the bound has them.

    Cutting a bound to milliseconds would move it across stored instants (they are ms).
    """
    if moment.microsecond % 1000 == 0:
        return format_timestamp(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MessageCountFilter(BaseModel):
    """``messages=OP:N``: compare a session's message count with ``n``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: CountOp
    n: int = Field(ge=0, le=10**12)

    def test(self, count: int) -> bool:
        match self.op:
            case "eq":
                return count == self.n
            case "ne":
                return count != self.n
            case "gt":
                return count > self.n
            case "lt":
                return count < self.n
            case "ge":
                return count >= self.n
            case _:
                return count <= self.n

    def to_text(self) -> str:
        return f"{self.op}:{self.n}"

    @classmethod
    def parse(cls, text: str) -> MessageCountFilter:
        op, sep, number = text.partition(":")
        if not sep or op not in COUNT_OPS or not number.isdigit() or len(number) > 12:
            raise ValueError(
                f"expected OP:N with OP one of {', '.join(COUNT_OPS)} and N a whole number, "
                f"got {text[:50]!r}"
            )
        return cls(op=op, n=int(number))


_TEXT_PARAMS = ("q", "text", "user", "country", "ip")
_MULTI_PARAMS = ("agent", "channel", "status", "operator", "team")
_TIME_PARAMS = (
    "started_after", "started_before", "ended_after", "ended_before",
    "last_message_after", "last_message_before",
)
_BOOL_PARAMS = ("has_attachments", "live")
FILTER_PARAMS: tuple[str, ...] = (
    *_TEXT_PARAMS, *_MULTI_PARAMS, "responsible", *_TIME_PARAMS, "messages", "messages_max",
    *_BOOL_PARAMS,
)
_MAX_TEXT = 500
_MAX_VALUES = 100


class SessionFilter(BaseModel):
    """Every criterion combines with AND; the tuples OR within themselves. Empty = everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, max_length=_MAX_TEXT)
    text: str | None = Field(default=None, max_length=_MAX_TEXT)
    user: str | None = Field(default=None, max_length=_MAX_TEXT)
    country: str | None = Field(default=None, max_length=8)
    ip: str | None = Field(default=None, max_length=64)
    agent: tuple[str, ...] = Field(default=(), max_length=_MAX_VALUES)
    channel: tuple[str, ...] = Field(default=(), max_length=_MAX_VALUES)
    status: tuple[str, ...] = Field(default=(), max_length=_MAX_VALUES)
    operator: tuple[str, ...] = Field(default=(), max_length=_MAX_VALUES)
    team: tuple[str, ...] = Field(default=(), max_length=_MAX_VALUES)
    responsible: Literal["ai", "human", "unassigned"] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    ended_after: datetime | None = None
    ended_before: datetime | None = None
    last_message_after: datetime | None = None
    last_message_before: datetime | None = None
    messages: MessageCountFilter | None = None
    # At most this many messages: with ``messages=ge:N`` a closed range (a histogram bin).
    messages_max: int | None = Field(default=None, ge=0, le=10**12)
    has_attachments: bool | None = None
    live: bool | None = None

    @field_validator("channel")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item not in CHANNELS:
                raise ValueError(f"unknown channel {item[:50]!r}; one of {', '.join(CHANNELS)}")
        return value

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item not in STATUSES:
                raise ValueError(f"unknown status {item[:50]!r}; one of {', '.join(STATUSES)}")
        return value

    @field_validator("agent", "operator", "team")
    @classmethod
    def _bounded_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item or len(item) > 200:
                raise ValueError("ids have 1 to 200 characters")
        return value

    @field_validator(*_TIME_PARAMS)
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("timestamp needs a time zone (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
        return value.astimezone(UTC) if value is not None else None

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str | None) -> str | None:
        if value is not None and not normalize_words(value):
            raise ValueError("text needs at least one word (letters or digits)")
        return value

    # ----------------------------------------------------------------------------------------

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]]) -> SessionFilter:
        """Parse query parameters; raises :class:`FilterError` naming every bad one."""
        fields: dict[str, Any] = {}
        details: list[dict[str, Any]] = []

        def bad(key: str, message: str, kind: str = "value_error") -> None:
            details.append({"loc": ["query", key], "field": key, "message": message, "type": kind})

        for key, raw in pairs:
            value = raw.strip()
            if key not in FILTER_PARAMS:
                bad(key, f"unknown filter {key[:50]!r}", "unknown_parameter")
                continue
            if value == "":
                continue  # an empty field in a form means "no criterion"
            if key in _MULTI_PARAMS:
                # Ids are opaque: kept as sent (only the enum lists are trimmed and split).
                items = [v.strip() for v in value.split(",")] if key in ("channel", "status") \
                    else [raw]
                current = list(fields.get(key, ()))
                current.extend(v for v in items if v and v not in current)
                fields[key] = tuple(current)
                continue
            if key in fields:
                bad(key, f"{key} may be given only once", "repeated_parameter")
                continue
            if key in _TIME_PARAMS:
                try:
                    # A '+' in an unencoded query string arrives as a space.
                    fields[key] = parse_timestamp(value.replace(" ", "+"))
                except ValueError:
                    bad(key, f"{key} must be an RFC 3339 timestamp with a time zone, from "
                             f"1970-01-01 to 9999-12-31 in UTC, got {value[:50]!r}")
            elif key == "messages":
                try:
                    fields[key] = MessageCountFilter.parse(value)
                except ValueError as exc:
                    bad(key, str(exc))
            elif key == "messages_max":
                if not (value.isascii() and value.isdigit()) or len(value) > 12:
                    bad(key, f"messages_max must be a whole number, got {value[:50]!r}")
                else:
                    fields[key] = int(value)
            elif key in _BOOL_PARAMS:
                if value.lower() not in ("true", "false", "1", "0"):
                    bad(key, f"{key} must be true or false, got {value[:50]!r}")
                else:
                    fields[key] = value.lower() in ("true", "1")
            elif key == "responsible":
                if value not in RESPONSIBLE_KINDS:
                    bad(key, f"responsible must be one of {', '.join(RESPONSIBLE_KINDS)}, "
                             f"got {value[:50]!r}")
                else:
                    fields[key] = value
            else:
                # Free text is matched as sent (to_query sends it unchanged): "mer " is not "mer".
                fields[key] = raw if key in ("q", "text", "user", "ip") else value
        if not details:
            try:
                return cls.model_validate(fields)
            except ValidationError as exc:
                for item in exc.errors():
                    key = str(item["loc"][0]) if item["loc"] else "query"
                    message = str(item["msg"]).removeprefix("Value error, ")
                    bad(key, f"{key}: {message}", str(item["type"]))
        raise FilterError(details)

    def to_query(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for key in FILTER_PARAMS:
            value = getattr(self, key)
            if value is None or value == ():
                continue
            if isinstance(value, tuple):
                pairs.extend((key, item) for item in value)
            elif isinstance(value, datetime):
                pairs.append((key, _query_timestamp(value)))
            elif isinstance(value, MessageCountFilter):
                pairs.append((key, value.to_text()))
            elif isinstance(value, bool):
                pairs.append((key, "true" if value else "false"))
            else:
                pairs.append((key, str(value)))
        return pairs

    def to_dict(self) -> dict[str, Any]:
        """The filter as JSON-ready values (export headers, saved views)."""
        out: dict[str, Any] = {}
        for key, value in self.to_query():
            if key in _MULTI_PARAMS:
                out.setdefault(key, []).append(value)
            elif key in _BOOL_PARAMS:
                out[key] = value == "true"
            else:
                out[key] = value
        return out

    def is_empty(self) -> bool:
        return not self.to_query()

    def matches(self, s: SessionSummary, message_texts: Sequence[str] | None = None) -> bool:
        """Whether ``s`` passes, exactly as the hub decides it.

        ``message_texts`` are the session's message texts for ``text=``; when ``None`` the text
        criterion cannot be judged and is not applied.
        """
        if self.q is not None:
            needle = self.q.lower()
            if not (s.id.lower().startswith(needle) or needle in summary_search_text(s)):
                return False
        if self.text is not None and message_texts is not None:
            words = set(normalize_words(self.text))
            if not any(words <= set(normalize_words(t)) for t in message_texts):
                return False
        if self.user is not None and self.user.lower() not in user_search_text(
            s.user.id, s.user.name
        ):
            return False
        if self.country is not None and (
            (s.location.country_code or "").upper() != self.country.upper()
        ):
            return False
        if self.ip is not None and s.location.ip != self.ip:
            return False
        if self.agent and s.agent.id not in self.agent:
            return False
        if self.channel and s.channel not in self.channel:
            return False
        if self.status and s.status not in self.status:
            return False
        if self.operator:
            operator = s.responsible.operator
            if operator is None or operator.id not in self.operator:
                return False
        if self.team and s.team not in self.team:
            return False
        if self.responsible is not None and s.responsible.kind != self.responsible:
            return False
        for value, after, before in (
            (s.started_at, self.started_after, self.started_before),
            (s.ended_at, self.ended_after, self.ended_before),
            (s.last_message_at, self.last_message_after, self.last_message_before),
        ):
            if after is None and before is None:
                continue
            if value is None:
                return False
            moment = to_ms(value)
            if after is not None and moment < ceil_ms(after):
                return False
            if before is not None and moment >= ceil_ms(before):
                return False
        if self.messages is not None and not self.messages.test(s.message_count):
            return False
        if self.messages_max is not None and s.message_count > self.messages_max:
            return False
        if self.has_attachments is not None and s.has_attachments != self.has_attachments:
            return False
        return self.live is None or (s.status in LIVE_STATUSES) == self.live


class SortSpec(BaseModel):
    """A sort order: ``key`` ascending, or descending with a ``-`` prefix on the wire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SortKey = "started_at"
    descending: bool = True

    @classmethod
    def parse(cls, text: str | None) -> SortSpec:
        value = (text or DEFAULT_SORT).strip()
        descending = value.startswith("-")
        key = value.lstrip("-+")
        if key not in SORT_KEYS:
            raise FilterError([{
                "loc": ["query", "sort"], "field": "sort", "type": "value_error",
                "message": f"sort must be one of {', '.join(SORT_KEYS)} (prefix - for "
                           f"descending), got {value[:50]!r}",
            }])
        return cls(key=key, descending=descending)

    def to_query(self) -> str:
        return ("-" if self.descending else "") + self.key

    def value(self, s: SessionSummary, now: datetime) -> int | None:
        """The sorted value in the hub's units (ms, or a count); ``None`` sorts lowest."""
        match self.key:
            case "started_at":
                return to_ms(s.started_at)
            case "last_message_at":
                return to_ms(s.last_message_at) if s.last_message_at else None
            case "ended_at":
                return to_ms(s.ended_at) if s.ended_at else None
            case "message_count":
                return s.message_count
            case "wait":
                if s.queued_at is None:
                    return None
                until = s.accepted_at or s.ended_at or now
                return to_ms(until) - to_ms(s.queued_at)
            case _:
                return to_ms(s.ended_at or now) - to_ms(s.started_at)

    def sort_key(self, s: SessionSummary, now: datetime) -> tuple[Any, ...]:
        """Key for ``sorted(..., reverse=spec.descending)`` giving the hub's order."""
        value = self.value(s, now)
        return (value is not None, value if value is not None else 0, s.id)

    def sort(self, sessions: Iterable[SessionSummary], now: datetime) -> list[SessionSummary]:
        return sorted(sessions, key=lambda s: self.sort_key(s, now), reverse=self.descending)
