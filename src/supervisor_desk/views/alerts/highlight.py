"""How an alert looks on a row and on the Longest wait card: severity colour and icon."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from supervisor_desk.views.theme import blend, theme_color

if TYPE_CHECKING:
    from supervisor_desk.models.alerts.engine import AlertUpdate
    from supervisor_desk.views.session_table_model import SessionTableModel

SEVERITY_COLOR_TOKEN = {"info": "blue", "warning": "amber", "critical": "red"}
# Text colour tokens every theme pairs with its backgrounds (readable in high contrast too).
SEVERITY_TEXT_TOKEN = {"info": "secondary_text", "warning": "warning_text",
                       "critical": "error_text"}
SEVERITY_LABEL = {"info": "Info", "warning": "Warning", "critical": "Critical"}
_ICONS = {
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "critical": QStyle.StandardPixmap.SP_MessageBoxCritical,
}
_ROW_ALPHA = 0.22


def severity_icon(severity: str) -> QIcon:
    return QApplication.style().standardIcon(_ICONS[severity])


def row_background(severity: str) -> QColor:
    """The row tint: the severity colour over the table's base, light enough for text."""
    return blend(theme_color(SEVERITY_COLOR_TOKEN[severity]), theme_color("base"), _ROW_ALPHA)


def severity_text(severity: str) -> QColor:
    return theme_color(SEVERITY_TEXT_TOKEN[severity])


def card_accent(severity: str | None) -> str:
    """The metric card accent property for a severity ("none": the neutral border)."""
    return SEVERITY_COLOR_TOKEN.get(severity or "", "none")


def tint_rows(model: SessionTableModel, update: AlertUpdate) -> bool:
    """The rows' tints follow ``update``: the rows of the sessions whose alerts opened or
    resolved, every row when rules or states changed. False: it changed no listed alert (only
    notices), nothing to repaint."""
    if update.changed:
        model.alerts_changed()
    elif update.listed:
        model.alerts_changed_for(update.sessions())
    else:
        return False
    return True
