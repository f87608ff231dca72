#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter, installing one from Debian if none is found.
# Why >= 3.12: PySide6 6.12 on Python 3.11 crashes after a few hundred Signal.emit() calls
# (docs/architecture.md, "Platform facts").
set -euo pipefail
ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for cand in python3.13 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && ok "$(command -v "$cand")"; then command -v "$cand"; exit 0; fi
done
for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/local/bin/python3.1[23]; do
    if [ -x "$cand" ] && ok "$cand"; then echo "$cand"; exit 0; fi
done
echo "No Python >= 3.12 found; trying the Debian packages python3.12/python3.13" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >&2 || true
for v in 3.13 3.12; do
    if $SUDO apt-get install -y -qq "python$v" "python$v-venv" >&2 2>/dev/null && ok "/usr/bin/python$v"; then
        echo "/usr/bin/python$v"; exit 0
    fi
done
echo "error: Supervisor Desk needs Python 3.12 or newer; install it and run again." >&2
exit 1
