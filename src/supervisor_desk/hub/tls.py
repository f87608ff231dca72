"""TLS for the hub: check the PEM files up front and hand them to uvicorn.

uvicorn would only discover a bad certificate or key once the server starts, with a bare
``ssl.SSLError``; checking here gives ``supervisor-hub serve`` a clear message and exit code,
and makes sure the key matches the certificate before anyone connects.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TlsConfigError(ValueError):
    """The certificate or key cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def uvicorn_options(self) -> dict[str, Any]:
        # TLS 1.2 is the floor: uvicorn's default context already refuses older versions.
        return {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}

    def own_certificate_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly the certificate this hub serves.

        For the hub's built-in simulator, which posts to the hub's own address: often
        127.0.0.1, a name the certificate need not carry. Trusting only this one certificate
        (the first of the file, as its own anchor) is as strict as a name check, since only
        the holder of its key can present it; any other certificate, even one from the same
        CA, is refused.
        """
        pem = self.cert.read_text(encoding="ascii", errors="replace")
        begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
        first = pem[pem.index(begin):pem.index(end) + len(end)]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf as the anchor
        context.load_verify_locations(cadata=ssl.PEM_cert_to_DER_cert(first))
        return context


def load_tls(cert: Path | str | None, key: Path | str | None) -> TlsFiles | None:
    """``None`` for plain HTTP, or validated files; :class:`TlsConfigError` when unusable."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsConfigError("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
    files = TlsFiles(Path(cert), Path(key))
    for label, path in (("certificate", files.cert), ("key", files.key)):
        if not path.is_file():
            raise TlsConfigError(f"the TLS {label} file {str(path)!r} does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(files.cert), str(files.key))
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"cannot use the TLS certificate {str(files.cert)!r} with the key "
            f"{str(files.key)!r}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise TlsConfigError(f"cannot read the TLS files: {exc.strerror or exc}") from None
    return files
