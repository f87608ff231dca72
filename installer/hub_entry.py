"""PyInstaller entry point of the ``supervisor-hub`` bundle: the console script's ``main``.

The hub bundle (installer/supervisor-hub.spec) holds the hub, the simulator and the models,
never Qt: it runs on servers without a display.
"""

from __future__ import annotations

import sys

from frozen_module import run_module_if_asked

from supervisor_desk.hub.cli import main

if __name__ == "__main__":
    run_module_if_asked()  # the transcription worker: supervisor-hub -m supervisor_desk.hub...
    sys.exit(main())
