"""Markdown of untrusted chat messages turned into a small, safe HTML subset for Qt rich text.

Every message is written by a customer, a model or a platform: none of it is trusted. The
rules, each enforced here rather than by the widget that shows the result:

- raw HTML in the source is never interpreted: markdown-it runs with ``html`` off, so ``<b>``
  reaches the screen as the four characters ``<b>`` (every text node is escaped);
- a link becomes an anchor only when its target is ``http``/``https``; anything else
  (``file:``, ``javascript:``, ``data:``, relative paths) stays visible as the literal text;
- images are never loaded from the network: a Markdown image becomes a labelled link the
  reader may open in the browser after a click;
- huge messages skip the Markdown parser so they cannot stall the Qt thread.

No Qt here: the output is an HTML string for ``QTextDocument.setHtml``.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_SCHEMES: frozenset[str] = frozenset({"http", "https"})
# Beyond this the Markdown parse plus the rich-text layout of a pathological message (thousands
# of list items) stalls the Qt thread for over 100 ms; such a message is shown as plain text,
# complete, which lays out about 20x faster.
MARKDOWN_LIMIT_CHARS = 8_000

# Any of these means the text may carry Markdown structure; without them plain text renders
# identically and far more cheaply.
_MARKUP = re.compile(
    r"[*_`\[\]<>|\\]|~~|&\w+;|&#|https?://|^\s*(?:[-+>]|\d+[.)]|#{1,6})\s|^ {4}|^\t|^[=-]+\s*$",
    re.M,
)


def is_safe_url(url: str) -> bool:
    """True when ``url`` may be opened in the system browser after the reader clicks it."""
    stripped = url.strip()
    if not stripped or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in stripped):
        # Control or invisible format characters hide what the link really points at.
        return False
    try:
        parts = urlsplit(stripped)
    except ValueError:
        return False
    return parts.scheme.lower() in ALLOWED_SCHEMES and bool(parts.netloc)


def _validate_link(url: str) -> bool:
    return is_safe_url(url)


def _normalize_link(md: MarkdownIt) -> Any:
    default = md.normalizeLink

    def normalize(url: str) -> str:
        # Normalising would turn "pay\u200bpal.com" into punycode and hide the trick from
        # the validator: keep such a URL raw so it is refused and shown as text.
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
            return url
        return str(default(url))

    return normalize


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = "".join(child.content for child in token.children or [])
    label = html.escape(f"[image: {alt or src}]")
    if is_safe_url(src):
        return f'<a href="{html.escape(src, quote=True)}">{label}</a>'
    return label


_BARE_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING_PUNCT = ".,;:!?)]}"


def _linkify(state: Any) -> None:
    """Bare http(s) URLs in text become links (the validator still vets each one)."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        depth = 0
        for token in block.children:
            if token.type == "link_open":
                depth += 1
            elif token.type == "link_close":
                depth -= 1
            if token.type != "text" or depth > 0 or "://" not in token.content:
                children.append(token)
                continue
            text = token.content
            last = 0
            for match in _BARE_URL.finditer(text):
                url = match.group().rstrip(_TRAILING_PUNCT)
                end = match.start() + len(url)
                href = state.md.normalizeLink(url)
                if not state.md.validateLink(href):
                    continue
                if match.start() > last:
                    children.append(_text_token(text[last : match.start()]))
                link_open = Token("link_open", "a", 1)
                link_open.attrs = {"href": href}
                children.extend([link_open, _text_token(url), Token("link_close", "a", -1)])
                last = end
            if last < len(text):
                children.append(_text_token(text[last:]))
        block.children = children


def _text_token(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _build_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.normalizeLink = _normalize_link(md)  # type: ignore[method-assign]
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.add_render_rule("image", _render_image)
    md.core.ruler.push("bare_links", _linkify)
    return md


_PARSER = _build_parser()


def needs_markdown(text: str) -> bool:
    """Whether ``text`` contains anything Markdown would format (else plain text is exact)."""
    return len(text) <= MARKDOWN_LIMIT_CHARS and _MARKUP.search(text) is not None


@functools.lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Safe HTML for ``text``; every character of the source is either formatting or escaped."""
    if len(text) > MARKDOWN_LIMIT_CHARS:
        return plain_to_html(text)
    return str(_PARSER.render(text)).strip()


def rendered_text(text: str) -> str:
    """The words a reader sees once ``text`` is rendered (what transcript search looks at)."""
    if not needs_markdown(text):
        return text
    parts: list[str] = []
    for token in _PARSER.parse(text):
        if token.type in ("fence", "code_block"):
            parts.append(token.content)
        elif token.children:
            for child in token.children:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append("\n")
                elif child.type == "image":
                    alt = "".join(c.content for c in child.children or [])
                    parts.append(f"[image: {alt or child.attrGet('src') or ''}]")
        if token.type.endswith("_close") and token.block:
            parts.append("\n")
    return "".join(parts)


def plain_to_html(text: str) -> str:
    """Plain text as HTML that shows exactly the characters given, line breaks kept."""
    escaped = html.escape(text, quote=False).replace("\n", "<br/>")
    return f'<p style="white-space: pre-wrap">{escaped}</p>'


_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")


def reveal_invisible(text: str) -> str:
    """Show zero-width and bidi-control characters as ``<U+200B>`` so a URL cannot hide them."""
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
