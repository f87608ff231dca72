# ruff: noqa: T201  (a command-line check that reports on stdout)
"""PyInstaller entry point: the same ``main`` the ``supervisor-desk`` console script runs.

``supervisor-desk --bundle-check`` (only in the frozen bundle's entry, handled before the app
starts) verifies what PyInstaller bundles tend to lose silently: our modules and resources,
keyring's backends (found through entry-point metadata), the system trust store (and that no
CA list inside the bundle replaces it), Qt's SVG support and the modules imported lazily at run
time. ``installer/build.sh`` and the installed-app e2e test
run it; it prints one line per check and exits non-zero if any failed.
"""

from __future__ import annotations

import sys


def bundle_check() -> int:
    import importlib
    import os
    from importlib import metadata
    from pathlib import Path

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    failures = 0

    def check(label: str, fn: object) -> None:
        nonlocal failures
        try:
            detail = fn()  # type: ignore[operator]
            print(f"ok    {label}: {detail}")
        except Exception as exc:  # report every failure, not just the first
            failures += 1
            print(f"FAIL  {label}: {type(exc).__name__}: {exc}")

    def modules() -> str:
        names = ["supervisor_desk.__main__", "supervisor_desk.app",
                 "supervisor_desk.hub.embedded", "supervisor_desk.client.desktop_notify",
                 "jeepney.io.asyncio", "uvicorn.protocols.http.h11_impl",
                 "uvicorn.protocols.websockets.auto", "websockets.asyncio.client", "sqlite3"]
        for name in names:
            importlib.import_module(name)
        return f"{len(names)} imported"

    def keyring_backends() -> str:
        found = {ep.name for ep in metadata.entry_points(group="keyring.backends")}
        if "SecretService" not in found and sys.platform.startswith("linux"):
            raise LookupError(f"SecretService not among keyring backends {sorted(found)}")
        import keyring.backends.SecretService  # noqa: F401

        return ", ".join(sorted(found))

    def trust_store() -> str:
        import ssl

        import truststore

        from supervisor_desk.client.tls import client_context

        context = client_context()
        if not isinstance(context, truststore.SSLContext):
            raise TypeError(f"the TLS context is a {type(context).__name__}, not truststore's")
        # Certificates are the operating system's: nothing may point OpenSSL at a CA list
        # shipped inside the bundle (a runtime hook setting SSL_CERT_FILE would).
        bundle = Path(sys.executable).resolve().parent
        paths = ssl.get_default_verify_paths()
        for where in (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"),
                      paths.cafile, paths.capath):
            if where and Path(where).resolve().is_relative_to(bundle):
                raise ValueError(f"{where} is inside the bundle and would replace the "
                                 "system's trust store")
        if sys.platform.startswith("linux"):
            return f"truststore {truststore.__version__}, OpenSSL store " + (
                paths.cafile or paths.capath or "(distribution default)")
        return f"truststore {truststore.__version__}, the system's certificate store"

    def resources() -> str:
        import supervisor_desk

        root = Path(supervisor_desk.__file__).resolve().parent / "resources" / "icons"
        wanted = [root / "app" / "supervisor-desk.svg",
                  *(root / "tray" / f"{s}.svg" for s in ("connected", "reconnecting", "offline"))]
        missing = [str(p) for p in wanted if not p.is_file()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        return f"{sum(1 for _ in root.rglob('*.svg'))} SVG icons"

    def qt_svg() -> str:
        from PySide6.QtGui import QGuiApplication, QIcon, QImageReader

        import supervisor_desk

        app = QGuiApplication.instance() or QGuiApplication(["bundle-check"])
        formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
        if "svg" not in formats:
            raise LookupError(f"no svg image format plugin (have {sorted(formats)})")
        svg = (Path(supervisor_desk.__file__).resolve().parent
               / "resources" / "icons" / "app" / "supervisor-desk.svg")
        image = QIcon(str(svg)).pixmap(32, 32).toImage()
        if image.isNull() or image.pixelColor(16, 16).alpha() == 0:
            raise ValueError("the app icon renders empty")
        del app
        return "svg plugin loaded, app icon renders"

    def keyring_in_use() -> str:
        import keyring

        backend = keyring.get_keyring()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    check("modules", modules)
    check("keyring backends", keyring_backends)
    check("keyring in use", keyring_in_use)  # informational: depends on the session bus
    check("trust store", trust_store)
    check("resources", resources)
    check("Qt SVG", qt_svg)
    print("bundle check:", "FAILED" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--bundle-check"]:
        sys.exit(bundle_check())
    from frozen_module import run_module_if_asked

    # The embedded hub's transcription worker: supervisor-desk -m supervisor_desk.hub...
    run_module_if_asked()
    # PySide6's import hook (shibokensupport.feature) inspects modules imported after PySide6;
    # inspect.unwrap() reads ``__wrapped__`` on pydantic's module, which runs pydantic's lazy
    # ``__getattr__``. When --demo's hub thread is still initialising pydantic at that moment,
    # the main thread dies with "cannot import name 'import_string' from partially initialized
    # module 'pydantic._internal._validators'" (seen in 2 of 24 parallel starts of the bundle).
    # Initialise pydantic completely before any thread or Qt import exists.
    import pydantic
    import pydantic._internal._validators  # noqa: F401

    from supervisor_desk.__main__ import main

    sys.exit(main())
