#!/usr/bin/env bash
# macOS build of Supervisor Desk: PyInstaller .app (one-folder BUNDLE) -> optional signing and
# notarization -> .dmg. NOT RUN in this repository's CI (Linux only; macOS builds need a Mac):
# see docs/install.md for what is verified.
# Needs: Python 3.12+ (python.org universal2 build for a universal app), Xcode command line tools.
# Optional signing: DEVELOPER_ID="Developer ID Application: Example (TEAMID)";
# optional notarization: NOTARY_PROFILE (a keychain profile made with `xcrun notarytool store-credentials`).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3.12 -m venv .venv-mac
.venv-mac/bin/python -m pip install -q --upgrade pip
.venv-mac/bin/python -m pip install -q -e '.[test]'
VERSION=$(.venv-mac/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
.venv-mac/bin/python installer/render_icons.py icns build/icons/supervisor-desk.icns
.venv-mac/bin/python -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
    installer/supervisor-desk.spec
APP="dist/Supervisor Desk.app"
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/supervisor-desk" --bundle-check

if [ -n "${DEVELOPER_ID:-}" ]; then
    # Sign inside-out with the hardened runtime (never `codesign --deep`): every Mach-O in
    # Frameworks/Resources first, then the executable, then the bundle.
    find "$APP/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -u+x \) -print0 |
        while IFS= read -r -d '' f; do
            if file "$f" | grep -q 'Mach-O'; then
                codesign --force --timestamp --options runtime --sign "$DEVELOPER_ID" "$f"
            fi
        done
    codesign --force --timestamp --options runtime --sign "$DEVELOPER_ID" "$APP"
    codesign --verify --strict --verbose=2 "$APP"
fi

DMG="dist/SupervisorDesk-$VERSION-macos.dmg"
rm -f "$DMG"
STAGE=$(mktemp -d)
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Supervisor Desk" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
rm -rf "$STAGE"

if [ -n "${DEVELOPER_ID:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
    codesign --force --timestamp --sign "$DEVELOPER_ID" "$DMG"
    xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
fi
echo "built $DMG"
