"""Events -> session documents: the rules every backend applies, over its own write batch.

A backend opens a write transaction, wraps it in a :class:`WriteBatch` (a handful of row
operations in its own SQL) and calls :func:`ingest_batch`, :func:`handover` or
:func:`update_contact`; everything else — what a session document becomes after an event, the
JSON of the event log and of messages, the content hash that tells a resend from a reused id,
the indexed columns of a session — is decided here, once, so SQLite and PostgreSQL store the
same bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote
from typing import Any, Protocol

from supervisor_desk.hub.jsontext import dumps
from supervisor_desk.hub.store.interface import (
    EventEnvelope,
    EventIdConflictError,
    IngestOutcome,
    IngestRejectedError,
    NotFoundError,
    ParsedEvent,
    StoreConflict,
)
from supervisor_desk.hub.store.webhooks import HANDOVER
from supervisor_desk.models.filters import search_text, user_search_text
from supervisor_desk.models.filters import to_ms as exact_ms
from supervisor_desk.models.wire import (
    EventData,
    LogAppendedData,
    MessageBody,
    MessageUpdatedData,
    SessionEndedData,
    SessionStartedData,
    SessionSummary,
    SessionUpdatedData,
    format_timestamp,
)


class DuplicateMessage(Exception):  # noqa: N818 - a signal from the batch, not an API error
    """:meth:`WriteBatch.add_message` found the message id already used in the session."""


class WriteBatch(Protocol):
    """One write transaction of a backend, as the reducer sees it.

    The reducer reads and mutates session documents (plain dicts, the ``SessionSummary``
    JSON shape) through :meth:`session`; the batch keeps them and writes the changed ones
    (:meth:`session_changed`) with :func:`session_columns` when the transaction's work is done.
    """

    seq: int
    """The last seq given out; the reducer increments it for each event it appends."""

    def known_events(self, ids: Sequence[str]) -> dict[str, bytes | None]:
        """``{event id: content hash}`` of the ids already in the event log (hash may be
        ``None`` for events stored before hashes were kept)."""
        ...

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session's document, loaded once per batch and then the same dict (mutations
        stick), or ``None`` if it does not exist."""
        ...

    def session_started(self, doc: dict[str, Any]) -> None:
        """A new session (its id is ``doc["id"]``); later :meth:`session` calls return ``doc``."""
        ...

    def session_changed(self, session_id: str) -> None:
        """The document of this (loaded or started) session changed: write it at the end."""
        ...

    def add_message(self, session_id: str, seq: int, message_id: str, message_json: str,
                    text: str | None) -> None:
        """Store a message (``text`` is what full-text search indexes, ``None`` for none);
        raise :class:`DuplicateMessage` if ``message_id`` is already used in the session."""
        ...

    def message(self, session_id: str, message_id: str) -> str | None:
        """A stored message's JSON, or ``None``."""
        ...

    def replace_message(self, session_id: str, message_id: str, message_json: str) -> None:
        ...

    def add_logs(self, session_id: str, kind: str, entries_json: Sequence[str]) -> None:
        """Append log entries (``kind`` system or trace), kept in this order."""
        ...

    def add_event(self, seq: int, event_id: str, session_id: str, body: str,
                  digest: bytes | None) -> None:
        """Append to the event log; ``body`` is the event's JSON as the feed sends it."""
        ...

    def outbox(self, seq: int, kind: str, session_id: str, at: str, data_json: str) -> None:
        """Queue a webhook delivery of this event for each endpoint subscribed to ``kind``
        (``store.webhooks.delivery_payload`` / ``delivery_message_id`` give body and id)."""
        ...


def to_ms(text: str | None) -> int | None:
    if text is None:
        return None
    return exact_ms(datetime.fromisoformat(text))


def now_utc() -> datetime:
    return datetime.now(UTC)


def fast_timestamp(value: datetime) -> str:
    """:func:`format_timestamp`'s spelling (ms, ``Z``) via the C ``isoformat``: hot path."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# The indexed columns of a session, in this order (after the JSON document itself).
SESSION_COLUMNS = (
    "id", "id_lower", "doc", "agent_id", "agent_name", "channel", "status", "responsible_kind",
    "operator_id", "operator_name", "user_search", "search", "country_code", "ip",
    "started_ms", "queued_ms", "accepted_ms", "ended_ms", "last_ms", "message_count",
    "has_attachments", "version",
)


def session_columns(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The values of :data:`SESSION_COLUMNS` for a session document: what filters and sorts
    read (times in epoch ms, lower-cased search text, ``has_attachments`` as 0/1)."""
    location = doc.get("location") or {}
    responsible = doc["responsible"]
    operator = responsible.get("operator") or {}
    country = location.get("country_code")
    user = doc["user"]
    return (
        doc["id"],
        doc["id"].lower(),
        dumps(doc),
        doc["agent"]["id"],
        doc["agent"]["name"],
        doc["channel"],
        doc["status"],
        responsible["kind"],
        operator.get("id"),
        operator.get("name"),
        user_search_text(user["id"], user.get("name")),
        search_text(
            doc["agent"]["name"], user["id"], user.get("name"), user.get("external_id"),
            doc.get("metadata", {}).values(), doc.get("parameters", {}).values(),
        ),
        country.upper() if country else None,
        location.get("ip"),
        to_ms(doc["started_at"]),
        to_ms(doc.get("queued_at")),
        to_ms(doc.get("accepted_at")),
        to_ms(doc.get("ended_at")),
        to_ms(doc.get("last_message_at")),
        doc["message_count"],
        1 if doc["has_attachments"] else 0,
        doc["version"],
    )


class _Reject(Exception):  # noqa: N818 - internal signal, turned into IngestRejectedError
    def __init__(self, loc: Sequence[str | int], message: str, kind: str) -> None:
        super().__init__(message)
        self.loc = list(loc)
        self.message = message
        self.kind = kind


def append(
    batch: WriteBatch, event_id: str, kind: str, session_id: str, at: str, data: Any,
    data_json: str | None = None, digest: bytes | None = None,
) -> int:
    """Append an event to the log (and its webhook deliveries); ``data_json`` is ``data``
    already serialized, if at hand; ``digest`` the content hash of an ingested event."""
    batch.seq += 1
    # The envelope's four strings quoted by the C encoder: a json.dumps of a dict per event
    # was a tenth of the reducer's time.
    body = (f'{{"id":{_quote(event_id)},"type":{_quote(kind)},"session_id":'
            f'{_quote(session_id)},"at":{_quote(at)},"data":'
            f'{data_json if data_json is not None else dumps(data)}}}')
    batch.add_event(batch.seq, event_id, session_id, body, digest)
    batch.outbox(batch.seq, kind, session_id, at, body)
    return batch.seq


@dataclass(slots=True)
class _Content:
    """An ingested event's ``data`` in canonical JSON, and the hash that tells a resend of the
    event from a reused id. Where the JSON is also the stored form (messages, logs), applying
    the event reuses it instead of serializing twice."""

    json: str
    digest: bytes
    entries: list[dict[str, Any]] | None = None  # log.appended: the typed entries, as dicts
    message_at: str | None = None  # message.created: the message's own time, canonical
    # session.started: the new session's document and its JSON (copied before use: the
    # batch mutates the document it is given)
    session_doc: dict[str, Any] | None = None
    session_json: str | None = None


class PreparedBatch(list[ParsedEvent]):
    """A validated batch with each event's canonical time and content worked out beside it
    (:func:`prepare`): done where the batch was validated, so the single writer, which every
    platform's batches queue for, only applies them."""

    __slots__ = ("prepared",)

    def __init__(self, events: Sequence[ParsedEvent]) -> None:
        super().__init__(events)
        self.prepared: list[tuple[str, _Content]] = []
        for event, data in events:
            at = fast_timestamp(event.at)
            content = event_content(event, at, data)
            if isinstance(data, SessionStartedData):
                content.session_doc = new_session_doc(event.session_id, data, at)
                content.session_json = dumps(content.session_doc)
            self.prepared.append((at, content))


def prepare(events: Sequence[ParsedEvent]) -> PreparedBatch:
    """``events`` with what applying them needs that depends on nothing stored (pure work:
    any thread)."""
    return PreparedBatch(events)


def event_content(event: EventEnvelope, at: str, data: EventData) -> _Content:
    """Canonical: the parsed event (times in UTC, keys in model order), so a resend that
    differs only in spelling (key order, spaces, time zone) has the same hash."""
    entries = None
    message_at = None
    if isinstance(data, MessageBody):
        text = data.model_dump_json()
        message_at = fast_timestamp(data.at)
    elif isinstance(data, LogAppendedData):
        entries = [entry.model_dump(mode="json") for entry in data.typed_entries()]
        text = dumps({"kind": data.kind, "entries": entries})
    else:
        # Sent or not matters here: a session.updated field sent as null clears it.
        text = data.model_dump_json(exclude_unset=True)
    digest = hashlib.blake2b(
        f"{event.type}\n{event.session_id}\n{at}\n{text}".encode(), digest_size=16
    ).digest()
    return _Content(text, digest, entries, message_at)


def ingest_batch(batch: WriteBatch, events: Sequence[ParsedEvent]) -> IngestOutcome:
    """Apply one validated ingest batch; :class:`IngestRejectedError` names the event that
    made it fail (the caller rolls the batch back)."""
    known = batch.known_events([event.id for event, _ in events])
    duplicates = 0
    prepared = events.prepared if isinstance(events, PreparedBatch) else None
    for index, (event, data) in enumerate(events):
        if prepared is not None:
            at, content = prepared[index]
        else:
            at = fast_timestamp(event.at)
            content = event_content(event, at, data)
        if event.id in known:
            stored = known[event.id]
            # Events stored before hashes were kept (NULL) cannot be compared: a duplicate.
            if stored is not None and stored != content.digest:
                raise EventIdConflictError([{
                    "index": index,
                    "event_id": event.id,
                    "loc": ["events", index, "id"],
                    "field": f"events.{index}.id",
                    "message": f"event id {event.id!r} was already used for an event with "
                    "different content; an event id is an idempotency key, a new event "
                    "needs a new id",
                    "type": "event_id_conflict",
                }])
            duplicates += 1
            continue
        known[event.id] = content.digest
        try:
            _apply(batch, event, data, at, content)
        except _Reject as reject:
            raise IngestRejectedError(
                [
                    {
                        "index": index,
                        "event_id": event.id,
                        "loc": ["events", index, *reject.loc],
                        "message": reject.message,
                        "type": reject.kind,
                    }
                ]
            ) from None
    return IngestOutcome(len(events) - duplicates, duplicates, batch.seq)


# A session document's keys in SessionSummary's order (the stored JSON's order).
_SUMMARY_KEYS = tuple(SessionSummary.model_fields)
# What a session.started does not carry, at its value for a new session.
_NEW_SESSION_FIELDS = {"ended_at": None, "message_count": 0, "version": 1}


def new_session_doc(session_id: str, data: SessionStartedData, at: str) -> dict[str, Any]:
    """The document of a session that ``data`` starts: ``SessionSummary``'s JSON shape.

    Built from the validated event's own JSON dump, not by validating a ``SessionSummary``
    and dumping that: every value is already valid and in wire form, and that round trip was
    48 µs a session against 8."""
    fields: dict[str, Any] = {**_NEW_SESSION_FIELDS, **data.model_dump(mode="json"),
                              "id": session_id}
    fields["started_at"] = fields["started_at"] or at
    return {key: fields[key] for key in _SUMMARY_KEYS}


def _apply(
    batch: WriteBatch, event: EventEnvelope, data: EventData, at: str, content: _Content
) -> None:
    digest = content.digest
    sid = event.session_id
    if isinstance(data, SessionStartedData):
        if batch.session(sid) is not None:
            raise _Reject(
                ["session_id"], f"session {sid!r} was already started", "session_exists"
            )
        if content.session_doc is not None:  # prepared (a shallow copy: the reducer replaces
            new_doc = dict(content.session_doc)  # nested values, never changes them in place)
        else:
            new_doc = new_session_doc(sid, data, at)
        batch.session_started(new_doc)
        append(batch, event.id, event.type, sid, at, new_doc, content.session_json, digest)
        return

    doc = batch.session(sid)
    if doc is None:
        raise _Reject(
            ["session_id"],
            f"unknown session {sid!r} (send session.started first)",
            "unknown_session",
        )
    if doc["status"] not in ("queued", "active"):
        raise _Reject(
            ["session_id"], f"session {sid!r} has ended; it cannot change", "session_ended"
        )

    if isinstance(data, SessionUpdatedData):
        _session_updated(doc, data, at)
        doc["version"] += 1
        batch.session_changed(sid)
        append(batch, event.id, event.type, sid, at, doc, digest=digest)
    elif isinstance(data, MessageBody):
        _message_created(batch, doc, event.id, at, data, content)
    elif isinstance(data, MessageUpdatedData):
        stored = batch.message(sid, data.id)
        if stored is None:
            raise _Reject(
                ["data", "id"], f"unknown message {data.id!r} in this session", "unknown_message"
            )
        message = json.loads(stored)
        dumped = data.model_dump(mode="json")
        for key in ("reaction", "delivery"):
            if key in data.model_fields_set:
                message[key] = dumped[key]
        message_json = dumps(message)
        batch.replace_message(sid, data.id, message_json)
        append(batch, event.id, event.type, sid, at, None, message_json, digest)
    elif isinstance(data, SessionEndedData):
        doc["status"] = data.status
        doc["end_reason"] = data.end_reason
        doc["ended_at"] = fast_timestamp(data.ended_at) if data.ended_at else at
        doc["version"] += 1
        batch.session_changed(sid)
        append(batch, event.id, event.type, sid, at, doc, digest=digest)
    elif isinstance(data, LogAppendedData):
        entries = content.entries or []
        batch.add_logs(sid, data.kind, [dumps(entry) for entry in entries])
        append(batch, event.id, event.type, sid, at, None, content.json, digest)
    else:  # pragma: no cover - the wire models make this unreachable
        raise _Reject(["type"], f"unsupported event type {event.type!r}", "unknown_type")


_ASSIGNED = ("team", "stage", "contact", "queued_at", "accepted_at")


def _session_updated(doc: dict[str, Any], data: SessionUpdatedData, at: str) -> None:
    sent = data.model_fields_set
    dumped = data.model_dump(mode="json")
    for key in _ASSIGNED:
        if key in sent:
            doc[key] = dumped[key]
    for key in ("responsible", "user"):
        if key in sent and dumped[key] is not None:
            doc[key] = dumped[key]
    if "location" in sent:
        doc["location"] = dumped["location"] or {
            "ip": None, "country_code": None, "country": None, "city": None
        }
    if "status" in sent and data.status is not None:
        if doc["status"] == "queued" and data.status == "active" and doc.get("accepted_at") is None:
            doc["accepted_at"] = at
        doc["status"] = data.status
    for key in ("parameters", "results", "metadata"):
        changes = dumped.get(key) if key in sent else None
        if changes:
            merged = dict(doc.get(key) or {})
            for name, value in changes.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            doc[key] = merged


def _message_created(
    batch: WriteBatch, doc: dict[str, Any], event_id: str, at: str, data: MessageBody,
    content: _Content | None = None,
) -> None:
    sid = doc["id"]
    seq = doc["message_count"] + 1
    # pydantic's own JSON encoder, spliced behind session_id/seq: a dict round trip through
    # model_dump + json.dumps was a fifth of the ingest CPU (py-spy).
    body = content.json if content is not None else data.model_dump_json()
    message_json = f'{{"session_id":{_quote(sid)},"seq":{seq},{body[1:]}'
    try:
        batch.add_message(sid, seq, data.id, message_json, data.text or None)
    except DuplicateMessage:
        raise _Reject(
            ["data", "id"], f"message {data.id!r} already exists in this session",
            "message_exists",
        ) from None
    doc["message_count"] = seq
    message_at = (content.message_at if content is not None and content.message_at
                  else fast_timestamp(data.at))
    last = doc.get("last_message_at")
    if last is None or _later(message_at, last):
        doc["last_message_at"] = message_at
    if data.attachments:
        doc["has_attachments"] = True
    doc["version"] += 1
    batch.session_changed(sid)
    append(batch, event_id, "message.created", sid, at, None, message_json,
           content.digest if content is not None else None)


_CANONICAL_LENGTH = len("2026-01-31T12:00:00.000Z")


def _later(canonical: str, other: str) -> bool:
    """Whether the instant ``canonical`` (:func:`fast_timestamp`'s spelling) is after ``other``.
    Two timestamps of that fixed-width spelling compare as text, without parsing either."""
    if len(other) == _CANONICAL_LENGTH and other[-1] == "Z":
        return canonical > other
    return (to_ms(canonical) or 0) > (to_ms(other) or 0)


def _hub_id() -> str:
    return "hub-" + uuid.uuid4().hex


def _system_log(batch: WriteBatch, session_id: str, at: str, text: str) -> None:
    entry = {"at": at, "level": "info", "text": text}
    batch.add_logs(session_id, "system", [dumps(entry)])
    append(batch, _hub_id(), "log.appended", session_id, at,
           {"kind": "system", "entries": [entry]})


def handover(
    batch: WriteBatch, session_id: str, operator: dict[str, str] | None, by: dict[str, str]
) -> str:
    """Give a live AI session to ``operator``, or to the next available one (Unassigned);
    returns the session JSON after the change.

    Writes the "Transfer to human agent" marker, the new Responsible, a system log line naming
    who handed it over (each an event of the feed) and the platform's webhook.
    """
    doc = batch.session(session_id)
    if doc is None:
        raise NotFoundError(f"no session {session_id!r}")
    if doc["status"] not in ("queued", "active"):
        raise StoreConflict("session_finished", "the session has already ended")
    if doc["responsible"]["kind"] != "ai":
        raise StoreConflict(
            "already_human", "a human operator already handles or is about to take it"
        )
    at = format_timestamp(now_utc())
    marker = MessageBody.model_validate(
        {
            "id": _hub_id(),
            "at": at,
            "author": {"role": "system", "name": None},
            "kind": "marker",
            "text": "Transfer to human agent",
        }
    )
    _message_created(batch, doc, _hub_id(), at, marker)
    if operator is None:
        doc["responsible"] = {"kind": "unassigned", "operator": None}
        to = "the next available operator"
    else:
        doc["responsible"] = {"kind": "human", "operator": dict(operator)}
        to = operator["name"]
        if doc["status"] == "queued":
            doc["status"] = "active"
            if doc.get("accepted_at") is None:
                doc["accepted_at"] = at
    doc["version"] += 1
    batch.session_changed(session_id)
    append(batch, _hub_id(), "session.updated", session_id, at, doc)
    _system_log(batch, session_id, at, f"Handed over to {to} by {by['name']}")
    # The platform must hear it (its AI stops replying): a webhook of its own.
    # ``operator`` is null when the next available operator is to take it.
    batch.outbox(batch.seq, HANDOVER, session_id, at, dumps({
        "session_id": session_id, "operator": operator, "session": doc}))
    return dumps(doc)


def update_contact(
    batch: WriteBatch, session_id: str, changes: dict[str, str], by: dict[str, str]
) -> str:
    """Correct a session's contact fields (a supervisor's edit); returns the session JSON.

    Only fields whose value changes are written; each edit is a ``session.updated`` and a
    system log line saying who changed what (the audit trail).
    """
    doc = batch.session(session_id)
    if doc is None:
        raise NotFoundError(f"no session {session_id!r}")
    contact: dict[str, Any] = dict(doc.get("contact") or {})
    described: list[str] = []
    for key, value in changes.items():
        new = value.strip() or None
        old = contact.get(key)
        if new != old:
            contact[key] = new
            described.append(f"{key} {_shown(old)} → {_shown(new)}")
    if not described:
        return dumps(doc)
    doc["contact"] = contact
    doc["version"] += 1
    at = format_timestamp(now_utc())
    batch.session_changed(session_id)
    append(batch, _hub_id(), "session.updated", session_id, at, doc)
    _system_log(batch, session_id, at,
                f"Contact edited by {by['name']}: " + "; ".join(described))
    return dumps(doc)


def _shown(value: str | None) -> str:
    return "(empty)" if value is None else json.dumps(value, ensure_ascii=False)
