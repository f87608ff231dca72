"""The OpenAPI document made exact: what FastAPI cannot see from the route signatures.

FastAPI documents the parameters and bodies it parses itself. The hub reads some of them by
hand (the ingest body, to bound and stream it; the session filters, parsed as one set), checks
roles in a dependency and answers errors in its own shape. This module adds those facts to the
generated document once, from the same sources the hub uses at run time (the ``Authorize``
dependency of each route, ``PERMISSIONS``, the filter and sort definitions, the ingest models),
so the document cannot drift from the behaviour. ``tests/security/test_fuzz_api.py`` checks it
against a running hub with schemathesis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from supervisor_desk.hub.auth import Authorize
from supervisor_desk.models.filters import COUNT_OPS, SORT_KEYS
from supervisor_desk.models.wire import (
    CHANNELS,
    PERMISSIONS,
    RESPONSIBLE_KINDS,
    ROLES,
    STATUSES,
    TIMESTAMP_JSON_SCHEMA,
    ExportedSession,
    ExportHeader,
)

SCHEME = "bearerToken"
ERROR = "Error"

_STATUS_TEXT = {
    401: "No, invalid, expired or revoked bearer token (`unauthorized`), or wrong user name "
         "or password (`invalid_credentials`).",
    403: "The token's role lacks the permission (`forbidden`).",
    404: "No such session, user or object (`not_found`).",
    409: "Conflict with the stored state (see the route's description).",
    413: "The body is larger than the hub accepts (`payload_too_large`).",
    415: "The bytes are not a recording the hub can read (`unsupported_audio`).",
    416: "The Range asks for bytes past the end of the file (`range_not_satisfiable`).",
    422: "Invalid body, parameter or filter (`invalid_request`, `invalid_json`, "
         "`invalid_filter`, `invalid_event`, ...). `details` names each fault.",
    429: "Throttled; retry after `Retry-After` seconds.",
    503: "Storage fault (full disk, locked database) or the hub is stopping; nothing of the "
         "request was stored. Retry after `Retry-After` seconds.",
}

# Statuses a route can answer beyond the ones every route shares (401/403 from its role check,
# 422 for unreadable input, 503 for storage faults).
_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/api/v1/auth/login"): (401, 429),
    ("post", "/api/v1/ingest"): (409, 413, 429),
    ("post", "/api/v1/admin/revoke"): (404,),
    ("get", "/api/v1/sessions/{session_id}"): (404,),
    ("get", "/api/v1/sessions/{session_id}/logs"): (404,),
    ("post", "/api/v1/sessions/{session_id}/handover"): (404, 409),
    ("patch", "/api/v1/sessions/{session_id}/contact"): (404,),
    ("delete", "/api/v1/webhooks/{webhook_id}"): (404,),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): (404,),
    ("post", "/api/v1/webhooks/{webhook_id}/replay"): (404,),
    ("post", "/api/v1/sessions/{session_id}/files"): (404, 413),
    ("get", "/api/v1/sessions/{session_id}/files"): (404,),
    ("get", "/api/v1/sessions/{session_id}/files/{file_id}"): (404, 416),
    ("post", "/api/v1/sessions/import-audio"): (413, 415),
    ("get", "/api/v1/sessions/{session_id}/transcription"): (404,),
    ("delete", "/api/v1/sessions/{session_id}/transcription"): (404, 409),
}

# Routes that read a raw body themselves (streamed, bounded): what FastAPI cannot see.
_BINARY_BODY = {
    ("post", "/api/v1/sessions/{session_id}/files"): "The file's bytes (its type is sniffed).",
    ("post", "/api/v1/sessions/import-audio"): "The recording (WAV, FLAC, Ogg/Opus, MP3, ...).",
}
# Query parameters the files routes check by hand: 1 to 200 characters, no control characters.
_NAME = {"type": "string", "minLength": 1, "maxLength": 200,
         "pattern": "^[^\\u0000-\\u001F\\u007F]+$"}
_QUERY_SCHEMAS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("post", "/api/v1/sessions/{session_id}/files", "name"): _NAME,
    ("post", "/api/v1/sessions/import-audio", "name"): _NAME,
    ("post", "/api/v1/sessions/import-audio", "agent"): _NAME,
    ("post", "/api/v1/sessions/import-audio", "customer"): _NAME,
    ("post", "/api/v1/sessions/import-audio", "channel"): {"type": "string",
                                                          "enum": list(CHANNELS)},
    ("post", "/api/v1/sessions/import-audio", "agent_role"): {"type": "string",
                                                             "enum": ["ai", "human"]},
    ("get", "/api/v1/analytics", "start"): {**TIMESTAMP_JSON_SCHEMA, "maxLength": 50},
    ("get", "/api/v1/analytics", "end"): {**TIMESTAMP_JSON_SCHEMA, "maxLength": 50},
}

SORT_VALUES: tuple[str, ...] = tuple(v for key in SORT_KEYS for v in (key, "-" + key))

# Where a route reads the session filters from its query string (``SessionFilter.from_query``).
FILTERED = frozenset({"/api/v1/sessions", "/api/v1/sessions/metrics", "/api/v1/sessions/export",
                      "/api/v1/analytics"})


def _filter_parameters() -> list[dict[str, Any]]:
    def query(name: str, schema: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": text, **extra}

    def many(items: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": items, "maxItems": 100}

    # An empty (or blank) value means "no criterion", as an empty form field does.
    blank = {"type": "string", "pattern": r"^\s*$"}
    time = {"anyOf": [blank, dict(TIMESTAMP_JSON_SCHEMA)]}
    text = {"type": "string", "maxLength": 500}
    name = {"type": "string", "maxLength": 200}

    def one_of(words: tuple[str, ...] | list[str]) -> str:
        return f"({'|'.join(words)})"

    def listed(words: tuple[str, ...]) -> dict[str, Any]:
        item = rf"\s*{one_of(words)}?\s*"
        return {"type": "string", "pattern": f"^{item}(,{item})*$"}

    true_false = "([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)"
    params = [
        query("q", text, "The session id starts with it, or a substring of agent name, user "
              "id/name/external id, a metadata or parameter value (case-insensitive)."),
        query("text", text, "Full-text search in message text (all words, prefixes)."),
        query("user", text, "Substring of the user's id, name or external id."),
        query("country", {"type": "string", "maxLength": 8},
              "Country code of the user's location."),
        query("ip", {"type": "string", "maxLength": 64}, "The user's IP address."),
        query("agent", many(name), "Agent ids (OR).", style="form", explode=True),
        query("channel", many(listed(CHANNELS)), "Channels (OR; also comma-separated).",
              style="form", explode=True),
        query("status", many(listed(STATUSES)), "Statuses (OR; also comma-separated).",
              style="form", explode=True),
        query("operator", many(name), "Operator ids (OR).", style="form", explode=True),
        query("team", many(name), "Teams (OR).", style="form", explode=True),
        query("responsible",
              {"type": "string", "pattern": rf"^\s*{one_of(RESPONSIBLE_KINDS)}?\s*$"},
              "Who handles the session now: " + ", ".join(RESPONSIBLE_KINDS) + "."),
    ]
    for edge in ("started", "ended", "last_message"):
        for side in ("after", "before"):
            params.append(query(f"{edge}_{side}", time,
                                f"`{edge}_at` {side} this instant (RFC 3339 with offset)."))
    params += [
        query("messages", {"type": "string",
                           "pattern": rf"^\s*({one_of(COUNT_OPS)}:[0-9]{{1,12}})?\s*$"},
              "Message count comparison `OP:N`, OP one of " + ", ".join(COUNT_OPS) + "."),
        query("messages_max", {"type": "string", "pattern": r"^\s*([0-9]{1,12})?\s*$"},
              "At most this many messages."),
        query("has_attachments", {"type": "string", "pattern": rf"^\s*{true_false}?\s*$"},
              "Only sessions with (true) or without (false) files."),
        query("live", {"type": "string", "pattern": rf"^\s*{true_false}?\s*$"},
              "Only queued/active (true) or ended (false)."),
    ]
    return params


def required_permission(route: APIRoute) -> tuple[bool, str | None]:
    """``(needs a token, permission)`` from the route's ``Authorize`` dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Authorize):
            return True, dependency.call.permission
        stack.extend(dependency.dependencies)
    return False, None


def roles_with(permission: str | None) -> list[str]:
    return [role for role in ROLES if permission is None or permission in PERMISSIONS[role]]


def _error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _STATUS_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}},
    }
    if status in (429, 503):
        answer["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                             "schema": {"type": "integer"}}}
    return answer


def _error_schema() -> dict[str, Any]:
    detail = {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                         {"type": "integer"}]}},
            "field": {"type": "string"},
            "message": {"type": "string"},
            "type": {"type": "string"},
            "index": {"type": "integer"},
            "event_id": {"type": ["string", "null"]},
        },
        "additionalProperties": True,
    }
    return {
        "title": ERROR,
        "type": "object",
        "description": "The one error shape of every route and status.",
        "required": ["error", "message", "details"],
        "properties": {
            "error": {"type": "string", "description": "snake_case code"},
            "message": {"type": "string", "description": "for humans"},
            "details": {"type": "array", "items": detail},
        },
    }


class ExportFile(ExportHeader):
    """``format=json`` of ``GET /sessions/export``: the header, then every session."""

    sort: str
    sessions: list[ExportedSession]


def _extra_schemas() -> dict[str, Any]:
    """The ingest body's models and the export file, by name."""
    from supervisor_desk.hub.ingest import batch_json_schema

    template = "#/components/schemas/{model}"
    found = batch_json_schema(template)
    export = ExportFile.model_json_schema(ref_template=template, mode="serialization")
    for name, definition in export.pop("$defs", {}).items():
        found.setdefault(name, definition)
    found["ExportFile"] = export
    return found


def complete(app: FastAPI, document: dict[str, Any],
             extra_schemas: Callable[[], dict[str, Any]] = _extra_schemas) -> dict[str, Any]:
    """Add security, roles, error answers, filters and the ingest body to ``document``."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas[ERROR] = _error_schema()
    for name, definition in extra_schemas().items():
        schemas[name] = definition
    if "RevokeRequest" in schemas:
        # The route's rule: exactly one of user, label (the other absent or null).
        schemas["RevokeRequest"]["oneOf"] = [
            {"required": [key], "properties": {key: {"type": "string"}}}
            for key in ("user", "label")
        ]
    if "ContactUpdate" in schemas:
        schemas["ContactUpdate"]["minProperties"] = 1  # the route's "at least one field"
    components["securitySchemes"] = {SCHEME: {
        "type": "http", "scheme": "bearer",
        "description": "A token from `POST /api/v1/auth/login` or `supervisor-hub token "
                       "create`, as `Authorization: Bearer <token>`.",
    }}
    paths = document.get("paths", {})
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path is None:
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", context.path)  # as the document spells it
        item = paths.get(path)
        if item is None:
            continue
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is not None:
                _complete_operation(route, path, method.lower(), operation)
    return document


def _complete_operation(
    route: APIRoute, path: str, method: str, operation: dict[str, Any]
) -> None:
    needs_token, permission = required_permission(route)
    statuses = {422, 503, *_EXTRA.get((method, path), ())}
    if needs_token:
        roles = roles_with(permission)
        operation["security"] = [{SCHEME: []}]
        operation["x-required-permission"] = permission
        operation["x-required-roles"] = roles
        need = (f"permission `{permission}` (roles: {', '.join(roles)})" if permission
                else "any valid token")
        statuses.add(401)
        if permission is not None:
            statuses.add(403)
        note = f"**Auth:** bearer token with {need}."
    else:
        operation["security"] = []
        note = "**Auth:** none."
    operation["description"] = (note + "\n\n" + operation.get("description", "")).strip()
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status in sorted(statuses):
        responses[str(status)] = _error_response(status)
    parameters = operation.setdefault("parameters", [])
    for parameter in parameters:
        if parameter.get("in") == "path" and parameter.get("name") == "session_id":
            parameter["description"] = ("The session id as ONE path segment, percent-encoded "
                                        "(`/` as `%2F`).")
        declared = _QUERY_SCHEMAS.get((method, path, str(parameter.get("name"))))
        if parameter.get("in") == "query" and declared is not None:
            parameter["schema"] = {**declared, **{k: v for k, v in parameter["schema"].items()
                                                  if k == "default"}}
        if parameter.get("in") == "query" and parameter.get("name") == "sort":
            parameter["schema"] = {"type": "string", "enum": list(SORT_VALUES),
                                   "default": parameter.get("schema", {}).get("default")}
    if (method, path) == ("post", "/api/v1/sessions/{session_id}/files") and "201" in responses:
        responses["200"] = {**responses["201"],
                            "description": "The session already held this file (same bytes)."}
    if (method, path) in _BINARY_BODY:
        operation["requestBody"] = {"required": True, "description": _BINARY_BODY[method, path],
                                    "content": {"application/octet-stream": {"schema": {
                                        "type": "string", "format": "binary", "minLength": 1}}}}
    if path in FILTERED:
        parameters.extend(_filter_parameters())
    if path == "/api/v1/ingest":
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/IngestBatch"}}}}
    if path == "/api/v1/sessions/export":
        ok = responses.setdefault("200", {})
        ok["description"] = ("The export file, streamed: `format=json` one JSON document, "
                             "`jsonl` a header line then one session per line, `csv` one row "
                             "per session.")
        ok["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ExportFile"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        }
        ok["headers"] = {"Content-Disposition": {
            "description": "attachment; filename=\"sessions-<stamp>.<format>\"",
            "schema": {"type": "string"}}}
