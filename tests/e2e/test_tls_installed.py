"""The app (installed bundle, and from source) and a hub whose certificate comes from a company
CA: refused while the CA is not in the system's trust store, trusted once it is (as after
``update-ca-certificates``).

The system store is a private one the test builds, given to the app the way OpenSSL reads the
store on Linux (``SSL_CERT_FILE``/``SSL_CERT_DIR``): the frozen bundle must use it, with no CA
list of its own in the way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.e2e.conftest import (
    AppProcess,
    installed_app_command,
    keyring_token,
    seed_sign_in,
    source_app_command,
)
from tests.e2e.desktop import VirtualDesktop
from tests.security.certs import Pki, make_pki

Launch = Callable[..., AppProcess]


@pytest.fixture
def company_hub(tmp_path: Path) -> Iterator[tuple[EmbeddedHub, Pki]]:
    pki = make_pki(tmp_path / "pki")
    hub = EmbeddedHub(tmp_path / "tls-hub.db", tls_cert=pki.server_cert, tls_key=pki.server_key)
    hub.add_user("supervisor", "supervisor", "supervisor")
    hub.start()
    try:
        yield hub, pki
    finally:
        hub.stop()


@pytest.fixture(params=["installed", "source"])
def app_command(request: pytest.FixtureRequest) -> list[str]:
    return installed_app_command() if request.param == "installed" else source_app_command()


def test_the_app_trusts_the_company_ca_only_once_it_is_in_the_system_store(
        app_command: list[str], launch_app: Launch, desktop: VirtualDesktop,
        company_hub: tuple[EmbeddedHub, Pki], tmp_path: Path, output_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub, pki = company_hub
    bundle = tmp_path / "system-store" / "ca-certificates.crt"
    folder = tmp_path / "system-store" / "certs"
    folder.mkdir(parents=True)
    bundle.write_text(pki.other_ca_cert.read_text())  # some CA, not the hub's
    store = {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(folder)}
    # Sign in once as the app would (this test process trusts the CA for that).
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_cert))
    seed_sign_in(desktop, hub.url, "supervisor", "supervisor")

    before = launch_app(app_command, "--server", hub.url, env=store, name="before")
    # The stored sign-in cannot be used: the sign-in dialog opens (it says why), never Live.
    before.wait_window("Sign in", timeout=60)
    state = before.wait_state(lambda s: s.get("connection_text") == "Signed out", timeout=30,
                              what="signed out")
    assert state["connection"] != "connected" and state["rows"] == 0
    desktop.screenshot(output_dir / "1-certificate-refused.png")
    # The token is fine, only the certificate is not: it stays in the keyring.
    assert keyring_token(desktop, hub.url, "supervisor")
    before.stop()

    # The administrator installs the company CA in the system store.
    with bundle.open("a", encoding="ascii") as out:
        out.write(pki.ca_cert.read_text())
    after = launch_app(app_command, "--server", hub.url, env=store, name="after")
    after.wait_window(timeout=60)
    after.wait_state(lambda s: s.get("connection") == "connected", timeout=60,
                     what="connected over https/wss")
    desktop.screenshot(output_dir / "2-trusted.png")
    assert after.state()["errors"] == []
