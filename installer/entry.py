"""PyInstaller entry point: the same ``main`` the ``supervisor-desk`` console script runs."""

from __future__ import annotations

import sys

from supervisor_desk.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
