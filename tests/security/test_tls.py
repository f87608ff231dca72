"""TLS: the hub serves https/wss with its certificate; the desktop trusts the operating
system's store (read here from a store the test builds, through SSL_CERT_FILE/SSL_CERT_DIR,
the way OpenSSL reads the OS store on Linux), plus a per-server CA file, optionally pinned;
it refuses anything else, on REST and on the feed alike, and says why in plain words."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from supervisor_desk.client import tls
from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.tls import TlsConfigError, load_tls
from tests.reliability.desk import Desk, Traffic, auth, call
from tests.security.certs import CertificateAuthority, Pki, ServerFiles, make_pki, self_signed

pytestmark = pytest.mark.timeout(60)


def ca(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_cert))


def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def fingerprint_of(pem_file: Path) -> str:
    return tls.certificate_fingerprint(ssl.PEM_cert_to_DER_cert(pem_file.read_text()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def start_hub(folder: Path, files: ServerFiles) -> EmbeddedHub:
    hub = EmbeddedHub(folder / "hub.db", tls_cert=files.cert, tls_key=files.key)
    hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    return hub


@pytest.fixture
def tls_hub(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedHub]:
    hub = start_hub(tmp_path, ServerFiles(pki.server_cert, pki.server_key))
    try:
        yield hub
    finally:
        hub.stop()


@dataclass
class SystemStore:
    """A private stand-in for the OS trust store: a CA bundle file and a hashed CA folder."""

    bundle: Path
    folder: Path

    def install(self, ca_pem: Path) -> None:
        """What ``update-ca-certificates`` does: add the CA to the bundle."""
        with self.bundle.open("a", encoding="ascii") as out:
            out.write(ca_pem.read_text())

    def install_in_folder(self, ca_pem: Path) -> None:
        """The other form OpenSSL reads: the folder with ``<subject hash>.0`` links."""
        shutil.copy(ca_pem, self.folder / ca_pem.name)
        subprocess.run(["openssl", "rehash", str(self.folder)], check=True,
                       capture_output=True)


@pytest.fixture
def system_store(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> SystemStore:
    store = SystemStore(tmp_path / "store" / "ca-certificates.crt", tmp_path / "store" / "certs")
    store.folder.mkdir(parents=True)
    # The store starts with some CA, just not the one that signed the hub's certificate.
    store.bundle.write_text(pki.other_ca_cert.read_text())
    monkeypatch.setenv("SSL_CERT_FILE", str(store.bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(store.folder))
    return store


async def sign_in(client: HubClient) -> None:
    await client.login("viewer", "viewer")


async def refusal_of(client: HubClient) -> HubError:
    with pytest.raises(HubError) as caught:
        await sign_in(client)
    error = caught.value
    assert error.certificate_refused and error.status is None
    assert error.refusal is not None
    return error


async def feed_problem(client: HubClient, hub: EmbeddedHub) -> str:
    """What the live feed says when it cannot connect (and that it never did)."""
    client.token = hub.create_token("desk", "viewer")
    desk = Desk(client, unreachable_after=1)
    desk.start()
    try:
        await desk.until(lambda: desk.saw(ConnectionState.UNREACHABLE))
        assert desk.feed.connections == 0 and desk.snapshots == 0
        return next(d for _, s, d in desk.states if s is ConnectionState.UNREACHABLE)
    finally:
        await desk.stop()


async def follow_feed(client: HubClient, hub: EmbeddedHub, verify: str) -> None:
    """Sign in, connect the feed over wss, post traffic and see all of it arrive.

    ``verify``: a CA file the test's own HTTP calls trust.
    """
    await sign_in(client)
    desk = Desk(client)
    desk.start()
    try:
        await desk.connected()
        answer = await call(
            "POST", f"{hub.url}/api/v1/ingest",
            verify=ssl.create_default_context(cafile=verify),
            headers=auth(hub.ingest_token),  # type: ignore[attr-defined]
            json={"events": Traffic(seed=3).batch(50)},
        )
        assert answer.status_code == 200, answer.text
        assert client.token is not None
        await desk.caught_up(hub.url, client.token, verify=verify)
        assert len(desk.seqs) == 50 and desk.feed.connections == 1
    finally:
        await desk.stop()


# ------------------------------------------------------------------------------------------
# The hub side


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


# ------------------------------------------------------------------------------------------
# The operating system's trust store


@pytest.mark.asyncio
async def test_the_system_store_decides_for_rest_and_feed_alike(
    tls_hub: EmbeddedHub, pki: Pki, system_store: SystemStore
) -> None:
    # Before the company CA is installed: refused by REST and by the feed, for the same reason.
    client = HubClient(tls_hub.url)
    try:
        error = await refusal_of(client)
        expected = ("The certificate of 127.0.0.1 is issued by “Supervisor Desk test CA”, "
                    "an authority this computer does not trust.")
        assert error.message == expected
        assert await feed_problem(client, tls_hub) == expected
    finally:
        await client.aclose()
    # Installed in the store (as update-ca-certificates does): REST and wss:// trust it.
    system_store.install(pki.ca_cert)
    client = HubClient(tls_hub.url)
    try:
        await follow_feed(client, tls_hub, verify=str(system_store.bundle))
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_a_ca_in_the_system_certificate_folder_is_trusted(
    tls_hub: EmbeddedHub, pki: Pki, system_store: SystemStore
) -> None:
    system_store.install_in_folder(pki.ca_cert)
    async with HubClient(tls_hub.url) as client:
        await sign_in(client)
        assert (await client.me()).role == "viewer"


@pytest.mark.asyncio
async def test_rest_and_feed_share_one_context_from_the_os_trust_store(pki: Pki) -> None:
    async with HubClient("https://127.0.0.1:1", ca_file=pki.ca_cert) as client:
        context = client.ssl_context()
        assert context is not None and context is client.ssl_context()
        # truststore's context (the OS verifier on Windows/macOS), verifying names.
        assert isinstance(context, tls.truststore.SSLContext)
        assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    async with HubClient("http://127.0.0.1:1") as plain:
        assert plain.ssl_context() is None  # ws:// needs none


# ------------------------------------------------------------------------------------------
# Per-server CA file and pinning


@pytest.mark.asyncio
async def test_per_server_ca_file_is_trusted_for_rest_and_feed(
    tls_hub: EmbeddedHub, pki: Pki, system_store: SystemStore
) -> None:
    async with HubClient(tls_hub.url, ca_file=pki.ca_cert) as client:
        await follow_feed(client, tls_hub, verify=str(pki.ca_cert))
    # Another CA's file does not make the hub trusted.
    async with HubClient(tls_hub.url, ca_file=pki.other_ca_cert) as client:
        error = await refusal_of(client)
        assert "“Supervisor Desk test CA”, an authority this computer does not trust" in (
            error.message)


@pytest.mark.asyncio
async def test_pinning_accepts_the_right_certificate_and_refuses_another(
    tls_hub: EmbeddedHub, pki: Pki, system_store: SystemStore
) -> None:
    right = fingerprint_of(pki.server_cert)
    # Pasted as openssl prints it: prefix, colons, upper case.
    pasted = f"sha256 Fingerprint={tls.format_fingerprint(right)}"
    async with HubClient(tls_hub.url, ca_file=pki.ca_cert, pins=[pasted]) as client:
        await follow_feed(client, tls_hub, verify=str(pki.ca_cert))
    wrong = fingerprint_of(pki.ca_cert)  # a real certificate, just not the hub's
    async with HubClient(tls_hub.url, ca_file=pki.ca_cert, pins=[wrong]) as client:
        error = await refusal_of(client)
        assert error.message == (
            "The certificate of 127.0.0.1 is not the one pinned for this server (its SHA-256 "
            f"fingerprint is {tls.format_fingerprint(right)})."
        )
        assert await feed_problem(client, tls_hub) == error.message
    # A certificate rotation: two pins, either is accepted.
    async with HubClient(tls_hub.url, ca_file=pki.ca_cert, pins=[wrong, right]) as client:
        await sign_in(client)


@pytest.mark.asyncio
async def test_a_pin_does_not_replace_trust(
    tls_hub: EmbeddedHub, pki: Pki, system_store: SystemStore
) -> None:
    """Pinning narrows what is trusted; a pinned but untrusted certificate is still refused."""
    async with HubClient(tls_hub.url, pins=[fingerprint_of(pki.server_cert)]) as client:
        error = await refusal_of(client)
        assert "an authority this computer does not trust" in error.message


# ------------------------------------------------------------------------------------------
# Each refusal in its own words, with the certificate to view


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["expired", "not yet valid", "wrong host", "self-signed"])
async def test_each_refusal_says_why(
    tmp_path: Path, system_store: SystemStore, case: str
) -> None:
    company = CertificateAuthority(tmp_path / "ca", "Example Corp Issuing CA")
    system_store.install(company.cert_path)  # the issuer is trusted: only the case is wrong
    if case == "expired":
        files = company.issue("expired", valid_from=timedelta(days=-30),
                              valid_for=timedelta(days=10))
    elif case == "not yet valid":
        files = company.issue("future", valid_from=timedelta(days=3))
    elif case == "wrong host":
        files = company.issue("other-host", ("hub.example.com",))
    else:
        files = self_signed(tmp_path / "self")
    hub = start_hub(tmp_path, files)
    try:
        async with HubClient(hub.url) as client:
            error = await refusal_of(client)
            assert error.refusal is not None
            shown = error.refusal.certificate
            assert shown is not None
            when = {"expired": shown.not_after, "not yet valid": shown.not_before}
            expected = {
                "expired": f"expired on {day(when['expired'])}, ",
                "not yet valid": f"is not valid until {day(when['not yet valid'])}, ",
                "wrong host": "is issued for hub.example.com, not 127.0.0.1.",
                "self-signed": "is self-signed: no certificate authority this computer "
                               "trusts vouches for it.",
            }[case]
            assert expected in error.message
            assert error.message.startswith("The certificate of 127.0.0.1 ")
            # "View certificate": who, by whom, when, fingerprint of what the hub presented.
            text = shown.as_text()
            assert shown.fingerprint == fingerprint_of(files.cert)
            assert tls.format_fingerprint(shown.fingerprint) in text
            assert "Valid from: " in text and "Valid until: " in text
            issuer = "localhost" if case == "self-signed" else "Example Corp Issuing CA"
            assert f"Issued by: CN={issuer}" in text
            assert shown.self_signed is (case == "self-signed")
            # The feed refuses the same certificate with the same words.
            assert await feed_problem(client, hub) == error.message
    finally:
        hub.stop()


def test_describe_without_a_certificate_to_look_at() -> None:
    error = ssl.SSLCertVerificationError(1, "verify failed")
    error.verify_message = "unable to get local issuer certificate"  # type: ignore[attr-defined]
    assert tls.describe("hub", error, None) == (
        "cannot be trusted (unable to get local issuer certificate)."
    )


# ------------------------------------------------------------------------------------------
# What a person may type


def test_pins_are_read_as_people_paste_them() -> None:
    hexdigits = "ab" * 32
    assert tls.normalize_pin(tls.format_fingerprint(hexdigits)) == hexdigits
    assert tls.normalize_pin(f"SHA256 Fingerprint={hexdigits.upper()}") == hexdigits
    assert tls.parse_pins(f"{hexdigits}, {'cd' * 32}\n{hexdigits}") == (hexdigits, "cd" * 32)
    assert tls.parse_pins("  ") == ()
    for bad in ("ab" * 20, "zz" * 32, "sha1 Fingerprint=AB:CD"):
        with pytest.raises(ValueError, match="64 hexadecimal digits"):
            tls.normalize_pin(bad)


def test_a_ca_file_must_hold_certificates_and_no_key(tmp_path: Path, pki: Pki) -> None:
    assert tls.check_ca_file(pki.ca_cert) == pki.ca_cert.resolve()
    with pytest.raises(ValueError, match="does not exist"):
        tls.check_ca_file(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="holds a private key"):
        tls.check_ca_file(pki.server_key)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="no certificate in PEM format"):
        tls.check_ca_file(junk)


def test_ca_file_option_refuses_what_is_not_a_ca_certificate(
    pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    from supervisor_desk.__main__ import build_parser, main

    assert build_parser().parse_args(["--ca-file", str(pki.ca_cert)]).ca_file == pki.ca_cert
    with pytest.raises(SystemExit) as exited:
        main(["--ca-file", str(pki.server_key)])
    assert exited.value.code == 2
    assert "--ca-file: " in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# The hub's own simulator over TLS


def test_the_simulator_posts_to_its_own_tls_hub(tmp_path: Path) -> None:
    """``serve --tls-cert … --simulate N``: the simulator trusts the certificate the hub was
    given, even one that does not name the address it posts to (127.0.0.1), and its sessions
    reach the hub."""
    company = CertificateAuthority(tmp_path / "ca", "Example Corp Issuing CA")
    files = company.issue("hub", ("hub.example.com",))
    hub = EmbeddedHub(tmp_path / "hub.db", tls_cert=files.cert, tls_key=files.key,
                      simulate_rate=40, seed=5)
    hub.add_user("viewer", "viewer", "viewer")
    hub.start()
    try:
        token = hub.create_token("reader", "viewer")
        # The test reads /live from 127.0.0.1 too: it trusts the company CA, names aside.
        reader = ssl.create_default_context(cafile=str(company.cert_path))
        reader.check_hostname = False

        def live_sessions() -> int:
            answer = httpx.get(f"{hub.url}/api/v1/live", headers=auth(token), verify=reader,
                               timeout=10)
            answer.raise_for_status()
            return len(answer.json()["sessions"])

        deadline = time.monotonic() + 30
        while live_sessions() == 0:
            assert time.monotonic() < deadline, "no simulated session reached the TLS hub"
            time.sleep(0.2)
    finally:
        hub.stop()


def test_the_simulator_trusts_only_the_certificate_its_hub_serves(tmp_path: Path) -> None:
    company = CertificateAuthority(tmp_path / "ca")
    mine, other = company.issue("mine"), company.issue("other")
    trust = load_tls(mine.cert, mine.key)
    assert trust is not None
    context = trust.own_certificate_context()
    for files, accepted in ((mine, True), (other, False)):
        folder = tmp_path / files.cert.stem
        folder.mkdir()
        hub = start_hub(folder, files)
        try:
            if accepted:
                assert httpx.get(f"{hub.url}/api/v1/me", verify=context).status_code == 401
            else:  # same CA, same names: still not the hub's certificate
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    httpx.get(f"{hub.url}/api/v1/me", verify=context)
        finally:
            hub.stop()
