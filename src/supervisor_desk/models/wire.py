"""Wire models of the hub protocol (``docs/protocol.md``), shared by the hub and the desktop.

One definition serves the hub's validation of ingested events, the shapes it answers with, the
desktop's parsing of REST answers and feed frames, and the export file format, so the two
sides cannot drift apart. No Qt here (enforced by ``tests/test_layering.py``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)

# --------------------------------------------------------------------------------------------
# Scalars


# Every timestamp on the wire lies in this range once converted to UTC: the Unix epoch to the
# last instant of year 9999 (a later one does not fit a datetime once converted, an earlier one
# is a platform bug). Outside it a timestamp is refused (422 naming the field), never stored.
TIMESTAMP_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMP_MAX = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
TIMESTAMP_RANGE_ERROR = (
    "timestamp out of range: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z after "
    "conversion to UTC"
)
# The start of an RFC 3339 date-time; pydantic alone would read a number (or a string of
# digits) as Unix time, which the protocol does not allow.
_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _timestamp_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _TIMESTAMP_TEXT.match(value)):
        return value
    raise ValueError(
        "a timestamp is an RFC 3339 string with a time zone, e.g. 2026-01-31T12:00:00Z"
    )


def _ensure_utc(value: datetime) -> datetime:
    # A timestamp without an offset is ambiguous by hours; RFC 3339 requires the offset.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp needs a time zone (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # past 9999-12-31 or before 0001-01-01 in UTC
        raise ValueError(TIMESTAMP_RANGE_ERROR) from None
    if utc < TIMESTAMP_MIN:
        raise ValueError(TIMESTAMP_RANGE_ERROR)
    return utc


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and ``Z``: the one spelling on the wire."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # The C isoformat, not strftime (several times slower, and every serialized timestamp
    # comes through here); four-digit years throughout the accepted range.
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 string into an aware UTC datetime; raises ``ValueError``."""
    return _TIMESTAMP_ADAPTER.validate_python(text)


# For the OpenAPI document: years the accepted range holds whatever the offset (1971-9998);
# the hub also takes 1970 and 9999 as far as they stay in range once in UTC.
_YEARS = r"^(197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
TIMESTAMP_JSON_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time",
                                         "pattern": _YEARS}

Timestamp = Annotated[
    datetime,
    WithJsonSchema(TIMESTAMP_JSON_SCHEMA),
    BeforeValidator(_timestamp_text),
    AfterValidator(_ensure_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="always"),
]
_TIMESTAMP_ADAPTER: TypeAdapter[datetime] = TypeAdapter(Timestamp)

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _check_id(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("ids may not contain control characters")
    return value


# Ids are opaque, chosen by the platform; bounded so a hostile id cannot bloat indexes or URLs.
Id = Annotated[
    str,
    Field(min_length=1, max_length=200,
          json_schema_extra={"pattern": "^[^\\u0000-\\u001F\\u007F]+$"}),
    AfterValidator(_check_id),
]
# Free text is bounded by the 1 MiB ingest body; names and values get a sane cap of their own.
ShortText = Annotated[str, Field(max_length=1000)]
LongText = Annotated[str, Field(max_length=1_000_000)]
Key = Annotated[str, Field(min_length=1, max_length=200)]
Value = Annotated[str, Field(max_length=10_000)]
KeyValues = dict[Key, Value]

Channel = Literal[
    "web", "phone", "sip", "whatsapp", "telegram", "email", "facebook", "instagram",
    "intercom", "chatwoot", "twilio", "infobip", "bird", "mobile_sdk", "api", "other",
]
Modality = Literal["chat", "voice", "video"]
Status = Literal["queued", "active", "completed", "failed", "cancelled", "transferred"]
EndStatus = Literal["completed", "failed", "cancelled", "transferred"]
StartStatus = Literal["queued", "active"]
EndReason = Literal[
    "user_disconnect", "system_disconnect", "transfer", "resolved", "error", "timeout"
]
ResponsibleKind = Literal["ai", "human", "unassigned"]
# "unknown": a speaker of a mono recording, who cannot be told apart.
AuthorRole = Literal["customer", "ai", "human", "system", "unknown"]
MessageKind = Literal["text", "draft", "note", "template", "marker"]
Reaction = Literal["up", "down"]
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]
LogKind = Literal["system", "trace"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
Role = Literal["viewer", "supervisor", "admin", "ingest"]
EventType = Literal[
    "session.started", "session.updated", "message.created", "message.updated",
    "session.ended", "log.appended",
]

CHANNELS: tuple[str, ...] = get_args(Channel)
MODALITIES: tuple[str, ...] = get_args(Modality)
STATUSES: tuple[str, ...] = get_args(Status)
LIVE_STATUSES: tuple[str, ...] = ("queued", "active")
END_STATUSES: tuple[str, ...] = get_args(EndStatus)
END_REASONS: tuple[str, ...] = get_args(EndReason)
RESPONSIBLE_KINDS: tuple[str, ...] = get_args(ResponsibleKind)
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
ROLES: tuple[str, ...] = get_args(Role)

# Sizes (bytes) fit a signed 64-bit integer, what SQLite and every platform can hold.
MAX_SIZE = 2**63 - 1

EXPORT_FORMAT = "supervisor-desk-export"
EXPORT_VERSION = 1


def _fresh_list() -> Any:
    """``[]`` as a field's default, made per instance by pydantic-core: a literal ``[]`` (or
    ``{}``) default is deep-copied in Python for every instance, a tenth of the hub's ingest
    validation. The schema still shows the default."""
    return Field(default_factory=list, json_schema_extra={"default": []})


def _fresh_dict() -> Any:
    """``{}`` as a field's default (see :func:`_fresh_list`)."""
    return Field(default_factory=dict, json_schema_extra={"default": {}})


class WireModel(BaseModel):
    """Base of every wire shape: unknown fields are ignored (the protocol may grow)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --------------------------------------------------------------------------------------------
# Session summary


class Agent(WireModel):
    id: Id
    name: ShortText


class Person(WireModel):
    id: Id
    name: ShortText


class Responsible(WireModel):
    kind: ResponsibleKind = "ai"
    operator: Person | None = None


class UserInfo(WireModel):
    id: Id
    name: ShortText | None = None
    external_id: ShortText | None = None
    is_mobile: bool | None = None


class Location(WireModel):
    ip: Annotated[str, Field(max_length=64)] | None = None
    country_code: Annotated[str, Field(max_length=8)] | None = None
    country: ShortText | None = None
    city: ShortText | None = None


class Contact(WireModel):
    name: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None
    telegram: ShortText | None = None
    whatsapp: ShortText | None = None
    linkedin: ShortText | None = None


class SessionSummary(WireModel):
    id: Id
    agent: Agent
    channel: Channel
    modality: Modality = "chat"
    status: Status
    end_reason: EndReason | None = None
    responsible: Responsible = Responsible()
    team: ShortText | None = None
    stage: ShortText | None = None
    user: UserInfo
    location: Location = Location()
    started_at: Timestamp
    queued_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    last_message_at: Timestamp | None = None
    message_count: int = 0
    has_attachments: bool = False
    parameters: dict[str, str] = _fresh_dict()
    results: dict[str, str] = _fresh_dict()
    metadata: dict[str, str] = _fresh_dict()
    contact: Contact | None = None
    version: int = 1

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


# --------------------------------------------------------------------------------------------
# Messages and logs


class Author(WireModel):
    role: AuthorRole
    name: ShortText | None = None


class Attachment(WireModel):
    name: ShortText
    mime: Annotated[str, Field(max_length=200)] = "application/octet-stream"
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)] = 0
    url: Annotated[str, Field(max_length=4000)] | None = None


class Delivery(WireModel):
    status: DeliveryStatus
    at: Timestamp
    note: ShortText | None = None


class MessageBody(WireModel):
    """A message as a platform sends it: the hub assigns ``session_id`` and ``seq``."""

    id: Id
    at: Timestamp
    author: Author
    kind: MessageKind = "text"
    text: LongText = ""
    attachments: list[Attachment] = _fresh_list()
    quick_replies: list[ShortText] = _fresh_list()
    reaction: Reaction | None = None
    delivery: Delivery | None = None
    # Voice sessions: where the message starts and ends in the session's recording (ms).
    offset_ms: Annotated[int, Field(ge=0, le=MAX_SIZE)] | None = None
    end_ms: Annotated[int, Field(ge=0, le=MAX_SIZE)] | None = None


class Message(MessageBody):
    session_id: Id
    seq: int


class SystemLogEntry(WireModel):
    at: Timestamp
    level: LogLevel = "info"
    text: LongText


class Generation(WireModel):
    action: LongText = ""
    action_input: LongText = ""


class TraceLogEntry(WireModel):
    at: Timestamp
    agent: ShortText
    prompt: LongText = ""
    generation: Generation = Generation()


class SessionLogs(WireModel):
    system: list[SystemLogEntry] = []
    trace: list[TraceLogEntry] = []


# --------------------------------------------------------------------------------------------
# Ingested events (platform -> hub)


class SessionStartedData(WireModel):
    agent: Agent
    channel: Channel
    modality: Modality = "chat"
    status: StartStatus
    end_reason: None = None
    responsible: Responsible = Responsible()
    team: ShortText | None = None
    stage: ShortText | None = None
    user: UserInfo
    location: Location = Location()
    started_at: Timestamp | None = None
    queued_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    last_message_at: Timestamp | None = None
    has_attachments: bool = False
    parameters: KeyValues = _fresh_dict()
    results: KeyValues = _fresh_dict()
    metadata: KeyValues = _fresh_dict()
    contact: Contact | None = None


MergeValues = dict[Key, Value | None]


class SessionUpdatedData(WireModel):
    """Any subset of the mutable fields; ``model_fields_set`` tells which were sent."""

    status: StartStatus | None = None
    responsible: Responsible | None = None
    team: ShortText | None = None
    stage: ShortText | None = None
    user: UserInfo | None = None
    location: Location | None = None
    contact: Contact | None = None
    queued_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    # Merged key by key; a None value deletes the key.
    parameters: MergeValues | None = None
    results: MergeValues | None = None
    metadata: MergeValues | None = None


class MessageUpdatedData(WireModel):
    id: Id
    reaction: Reaction | None = None
    delivery: Delivery | None = None


class SessionEndedData(WireModel):
    status: EndStatus
    end_reason: EndReason | None = None
    ended_at: Timestamp | None = None


class LogAppendedData(WireModel):
    kind: LogKind
    entries: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)

    def typed_entries(self) -> list[SystemLogEntry] | list[TraceLogEntry]:
        if self.kind == "system":
            return [SystemLogEntry.model_validate(e) for e in self.entries]
        return [TraceLogEntry.model_validate(e) for e in self.entries]


EventData = (
    SessionStartedData
    | SessionUpdatedData
    | MessageBody
    | MessageUpdatedData
    | SessionEndedData
    | LogAppendedData
)

EVENT_DATA_MODELS: dict[str, type[WireModel]] = {
    "session.started": SessionStartedData,
    "session.updated": SessionUpdatedData,
    "message.created": MessageBody,
    "message.updated": MessageUpdatedData,
    "session.ended": SessionEndedData,
    "log.appended": LogAppendedData,
}


class IngestEvent(WireModel):
    """One event as a platform posts it; ``data`` is validated by :func:`parse_event_data`."""

    id: Id
    type: EventType
    session_id: Id
    at: Timestamp
    data: dict[str, Any]


class IngestBatch(WireModel):
    events: list[IngestEvent] = Field(min_length=1, max_length=1000)


def parse_event_data(event_type: str, data: dict[str, Any]) -> EventData:
    """Validate ``data`` against the model of ``event_type``; raises ``ValidationError``."""
    model = EVENT_DATA_MODELS[event_type]
    parsed = model.model_validate(data)
    if isinstance(parsed, LogAppendedData):
        parsed.typed_entries()  # validate entries now, so a bad batch is refused whole
    return parsed  # type: ignore[return-value]


class IngestResult(WireModel):
    accepted: int
    duplicates: int
    last_seq: int


# --------------------------------------------------------------------------------------------
# Feed frames (hub -> desktop)


class StoredEvent(WireModel):
    """An event as the feed carries it: ``data`` is the whole session or the stored message."""

    id: Id
    type: EventType
    session_id: Id
    at: Timestamp
    data: dict[str, Any]

    def session(self) -> SessionSummary | None:
        if self.type in ("session.started", "session.updated", "session.ended"):
            return SessionSummary.model_validate(self.data)
        return None

    def message(self) -> Message | None:
        if self.type in ("message.created", "message.updated"):
            return Message.model_validate(self.data)
        return None


class HelloFrame(WireModel):
    type: Literal["hello"] = "hello"
    epoch: str
    seq: int
    resumed: bool
    # Extension: the hub takes "hold" and "flush" requests on this socket
    # (supervisor_desk.models.feed_hold); a hub without it never says so.
    hold: bool = False


class EventFrame(WireModel):
    type: Literal["event"] = "event"
    seq: int
    event: StoredEvent


class FlushedFrame(WireModel):
    """Answers a client's "flush": every event up to ``seq`` was sent before this frame."""

    type: Literal["flushed"] = "flushed"
    seq: int


class HoldingFrame(WireModel):
    """Answers a client's "hold": the hub holds events up to ``ms`` now (0: it sends each at
    once), and ``detail`` says why a request was refused."""

    type: Literal["holding"] = "holding"
    ms: int
    detail: str = ""


FeedFrame = HelloFrame | EventFrame | FlushedFrame | HoldingFrame

FEED_CLOSE_RESYNC = 4409
FEED_CLOSE_TOO_SLOW = 4008
FEED_CLOSE_UNAUTHORIZED = 4401

_FRAME_ADAPTER: TypeAdapter[FeedFrame] = TypeAdapter(
    Annotated[FeedFrame, Field(discriminator="type")]
)


def parse_frame(text: str | bytes) -> FeedFrame:
    """Parse one feed frame; raises ``ValidationError`` on anything malformed."""
    return _FRAME_ADAPTER.validate_json(text)


# --------------------------------------------------------------------------------------------
# REST answers


class LiveSnapshot(WireModel):
    epoch: str
    seq: int
    sessions: list[SessionSummary]


class SessionPage(WireModel):
    items: list[SessionSummary]
    total: int
    offset: int
    limit: int


class ChannelCount(WireModel):
    channel: Channel
    count: int


class Metrics(WireModel):
    total: int
    live: int
    queued: int
    active: int
    recent_24h: int
    top_channel: ChannelCount | None = None
    by_channel: dict[str, int] = {}
    by_status: dict[str, int] = {}
    longest_wait_seconds: float | None = None


class SessionDetail(WireModel):
    session: SessionSummary
    messages: list[Message]


class LogsAnswer(WireModel):
    kind: LogKind
    entries: list[dict[str, Any]]


class HandoverRequest(WireModel):
    """Body of a hand-over: an operator from ``/operators``, or None for the next available."""

    operator_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class ContactUpdate(WireModel):
    """Body of a contact edit: only the fields sent change; an empty string clears one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None
    telegram: ShortText | None = None
    whatsapp: ShortText | None = None
    linkedin: ShortText | None = None


class HandoverAnswer(WireModel):
    session: SessionSummary


class NamedItem(WireModel):
    id: Id
    name: ShortText


class NamedItems(WireModel):
    items: list[NamedItem]


class UserRef(WireModel):
    id: str
    name: str


class LoginRequest(WireModel):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


class LoginAnswer(WireModel):
    token: str
    expires_at: Timestamp
    user: UserRef
    role: Role


class MeAnswer(WireModel):
    user: UserRef
    role: Role
    permissions: list[str]


class HubHealth(WireModel):
    """``GET /health``: the hub answers, and which version of it runs."""

    status: Literal["ok"]
    version: str


class RevokeRequest(WireModel):
    """Admin revocation: every token of ``user``, or every API token labelled ``label``."""

    user: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    label: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class RevokeAnswer(WireModel):
    revoked: int


class ErrorBody(WireModel):
    error: str
    message: str
    details: list[Any] | None = None


PERMISSIONS: dict[str, tuple[str, ...]] = {
    "ingest": ("events:ingest", "sessions:import"),
    "viewer": ("sessions:read", "logs:read", "sessions:export"),
    "supervisor": (
        "sessions:read", "logs:read", "sessions:export", "sessions:handover", "sessions:import",
        "contacts:edit",
    ),
    "admin": (
        "sessions:read", "logs:read", "sessions:export", "sessions:handover", "sessions:import",
        "contacts:edit",
        "users:manage", "tokens:manage",
    ),
}


class FileInfo(WireModel):
    """A file a session holds on the hub (``hub:<id>`` links point at it)."""

    id: str
    session_id: Id
    name: ShortText
    mime: str
    size: int
    url: str
    created_at: Timestamp


class FileList(WireModel):
    items: list[FileInfo]


TranscriptionState = Literal["queued", "running", "done", "failed", "cancelled"]


class Transcription(WireModel):
    """The recognition job of an imported recording."""

    session_id: Id
    file_id: str
    state: TranscriptionState
    percent: int
    segments: int
    engine: str
    error: str | None = None


class ImportAnswer(WireModel):
    session: SessionSummary
    file: FileInfo
    transcription: Transcription


# --------------------------------------------------------------------------------------------
# Export file (hub export endpoint and offline review)


class ExportedSession(WireModel):
    session: SessionSummary
    messages: list[Message] = []
    logs: SessionLogs = SessionLogs()


class ExportHeader(WireModel):
    format: Literal["supervisor-desk-export"]
    version: int
    exported_at: Timestamp | None = None
    filters: dict[str, Any] = {}

