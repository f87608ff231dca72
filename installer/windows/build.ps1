# Windows build of Supervisor Desk: PyInstaller one-folder bundle + Inno Setup installer.
# NOT RUN in this repository's CI (Linux only): see docs/install.md for what is verified.
# Needs: Python 3.12+ on PATH, Inno Setup 6 (iscc.exe on PATH). Run from the repository root:
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
$ErrorActionPreference = "Stop"
py -3.12 -m venv .venv-win
.\.venv-win\Scripts\python -m pip install --upgrade pip
.\.venv-win\Scripts\python -m pip install -e ".[test]"
$version = .\.venv-win\Scripts\python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
.\.venv-win\Scripts\python installer\render_icons.py ico build\icons\supervisor-desk.ico
.\.venv-win\Scripts\python -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installer\supervisor-desk.spec
$env:QT_QPA_PLATFORM = "offscreen"
& dist\supervisor-desk\supervisor-desk.exe --bundle-check
if ($LASTEXITCODE -ne 0) { throw "bundle check failed" }
Remove-Item Env:QT_QPA_PLATFORM
# Optional: sign the exe and the installer (signtool sign /fd SHA256 /tr <timestamp-url> ...).
iscc "/DAppVersion=$version" installer\supervisor-desk.iss
