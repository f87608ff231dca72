"""``-m MODULE`` inside a frozen bundle, where ``sys.executable`` is the bundle's program.

The hub runs its speech-recognition worker as ``sys.executable -m
supervisor_desk.hub.transcribe FILE`` (a separate process it can kill). In a PyInstaller
bundle ``sys.executable`` is ``supervisor-hub`` / ``supervisor-desk`` itself, so both entry
points hand such a command line to this module instead of their own argument parser. Only our
own modules can be run this way.
"""

from __future__ import annotations

import runpy
import sys


def run_module_if_asked() -> None:
    """Runs ``MODULE`` as ``__main__`` and exits if the command line is ``-m MODULE ...``."""
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        return
    module = sys.argv[2]
    if not module.startswith("supervisor_desk."):
        sys.exit(f"{sys.argv[0]}: -m runs only supervisor_desk modules, not {module!r}")
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)
