#!/usr/bin/env bash
# Installs the Debian packages the app and its real-desktop tests need (Qt's xcb platform
# libraries, Xvfb, a tray host, a notification daemon, D-Bus, a SecretService keyring).
# Only what is missing is installed; nothing happens when everything is present.
set -euo pipefail
# "runtime" (for the demo): only Qt's libraries; "test" (default): also the virtual desktop.
runtime=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
      libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
      libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
      fonts-dejavu-core fonts-noto-color-emoji)
bench=(xvfb xauth x11-utils xdotool openbox imagemagick trayer dbus dbus-x11 dunst libnotify-bin gnome-keyring
       desktop-file-utils appstream dpkg-dev
       lintian patchelf curl man-db  # package checks (installer/build.sh, installer/check-hub-deb.sh)
       espeak-ng sox libsox-fmt-mp3  # speech made in the voice-import tests (tests/hub)
       pulseaudio pulseaudio-utils  # a sound server with a null sink for the alert-sound tests
       postgresql postgresql-contrib)  # the hub's PostgreSQL backend (tests/postgres_server.py)
pkgs=("${runtime[@]}")
[ "${1:-test}" = "runtime" ] || pkgs+=("${bench[@]}")
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
