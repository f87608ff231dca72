"""Icons, channel badges and status colours: the one place that resolves resource files.

Resources live in the package (``supervisor_desk/resources``) so they resolve identically from a
checkout, an installed wheel and a PyInstaller bundle. ``QIcon`` objects are cached because the
table asks for them on every paint.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from supervisor_desk.models.markers import CHANNEL_LABELS

RESOURCES = Path(__file__).resolve().parent.parent / "resources"

# Badge colours follow the 8bit-ai seed (phone violet, web blue, telegram sky, whatsapp emerald,
# mobile fuchsia, sip amber); the other channels get distinct hues of the same lightness.
CHANNEL_COLORS: dict[str, str] = {
    "web": "#2563eb",
    "phone": "#7c3aed",
    "sip": "#d97706",
    "whatsapp": "#059669",
    "telegram": "#0284c7",
    "email": "#e11d48",
    "facebook": "#1d4ed8",
    "instagram": "#db2777",
    "intercom": "#1f2937",
    "chatwoot": "#4f46e5",
    "twilio": "#dc2626",
    "infobip": "#ea580c",
    "bird": "#0d9488",
    "mobile_sdk": "#c026d3",
    "api": "#475569",
    "other": "#78716c",
}


STATUS_COLORS: dict[str, str] = {
    "queued": "#d97706",
    "active": "#16a34a",
    "completed": "#6b7280",
    "transferred": "#2563eb",
    "failed": "#dc2626",
    "cancelled": "#9ca3af",
}

STATUS_LABELS: dict[str, str] = {
    "queued": "Queued",
    "active": "Active",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "transferred": "Transferred",
}

END_REASON_LABELS: dict[str, str] = {
    "user_disconnect": "user disconnect",
    "system_disconnect": "system disconnect",
    "transfer": "transfer",
    "resolved": "resolved",
    "error": "error",
    "timeout": "timeout",
}


def resource_path(*parts: str) -> Path:
    return RESOURCES.joinpath(*parts)


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel.replace("_", " ").title())


@cache
def channel_color(channel: str) -> QColor:
    return QColor(CHANNEL_COLORS.get(channel, CHANNEL_COLORS["other"]))


@cache
def channel_background(channel: str) -> QColor:
    """A pale tint of the channel colour for the badge fill."""
    base = channel_color(channel)
    tint = QColor(base)
    tint.setAlpha(38)
    return tint


@cache
def status_color(status: str) -> QColor:
    return QColor(STATUS_COLORS.get(status, "#6b7280"))


@cache
def channel_icon(channel: str) -> QIcon:
    path = resource_path("icons", "channels", f"{channel}.svg")
    if not path.exists():
        path = resource_path("icons", "channels", "other.svg")
    return QIcon(str(path))


@cache
def modality_icon(modality: str) -> QIcon:
    path = resource_path("icons", "status", f"modality-{modality}.svg")
    return QIcon(str(path)) if path.exists() else QIcon()


@cache
def flag_icon(country_code: str | None) -> QIcon | None:
    """The country's flag (bundled flag-icons SVG), or None for a code we have no flag for."""
    code = (country_code or "").strip().lower()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    path = resource_path("icons", "flags", f"{code}.svg")
    return QIcon(str(path)) if path.exists() else None


def _first_existing(paths: list[Path]) -> Path | None:
    for path in paths:
        if path.exists():
            return path
    return None


@cache
def app_icon() -> QIcon:
    """The application icon: the installer's artwork when present, else our status mark."""
    app_dir = resource_path("icons", "app")
    candidates: list[Path] = []
    if app_dir.is_dir():
        candidates = sorted(app_dir.glob("*.svg")) + sorted(app_dir.glob("*.png"))
    found = _first_existing(candidates)
    if found is not None:
        return QIcon(str(found))
    return QIcon(str(resource_path("icons", "status", "connected.svg")))


# Connection state -> icon file stem. The installer engineer's tray set (resources/icons/tray)
# wins when it has the file; ours (resources/icons/status) is the fallback.
_TRAY_STEMS: dict[str, tuple[str, ...]] = {
    "connected": ("connected", "tray-connected", "online"),
    "connecting": ("connecting", "reconnecting", "tray-connecting", "tray-reconnecting"),
    "reconnecting": ("reconnecting", "connecting", "tray-reconnecting", "tray-connecting"),
    "offline": ("offline", "disconnected", "tray-offline", "tray-disconnected"),
    "error": ("error", "unreachable", "tray-error", "offline"),
}


@cache
def tray_icon(state: str) -> QIcon:
    stems = _TRAY_STEMS.get(state, (state,))
    candidates: list[Path] = []
    for folder in ("tray", "status"):
        for stem in stems:
            for ext in ("svg", "png"):
                candidates.append(resource_path("icons", folder, f"{stem}.{ext}"))
    found = _first_existing(candidates)
    if found is None:
        found = resource_path("icons", "status", "offline.svg")
    return QIcon(str(found))


@cache
def dot_pixmap(color: str, size: int = 10) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(0, 0, size, size)
    painter.end()
    return pixmap
