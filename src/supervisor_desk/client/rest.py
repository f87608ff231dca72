"""REST client of the hub (``docs/protocol.md``): typed answers, one error type.

Qt-free; the desktop's view-models await these coroutines on the qasync loop. Every failure a
user can meet comes out as :class:`HubError` with a stable ``code`` (the hub's snake_case
``error``, ``"unauthorized"`` for 401, ``"unreachable"`` when the hub cannot be reached) and a
message fit to show. The bearer token is sent in a header and never logged: httpx logs request
lines (method, URL, status) only, and no token ever goes into a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, overload
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from supervisor_desk.client import tls
from supervisor_desk.client.settings import SERVER_SEPARATOR, split_server_address
from supervisor_desk.models.analytics import AnalyticsReport
from supervisor_desk.models.wire import (
    ContactUpdate,
    FileInfo,
    FileList,
    HandoverAnswer,
    HandoverRequest,
    HubHealth,
    ImportAnswer,
    LiveSnapshot,
    LoginAnswer,
    LogsAnswer,
    MeAnswer,
    Metrics,
    NamedItem,
    NamedItems,
    SessionDetail,
    SessionPage,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
    format_timestamp,
)

API = "/api/v1"
ExportFormat = Literal["json", "jsonl", "csv"]
_EXPORT_CHUNK = 64 * 1024
_EXPORT_READ_S = 120.0
_UPLOAD_CHUNK = 256 * 1024
# A load balancer (or a replica being replaced) says the replica cannot serve: try another.
_REPLICA_DOWN = frozenset({502, 503, 504})
# Methods safe to send again to another replica after the first one may have received them.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class QueryFilter(Protocol):
    """What the client needs of ``models.filters.SessionFilter``: its query pairs."""

    def to_query(self) -> list[tuple[str, str]]: ...


class HubError(Exception):
    """A failed hub call: HTTP ``status`` (None if no answer), stable ``code``, human text.

    ``refusal`` is set (code ``certificate_refused``) when the hub's TLS certificate was
    refused: why, and the certificate for a "View certificate" detail.
    """

    def __init__(self, status: int | None, code: str, message: str, *,
                 refusal: tls.CertificateRefusal | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.refusal = refusal

    @property
    def unauthorized(self) -> bool:
        return self.code == "unauthorized"

    @property
    def unreachable(self) -> bool:
        return self.code == "unreachable"

    @property
    def certificate_refused(self) -> bool:
        return self.code == "certificate_refused"

    def __repr__(self) -> str:
        return f"HubError(status={self.status!r}, code={self.code!r}, message={self.message!r})"


def normalize_base_url(url: str) -> str:
    """``hub.example.com:8765`` -> ``https://hub.example.com:8765``; no trailing slash."""
    url = url.strip()
    if "://" not in url:
        scheme = "http" if url.startswith(("127.", "localhost", "[::1]")) else "https"
        url = f"{scheme}://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) server address: {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def normalize_server_address(text: str) -> str:
    """One server entry: a hub's address, or its replicas' addresses separated by commas,
    spaces or new lines, each normalised (``normalize_base_url``), joined by ", "."""
    urls: list[str] = []
    for part in split_server_address(text):
        url = normalize_base_url(part)
        if url not in urls:
            urls.append(url)
    if not urls:
        raise ValueError("no server address given")
    return SERVER_SEPARATOR.join(urls)


def websocket_url(base_url: str, path: str, params: Mapping[str, str | int] | None = None) -> str:
    """The ws:// (wss:// for https) address of ``path`` under the hub's API base."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({k: str(v) for k, v in (params or {}).items()})
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + API + path, query, ""))


def _describe_network_error(base_url: str, exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"The hub at {base_url} did not answer in time."
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or type(exc).__name__
        if "SSL" in reason.upper() or "TLS" in reason.upper():
            return (f"No secure connection to the hub at {base_url}: is it serving https? "
                    f"({reason})")
        return f"Cannot reach the hub at {base_url} (is it running?)."
    return f"The connection to the hub at {base_url} failed ({type(exc).__name__})."


def _error_from_response(response: httpx.Response) -> HubError:
    status = response.status_code
    code = "unauthorized" if status == 401 else f"http_{status}"
    message = response.reason_phrase or f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), str) and status != 401:
            code = body["error"]
        if isinstance(body.get("message"), str) and body["message"]:
            message = body["message"]
    if status == 401 and not (isinstance(body, dict) and body.get("message")):
        message = "Your sign-in is no longer valid; please sign in again."
    return HubError(status, code, message)


class HubClient:
    """One hub, one (optional) bearer token; cheap to keep for the app's lifetime.

    ``base_url`` names the hub: one address, or the addresses of its replicas ("https://a,
    https://b"; the key of its keyring entry and preferences). Calls go to ``active_url``;
    when that replica cannot be reached (or its load balancer answers 502/503/504) a call
    moves to the next address and is sent again if that is safe (nothing was sent, or the
    method is idempotent). The feed client fails over the same way (``fail_over``).

    Certificates are checked against the operating system's trust store, plus ``ca_file``
    when given; ``pins`` (SHA-256 fingerprints) restrict the hub to those certificates. REST
    and the feed use the same SSL context (:mod:`supervisor_desk.client.tls`).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        ca_file: str | Path | None = None,
        pins: Sequence[str] = (),
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_server_address(base_url)
        self.addresses = tuple(self.base_url.split(SERVER_SEPARATOR))
        self._active = 0
        self.token = token
        self.ca_file = str(ca_file) if ca_file is not None else None
        self.pins = tuple(pins)
        self.timeout = timeout
        self._ssl = tls.client_context(self.ca_file, self.pins)
        self._http = httpx.AsyncClient(
            base_url=self.active_url + API,
            verify=self._ssl,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,  # a redirect could carry the bearer header elsewhere
            headers={"Accept": "application/json", "User-Agent": "supervisor-desk"},
        )

    def __repr__(self) -> str:  # never the token
        signed = "signed in" if self.token else "signed out"
        return f"HubClient({self.base_url!r}, {signed})"

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---------------------------------------------------------------------------------------
    # Plumbing shared with the feed client

    @property
    def active_url(self) -> str:
        """The replica's address calls go to now."""
        return self.addresses[self._active]

    def fail_over(self) -> bool:
        """Move to the next replica's address; False when the hub has only one address."""
        if len(self.addresses) < 2:
            return False
        self._active = (self._active + 1) % len(self.addresses)
        self._http.base_url = httpx.URL(self.active_url + API)
        return True

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def websocket_url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        return websocket_url(self.active_url, path, params)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The SSL context of the REST calls, for wss:// (None for plain ws://)."""
        return self._ssl if self.active_url.startswith("https://") else None

    async def certificate_refusal(self, exc: BaseException) -> tls.CertificateRefusal | None:
        """Why the hub's certificate was refused, if that is what ``exc`` is about."""
        error = tls.find_verification_error(exc)
        if error is None:
            return None
        parts = urlsplit(self.active_url)
        return await tls.explain_refusal(parts.hostname or "", parts.port or 443, error)

    async def _transport_error(self, exc: httpx.TransportError) -> HubError:
        refusal = await self.certificate_refusal(exc)
        if refusal is not None:
            return HubError(None, "certificate_refused", refusal.message, refusal=refusal)
        return HubError(None, "unreachable", _describe_network_error(self.active_url, exc))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Iterable[tuple[str, str]] | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        headers = self.auth_headers() if auth else {}
        # Each replica is tried at most once per call, starting with the active one.
        for attempts_left in range(len(self.addresses) - 1, -1, -1):
            try:
                response = await self._http.request(
                    method, path, params=list(params or []), json=json, headers=headers
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (attempts_left and (never_sent or method in _IDEMPOTENT)
                        and await self.certificate_refusal(exc) is None):
                    self.fail_over()
                    continue
                raise await self._transport_error(exc) from exc
            if response.status_code in _REPLICA_DOWN and attempts_left:
                self.fail_over()
                continue
            break
        if response.status_code >= 400:
            raise _error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise HubError(
                response.status_code, "bad_response", "The hub sent an answer that is not JSON."
            ) from exc

    @staticmethod
    def _parse[T](model: Callable[[Any], T], body: Any) -> T:
        try:
            return model(body)
        except ValidationError as exc:
            raise HubError(
                None, "bad_response", f"The hub sent an unexpected answer: {exc.error_count()} "
                "field(s) did not match the protocol."
            ) from exc

    # ---------------------------------------------------------------------------------------
    # Auth

    async def login(self, username: str, password: str) -> LoginAnswer:
        body = await self._request(
            "POST", "/auth/login", json={"username": username, "password": password}, auth=False
        )
        answer = self._parse(LoginAnswer.model_validate, body)
        self.token = answer.token
        return answer

    async def logout(self) -> None:
        """Revoke the token on the hub (best effort if it is already invalid) and forget it."""
        try:
            if self.token:
                await self._request("POST", "/auth/logout")
        except HubError as exc:
            if not exc.unauthorized:
                raise
        finally:
            self.token = None

    async def me(self) -> MeAnswer:
        return self._parse(MeAnswer.model_validate, await self._request("GET", "/me"))

    async def health(self) -> HubHealth:
        """The hub's status and version (Help → About)."""
        return self._parse(HubHealth.model_validate, await self._request("GET", "/health"))

    # ---------------------------------------------------------------------------------------
    # Sessions

    async def live(self) -> LiveSnapshot:
        return self._parse(LiveSnapshot.model_validate, await self._request("GET", "/live"))

    async def sessions(
        self,
        flt: QueryFilter | None = None,
        sort: str = "-started_at",
        offset: int = 0,
        limit: int = 50,
    ) -> SessionPage:
        params = [*_filter_query(flt), ("sort", sort), ("offset", str(offset)),
                  ("limit", str(limit))]
        body = await self._request("GET", "/sessions", params=params)
        return self._parse(SessionPage.model_validate, body)

    async def metrics(self, flt: QueryFilter | None = None) -> Metrics:
        body = await self._request("GET", "/sessions/metrics", params=_filter_query(flt))
        return self._parse(Metrics.model_validate, body)

    async def analytics(
        self, flt: QueryFilter | None, start: datetime, end: datetime, bucket_seconds: int,
        sla_seconds: int,
    ) -> AnalyticsReport:
        params = [*_filter_query(flt), ("start", format_timestamp(start)),
                  ("end", format_timestamp(end)), ("bucket_seconds", str(bucket_seconds)),
                  ("sla_seconds", str(sla_seconds))]
        body = await self._request("GET", "/analytics", params=params)
        return self._parse(AnalyticsReport.model_validate, body)

    async def session(self, session_id: str) -> SessionDetail:
        body = await self._request("GET", f"/sessions/{_quote(session_id)}")
        return self._parse(SessionDetail.model_validate, body)

    @overload
    async def logs(self, session_id: str, kind: Literal["system"]) -> list[SystemLogEntry]: ...
    @overload
    async def logs(self, session_id: str, kind: Literal["trace"]) -> list[TraceLogEntry]: ...
    async def logs(
        self, session_id: str, kind: Literal["system", "trace"]
    ) -> list[SystemLogEntry] | list[TraceLogEntry]:
        body = await self._request(
            "GET", f"/sessions/{_quote(session_id)}/logs", params=[("kind", kind)]
        )
        answer = self._parse(LogsAnswer.model_validate, body)
        if kind == "system":
            return [self._parse(SystemLogEntry.model_validate, e) for e in answer.entries]
        return [self._parse(TraceLogEntry.model_validate, e) for e in answer.entries]

    async def handover(self, session_id: str, operator_id: str | None = None) -> SessionSummary:
        """Give the session to ``operator_id`` (from ``operators()``) or the next available."""
        body = await self._request(
            "POST",
            f"/sessions/{_quote(session_id)}/handover",
            json=HandoverRequest(operator_id=operator_id).model_dump(),
        )
        return self._parse(HandoverAnswer.model_validate, body).session

    async def update_contact(self, session_id: str, changes: dict[str, str]) -> SessionSummary:
        """Correct contact fields (supervisors); an empty string clears one."""
        body = await self._request(
            "PATCH",
            f"/sessions/{_quote(session_id)}/contact",
            json=ContactUpdate.model_validate(changes).model_dump(exclude_unset=True),
        )
        return self._parse(HandoverAnswer.model_validate, body).session

    async def agents(self) -> list[NamedItem]:
        body = await self._request("GET", "/agents")
        return self._parse(NamedItems.model_validate, body).items

    async def operators(self) -> list[NamedItem]:
        body = await self._request("GET", "/operators")
        return self._parse(NamedItems.model_validate, body).items

    # ---------------------------------------------------------------------------------------
    # Files (recordings, attachments) and audio import

    async def files(self, session_id: str) -> list[FileInfo]:
        body = await self._request("GET", f"/sessions/{_quote(session_id)}/files")
        return self._parse(FileList.model_validate, body).items

    async def file_range(
        self, session_id: str, file_id: str, start: int = 0, end: int | None = None
    ) -> tuple[bytes, int]:
        """Bytes ``start``..``end`` (inclusive; None: to the end) of a session's file, with
        the user's token, as a ``Range`` request; returns them and the file's total size."""
        spec = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        path = f"/sessions/{_quote(session_id)}/files/{_quote(hub_file_id(file_id))}"
        try:
            response = await self._http.get(
                path, headers={**self.auth_headers(), "Range": spec, "Accept": "*/*"}
            )
        except httpx.TransportError as exc:
            raise await self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        if response.status_code == 206:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            size = int(total) if total.isdigit() else start + len(response.content)
            return response.content, size
        # 200: the whole file (a hub that ignored the range): cut what was asked for.
        data = response.content
        return data[start : None if end is None else end + 1], len(data)

    async def download_file(
        self,
        session_id: str,
        file_id: str,
        dest: Path,
        progress: Callable[[int, int], None] | None = None,
        *,
        chunk: int = 1024 * 1024,
    ) -> int:
        """Fetch a session's file into ``dest`` in ``Range`` chunks (written to a hidden
        temporary file, renamed when complete); returns its size. ``progress(done, total)``."""
        dest = Path(dest)
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
        )
        out = os.fdopen(fd, "wb")
        done = 0
        try:
            total: int | None = None
            while total is None or done < total:
                data, total = await self.file_range(session_id, file_id, done, done + chunk - 1)
                if not data:
                    break
                await asyncio.to_thread(out.write, data)
                done += len(data)
                if progress is not None:
                    progress(done, total)
            if total is not None and done != total:
                raise HubError(None, "bad_response", "The hub sent a shorter file than announced.")
            await asyncio.to_thread(_finish_file, out, Path(tmp_name), dest)
        except BaseException:
            with contextlib.suppress(OSError):
                out.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return done

    async def import_audio(
        self,
        path: Path,
        *,
        agent: str,
        channel: str = "phone",
        customer: str | None = None,
        agent_role: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportAnswer:
        """Upload a recording (streamed from disk) to make a voice session of it;
        ``progress(sent, total)`` after each chunk the connection took. Cancelling cuts the
        upload off, and the hub keeps nothing of it."""
        path = Path(path)
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("agent", agent), ("channel", channel), ("name", path.name[:200] or "recording")]
        if customer:
            params.append(("customer", customer))
        if agent_role:
            params.append(("agent_role", agent_role))
        size = (await asyncio.to_thread(path.stat)).st_size

        async def body() -> Any:
            handle = await asyncio.to_thread(path.open, "rb")
            sent = 0
            try:
                while data := await asyncio.to_thread(handle.read, _UPLOAD_CHUNK):
                    yield data
                    sent += len(data)
                    if progress is not None:
                        progress(sent, size)
            finally:
                handle.close()

        headers = {**self.auth_headers(), "Content-Type": "application/octet-stream",
                   "Content-Length": str(size)}
        try:
            response = await self._http.post(
                "/sessions/import-audio", params=params, content=body(), headers=headers,
                timeout=httpx.Timeout(self.timeout, read=max(self.timeout, _EXPORT_READ_S),
                                      write=max(self.timeout, _EXPORT_READ_S)),
            )
        except httpx.TransportError as exc:
            raise await self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        return self._parse(ImportAnswer.model_validate, response.json())

    # ---------------------------------------------------------------------------------------
    # Export

    async def export(
        self,
        fmt: ExportFormat,
        flt: QueryFilter | None,
        dest: Path,
        progress: Callable[[int], None] | None = None,
        *,
        sort: str | None = None,
    ) -> int:
        """Stream an export into ``dest``; returns the bytes written.

        The body goes to a hidden temporary file beside ``dest`` and is renamed over it only
        when complete, so a failed or cancelled export never leaves a truncated file (and never
        clobbers an existing one). ``progress`` is called with the running byte count.
        File writes run in a worker thread so the UI thread never waits on the disk.
        """
        dest = Path(dest)
        pairs: list[tuple[str, str | int | float | bool | None]] = [
            ("format", fmt), *_filter_query(flt)
        ]
        if sort is not None:
            pairs.append(("sort", sort))
        params = httpx.QueryParams(pairs)
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
        )
        tmp = Path(tmp_name)
        out = os.fdopen(fd, "wb")
        written = 0
        try:
            try:
                async with self._http.stream(
                    "GET", "/sessions/export", params=params, headers=self.auth_headers(),
                    # A filtered full-text export may pause between chunks while the hub
                    # searches; allow that, but still give up on a dead link.
                    timeout=httpx.Timeout(self.timeout, read=max(self.timeout, _EXPORT_READ_S)),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise _error_from_response(response)
                    async for chunk in response.aiter_bytes(_EXPORT_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(written)
            except httpx.TransportError as exc:
                raise await self._transport_error(exc) from exc
            await asyncio.to_thread(_finish_file, out, tmp, dest)
        except BaseException:
            # Cancellation included: close and remove synchronously, it cannot be awaited now.
            with contextlib.suppress(OSError):
                out.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return written


def _finish_file(out: Any, tmp: Path, dest: Path) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
    os.replace(tmp, dest)


def hub_file_id(url: str) -> str:
    """The file id of a ``hub:<id>`` link (or a bare id); never another URL."""
    file_id = url.removeprefix("hub:")
    if not file_id or "/" in file_id or ":" in file_id:
        raise ValueError(f"not a file of the hub: {url!r}")
    return file_id


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _filter_query(flt: QueryFilter | None) -> list[tuple[str, str]]:
    return [] if flt is None else list(flt.to_query())
