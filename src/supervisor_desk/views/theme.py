"""Look and feel: the Fusion style with a light, dark or high-contrast palette and stylesheet.

Fusion renders the same on every platform and under Xvfb (where no desktop theme exists), so
screenshots and users see the same app. The theme follows the desktop's colour scheme
(``QStyleHints.colorScheme`` and the accessibility contrast preference) unless the user picks
one in View → Theme. Every text colour a theme defines is paired with the background it is
drawn on (``Theme.text_pairs``) so a test can hold each pair to WCAG's 4.5:1.

The stylesheet (``resources/style.qss``) is a template: ``${token}`` names a colour of the
theme. It only touches our own object names and properties (``tone="muted"`` …), never
generic widgets, to keep Qt's painting fast and the chat/dock styles intact.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QStyleOptionViewItem

from supervisor_desk.views.chat import styles as chat_styles
from supervisor_desk.views.chat.styles import ChatPalette
from supervisor_desk.views.icons import resource_path

ThemeName = Literal["light", "dark", "high_contrast"]
ThemeChoice = Literal["system", "light", "dark", "high_contrast"]
CHOICES: dict[str, str] = {
    "system": "Follow the desktop",
    "light": "Light",
    "dark": "Dark",
    "high_contrast": "High contrast",
}
MIN_TEXT_CONTRAST = 4.5

ACCENT = "#1d4ed8"


# --- WCAG contrast ----------------------------------------------------------------------
def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def relative_luminance(color: QColor) -> float:
    r, g, b = (_channel(c) for c in (color.redF(), color.greenF(), color.blueF()))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def blend(top: QColor | str, bottom: QColor | str, alpha: float) -> QColor:
    """``top`` drawn at ``alpha`` opacity over an opaque ``bottom``."""
    a, b = QColor(top), QColor(bottom)
    return QColor.fromRgbF(
        a.redF() * alpha + b.redF() * (1 - alpha),
        a.greenF() * alpha + b.greenF() * (1 - alpha),
        a.blueF() * alpha + b.blueF() * (1 - alpha),
    )


def contrast_ratio(foreground: QColor | str, background: QColor | str, alpha: float = 1.0) -> float:
    """WCAG 2 contrast of text (at ``alpha`` opacity) on an opaque background: 1 … 21."""
    bg = QColor(background)
    fg = blend(foreground, bg, alpha) if alpha < 1.0 else QColor(foreground)
    hi, lo = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable_on(color: QColor, background: QColor, minimum: float = MIN_TEXT_CONTRAST) -> QColor:
    """``color`` darkened (on a light background) or lightened (on a dark one) until text in
    it reaches ``minimum`` contrast; the hue stays, so a channel keeps its colour."""
    dark_bg = relative_luminance(background) < 0.18
    result = QColor(color)
    for _ in range(40):
        if contrast_ratio(result, background) >= minimum:
            return result
        lightness = result.lightnessF()
        lightness = min(1.0, lightness + 0.04) if dark_bg else max(0.0, lightness - 0.04)
        result = QColor.fromHslF(
            max(0.0, result.hslHueF()), result.hslSaturationF(), lightness, result.alphaF()
        )
    return QColor("#ffffff") if dark_bg else QColor("#000000")


# --- themes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Theme:
    name: ThemeName
    label: str
    colors: dict[str, str]
    chat: ChatPalette
    # (what, text token, background token) drawn by our stylesheet and widgets.
    pairs: tuple[tuple[str, str, str], ...] = field(default=())
    # Rules only this theme needs (high contrast: every input framed in white).
    extra_stylesheet: str = ""

    @property
    def is_dark(self) -> bool:
        return relative_luminance(QColor(self.colors["base"])) < 0.18

    def color(self, token: str) -> QColor:
        return QColor(self.colors[token])

    def palette(self) -> QPalette:
        c = self.colors
        palette = QPalette()
        roles = {
            QPalette.ColorRole.Window: c["window"],
            QPalette.ColorRole.WindowText: c["window_text"],
            QPalette.ColorRole.Base: c["base"],
            QPalette.ColorRole.AlternateBase: c["alt_base"],
            QPalette.ColorRole.Text: c["text"],
            QPalette.ColorRole.Button: c["button"],
            QPalette.ColorRole.ButtonText: c["button_text"],
            QPalette.ColorRole.Highlight: c["highlight"],
            QPalette.ColorRole.HighlightedText: c["highlighted_text"],
            QPalette.ColorRole.ToolTipBase: c["tooltip_base"],
            QPalette.ColorRole.ToolTipText: c["tooltip_text"],
            QPalette.ColorRole.PlaceholderText: c["placeholder"],
            QPalette.ColorRole.Link: c["link"],
            QPalette.ColorRole.LinkVisited: c["link"],
            QPalette.ColorRole.BrightText: c["bright_text"],
            QPalette.ColorRole.Mid: c["mid"],
            QPalette.ColorRole.Midlight: c["midlight"],
            QPalette.ColorRole.Dark: c["dark"],
            QPalette.ColorRole.Light: c["light"],
            QPalette.ColorRole.Shadow: c["shadow"],
        }
        for role, color in roles.items():
            palette.setColor(role, QColor(color))
        disabled = QPalette.ColorGroup.Disabled
        for role in (
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
            QPalette.ColorRole.WindowText,
        ):
            palette.setColor(disabled, role, QColor(c["disabled_text"]))
        return palette

    def stylesheet(self) -> str:
        path = resource_path("style.qss")
        try:
            template = path.read_text(encoding="utf-8")
        except OSError:
            return ""
        return string.Template(template + self.extra_stylesheet).safe_substitute(self.colors)

    def text_pairs(self) -> list[tuple[str, str, str, float]]:
        """(what, text colour, background, opacity) for every text this theme paints."""
        c = self.colors
        out = [(what, c[fg], c[bg], 1.0) for what, fg, bg in self.pairs]
        out += [(f"chat: {what}", fg, bg, a) for what, fg, bg, a in self.chat.text_pairs()]
        return out


# Every text token and the background(s) it is drawn on; the same for all themes.
_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("window text", "window_text", "window"),
    ("text", "text", "base"),
    ("text on alternate rows", "text", "alt_base"),
    ("button text", "button_text", "button"),
    ("selected text", "highlighted_text", "highlight"),
    ("tooltip", "tooltip_text", "tooltip_base"),
    ("placeholder", "placeholder", "base"),
    ("link", "link", "base"),
    ("link on window", "link", "window"),
    ("page title", "title", "header_bg"),
    ("page switch", "segment_text", "header_bg"),
    ("page switch checked", "accent_text", "accent"),
    ("header buttons", "button_text", "header_bg"),
    ("metric title", "metric_title", "card_bg"),
    ("metric value", "metric_value", "card_bg"),
    ("metric caption", "metric_caption", "card_bg"),
    ("table header", "table_header_text", "table_header_bg"),
    ("banner title", "banner_title", "banner_bg"),
    ("banner action", "banner_show", "banner_bg"),
    ("ended banner title", "ended_title", "ended_banner_bg"),
    ("sign-in reason", "sign_in_text", "sign_in_bg"),
    ("muted text", "muted_text", "window"),
    ("muted text on base", "muted_text", "base"),
    ("secondary text", "secondary_text", "window"),
    ("secondary text on base", "secondary_text", "base"),
    ("error text", "error_text", "window"),
    ("error text on base", "error_text", "base"),
    ("success text", "success_text", "window"),
    ("warning text", "warning_text", "window"),
    ("warning text on base", "warning_text", "base"),
    ("new-messages button", "accent_text", "accent"),
    ("log search match", "match_text", "match"),
    ("log current match", "match_text", "current_match"),
    ("table ended rows", "ended_text", "base"),
    ("table ended rows (alternate)", "ended_text", "alt_base"),
    ("table muted cells", "muted_text", "alt_base"),
    ("connection pill: connected", "pill_ok_text", "pill_ok_bg"),
    ("connection pill: connecting", "pill_busy_text", "pill_busy_bg"),
    ("connection pill: unreachable", "pill_error_text", "pill_error_bg"),
    ("connection pill: signed out", "pill_idle_text", "pill_idle_bg"),
    ("paused banner", "paused_text", "paused_bg"),
)

_LIGHT_COLORS = {
    "window": "#f4f6fa",
    "window_text": "#1f2937",
    "base": "#ffffff",
    "alt_base": "#f8fafc",
    "text": "#111827",
    "button": "#ffffff",
    "button_text": "#1f2937",
    "highlight": "#dbeafe",
    "highlighted_text": "#0f172a",
    "tooltip_base": "#111827",
    "tooltip_text": "#f9fafb",
    "placeholder": "#6b7280",
    "link": ACCENT,
    "bright_text": "#ffffff",
    "mid": "#d1d5db",
    "midlight": "#e5e7eb",
    "dark": "#9ca3af",
    "light": "#ffffff",
    "shadow": "#6b7280",
    "disabled_text": "#9ca3af",
    "header_bg": "#ffffff",
    "border": "#e5e7eb",
    "border_strong": "#d1d5db",
    "title": "#111827",
    "segment_text": "#374151",
    "accent": ACCENT,
    "accent_text": "#ffffff",
    "hover": "#f3f4f6",
    "card_bg": "#ffffff",
    "card_accent": "#94a3b8",
    "metric_title": "#6b7280",
    "metric_value": "#111827",
    "metric_caption": "#6b7280",
    "table_header_bg": "#f9fafb",
    "table_header_text": "#4b5563",
    "table_grid": "#f0f1f4",
    "banner_bg": "#eff6ff",
    "banner_border": "#bfdbfe",
    "banner_title": "#1e3a8a",
    "banner_show": ACCENT,
    "ended_banner_bg": "#f9fafb",
    "ended_title": "#374151",
    "sign_in_bg": "#fef2f2",
    "sign_in_border": "#fecaca",
    "sign_in_text": "#991b1b",
    "muted_text": "#646b77",
    "secondary_text": "#5b6372",
    "error_text": "#b3261e",
    "warning_text": "#92400e",
    "success_text": "#1b7f3b",
    "separator": "#e1e4ea",
    "match": "#ffe666",
    "current_match": "#ff9d3b",
    "match_text": "#000000",
    "ended_text": "#6b7280",
    "green": "#16a34a",
    "amber": "#d97706",
    "blue": "#2563eb",
    "purple": "#7c3aed",
    "red": "#dc2626",
    # The header's connection pill (views/main_window.py) by state, and the paused banner.
    "pill_ok_bg": "#dcfce7",
    "pill_ok_text": "#166534",
    "pill_busy_bg": "#fef3c7",
    "pill_busy_text": "#92400e",
    "pill_error_bg": "#fee2e2",
    "pill_error_text": "#991b1b",
    "pill_idle_bg": "#e5e7eb",
    "pill_idle_text": "#374151",
    "paused_bg": "#fff4d6",
    "paused_border": "#f0c96a",
    "paused_text": "#6b4a00",
}

_DARK_COLORS = {
    "window": "#1b1f27",
    "window_text": "#e5e7eb",
    "base": "#12151b",
    "alt_base": "#181c23",
    "text": "#e5e7eb",
    "button": "#262b35",
    "button_text": "#e5e7eb",
    "highlight": "#1e3a8a",
    "highlighted_text": "#f8fafc",
    "tooltip_base": "#f3f4f6",
    "tooltip_text": "#111827",
    "placeholder": "#9ca3af",
    "link": "#8ab4f8",
    "bright_text": "#ffffff",
    "mid": "#3a404b",
    "midlight": "#2c323c",
    "dark": "#0b0d10",
    "light": "#3a404b",
    "shadow": "#000000",
    "disabled_text": "#6b7280",
    "header_bg": "#161a21",
    "border": "#2f3540",
    "border_strong": "#434b58",
    "title": "#f3f4f6",
    "segment_text": "#d1d5db",
    "accent": "#2563eb",
    "accent_text": "#ffffff",
    "hover": "#2a303a",
    "card_bg": "#20252e",
    "card_accent": "#64748b",
    "metric_title": "#a7b0bd",
    "metric_value": "#f3f4f6",
    "metric_caption": "#a7b0bd",
    "table_header_bg": "#1d222a",
    "table_header_text": "#cbd5e1",
    "table_grid": "#262b34",
    "banner_bg": "#172554",
    "banner_border": "#1e40af",
    "banner_title": "#dbeafe",
    "banner_show": "#93c5fd",
    "ended_banner_bg": "#1f242c",
    "ended_title": "#d1d5db",
    "sign_in_bg": "#3b1212",
    "sign_in_border": "#7f1d1d",
    "sign_in_text": "#fecaca",
    "muted_text": "#9ca3af",
    "secondary_text": "#b6bdc9",
    "error_text": "#f28b82",
    "warning_text": "#fbbf24",
    "success_text": "#81c995",
    "separator": "#2f3540",
    "match": "#ffe666",
    "current_match": "#ff9d3b",
    "match_text": "#000000",
    "ended_text": "#9ca3af",
    "green": "#22c55e",
    "amber": "#f59e0b",
    "blue": "#3b82f6",
    "purple": "#a78bfa",
    "red": "#f87171",
    "pill_ok_bg": "#12381f",
    "pill_ok_text": "#86efac",
    "pill_busy_bg": "#3d2a06",
    "pill_busy_text": "#fcd34d",
    "pill_error_bg": "#451414",
    "pill_error_text": "#fca5a5",
    "pill_idle_bg": "#2c323c",
    "pill_idle_text": "#d1d5db",
    "paused_bg": "#33280c",
    "paused_border": "#7c5e12",
    "paused_text": "#fde68a",
}

# Black, white and yellow as desktop high-contrast themes use them: every pair >= 7:1.
_HIGH_CONTRAST_COLORS = {
    "window": "#000000",
    "window_text": "#ffffff",
    "base": "#000000",
    "alt_base": "#0d0d0d",
    "text": "#ffffff",
    "button": "#000000",
    "button_text": "#ffffff",
    "highlight": "#ffd400",
    "highlighted_text": "#000000",
    "tooltip_base": "#ffffff",
    "tooltip_text": "#000000",
    "placeholder": "#d0d0d0",
    "link": "#ffff55",
    "bright_text": "#ffffff",
    "mid": "#ffffff",
    "midlight": "#bfbfbf",
    "dark": "#ffffff",
    "light": "#ffffff",
    "shadow": "#ffffff",
    "disabled_text": "#a0a0a0",
    "header_bg": "#000000",
    "border": "#ffffff",
    "border_strong": "#ffffff",
    "title": "#ffffff",
    "segment_text": "#ffffff",
    "accent": "#ffd400",
    "accent_text": "#000000",
    "hover": "#333333",
    "card_bg": "#000000",
    "card_accent": "#ffffff",
    "metric_title": "#ffffff",
    "metric_value": "#ffffff",
    "metric_caption": "#e0e0e0",
    "table_header_bg": "#000000",
    "table_header_text": "#ffffff",
    "table_grid": "#ffffff",
    "banner_bg": "#000000",
    "banner_border": "#ffd400",
    "banner_title": "#ffffff",
    "banner_show": "#ffff55",
    "ended_banner_bg": "#000000",
    "ended_title": "#ffffff",
    "sign_in_bg": "#000000",
    "sign_in_border": "#ff6b6b",
    "sign_in_text": "#ffb3b3",
    "muted_text": "#e0e0e0",
    "secondary_text": "#ffffff",
    "error_text": "#ff9e9e",
    "warning_text": "#ffd400",
    "success_text": "#8dff9e",
    "separator": "#ffffff",
    "match": "#ffff00",
    "current_match": "#ff9d3b",
    "match_text": "#000000",
    "ended_text": "#d0d0d0",
    "green": "#8dff9e",
    "amber": "#ffd400",
    "blue": "#8ab4ff",
    "purple": "#d7b3ff",
    "red": "#ff9e9e",
    # Black pills framed in their text colour (see _HIGH_CONTRAST_EXTRA).
    "pill_ok_bg": "#000000",
    "pill_ok_text": "#8dff9e",
    "pill_busy_bg": "#000000",
    "pill_busy_text": "#ffd400",
    "pill_error_bg": "#000000",
    "pill_error_text": "#ff9e9e",
    "pill_idle_bg": "#000000",
    "pill_idle_text": "#ffffff",
    "paused_bg": "#000000",
    "paused_border": "#ffd400",
    "paused_text": "#ffd400",
}

# Fusion frames inputs in a shade of the window colour: invisible on black.
_HIGH_CONTRAST_EXTRA = """
QLineEdit, QComboBox, QSpinBox, QDateTimeEdit {
    border: 1px solid ${border};
    padding: 2px 4px;
}
QLineEdit:focus, QComboBox:focus { border: 2px solid ${accent}; }
#connectionPill[connection="ok"] { border: 1px solid ${pill_ok_text}; }
#connectionPill[connection="busy"] { border: 1px solid ${pill_busy_text}; }
#connectionPill[connection="error"] { border: 1px solid ${pill_error_text}; }
#connectionPill[connection="idle"] { border: 1px solid ${pill_idle_text}; }
"""

THEMES: dict[str, Theme] = {
    "light": Theme("light", "Light", _LIGHT_COLORS, chat_styles.LIGHT, _PAIRS),
    "dark": Theme("dark", "Dark", _DARK_COLORS, chat_styles.DARK, _PAIRS),
    "high_contrast": Theme(
        "high_contrast",
        "High contrast",
        _HIGH_CONTRAST_COLORS,
        chat_styles.HIGH_CONTRAST,
        _PAIRS,
        extra_stylesheet=_HIGH_CONTRAST_EXTRA,
    ),
}

_current: Theme = THEMES["light"]


def current_theme() -> Theme:
    """The theme applied now (light before the app applies one: tests, tools)."""
    return _current


def channel_badge_text(channel_color: QColor, fill: QColor | None, cell: QColor) -> QColor:
    """Text colour of a channel badge: the channel's hue, readable on the badge's fill (a
    translucent tint of that hue) over the table cell's background."""
    return _badge_text(channel_color.rgba(), fill.rgba() if fill is not None else 0, cell.rgba())


def cell_background(option: QStyleOptionViewItem) -> QColor:
    """The colour behind a table cell as the style paints it: selection, alternate or base."""
    palette = option.palette
    if option.state & QStyle.StateFlag.State_Selected:
        return palette.color(QPalette.ColorRole.Highlight)
    if option.features & QStyleOptionViewItem.ViewItemFeature.Alternate:
        return palette.color(QPalette.ColorRole.AlternateBase)
    return palette.color(QPalette.ColorRole.Base)


@cache
def _badge_text(color: int, fill: int, cell: int) -> QColor:
    base = QColor.fromRgba(color)
    tint = QColor.fromRgba(fill)
    background = (
        blend(tint, QColor.fromRgba(cell), tint.alphaF()) if fill else QColor.fromRgba(cell)
    )
    dark = relative_luminance(background) < 0.18
    return readable_on(base.lighter(140) if dark else base.darker(125), background)


def theme_color(token: str) -> QColor:
    """A colour of the current theme, as a QColor built once (table ``data()`` is hot)."""
    return _theme_color(_current.name, token)


@cache
def _theme_color(theme_name: str, token: str) -> QColor:
    return QColor(THEMES[theme_name].colors[token])


def system_theme_name(hints: object | None = None) -> ThemeName:
    """What the desktop asks for: high contrast first, then dark or light."""
    style_hints = QGuiApplication.styleHints() if hints is None else hints
    accessibility = getattr(style_hints, "accessibility", None)
    if accessibility is not None:
        prefs = accessibility()
        if prefs.contrastPreference() == Qt.ContrastPreference.HighContrast:
            return "high_contrast"
    scheme = style_hints.colorScheme()  # type: ignore[attr-defined]
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def resolve_theme(choice: str) -> Theme:
    if choice == "system":
        return THEMES[system_theme_name()]
    return THEMES.get(choice, THEMES["light"])


class ThemeController(QObject):
    """Applies the chosen theme, and follows the desktop while the choice is "system"."""

    theme_changed = Signal(object)  # Theme
    choice_changed = Signal(str)

    def __init__(self, app: QApplication, choice: str = "system") -> None:
        super().__init__(app)
        self._app = app
        self._choice = choice if choice in CHOICES else "system"
        hints = app.styleHints()
        hints.colorSchemeChanged.connect(self._on_desktop_changed)
        hints.accessibility().contrastPreferenceChanged.connect(self._on_desktop_changed)

    @property
    def choice(self) -> str:
        return self._choice

    @property
    def theme(self) -> Theme:
        return current_theme()

    def set_choice(self, choice: str) -> None:
        if choice not in CHOICES:
            raise ValueError(f"unknown theme {choice!r}; one of {', '.join(CHOICES)}")
        changed = choice != self._choice
        self._choice = choice
        self.apply()
        if changed:
            self.choice_changed.emit(choice)

    def apply(self) -> None:
        global _current
        theme = resolve_theme(self._choice)
        _current = theme
        chat_styles.set_current_palette(theme.chat)
        self._app.setPalette(theme.palette())
        self._app.setStyleSheet(theme.stylesheet())
        self.theme_changed.emit(theme)

    def _on_desktop_changed(self, *_args: object) -> None:
        if self._choice == "system":
            self.apply()


_controller: ThemeController | None = None


def theme_controller() -> ThemeController | None:
    """The app's controller once ``apply_theme`` ran (None in tests that never apply one)."""
    return _controller


def apply_theme(app: QApplication, choice: str = "system") -> ThemeController:
    global _controller
    app.setStyle("Fusion")
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
        app.setFont(font)
    if _controller is None or _controller.parent() is not app:
        _controller = ThemeController(app, choice)
        _controller.apply()
    else:
        _controller.set_choice(choice)
    return _controller


def build_theme_menu(menu: QMenu) -> QActionGroup:
    """View → Theme: one checkable action per choice, kept in step with the controller."""
    group = QActionGroup(menu)
    group.setExclusive(True)
    current = _controller.choice if _controller is not None else "system"
    for choice, label in CHOICES.items():
        action = QAction(label, menu)
        action.setCheckable(True)
        action.setData(choice)
        action.setChecked(choice == current)
        action.triggered.connect(lambda _checked=False, c=choice: _choose(c))
        group.addAction(action)
        menu.addAction(action)

    def sync(choice: str) -> None:
        for action in group.actions():
            action.setChecked(action.data() == choice)

    if _controller is not None:
        controller = _controller
        controller.choice_changed.connect(sync)
        # The controller outlives the menu (a second window, a test's window): let go of it.
        group.destroyed.connect(lambda *_: controller.choice_changed.disconnect(sync))
    return group


def _choose(choice: str) -> None:
    app = QApplication.instance()
    if _controller is not None:
        _controller.set_choice(choice)
    elif isinstance(app, QApplication):
        apply_theme(app, choice)
