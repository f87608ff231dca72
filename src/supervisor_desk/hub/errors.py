"""One error shape for every failure: ``{"error", "message", "details"}``.

Installed for our own errors, FastAPI's request validation, Starlette's 404/405 and anything
unexpected (500), so a client never has to parse a second shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("supervisor_desk.hub")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details or []}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status,
        headers=error.headers,
    )


def clean_details(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors reduced to JSON-safe ``{loc, message, type}`` items."""
    out: list[dict[str, Any]] = []
    for item in list(errors)[:100]:
        loc = [part if isinstance(part, int) else str(part) for part in item.get("loc", ())]
        out.append(
            {"loc": loc, "field": ".".join(str(p) for p in loc), "message": str(item.get("msg")),
             "type": str(item.get("type"))}
        )
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = clean_details(exc.errors())
        first = details[0] if details else None
        message = (
            f"invalid {first['field'] or 'request'}: {first['message']}"
            if first
            else "invalid request"
        )
        return JSONResponse(error_body("invalid_request", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (a body that is not UTF-8, a broken form): the
            # documented answer to a body that cannot be read is 422 invalid_json, everywhere.
            return JSONResponse(error_body(
                "invalid_json", "the body is not valid JSON in UTF-8",
                [{"loc": ["body"], "field": "body", "message": str(exc.detail)[:200],
                  "type": "json_invalid"}],
            ), status_code=422)
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path}"
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client hung up while its body was being read (a dropped link, or a slow client
        # the connection guard shed): nobody is left to answer and nothing was stored, so it is
        # one quiet line, not an "unexpected error" traceback.
        log.info("client went away during %s %s; nothing stored", request.method,
                 request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "the hub hit an unexpected error; see its log"),
            status_code=500,
        )
