"""No secret leaves memory: sign-in, feed, ingest, export and errors at DEBUG logging write no
password or token to the log file, the crash dialog, exports, settings or the hub database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.redact import RedactingFilter, redact
from tests.reliability.desk import Desk, Traffic, auth, call

pytestmark = pytest.mark.timeout(90)

PASSWORD = "Tr0ub4dor&3-horse-staple"
WRONG = "N0t-the-pass-word-42"


@pytest.fixture
def debug_logging(tmp_path: Path) -> Iterator[Path]:
    """The desktop's own logging set-up, with every logger at DEBUG."""
    from supervisor_desk.app import setup_logging

    path = setup_logging(logging.DEBUG)
    noisy = ("httpx", "httpcore", "websockets", "uvicorn", "uvicorn.error", "uvicorn.access",
             "asyncio", "supervisor_desk")
    old = {name: logging.getLogger(name).level for name in noisy}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_supervisor_desk", False):
                root.removeHandler(handler)
                handler.close()
        for name, level in old.items():
            logging.getLogger(name).setLevel(level)
        root.setLevel(logging.WARNING)


@pytest.mark.asyncio
async def test_flows_at_debug_leave_no_secret_behind(
    tmp_path: Path, debug_logging: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = EmbeddedHub(tmp_path / "hub.db")
    hub.add_user("alice", "supervisor", PASSWORD)
    ingest_token = hub.create_token("platform", "ingest")
    hub.start()
    secrets = [PASSWORD, WRONG, ingest_token]
    try:
        client = HubClient(hub.url)
        with pytest.raises(HubError):
            await client.login("alice", WRONG)
        answer = await client.login("alice", PASSWORD)
        secrets.append(answer.token)
        desk = Desk(client)
        desk.start()
        await desk.connected()
        traffic = Traffic(seed=9)
        posted = await call("POST", f"{hub.url}/api/v1/ingest", headers=auth(ingest_token),
                            json={"events": traffic.batch(40)})
        assert posted.status_code == 200
        # A failing ingest (bad JSON) and a forbidden call are logged too.
        await call("POST", f"{hub.url}/api/v1/ingest", headers=auth(ingest_token),
                   content=b"{nope")
        async with HubClient(hub.url, ingest_token) as platform:
            with pytest.raises(HubError):
                await platform.live()
        await desk.caught_up(hub.url, answer.token)
        sid = next(iter(desk.store)).id
        await client.session(sid)
        await client.sessions(SessionFilter())
        export = tmp_path / "export.jsonl"
        await client.export("jsonl", None, export)
        await desk.stop()
        await client.logout()
        with pytest.raises(HubError):
            await client.me()  # 401 with the revoked token
        await client.aclose()
    finally:
        hub.stop()

    captured = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    assert_absent(secrets, captured, debug_logging, tmp_path, export)


def assert_absent(secrets: list[str], captured: str, log_file: Path, tmp_path: Path,
                  export: Path) -> None:
    logged = log_file.read_text(encoding="utf-8")
    assert logged, "the log file was not written"
    database = b"".join(  # the database, its WAL/SHM and the stored files beside it
        p.read_bytes() for p in tmp_path.glob("hub.db*/**/*") if p.is_file()
    ) + b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*") if p.is_file())
    exported = export.read_text(encoding="utf-8")
    profile_files = "".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in (tmp_path / "profile").rglob("*") if p.is_file()
    )
    for secret in secrets:
        assert secret not in logged, "a secret reached the desktop's log file"
        assert secret not in captured, "a secret reached a log record"
        assert secret not in exported
        assert secret not in profile_files
        assert secret.encode() not in database, "the hub stores a secret in clear"


def test_crash_dialog_text_is_redacted(qapp: object) -> None:
    from supervisor_desk.app import ErrorReporter

    reporter = ErrorReporter()
    reporter.show_dialogs = False
    token = "sdh_" + "A1b2C3d4" * 5
    try:
        raise RuntimeError(f"request failed: Authorization: Bearer {token} password={PASSWORD}")
    except RuntimeError as exc:
        reporter.excepthook(RuntimeError, exc, exc.__traceback__)
    assert reporter.errors
    assert token not in reporter.errors[0] and PASSWORD not in reporter.errors[0]
    assert "[redacted]" in reporter.errors[0]


def test_redaction_patterns() -> None:
    token = "sdh_Zx9_-abcdefghijklmnop"
    assert token not in redact(f"token {token} here")
    assert "opaque.jwt.value" not in redact("Authorization: Bearer opaque.jwt.value")
    assert PASSWORD not in redact(f'{{"username": "a", "password": "{PASSWORD}"}}')
    assert "hunter2" not in redact("password=hunter2&user=a")
    assert redact("nothing secret here: 42 sessions") == "nothing secret here: 42 sessions"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", (token,), None)
    assert RedactingFilter().filter(record)
    assert token not in record.getMessage()


@pytest.mark.asyncio
async def test_hub_process_at_debug_logs_no_token(tmp_path: Path) -> None:
    """uvicorn and websockets at DEBUG quote request headers (``authorization: Bearer …`` of
    every feed connection); the hub's log must hold none of the tokens, from any logger."""
    import websockets

    from tests.reliability.hubproc import HubProcess, prepare_db

    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db, 0, "--log-level", "debug")
    url = hub.start()
    try:
        async with HubClient(url) as client:
            login = await client.login("supervisor", "supervisor")
        secrets = [*tokens.values(), login.token]
        traffic = Traffic(seed=3)
        posted = await call("POST", f"{url}/api/v1/ingest", headers=auth(tokens["ingest"]),
                            json={"events": traffic.batch(5)})
        assert posted.status_code == 200
        for token in (tokens["viewer"], login.token):
            async with websockets.connect(url.replace("http", "ws", 1) + "/api/v1/feed",
                                          additional_headers=auth(token)) as ws:
                await ws.recv()  # hello
        refused = await call("GET", f"{url}/api/v1/live", headers=auth(tokens["ingest"]))
        assert refused.status_code == 403
    finally:
        hub.stop()
    logged = hub.log.read_text(encoding="utf-8")
    # The headers were logged (the test proves something), with the token redacted.
    assert "authorization: Bearer [redacted]\n" in logged
    for secret in secrets:
        assert secret not in logged, "a token reached the hub's log"
