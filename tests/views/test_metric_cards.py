"""Metric cards: a new figure repaints its card and lays nothing out; it looks as if shown from
the start."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from supervisor_desk.models.metrics import LiveMetrics
from supervisor_desk.views import theme
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.metric_cards import MetricCards
from supervisor_desk.views.theme import current_theme
from tests.views.conftest import EventsSeen, events_seen


def shown_cards(qtbot: Any, qapp: QApplication, width: int = 1400) -> tuple[QWidget, MetricCards]:
    """Cards in a window styled as the app styles them."""
    window = QWidget()
    qtbot.addWidget(window)
    window.setPalette(current_theme().palette())
    window.setStyleSheet(current_theme().stylesheet())
    cards = MetricCards(window)
    QVBoxLayout(window).addWidget(cards)
    window.resize(width, 120)
    window.show()
    qtbot.waitExposed(window)
    qapp.processEvents()
    return window, cards


def settle() -> None:
    """A layout request climbs one widget per turn of the event loop: let it reach the top."""
    for _ in range(10):
        QApplication.processEvents()


def card_image(cards: MetricCards, key: str) -> QImage:
    settle()
    return cards.cards[key].grab().toImage()


def test_a_new_figure_lays_nothing_out_and_looks_as_if_shown_from_the_start(
    qtbot: Any, qapp: QApplication
) -> None:
    _window, cards = shown_cards(qtbot, qapp)  # held: the window lives while held
    card = cards.cards["longest_wait"]
    figures = [f"12m {seconds}s" for seconds in range(40, 60)]
    for figure in figures:  # the widest of them sizes the label
        card.set_value(figure, "oldest in the queue")
    settle()
    requests = EventsSeen(QEvent.Type.LayoutRequest)
    qapp.installEventFilter(requests)
    try:
        for figure in figures:
            card.set_value(figure, "oldest in the queue")
            qapp.processEvents()
        card.set_value("9s", "oldest in the queue")  # shorter
        settle()
        assert requests.names == []
    finally:
        qapp.removeEventFilter(requests)
    # Pixel for pixel what a card that showed "9s" from the start shows.
    _fresh_window, fresh = shown_cards(qtbot, qapp)
    fresh.cards["longest_wait"].set_value("9s", "oldest in the queue")
    assert card_image(cards, "longest_wait") == card_image(fresh, "longest_wait")

    # A figure wider than any before makes room (then the layout runs, once), unclipped.
    card.set_value("1h 12m 40s", "oldest in the queue")
    qapp.processEvents()
    fresh.cards["longest_wait"].set_value("1h 12m 40s", "oldest in the queue")
    assert card_image(cards, "longest_wait") == card_image(fresh, "longest_wait")
    assert card.value() == "1h 12m 40s"


def test_a_new_figure_repaints_its_label_alone_in_every_theme(
    qtbot: Any, qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figures are opaque in the card's colour: a new one repaints the label, not the
    card, the row and the window beneath it, and looks as a see-through label would."""
    saved_palette, saved_sheet = qapp.palette(), qapp.styleSheet()
    monkeypatch.setattr(theme, "_current", theme.current_theme())
    controller = theme.ThemeController(qapp, "light")
    monkeypatch.setattr(theme, "_controller", controller)
    try:
        controller.apply()
        window = QWidget()
        qtbot.addWidget(window)
        cards = MetricCards(window)
        QVBoxLayout(window).addWidget(cards)
        window.resize(1400, 120)
        window.show()
        qtbot.waitExposed(window)
        card = cards.cards["longest_wait"]
        for name in ("light", "dark", "high_contrast", "light"):
            controller.set_choice(name)
            settle()
            card.set_value("12m 40s", "oldest in the queue")
            settle()
            with events_seen(QEvent.Type.Paint) as paints:
                card.set_value("12m 41s", "oldest in the queue")
                settle()
            assert paints.names == ["SteadyLabel:metricValue"], name
            opaque = card.grab().toImage()
            labels = [label for label in card.findChildren(QWidget)
                      if label.objectName() in ("metricValue", "metricCaption")]
            assert len(labels) == 2 and all(label.autoFillBackground() for label in labels)
            for label in labels:
                label.setAutoFillBackground(False)
            try:
                assert card.grab().toImage() == opaque, name
            finally:
                for label in labels:
                    label.setAutoFillBackground(True)
    finally:
        controller.deleteLater()
        qapp.setPalette(saved_palette)
        qapp.setStyleSheet(saved_sheet)


def test_one_line_cards_follow_their_text(qtbot: Any, qapp: QApplication) -> None:
    window, cards = shown_cards(qtbot, qapp, width=560)
    assert cards.compact
    card = cards.cards["total"]
    card.set_value("1,234,567", "all time, this hub")
    qapp.processEvents()
    wide = card.compact_width()
    card.set_value("7", "all time, this hub")
    qapp.processEvents()
    assert card.compact_width() < wide
    # Shown full width again, the cards are as if built so.
    window.resize(1400, 120)
    settle()
    assert not cards.compact
    _fresh_window, fresh = shown_cards(qtbot, qapp)
    fresh.cards["total"].set_value("7", "all time, this hub")
    assert card_image(cards, "total") == card_image(fresh, "total")


def test_figures_just_before_the_tick_are_shown_by_it(
    qtbot: Any, qapp: QApplication, monkeypatch: Any
) -> None:
    _window, cards = shown_cards(qtbot, qapp)
    figures = LiveMetrics(total=120, live=7, queued=2, active=5, recent_24h=40,
                          top_channel=None, longest_wait_seconds=65.0)
    clock = screen_clock()
    told: list[LiveMetrics] = []

    def on_tick() -> None:  # as the app's live view-model tells the cards on each tick
        if told:
            cards.set_metrics(told.pop())

    clock.subscribe(cards, on_tick)
    # Far from any tick: at once (the real clock's phase would hold it one run in ten).
    monkeypatch.setattr(clock, "due_in_ms", lambda: 600)
    cards.set_metrics(figures)
    assert cards.cards["live"].value() == "7"
    monkeypatch.setattr(clock, "due_in_ms", lambda: 50)  # the tick is due in 50 ms
    ticks = clock.ticks
    cards.set_metrics(replace(figures, total=121, live=8))
    assert cards.cards["live"].value() == "7"  # waits for the tick
    qtbot.waitUntil(lambda: clock.ticks > ticks, timeout=3000)
    assert cards.cards["live"].value() == "8"
    assert cards.cards["total"].value() == "121"
    # The tick's own newer figures are not undone by the ones held before it.
    cards.set_metrics(replace(figures, live=9))
    told.append(replace(figures, live=10))
    ticks = clock.ticks
    qtbot.waitUntil(lambda: clock.ticks > ticks, timeout=3000)
    assert cards.cards["live"].value() == "10"
