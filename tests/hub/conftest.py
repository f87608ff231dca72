"""Hub test helpers: a sync HTTP client per role against the real hub of ``running_hub``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.conftest import HUB_USERS
from tests.postgres_server import PostgresServer, postgres_server
from tests.postgres_server import available as postgres_server_available


class Api:
    """Thin wrapper: ``api.get("/sessions", role="viewer", params=...)`` -> httpx.Response."""

    def __init__(self, hub: EmbeddedHub) -> None:
        self.hub = hub
        self.client = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0)
        self.tokens: dict[str, str] = {"ingest": hub.ingest_token}  # type: ignore[attr-defined]

    def token(self, role: str) -> str:
        if role not in self.tokens:
            self.tokens[role] = self.hub.create_token(f"test-{role}", role)
        return self.tokens[role]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.token(role)}"}

    def request(self, method: str, path: str, *, role: str | None = "viewer",
                **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def ingest(self, events: list[dict[str, Any]]) -> httpx.Response:
        return self.post("/ingest", role="ingest", json={"events": events})

    def sessions(self, *pairs: tuple[str, str], **params: Any) -> dict[str, Any]:
        answer = self.get("/sessions", params=[*pairs, *params.items()])
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def ids(self, *pairs: tuple[str, str], **params: Any) -> list[str]:
        return [s["id"] for s in self.sessions(*pairs, **params)["items"]]


# Modules whose tests run against both backends (the ``api`` fixture's hub): the contract,
# auth, the feed, sessions/filters and export. The rest run on SQLite only, to keep the suite
# within its time budget; the PostgreSQL-only tests are in tests/hub/postgres/.
BOTH_BACKENDS = frozenset({
    "test_auth.py", "test_feed.py", "test_handover_export.py", "test_contact_edit.py",
    "test_sessions_api.py", "test_openapi_contract.py", "test_ingest.py",
    "test_basics.py", "test_files.py", "test_webhooks.py", "test_connlimits.py",
    "test_cli.py",
})


# Tests about the SQLite file itself (what its bytes hold); PostgreSQL's equivalents are in
# tests/hub/postgres/.
SQLITE_ONLY = frozenset({"test_passwords_and_tokens_are_stored_only_as_hashes"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hub_backend" in metafunc.fixturenames and metafunc.module.__file__ and \
            Path(metafunc.module.__file__).name in BOTH_BACKENDS:
        backends = (["sqlite"] if metafunc.definition.originalname in SQLITE_ONLY
                    else ["sqlite", "postgres"])
        metafunc.parametrize("hub_backend", backends, indirect=True)


@pytest.fixture
def hub_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the store of the ``api`` fixture's hub."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (Debian's postgresql package)."""
    if not postgres_server_available():
        missing = "PostgreSQL is not installed (scripts/system-deps.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI installs it: a skip there would hide a broken setup
        pytest.skip(missing)
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def _pg_template(postgres: PostgresServer) -> str:
    """A migrated database with the three users (password = name), copied for each hub."""
    from supervisor_desk.hub.store.postgres.store import PostgresStore

    postgres.create_database("hub_template")
    store = PostgresStore(postgres.dsn("hub_template"), listen=False,
                          files_dir=Path(postgres.root) / "template-files")
    try:
        for name in HUB_USERS:
            store.add_user(name, name, name)
    finally:
        store.close()
    return "hub_template"


def fresh_pg_database(postgres: PostgresServer, template: str) -> str:
    """A copy of ``template`` with an epoch of its own, as a new database would have."""
    import uuid

    dsn = postgres.create_database(template=template)
    postgres.execute(f"UPDATE meta SET value = '{uuid.uuid4().hex}' WHERE key = 'epoch'",
                     dsn.rsplit("/", 1)[1])
    return dsn


@contextlib.contextmanager
def started_pg_hub(postgres: PostgresServer, template: str, files_dir: Path,
                   **options: Any) -> Iterator[EmbeddedHub]:
    """A started hub on a fresh copy of ``template`` (``options``: ``EmbeddedHub``'s), with
    ``hub.ingest_token``; its database is dropped after."""
    from supervisor_desk.hub.store.postgres.store import PostgresStore

    dsn = fresh_pg_database(postgres, template)
    store = PostgresStore(dsn, files_dir=files_dir)
    try:
        with _running(EmbeddedHub(store.path, store=store, **options)) as hub:
            yield hub
    finally:
        postgres.drop_database(dsn.rsplit("/", 1)[1])


@contextlib.contextmanager
def _running(hub: EmbeddedHub) -> Iterator[EmbeddedHub]:
    """``hub`` started, with ``hub.ingest_token``; stopped after."""
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@contextlib.contextmanager
def started_hub(request: pytest.FixtureRequest, backend: str, folder: Path,
                **options: Any) -> Iterator[EmbeddedHub]:
    """A started hub of its own on ``backend`` (for fixtures that set the hub up their own
    way) with ``hub.ingest_token``: SQLite in ``folder`` (no users), or a fresh copy of the
    PostgreSQL template (users viewer/supervisor/admin)."""
    if backend == "postgres":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        with started_pg_hub(postgres, request.getfixturevalue("_pg_template"), folder / "files",
                            **options) as hub:
            yield hub
        return
    with _running(EmbeddedHub(folder / "hub.db", **options)) as hub:
        yield hub


@pytest.fixture
def pg_hub(postgres: PostgresServer, _pg_template: str, tmp_path: Path) -> Iterator[EmbeddedHub]:
    """A started hub on a fresh PostgreSQL database (users viewer/supervisor/admin)."""
    with started_pg_hub(postgres, _pg_template, tmp_path / "files") as hub:
        yield hub


@pytest.fixture
def api(request: pytest.FixtureRequest, hub_backend: str) -> Iterator[Api]:
    hub: EmbeddedHub = request.getfixturevalue(
        "pg_hub" if hub_backend == "postgres" else "running_hub")
    client = Api(hub)
    try:
        yield client
    finally:
        client.client.close()


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer has ``status`` and the one error shape; returns the body."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    if code is not None:
        assert body["error"] == code, body
    return body
