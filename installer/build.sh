#!/usr/bin/env bash
# Builds the Linux bundle and the .deb:
#   dist/supervisor-desk/                              PyInstaller one-folder bundle
#   dist/supervisor-desk-VERSION-linux-ARCH.tar.gz     the same bundle, compressed
#   dist/supervisor-desk_VERSION_ARCH.deb              /opt/supervisor-desk + launcher + menu entry
#   dist/build-report.txt                              sizes, for docs/install.md and the report
# Usage: installer/build.sh [--no-deb]     (also: make dist)
# Needs the project venv (make setup) with pyinstaller, and dpkg-deb, desktop-file-validate,
# appstreamcli (scripts/system-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
want_deb=1
[ "${1:-}" = "--no-deb" ] && want_deb=0

read -r NAME VERSION < <("$PY" -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(p["name"], p["version"])')
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
BUNDLE=dist/$NAME
step() { printf '\n== %s\n' "$*" >&2; }
t0=$(date +%s)

"$PY" -c 'import PyInstaller' 2>/dev/null || {
    echo "pyinstaller is not installed in $PY's environment: run 'make setup' (test extras)" >&2
    exit 1
}

step "icons"
rm -rf build/icons && mkdir -p build/icons
"$PY" installer/render_icons.py hicolor build/icons/hicolor

step "PyInstaller one-folder bundle ($NAME $VERSION)"
rm -rf "$BUNDLE"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller installer/supervisor-desk.spec

step "bundle libraries resolve inside the bundle or to the system"
# The spec drops the GTK stack (only Qt's unused gtk3 theme needed it): fail if anything kept
# still links one of those libraries, or if any library is missing altogether.
bad=$(find "$BUNDLE" -type f -name '*.so*' -print0 | xargs -0 ldd 2>/dev/null |
      grep -E 'not found|=> /.*/(libgtk-3|libgdk-3|libpango|libcairo|libatk)' | sort -u || true)
if [ -n "$bad" ]; then
    echo "unresolved or dropped libraries still needed:" >&2; echo "$bad" >&2; exit 1
fi

step "smoke test of the bundle (offscreen)"
# Fails the build when the frozen app cannot import itself, its keyring backends, Qt's SVG
# support or the system trust store: the usual ways a PyInstaller bundle breaks silently.
QT_QPA_PLATFORM=offscreen "$BUNDLE/$NAME" --bundle-check \
    > build/bundle-check.txt 2>&1 || { cat build/bundle-check.txt >&2; exit 1; }
cat build/bundle-check.txt >&2

step "tarball"
TARBALL=dist/$NAME-$VERSION-linux-$(uname -m).tar.gz
tar -C dist -czf "$TARBALL" "$NAME"

deb_line="(.deb not built)"
if [ "$want_deb" = 1 ]; then
    step ".deb"
    STAGE=build/deb/root
    rm -rf build/deb && mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" \
        "$STAGE/usr/share/applications" "$STAGE/usr/share/metainfo" \
        "$STAGE/usr/share/icons" "$STAGE/usr/share/doc/$NAME"
    cp -a "$BUNDLE" "$STAGE/opt/$NAME"
    # A wrapper, not a symlink: the bundle finds its _internal folder from its own path.
    cat > "$STAGE/usr/bin/$NAME" <<EOF
#!/bin/sh
exec /opt/$NAME/$NAME "\$@"
EOF
    chmod 0755 "$STAGE/usr/bin/$NAME"
    install -m 0644 resources/linux/$NAME.desktop "$STAGE/usr/share/applications/"
    install -m 0644 resources/linux/io.github.supervisordesk.SupervisorDesk.metainfo.xml \
        "$STAGE/usr/share/metainfo/"
    cp -a build/icons/hicolor "$STAGE/usr/share/icons/"
    printf 'Supervisor Desk %s\nProprietary. Bundles Python, Qt (LGPLv3) and PySide6 (LGPLv3);\nlicences of bundled components are in /opt/%s/_internal/*.dist-info.\n' \
        "$VERSION" "$NAME" > "$STAGE/usr/share/doc/$NAME/copyright"

    # Depends: the Debian packages owning every system library the bundle links (Qt's xcb
    # platform plugin pulls the libxcb-* family), found with ldd on the staged files.
    # Bundled libraries must resolve to the bundle's copies, as they do at run time.
    libpath=$(find "$STAGE/opt/$NAME" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    depends=$(find "$STAGE/opt/$NAME" -type f \( -name '*.so*' -o -perm -u+x \) -print0 |
        xargs -0 file -N -F '' | awk '/ELF/ {print $1}' |
        LD_LIBRARY_PATH=$libpath xargs -r ldd 2>/dev/null | awk '/=> \// {print $3}' |
        grep -v "^$ROOT/" | sort -u |
        while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true; done |
        cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6)$' | paste -sd, | sed 's/,/, /g')
    for must in libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libfontconfig1; do
        case ", $depends," in *", $must,"*) ;; *) depends="$depends, $must";; esac
    done
    # The newest glibc symbol version any bundled binary asks for (libpython and the bundled
    # system libraries come from the build machine).
    glibc=$(find "$STAGE/opt/$NAME" -type f \( -name '*.so*' -o -name "$NAME" \) -print0 |
        xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 |
        sed 's/GLIBC_//')
    depends="libc6 (>= ${glibc:-2.31}), $depends"
    installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
    cat > "$STAGE/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: Supervisor Desk developers <supervisor-desk@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: $depends
Recommends: gnome-keyring | kwalletmanager, fonts-dejavu-core
Section: net
Priority: optional
Homepage: https://github.com/supervisordesk/supervisor-desk
Description: supervise live AI-agent conversations in a contact centre
 Supervisor Desk shows every live session between customers and AI agents as
 it happens, the transcript with its parameters, results and logs, history
 search and export, and tray alerts. It connects to a Supervisor Desk hub;
 "supervisor-desk --demo" runs a built-in hub with simulated traffic.
EOF
    for script in postinst postrm; do
        cat > "$STAGE/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
fi
exit 0
EOF
        chmod 0755 "$STAGE/DEBIAN/$script"
    done

    step "validate menu entry and AppStream metadata"
    desktop-file-validate "$STAGE/usr/share/applications/$NAME.desktop"
    if command -v appstreamcli >/dev/null 2>&1; then
        appstreamcli validate --no-net --explain \
            "$STAGE/usr/share/metainfo/io.github.supervisordesk.SupervisorDesk.metainfo.xml"
    fi

    DEB=dist/${NAME}_${VERSION}_${ARCH}.deb
    # xz with all cores: the smallest download; "dpkg-deb -Z" level 6 is dpkg's default.
    dpkg-deb --root-owner-group -Zxz --threads-max="$(nproc)" --build "$STAGE" "$DEB" >&2
    dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p' >&2
    deb_line="$(du -h "$DEB" | cut -f1)  $DEB ($(stat -c %s "$DEB") bytes)"
fi

step "sizes"
{
    echo "$NAME $VERSION ($ARCH), built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - t0 )) s"
    echo "bundle on disk: $(du -sh "$BUNDLE" | cut -f1)  $BUNDLE ($(du -sb "$BUNDLE" | cut -f1) bytes)"
    echo "bundle tar.gz:  $(du -h "$TARBALL" | cut -f1)  $TARBALL ($(stat -c %s "$TARBALL") bytes)"
    echo "deb:            $deb_line"
    echo "largest parts of the bundle:"
    # sed prints the first 8 lines but reads to the end: no early-closed pipe, so no SIGPIPE
    # (exit 141) under pipefail, which failed a CI run after the build had succeeded.
    du -sh "$BUNDLE"/_internal/* 2>/dev/null | sort -rh | sed -n '1,8s/^/  /p'
} | tee dist/build-report.txt
