"""Text tones: a widget says what its text is (muted, secondary, error, success) and the
theme's stylesheet colours it, so a theme switch recolours it too."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def set_tone(widget: QWidget, tone: str) -> None:
    """Set the ``tone`` property and re-polish: Qt applies property selectors on polish."""
    if widget.property("tone") == tone:
        return
    widget.setProperty("tone", tone)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
