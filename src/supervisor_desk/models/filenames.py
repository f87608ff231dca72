"""File names that came from someone else (attachments, exports) made safe to save under.

An attachment name is chosen by whoever sent the message: it may hold path separators
(``../../.bashrc``), a leading dot (hidden file), control or bidi-override characters
(``invoice\u202egpj.exe`` shows as ``invoiceexe.jpg``), a Windows device name (``CON``) or be
empty or thousands of characters long. The desktop only ever proposes the result of
:func:`safe_filename` in its save dialog, inside the folder the user picks.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

_MAX_BYTES = 180
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)


def _visible(ch: str) -> bool:
    # Cc: controls, Cf: format (bidi overrides, zero-width), Co/Cs/Cn: private, surrogates, none.
    return unicodedata.category(ch)[0] != "C"


def safe_filename(name: str | None, fallback: str = "file") -> str:
    """A single harmless file name derived from ``name`` (never empty, no directories)."""
    return _shorten(_clean(name or "") or _clean(fallback) or "file")


def _clean(name: str) -> str:
    text = unicodedata.normalize("NFC", name)
    # Only the last path component counts, whichever separator the sender's system used.
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if _visible(ch))
    text = _FORBIDDEN.sub("_", text)
    text = " ".join(text.split())  # tabs, newlines, runs of spaces
    text = text.strip(". ")  # no hidden files, no "..", no trailing dot (Windows drops it)
    if text.split(".")[0].strip().upper() in _WINDOWS_DEVICES:
        text = "_" + text
    return text


def _shorten(text: str) -> str:
    if len(text.encode("utf-8")) <= _MAX_BYTES:
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = text, ""
    suffix = f".{ext}" if ext else ""
    budget = _MAX_BYTES - len(suffix.encode("utf-8"))
    while len(stem.encode("utf-8")) > budget:
        stem = stem[:-1]
    return stem.rstrip(". ") + suffix


def export_filename(fmt: str, when: datetime) -> str:
    """The default name of an export file: ``sessions-YYYYmmdd-HHMMSS.<fmt>``."""
    ext = fmt if fmt in ("json", "jsonl", "csv") else "json"
    return f"sessions-{when.strftime('%Y%m%d-%H%M%S')}.{ext}"
