"""TLS for the desktop's connections to a hub: the one place that builds the SSL context.

REST (httpx) and the live feed (websockets) share the context :func:`client_context` builds,
so they can never disagree about a certificate. It verifies against the operating system's
trust store through ``truststore`` (Windows and macOS: the platform's verifier; Linux and other
Unix: OpenSSL's default locations, which ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` override, with
the usual distribution bundles as fallback). A server may add one CA file of its own (for
sites that cannot touch the OS store) and may pin the server certificate's SHA-256
fingerprint; a pin is checked in the handshake, after normal verification, before a single
byte of a request (a password, a token) is sent.

When a certificate is refused, :func:`explain_refusal` says why in the user's terms (expired,
issued for another name, untrusted issuer, self-signed, pin mismatch). To say so it looks at
the certificate the hub presents through a second, unverified handshake that sends nothing and
is closed at once: that certificate is only ever displayed, never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import truststore

# OpenSSL verification codes that mean "no trusted authority vouches for this certificate".
_UNTRUSTED_ISSUER_CODES = frozenset({2, 19, 20, 21})
_FINGERPRINT_HEX = re.compile(r"[0-9a-f]{64}")
_PEER_FETCH_TIMEOUT_S = 5.0


class CertificatePinError(ssl.SSLCertVerificationError):
    """The hub's certificate verified, but its fingerprint is not one of the pinned ones."""

    def __init__(self, fingerprint: str, pins: Iterable[str]) -> None:
        shown = ", ".join(format_fingerprint(p) for p in pins)
        super().__init__(
            1, f"certificate fingerprint {format_fingerprint(fingerprint)} is not pinned "
            f"({shown})"
        )
        self.fingerprint = fingerprint
        self.verify_message = "certificate fingerprint does not match the pin"


# ------------------------------------------------------------------------------------------
# Fingerprints and CA files (what the sign-in dialog and the command line accept)


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as 64 lowercase hex digits (the stored pin form)."""
    return hashlib.sha256(der).hexdigest()


def format_fingerprint(fingerprint: str) -> str:
    """``AB:CD:…`` as ``openssl x509 -fingerprint -sha256`` and browsers show it."""
    upper = fingerprint.upper()
    return ":".join(upper[i:i + 2] for i in range(0, len(upper), 2))


def normalize_pin(text: str) -> str:
    """One SHA-256 fingerprint typed or pasted by a person -> 64 lowercase hex digits.

    Accepts colons, spaces, any case and openssl's ``sha256 Fingerprint=`` prefix.
    """
    value = text.strip()
    if "=" in value:
        value = value.rsplit("=", 1)[1]  # "sha256 Fingerprint=AB:CD…"
    value = re.sub(r"[\s:]", "", value).lower()
    if not _FINGERPRINT_HEX.fullmatch(value):
        raise ValueError(
            "A pinned certificate must be a SHA-256 fingerprint: 64 hexadecimal digits "
            "(colons allowed), as “View certificate” shows it."
        )
    return value


def parse_pins(text: str) -> tuple[str, ...]:
    """Pins separated by commas, semicolons or new lines (two during a certificate change)."""
    pins: list[str] = []
    for part in re.split(r"[,;\n]", text):
        if part.strip():
            pin = normalize_pin(part)
            if pin not in pins:
                pins.append(pin)
    return tuple(pins)


def check_ca_file(path: str | Path) -> Path:
    """A CA file a person chose: it must exist and hold certificates, and no private key.

    Only the path is ever stored; refusing files with a key keeps anyone from pointing the
    app (and its profile) at key material by mistake. Blocking: call from an executor.
    """
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"The CA file {str(file)!r} does not exist.") from None
    except OSError as exc:
        raise ValueError(f"The CA file {str(file)!r} cannot be read: "
                         f"{exc.strerror or exc}.") from None
    if b"PRIVATE KEY" in data:
        raise ValueError(f"{str(file)!r} holds a private key. Choose the certificate of the "
                         "certificate authority only (a .pem or .crt file).")
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=str(file))
    except ssl.SSLError:
        raise ValueError(f"{str(file)!r} holds no certificate in PEM format.") from None
    return file.resolve()


# ------------------------------------------------------------------------------------------
# The context


def client_context(ca_file: str | Path | None = None, pins: Sequence[str] = ()) -> ssl.SSLContext:
    """The SSL context for every connection to one hub (REST and feed alike)."""
    context = (
        _PinnedContext(ssl.PROTOCOL_TLS_CLIENT, frozenset(normalize_pin(p) for p in pins))
        if pins else truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    )
    if ca_file is not None:
        # In addition to the OS store: on Linux OpenSSL's store gets it, on Windows/macOS
        # truststore retries with these certificates when the platform's verifier says no.
        context.load_verify_locations(cafile=str(ca_file))
    return context


class _PinnedContext(truststore.SSLContext):
    """truststore's context plus a fingerprint check right after its own verification.

    truststore verifies in the ``do_handshake`` of the SSLObject/SSLSocket classes it installs
    on its inner context; ours extend those, so the pin is checked after the trust decision on
    every path (asyncio's ``wrap_bio`` for httpx and websockets, ``wrap_socket`` for blocking
    code) and a mismatch fails the handshake itself.
    """

    def __init__(self, protocol: int, pins: frozenset[str]) -> None:
        super().__init__(protocol)
        inner = self._ctx
        verified_object: type[ssl.SSLObject] = inner.sslobject_class
        verified_socket: type[ssl.SSLSocket] = inner.sslsocket_class

        class PinnedSSLObject(verified_object):  # type: ignore[valid-type,misc]
            def do_handshake(self) -> None:
                super().do_handshake()
                _check_pin(self.getpeercert(binary_form=True), pins)

        class PinnedSSLSocket(verified_socket):  # type: ignore[valid-type,misc]
            def do_handshake(self, block: bool = False) -> None:
                super().do_handshake(block)
                try:
                    _check_pin(self.getpeercert(binary_form=True), pins)
                except CertificatePinError:
                    self.close()
                    raise

        inner.sslobject_class = PinnedSSLObject
        inner.sslsocket_class = PinnedSSLSocket


def _check_pin(der: bytes | None, pins: frozenset[str]) -> None:
    fingerprint = certificate_fingerprint(der or b"")
    if fingerprint not in pins:
        raise CertificatePinError(fingerprint, sorted(pins))


# ------------------------------------------------------------------------------------------
# Saying why a certificate was refused


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    """What "View certificate" shows: who it names, who signed it, when, its fingerprint."""

    subject: str
    issuer: str
    issuer_name: str  # the issuer's common name (or the whole issuer when it has none)
    names: tuple[str, ...]  # host names and addresses it is issued for
    not_before: datetime
    not_after: datetime
    fingerprint: str  # SHA-256, 64 lowercase hex digits
    self_signed: bool

    @classmethod
    def from_der(cls, der: bytes) -> CertificateDetails:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(
                [*san.get_values_for_type(x509.DNSName),
                 *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]
            )
        except x509.ExtensionNotFound:
            names = ()
        issuer_cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        issuer = cert.issuer.rfc4514_string()
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=issuer,
            issuer_name=str(issuer_cn[0].value) if issuer_cn else issuer,
            names=names,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            fingerprint=certificate_fingerprint(der),
            self_signed=cert.subject == cert.issuer,
        )

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Issued to", self.subject or "(no subject)"),
            ("Host names", ", ".join(self.names) or "(none)"),
            ("Issued by", self.issuer or "(no issuer)"),
            ("Valid from", _when(self.not_before)),
            ("Valid until", _when(self.not_after)),
            ("SHA-256 fingerprint", format_fingerprint(self.fingerprint)),
        ]

    def as_text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.rows())

    def matches_host(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return any(_dns_name_matches(name, host) for name in self.names)
        return any(_same_address(name, address) for name in self.names)


@dataclass(frozen=True, slots=True)
class CertificateRefusal:
    """Why a hub's certificate was refused, in words for the person at the screen."""

    host: str
    reason: str  # completes "The certificate of <host> …"
    certificate: CertificateDetails | None

    @property
    def message(self) -> str:
        return f"The certificate of {self.host} {self.reason}"


def find_verification_error(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure inside an httpx/anyio/websockets error, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


async def fetch_peer_certificate(host: str, port: int) -> bytes | None:
    """The certificate ``host:port`` presents, without verifying it (for display only).

    Nothing is sent over the connection; it is closed as soon as the handshake is done.
    """
    look = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    look.check_hostname = False
    look.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), port, ssl=look,
                                    server_hostname=host.strip("[]")),
            _PEER_FETCH_TIMEOUT_S,
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    try:
        sslobj = writer.get_extra_info("ssl_object")
        return sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def explain_refusal(
    host: str, port: int, error: ssl.SSLCertVerificationError, *, now: datetime | None = None
) -> CertificateRefusal:
    """Why ``error`` refused the certificate of ``host:port``, looking at that certificate."""
    der = await fetch_peer_certificate(host, port)
    details: CertificateDetails | None = None
    if der:
        with contextlib.suppress(ValueError):
            details = CertificateDetails.from_der(der)
    return CertificateRefusal(host, describe(host, error, details, now=now), details)


def describe(
    host: str,
    error: ssl.SSLCertVerificationError,
    details: CertificateDetails | None,
    *,
    now: datetime | None = None,
) -> str:
    """The reason, most specific first: pin, dates, name, self-signed, issuer."""
    if isinstance(error, CertificatePinError):
        return ("is not the one pinned for this server (its SHA-256 fingerprint is "
                f"{format_fingerprint(error.fingerprint)}).")
    code = getattr(error, "verify_code", None)
    if details is None:
        text = getattr(error, "verify_message", None) or str(error)
        return f"cannot be trusted ({text})."
    moment = now or datetime.now(UTC)
    if details.not_after < moment:
        return f"expired on {_when(details.not_after)}."
    if details.not_before > moment:
        return f"is not valid until {_when(details.not_before)}."
    if not details.matches_host(host):
        issued_for = ", ".join(details.names) or "no host name"
        return f"is issued for {issued_for}, not {host}."
    if details.self_signed:
        return ("is self-signed: no certificate authority this computer trusts vouches "
                "for it.")
    if code is None or code in _UNTRUSTED_ISSUER_CODES:
        return (f"is issued by “{details.issuer_name}”, an authority this computer does not "
                "trust.")
    return f"cannot be trusted ({getattr(error, 'verify_message', None) or error})."


def _when(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"  # no %-d: not on Windows


def _dns_name_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _same_address(name: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(name) == address
    except ValueError:
        return False
