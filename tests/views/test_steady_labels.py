"""A wrapped steady label shows all its lines and lays out the window only for a new count."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from supervisor_desk.views.steady_labels import SteadyWrappedLabel


def test_a_wrapped_steady_label_grows_for_another_line_and_keeps_its_height_otherwise(
        qtbot: Any) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    line = SteadyWrappedLabel(window, tone="secondary", accessible_name="Selected alert")
    layout.addWidget(line)
    layout.addStretch(1)
    window.resize(240, 300)
    window.show()
    qtbot.waitExposed(window)
    spacing = line.label.fontMetrics().lineSpacing()

    line.set_text("Warning · Waiting over a minute — Ann · 1m 5s · Open")
    qtbot.waitUntil(lambda: line.height() >= line.label.heightForWidth(line.width()))
    height = line.height()
    assert height >= 2 * spacing  # wrapped in the narrow window, every line shown
    assert line.label.geometry() == line.rect()

    line.set_text("Warning · Waiting over a minute — Ann · 1m 6s · Open")
    qtbot.wait(20)
    assert line.height() == height  # the same lines: the same height

    line.set_text(line.text() + " · and a much longer name that needs another line or two")
    qtbot.waitUntil(lambda: line.height() > height)
    assert line.height() >= line.label.heightForWidth(line.width())

    window.resize(900, 300)  # wider: fewer lines, less height
    qtbot.waitUntil(lambda: line.height() < height)
    assert line.label.property("tone") == "secondary"
    assert line.label.accessibleName() == "Selected alert"
    assert isinstance(line.label, QLabel)

    line.set_text("")
    qtbot.waitUntil(lambda: line.height() == 0)
