#!/usr/bin/env bash
# Builds the Linux bundle and the .deb:
#   dist/supervisor-desk/                              PyInstaller one-folder bundle
#   dist/supervisor-desk-VERSION-linux-ARCH.tar.gz     the same bundle, compressed
#   dist/supervisor-desk_VERSION_ARCH.deb              /opt/supervisor-desk + launcher + menu entry
#   dist/supervisor-hub/                               the hub's bundle (no Qt)
#   dist/supervisor-hub_VERSION_ARCH.deb               /opt/supervisor-hub + CLI + systemd service
#   dist/build-report.txt                              sizes, for docs/install.md and the report
# Usage: installer/build.sh [--no-deb]     (also: make dist)
# Needs the project venv (make setup) with pyinstaller, and dpkg-deb, desktop-file-validate,
# appstreamcli, patchelf (scripts/system-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
want_deb=1
[ "${1:-}" = "--no-deb" ] && want_deb=0

read -r NAME VERSION < <("$PY" -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(p["name"], p["version"])')
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
BUNDLE=dist/$NAME
HUB=supervisor-hub
HUB_BUNDLE=dist/$HUB
step() { printf '\n== %s\n' "$*" >&2; }
t0=$(date +%s)

# The Debian changelog's newest entry must be this version (lintian, and dpkg's own tools).
changelog_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' installer/debian/changelog)
if [ "$changelog_version" != "$VERSION" ]; then
    echo "installer/debian/changelog starts at $changelog_version, pyproject.toml says $VERSION:" \
         "add a changelog entry" >&2
    exit 1
fi

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

step "PyInstaller one-folder bundle of the hub ($HUB $VERSION, no Qt)"
rm -rf "$HUB_BUNDLE"
hub_t0=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller-hub installer/supervisor-hub.spec
hub_seconds=$(( $(date +%s) - hub_t0 ))
if find "$HUB_BUNDLE" \( -iname '*pyside6*' -o -iname '*shiboken*' -o -name 'libQt6*' \) | grep -q .; then
    echo "Qt found in the hub bundle: an import reached the desktop" >&2; exit 1
fi
check_db=$(mktemp -d)
"$HUB_BUNDLE/$HUB" init --db "$check_db/hub.db" >&2
rm -rf "$check_db"

# Drops the execute bit of shared libraries, and rewrites every RUNPATH/RPATH in a bundle to its $ORIGIN-relative entries only: the wheels
# were linked with their build machine's directories, which mean nothing (or something
# unintended) on the user's machine. The bundle's libraries find one another through
# $ORIGIN and the folder PyInstaller's bootloader puts on the search path.
fix_runpath() {
    local file rpath kept
    # Shared libraries are loaded, not run: no execute bit (lintian shared-library-is-executable).
    find "$1" -type f -name '*.so*' -perm /111 -exec chmod a-x {} +
    find "$1" -type f \( -name '*.so*' -o -perm -u+x \) -print0 | xargs -0 file -N -F '' |
        awk '/ELF/ {print $1}' | while read -r file; do
        rpath=$(patchelf --print-rpath "$file" 2>/dev/null) || continue
        [ -n "$rpath" ] || continue
        kept=$(printf '%s' "$rpath" | tr ':' '\n' | grep '^\$ORIGIN' | paste -sd: || true)
        [ "$kept" = "$rpath" ] && continue
        if [ -n "$kept" ]; then
            patchelf --set-rpath "$kept" "$file"
        else
            patchelf --remove-rpath "$file"
        fi
    done
}

# Debian packages the system libraries a staged bundle links (ldd on every ELF file), then
# the glibc the newest symbol asks for. Bundled libraries resolve to the bundle's copies.
deb_depends() {
    local stage=$1 name=$2 libpath depends glibc
    libpath=$(find "$stage/opt/$name" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    depends=$(find "$stage/opt/$name" -type f \( -name '*.so*' -o -perm -u+x \) -print0 |
        xargs -0 file -N -F '' | awk '/ELF/ {print $1}' |
        LD_LIBRARY_PATH=$libpath xargs -r ldd 2>/dev/null | awk '/=> \// {print $3}' |
        grep -v "^$ROOT/" | sort -u |
        while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true; done |
        cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6)$' | paste -sd, | sed 's/,/, /g')
    glibc=$(find "$stage/opt/$name" -type f \( -name '*.so*' -o -name "$name" \) -print0 |
        xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 |
        sed 's/GLIBC_//')
    printf 'libc6 (>= %s)%s' "${glibc:-2.31}" "${depends:+, $depends}"
}

# What every package of ours carries besides its files: changelog, machine-readable
# copyright, manual page, lintian overrides; then md5sums and the .deb itself.
deb_finish() {
    local stage=$1 name=$2 doc=$1/usr/share/doc/$2
    mkdir -p "$doc" "$stage/usr/share/man/man1" "$stage/usr/share/lintian/overrides"
    # Version 0.1.0 has no Debian revision: a native package, so changelog.gz (not .Debian).
    gzip -9nc installer/debian/changelog > "$doc/changelog.gz"
    sed "s/@NAME@/$name/g" installer/debian/copyright > "$doc/copyright"
    gzip -9nc "build/man/$name.1" > "$stage/usr/share/man/man1/$name.1.gz"
    install -m 0644 "installer/debian/$name.lintian-overrides" \
        "$stage/usr/share/lintian/overrides/$name"
    chmod 0644 "$doc"/* "$stage/usr/share/man/man1/$name.1.gz"
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 md5sum > DEBIAN/md5sums)
    chmod 0644 "$stage/DEBIAN/md5sums"
    local deb=dist/${name}_${VERSION}_${ARCH}.deb
    # xz with all cores: the smallest download.
    dpkg-deb --root-owner-group -Zxz --threads-max="$(nproc)" --build "$stage" "$deb" >&2
    dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p' >&2
    echo "$(du -h "$deb" | cut -f1)  $deb ($(stat -c %s "$deb") bytes)"
}

deb_line="(.deb not built)"
hub_deb_line="(.deb not built)"
if [ "$want_deb" = 1 ]; then
    step "manual pages (from the argparse definitions)"
    rm -rf build/man
    PYTHONPATH=$ROOT/src "$PY" installer/manpages.py build/man "$VERSION"

    step "$NAME .deb"
    STAGE=build/deb/root
    rm -rf build/deb && mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" \
        "$STAGE/usr/share/applications" "$STAGE/usr/share/metainfo" \
        "$STAGE/usr/share/icons" "$STAGE/usr/share/doc/$NAME"
    cp -a "$BUNDLE" "$STAGE/opt/$NAME"
    fix_runpath "$STAGE/opt/$NAME"
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

    # Qt's xcb platform plugin loads these at run time (no ldd edge to them).
    depends=$(deb_depends "$STAGE" "$NAME")
    for must in libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libfontconfig1; do
        case ", $depends," in *", $must,"*) ;; *) depends="$depends, $must";; esac
    done
    installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
    cat > "$STAGE/DEBIAN/control" <<EOF
Package: $NAME
Source: $NAME
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
    # Menu and icon caches: dpkg triggers (declared by desktop-file-utils and
    # hicolor-icon-theme) refresh them; no maintainer scripts needed.

    step "validate menu entry and AppStream metadata"
    desktop-file-validate "$STAGE/usr/share/applications/$NAME.desktop"
    if command -v appstreamcli >/dev/null 2>&1; then
        appstreamcli validate --no-net --explain \
            "$STAGE/usr/share/metainfo/io.github.supervisordesk.SupervisorDesk.metainfo.xml"
    fi
    deb_line=$(deb_finish "$STAGE" "$NAME")

    step "$HUB .deb"
    HSTAGE=build/deb-hub/root
    rm -rf build/deb-hub && mkdir -p "$HSTAGE/DEBIAN" "$HSTAGE/opt" "$HSTAGE/usr/bin" \
        "$HSTAGE/lib/systemd/system" "$HSTAGE/etc/$HUB"
    cp -a "$HUB_BUNDLE" "$HSTAGE/opt/$HUB"
    fix_runpath "$HSTAGE/opt/$HUB"
    cat > "$HSTAGE/usr/bin/$HUB" <<EOF
#!/bin/sh
exec /opt/$HUB/$HUB "\$@"
EOF
    chmod 0755 "$HSTAGE/usr/bin/$HUB"
    install -m 0644 installer/hub/$HUB.service "$HSTAGE/lib/systemd/system/"
    install -m 0644 installer/hub/$HUB.conf "$HSTAGE/etc/$HUB/"
    echo "/etc/$HUB/$HUB.conf" > "$HSTAGE/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "installer/hub/$script" "$HSTAGE/DEBIAN/$script"
    done
    hub_depends=$(deb_depends "$HSTAGE" "$HUB")
    installed_kb=$(du -sk --exclude=DEBIAN "$HSTAGE" | cut -f1)
    cat > "$HSTAGE/DEBIAN/control" <<EOF
Package: $HUB
Source: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: Supervisor Desk developers <supervisor-desk@users.noreply.github.com>
Installed-Size: $installed_kb
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: $hub_depends, adduser
Section: net
Priority: optional
Homepage: https://github.com/supervisordesk/supervisor-desk
Description: hub of Supervisor Desk: ingest, live feed and REST API
 The hub receives the events of AI-agent conversations from the platforms,
 keeps them in a database and serves them live to Supervisor Desk over
 WebSockets and a REST API, with tokens, roles and outbound webhooks.
 .
 This package runs it as the supervisor-hub systemd service under its own
 system user; options are in /etc/supervisor-hub/supervisor-hub.conf.
EOF
    if command -v systemd-analyze >/dev/null 2>&1; then
        step "systemd-analyze verify of the unit"
        # Syntax, known keys and that ExecStart's program exists (the staged one). Unknown
        # keys are only warnings to systemd-analyze: any output fails the build.
        sed "s#/usr/bin/$HUB#$ROOT/$HSTAGE/usr/bin/$HUB#g" "installer/hub/$HUB.service" \
            > "build/deb-hub/$HUB.service"
        verify=$(systemd-analyze verify --man=no "build/deb-hub/$HUB.service" 2>&1) || {
            echo "$verify" >&2; exit 1; }
        [ -z "$verify" ] || { echo "$verify" >&2; exit 1; }
    fi
    hub_deb_line=$(deb_finish "$HSTAGE" "$HUB")
fi

step "sizes"
{
    echo "$NAME $VERSION ($ARCH), built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - t0 )) s"
    echo "bundle on disk: $(du -sh "$BUNDLE" | cut -f1)  $BUNDLE ($(du -sb "$BUNDLE" | cut -f1) bytes)"
    echo "bundle tar.gz:  $(du -h "$TARBALL" | cut -f1)  $TARBALL ($(stat -c %s "$TARBALL") bytes)"
    echo "deb:            $deb_line"
    echo "hub bundle:     $(du -sh "$HUB_BUNDLE" | cut -f1)  $HUB_BUNDLE (PyInstaller: ${hub_seconds} s)"
    echo "hub deb:        $hub_deb_line"
    echo "largest parts of the bundle:"
    # sed prints the first 8 lines but reads to the end: no early-closed pipe, so no SIGPIPE
    # (exit 141) under pipefail, which failed a CI run after the build had succeeded.
    du -sh "$BUNDLE"/_internal/* 2>/dev/null | sort -rh | sed -n '1,8s/^/  /p'
} | tee dist/build-report.txt
