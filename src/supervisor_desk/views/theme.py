"""Look and feel: the Fusion style with a light palette and the app stylesheet.

Fusion renders the same on every platform and under Xvfb (where no desktop theme exists), so
screenshots and users see the same app. The stylesheet only touches our own object names and
properties, never generic widgets, to keep Qt's painting fast and the chat/dock styles intact.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from supervisor_desk.views.icons import resource_path

ACCENT = "#1d4ed8"


def light_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#f4f6fa",
        QPalette.ColorRole.WindowText: "#1f2937",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#f8fafc",
        QPalette.ColorRole.Text: "#111827",
        QPalette.ColorRole.Button: "#ffffff",
        QPalette.ColorRole.ButtonText: "#1f2937",
        QPalette.ColorRole.Highlight: "#dbeafe",
        QPalette.ColorRole.HighlightedText: "#0f172a",
        QPalette.ColorRole.ToolTipBase: "#111827",
        QPalette.ColorRole.ToolTipText: "#f9fafb",
        QPalette.ColorRole.PlaceholderText: "#9ca3af",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.Mid: "#d1d5db",
        QPalette.ColorRole.Midlight: "#e5e7eb",
        QPalette.ColorRole.Dark: "#9ca3af",
        QPalette.ColorRole.Light: "#ffffff",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    disabled = QPalette.ColorGroup.Disabled
    palette.setColor(disabled, QPalette.ColorRole.Text, QColor("#9ca3af"))
    palette.setColor(disabled, QPalette.ColorRole.ButtonText, QColor("#9ca3af"))
    palette.setColor(disabled, QPalette.ColorRole.WindowText, QColor("#9ca3af"))
    return palette


def stylesheet() -> str:
    path = resource_path("style.qss")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(light_palette())
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
        app.setFont(font)
    app.setStyleSheet(stylesheet())
