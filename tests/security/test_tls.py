"""TLS: the hub serves https/wss with its certificate; the desktop trusts a CA file it is given
(or the system store), refuses anything else, and its live feed runs over wss."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.tls import TlsConfigError, load_tls
from tests.reliability.desk import Desk, Traffic, auth, call
from tests.security.certs import Pki, make_pki

pytestmark = pytest.mark.timeout(60)


def ca(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_cert))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_hub(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedHub]:
    hub = EmbeddedHub(tmp_path / "hub.db", tls_cert=pki.server_cert, tls_key=pki.server_key)
    hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def test_hub_serves_https_only(tls_hub: EmbeddedHub, pki: Pki) -> None:
    assert tls_hub.url.startswith("https://127.0.0.1:")
    answer = httpx.post(f"{tls_hub.url}/api/v1/auth/login", verify=ca(pki),
                        json={"username": "viewer", "password": "viewer"})
    assert answer.status_code == 200
    # Plain HTTP to the TLS port gets no API answer.
    plain = tls_hub.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        response = httpx.get(f"{plain}/api/v1/me", timeout=5)
        assert response.status_code != 200
        raise httpx.HTTPError(f"plain http answered {response.status_code}")


@pytest.mark.asyncio
async def test_desktop_with_ca_file_signs_in_and_follows_the_feed_over_wss(
    tls_hub: EmbeddedHub, pki: Pki
) -> None:
    client = HubClient(tls_hub.url, verify=str(pki.ca_cert))
    await client.login("viewer", "viewer")
    desk = Desk(client)
    desk.start()
    try:
        await desk.connected()
        traffic = Traffic(seed=3)
        for _ in range(3):
            answer = await call(
                "POST", f"{tls_hub.url}/api/v1/ingest", verify=ca(pki),
                headers=auth(tls_hub.ingest_token),  # type: ignore[attr-defined]
                json={"events": traffic.batch(50)},
            )
            assert answer.status_code == 200, answer.text
        assert client.token is not None
        await desk.caught_up(tls_hub.url, client.token, verify=str(pki.ca_cert))
        assert len(desk.seqs) == 150
        assert desk.feed.connections == 1
    finally:
        await desk.stop()
        await client.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("trust", ["system", "other-ca"])
async def test_untrusted_certificate_is_refused_by_rest_and_feed(
    tls_hub: EmbeddedHub, pki: Pki, trust: str
) -> None:
    verify: bool | str = True if trust == "system" else str(pki.other_ca_cert)
    client = HubClient(tls_hub.url, verify=verify)
    try:
        with pytest.raises(HubError) as caught:
            await client.login("viewer", "viewer")
        assert caught.value.code == "unreachable"
        assert "certificate" in caught.value.message
        client.token = tls_hub.create_token("desk", "viewer")
        desk = Desk(client, unreachable_after=1)
        desk.start()
        try:
            await desk.until(lambda: desk.feed.connections == 0 and len(desk.states) >= 2)
            await desk.until(lambda: desk.state is not None and desk.state.value in
                             ("reconnecting", "unreachable", "connecting"))
            assert desk.feed.connections == 0
            assert desk.snapshots == 0
        finally:
            await desk.stop()
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_feed_ssl_context_follows_verify(pki: Pki) -> None:
    client = HubClient("https://127.0.0.1:1", verify=str(pki.ca_cert))
    try:
        ctx = client.ssl_context()
        assert ctx is not None
        assert ctx.check_hostname
        subjects = [dict(x[0] for x in c["subject"]) for c in ctx.get_ca_certs()]
        assert {"commonName": "Supervisor Desk test CA"} in subjects
    finally:
        await client.aclose()


def test_bad_tls_files_are_refused_with_a_clear_message(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(TlsConfigError, match="both"):
        load_tls(pki.server_cert, None)
    with pytest.raises(TlsConfigError, match="does not exist"):
        load_tls(tmp_path / "nope.pem", pki.server_key)
    with pytest.raises(TlsConfigError, match="cannot use"):
        load_tls(pki.server_cert, pki.ca_cert)  # a certificate is not a key
    assert load_tls(None, None) is None


def test_cli_serve_with_tls(tmp_path: Path, pki: Pki) -> None:
    db = tmp_path / "hub.db"
    exe = [sys.executable, "-m", "supervisor_desk.hub.cli"]
    subprocess.run([*exe, "init", "--db", str(db)], check=True, capture_output=True)
    bad = subprocess.run(
        [*exe, "serve", "--db", str(db), "--port", "0", "--tls-cert", str(pki.server_cert),
         "--tls-key", str(pki.ca_cert)], capture_output=True, text=True, timeout=30,
    )
    assert bad.returncode == 2
    assert "cannot use the TLS certificate" in bad.stderr
    proc = subprocess.Popen(
        [*exe, "serve", "--db", str(db), "--port", "0", "--tls-cert", str(pki.server_cert),
         "--tls-key", str(pki.server_key)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on https://127.0.0.1:"), line
        url = line.removeprefix("listening on ")
        answer = httpx.get(f"{url}/api/v1/me", verify=ca(pki))
        assert answer.status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
