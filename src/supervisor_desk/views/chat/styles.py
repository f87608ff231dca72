"""How the chat looks: geometry constants, labels, and the colours of every part per theme.

Layout (:mod:`.layout`) reads the geometry and labels; painting (:mod:`.paint`) reads a
:class:`ChatPalette`. The palettes for light, dark and high-contrast live here so one test can
check every text colour against the background it is painted on (``text_pairs``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

SIDE = 14
PAD = 10
VGAP = 5
RADIUS = 12
MAX_BUBBLE_FRACTION = 0.74
CARD_H = 46
CARD_MIN_W = 240
IMAGE_MAX_H = 220
LAYOUT_CACHE_SIZE = 600
PILL_MAX_CHARS = 600
PILL_FLAGS = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
CARD_META_FLAGS = Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap
# The head label of a bubble (System, a note's author) is the text colour at this opacity.
MUTED_ALPHA = 0.7

DRAFT_LABEL = "Draft from Copilot"
NOTE_LABEL = "Private note"
TEMPLATE_BADGE = "WhatsApp template"
COPY_LABEL = "Copy"
DOWNLOAD_LABEL = "Download"
NO_FILE_LABEL = "No file"
DELIVERY_GLYPHS = {"sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "!"}
REACTION_GLYPHS = {"up": "👍", "down": "👎"}


@dataclass(frozen=True)
class Style:
    fill: str
    border: str
    text: str
    link: str
    dashed: bool = False


@dataclass(frozen=True)
class ChatPalette:
    """Every colour the transcript paints, for one theme."""

    background: str
    bubbles: dict[str, Style]
    pill_fill: str
    pill_text: str
    header_fill: str
    header_border: str
    header_text: str
    highlight: str
    current_highlight: str
    highlight_text: str
    template_fill: str
    template_text: str
    chip_border: str
    chip_fill: str
    chip_text: str
    footer: str
    delivery_read: str
    delivery_failed: str
    reaction_up: str
    reaction_down: str
    reaction_text: str
    button_border: str
    button_fill: str
    button_text: str
    card_border: str
    card_fill: str
    card_title: str
    card_meta: str
    card_caption: str
    icon_fill: str
    icon_text: str
    no_file_text: str

    def bubble(self, key: str) -> Style:
        return self.bubbles.get(key, self.bubbles["ai"])

    def text_pairs(self) -> list[tuple[str, str, str, float]]:
        """(what, text colour, background, text opacity) for every text the chat paints."""
        pairs: list[tuple[str, str, str, float]] = []
        for key, style in self.bubbles.items():
            pairs.append((f"{key} bubble text", style.text, style.fill, 1.0))
            pairs.append((f"{key} bubble label", style.text, style.fill, MUTED_ALPHA))
            pairs.append((f"{key} bubble link", style.link, style.fill, 1.0))
        pairs += [
            ("pill", self.pill_text, self.pill_fill, 1.0),
            ("session header", self.header_text, self.header_fill, 1.0),
            ("search match", self.highlight_text, self.highlight, 1.0),
            ("current search match", self.highlight_text, self.current_highlight, 1.0),
            ("template badge", self.template_text, self.template_fill, 1.0),
            ("quick reply chip", self.chip_text, self.chip_fill, 1.0),
            ("time footer", self.footer, self.background, 1.0),
            ("delivery read", self.delivery_read, self.background, 1.0),
            ("delivery failed", self.delivery_failed, self.background, 1.0),
            ("reaction up", self.reaction_text, self.reaction_up, 1.0),
            ("reaction down", self.reaction_text, self.reaction_down, 1.0),
            ("button", self.button_text, self.button_fill, 1.0),
            ("attachment name", self.card_title, self.card_fill, 1.0),
            ("attachment size and type", self.card_meta, self.card_fill, 1.0),
            ("image caption", self.card_caption, self.card_fill, 1.0),
            ("file badge", self.icon_text, self.icon_fill, 1.0),
            ("no file", self.no_file_text, self.card_fill, 1.0),
        ]
        return pairs


LIGHT = ChatPalette(
    background="#ffffff",
    bubbles={
        "customer": Style("#2f3b52", "#2f3b52", "#ffffff", "#a9d1ff"),
        "ai": Style("#eef1f6", "#dde2ea", "#1d2330", "#1a5fb4"),
        "human": Style("#e5f1ff", "#c4dcf7", "#1d2330", "#1a5fb4"),
        "system": Style("#f3f3f3", "#dcdcdc", "#333333", "#1a5fb4"),
        "draft": Style("#ffffff", "#7a8699", "#1d2330", "#1a5fb4", dashed=True),
        "note": Style("#fff8dc", "#c9a227", "#3a3220", "#1a5fb4", dashed=True),
    },
    pill_fill="#e9ebef",
    pill_text="#5b6372",
    header_fill="#dfe9f7",
    header_border="#b8cbe6",
    header_text="#1d3557",
    highlight="#ffe666",
    current_highlight="#ff9d3b",
    highlight_text="#000000",
    template_fill="#1a7f45",
    template_text="#ffffff",
    chip_border="#1a5fb4",
    chip_fill="#ffffff",
    chip_text="#1a5fb4",
    footer="#6b7280",
    delivery_read="#1a73e8",
    delivery_failed="#c62828",
    reaction_up="#e3f4e6",
    reaction_down="#fde7e7",
    reaction_text="#333333",
    button_border="#9aa4b5",
    button_fill="#ffffff",
    button_text="#1d2330",
    card_border="#c9ced8",
    card_fill="#ffffff",
    card_title="#1d2330",
    card_meta="#6b7280",
    card_caption="#555b66",
    icon_fill="#e8ecf3",
    icon_text="#4a5568",
    no_file_text="#6b7280",
)

DARK = ChatPalette(
    background="#12151b",
    bubbles={
        "customer": Style("#2b4a7a", "#2b4a7a", "#ffffff", "#cfe3ff"),
        "ai": Style("#232933", "#323a46", "#e5e7eb", "#8ab4f8"),
        "human": Style("#1d3352", "#2c4a73", "#e5e7eb", "#a8cbff"),
        "system": Style("#262626", "#3a3a3a", "#d4d4d4", "#8ab4f8"),
        "draft": Style("#12151b", "#6b7689", "#e5e7eb", "#8ab4f8", dashed=True),
        "note": Style("#3a3113", "#a88a2a", "#f5e7b5", "#a8cbff", dashed=True),
    },
    pill_fill="#262b35",
    pill_text="#b6bdc9",
    header_fill="#1f2f47",
    header_border="#2f4a70",
    header_text="#dbe7f7",
    highlight="#ffe666",
    current_highlight="#ff9d3b",
    highlight_text="#000000",
    template_fill="#1a7f45",
    template_text="#ffffff",
    chip_border="#8ab4f8",
    chip_fill="#12151b",
    chip_text="#8ab4f8",
    footer="#9ca3af",
    delivery_read="#8ab4f8",
    delivery_failed="#f28b82",
    reaction_up="#1e3a2a",
    reaction_down="#3f1f1f",
    reaction_text="#e5e7eb",
    button_border="#4b5563",
    button_fill="#262b35",
    button_text="#e5e7eb",
    card_border="#3a404b",
    card_fill="#1b1f27",
    card_title="#e5e7eb",
    card_meta="#a7b0bd",
    card_caption="#b6bdc9",
    icon_fill="#2c323c",
    icon_text="#cbd5e1",
    no_file_text="#a7b0bd",
)

HIGH_CONTRAST = ChatPalette(
    background="#000000",
    bubbles={
        "customer": Style("#000000", "#ffd400", "#ffffff", "#ffff55"),
        "ai": Style("#000000", "#ffffff", "#ffffff", "#ffff55"),
        "human": Style("#000000", "#8ab4ff", "#ffffff", "#ffff55"),
        "system": Style("#000000", "#bfbfbf", "#ffffff", "#ffff55"),
        "draft": Style("#000000", "#ffffff", "#ffffff", "#ffff55", dashed=True),
        "note": Style("#000000", "#ffd400", "#ffffff", "#ffff55", dashed=True),
    },
    pill_fill="#000000",
    pill_text="#ffffff",
    header_fill="#000000",
    header_border="#ffffff",
    header_text="#ffffff",
    highlight="#ffff00",
    current_highlight="#ff9d3b",
    highlight_text="#000000",
    template_fill="#8dff9e",
    template_text="#000000",
    chip_border="#ffff55",
    chip_fill="#000000",
    chip_text="#ffff55",
    footer="#e0e0e0",
    delivery_read="#8ab4ff",
    delivery_failed="#ff9e9e",
    reaction_up="#000000",
    reaction_down="#000000",
    reaction_text="#ffffff",
    button_border="#ffffff",
    button_fill="#000000",
    button_text="#ffffff",
    card_border="#ffffff",
    card_fill="#000000",
    card_title="#ffffff",
    card_meta="#e0e0e0",
    card_caption="#e0e0e0",
    icon_fill="#000000",
    icon_text="#ffffff",
    no_file_text="#e0e0e0",
)

_current: ChatPalette = LIGHT


def current_palette() -> ChatPalette:
    """The chat colours of the theme applied now (``views.theme`` sets them)."""
    return _current


def set_current_palette(palette: ChatPalette) -> None:
    global _current
    _current = palette
