"""Themes: light, dark and high contrast, every text readable (WCAG >= 4.5:1), following the
desktop's colour scheme, switchable at run time, and the chat repainted in the new colours."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel, QMenu
from pytestqt.qtbot import QtBot

from supervisor_desk.views import theme
from supervisor_desk.views.chat import ChatView
from supervisor_desk.views.chat.styles import current_palette
from supervisor_desk.views.icons import CHANNEL_COLORS, channel_background, channel_color
from supervisor_desk.views.theme import (
    MIN_TEXT_CONTRAST,
    THEMES,
    ThemeController,
    channel_badge_text,
    contrast_ratio,
)
from tests.views.chat_samples import every_kind_detail


@pytest.fixture
def controller(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThemeController]:
    """The app's controller for this test; the light theme is restored afterwards."""
    saved_palette, saved_sheet = qapp.palette(), qapp.styleSheet()
    ctl = ThemeController(qapp, "light")
    monkeypatch.setattr(theme, "_controller", ctl)
    ctl.apply()
    yield ctl
    ctl.set_choice("light")
    ctl.deleteLater()
    qapp.setPalette(saved_palette)
    qapp.setStyleSheet(saved_sheet)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # Half-transparent black on white is mid grey.
    assert contrast_ratio("#000000", "#ffffff", 0.5) == pytest.approx(
        contrast_ratio("#808080", "#ffffff"), abs=0.05
    )


@pytest.mark.parametrize("name", sorted(THEMES))
def test_every_text_the_theme_paints_is_readable(name: str) -> None:
    failures = [
        f"{what}: {fg} on {bg} = {contrast_ratio(fg, bg, alpha):.2f}"
        for what, fg, bg, alpha in THEMES[name].text_pairs()
        if contrast_ratio(fg, bg, alpha) < MIN_TEXT_CONTRAST
    ]
    assert not failures, failures
    # The check covers the chat (bubbles, pills, cards) and the window's own parts.
    whats = {what for what, *_ in THEMES[name].text_pairs()}
    assert {"chat: customer bubble text", "chat: pill", "text", "metric caption"} <= whats


@pytest.mark.parametrize("name", sorted(THEMES))
def test_channel_badges_in_the_table_are_readable(name: str, qapp: QApplication) -> None:
    colors = THEMES[name].colors
    failures = []
    for channel in CHANNEL_COLORS:
        fill = channel_background(channel)
        for cell_token in ("base", "alt_base", "highlight"):
            cell = QColor(colors[cell_token])
            text = channel_badge_text(channel_color(channel), fill, cell)
            background = theme.blend(fill, cell, fill.alphaF())
            ratio = contrast_ratio(text, background)
            if ratio < MIN_TEXT_CONTRAST:
                failures.append(f"{channel} on {cell_token}: {text.name()} = {ratio:.2f}")
    assert not failures, failures


def test_stylesheet_has_no_unresolved_token() -> None:
    for item in THEMES.values():
        assert "${" not in item.stylesheet()


@pytest.mark.parametrize(
    ("scheme", "contrast", "expected"),
    [
        (Qt.ColorScheme.Light, Qt.ContrastPreference.NoPreference, "light"),
        (Qt.ColorScheme.Dark, Qt.ContrastPreference.NoPreference, "dark"),
        (Qt.ColorScheme.Unknown, Qt.ContrastPreference.NoPreference, "light"),
        (Qt.ColorScheme.Light, Qt.ContrastPreference.HighContrast, "high_contrast"),
    ],
)
def test_system_choice_follows_the_desktop(
    scheme: Qt.ColorScheme, contrast: Qt.ContrastPreference, expected: str
) -> None:
    class Accessibility:
        def contrastPreference(self) -> Qt.ContrastPreference:
            return contrast

    class Hints:
        def colorScheme(self) -> Qt.ColorScheme:
            return scheme

        def accessibility(self) -> Accessibility:
            return Accessibility()

    assert theme.system_theme_name(Hints()) == expected


def test_switching_theme_recolours_window_labels_and_chat(
    controller: ThemeController, qtbot: QtBot, qapp: QApplication
) -> None:
    chat = ChatView(time_zone="UTC")
    qtbot.addWidget(chat)
    chat.resize(600, 500)
    chat.show()
    chat.set_detail(every_kind_detail())
    muted = QLabel("Nothing here")
    muted.setProperty("tone", "muted")
    qtbot.addWidget(muted)
    muted.show()
    changes: list[str] = []
    controller.choice_changed.connect(changes.append)

    controller.set_choice("dark")
    assert changes == ["dark"]
    assert qapp.palette().color(qapp.palette().ColorRole.Window) == QColor("#1b1f27")
    assert current_palette() is THEMES["dark"].chat
    qtbot.waitUntil(lambda: chat.delegate.palette is THEMES["dark"].chat)
    viewport = chat.list_view.viewport()
    assert viewport.palette().color(viewport.backgroundRole()) == QColor(
        THEMES["dark"].chat.background
    )
    # The stylesheet's tone rule now colours the label with the dark theme's muted text.
    qtbot.waitUntil(
        lambda: (
            muted.palette().color(muted.foregroundRole())
            == QColor(THEMES["dark"].colors["muted_text"])
        )
    )
    # A grab of the chat is mostly the dark page, not white.
    image = chat.list_view.viewport().grab().toImage()
    corner = image.pixelColor(2, image.height() - 3)
    assert theme.relative_luminance(corner) < 0.05

    controller.set_choice("high_contrast")
    qtbot.waitUntil(lambda: chat.delegate.palette is THEMES["high_contrast"].chat)
    with pytest.raises(ValueError, match="unknown theme"):
        controller.set_choice("sepia")


def test_view_menu_switches_theme_and_follows_the_controller(
    controller: ThemeController, qapp: QApplication
) -> None:
    menu = QMenu()
    group = theme.build_theme_menu(menu)
    labels = [a.text() for a in menu.actions()]
    assert labels == ["Follow the desktop", "Light", "Dark", "High contrast"]
    checked = [a.text() for a in group.actions() if a.isChecked()]
    assert checked == ["Light"]
    chosen: list[str] = []
    controller.choice_changed.connect(chosen.append)
    next(a for a in menu.actions() if a.text() == "Dark").trigger()
    assert controller.choice == "dark" and chosen == ["dark"]
    assert theme.current_theme().name == "dark"
    # Chosen elsewhere (preferences loaded at start-up): the menu follows.
    controller.set_choice("system")
    assert [a.text() for a in group.actions() if a.isChecked()] == ["Follow the desktop"]
    menu.deleteLater()


@pytest.mark.parametrize("name", ["light", "dark", "high_contrast"])
def test_header_pill_and_paused_banner_take_the_themes_colours(
    name: str, controller: ThemeController, qtbot: QtBot
) -> None:
    """The connection pill (each state) and the paused banner are painted in the theme's
    colours: on dark, "Connected" was a light green pill in a dark header."""
    from supervisor_desk.views.live_options import PausedBanner
    from supervisor_desk.views.main_window import ConnectionPill

    controller.set_choice(name)
    colors = THEMES[name].colors
    pill = ConnectionPill()
    banner = PausedBanner()
    for widget in (pill, banner):
        qtbot.addWidget(widget)
        widget.show()
    banner.set_waiting(3)

    def painted(widget: QLabel | ConnectionPill | PausedBanner) -> QColor:
        image = widget.grab().toImage()
        return image.pixelColor(image.width() // 2, 3)

    for state, tone in [("connected", "ok"), ("reconnecting", "busy"),
                        ("unreachable", "error"), ("stopped", "idle"), ("", "idle")]:
        pill.set_state(state, state or "Not connected")
        text = QColor(colors[f"pill_{tone}_text"])
        qtbot.waitUntil(lambda t=text: pill.label.palette().color(pill.label.foregroundRole()) == t)
        assert pill.dot.palette().color(pill.dot.foregroundRole()) == text
        assert painted(pill) == QColor(colors[f"pill_{tone}_bg"]), state
    banner_text = banner.label.palette().color(banner.label.foregroundRole())
    assert banner_text == QColor(colors["paused_text"])
    assert painted(banner) == QColor(colors["paused_bg"])
