"""Safe Markdown and pill texts (Qt-free helpers behind the chat)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supervisor_desk.models.chat_rows import session_rows
from supervisor_desk.models.markdown_safe import (
    MARKDOWN_LIMIT_CHARS,
    is_safe_url,
    needs_markdown,
    render_markdown,
    reveal_invisible,
)
from supervisor_desk.models.markers import (
    end_pill,
    format_duration,
    format_size,
    marker_text,
    resolve_time_zone,
)
from tests.views.chat_samples import T0, message, summary


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("HTTPS://EXAMPLE.COM", True),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("mailto:a@b.c", False),
        ("//example.com/x", False),
        ("relative/path", False),
        ("https://pay\u200bpal.com", False),
        ("https://example.com/\u202etxt.exe", False),
        ("http:///nohost", False),
        ("", False),
    ],
)
def test_only_http_and_https_urls_are_safe(url: str, safe: bool) -> None:
    assert is_safe_url(url) is safe


def test_markdown_formats_but_escapes_html() -> None:
    html = render_markdown("**b** _i_ `c` <b>raw</b>\n\n- one\n- two\n\n```\n<x>\n```")
    assert "<strong>b</strong>" in html and "<em>i</em>" in html and "<code>c</code>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html and "<b>" not in html
    assert "<li>one</li>" in html and "&lt;x&gt;" in html


def test_links_images_and_bad_schemes() -> None:
    assert '<a href="https://a.example/x">t</a>' in render_markdown("[t](https://a.example/x)")
    assert "<a" not in render_markdown("[t](javascript:alert(1))")
    assert "<a" not in render_markdown("[t](file:///etc/passwd)")
    image = render_markdown("![alt](https://img.example/p.png)")
    assert (
        "<img" not in image
        and "[image: alt]" in image
        and 'href="https://img.example/p.png"' in image
    )
    assert "<img" not in render_markdown("![alt](file:///x.png)")


def test_plain_text_fast_path_and_limit() -> None:
    assert not needs_markdown("Hello, how are you today? It's 5 o'clock.")
    assert needs_markdown("**bold**") and needs_markdown("- item") and needs_markdown("<b>")
    assert not needs_markdown("*" * (MARKDOWN_LIMIT_CHARS + 1))


def test_reveal_invisible() -> None:
    assert reveal_invisible("pay\u200bpal") == "pay<U+200B>pal"


def test_marker_time_replaced_and_appended() -> None:
    tz = resolve_time_zone("Europe/Berlin")
    baked = message(
        1, "system", "Transfer to human agent at 2026-11-21 14:03:00 UTC", kind="marker"
    )
    assert marker_text(baked, tz) == "Transfer to human agent at 2026-11-21 15:02"
    bare = message(1, "system", "Transfer to human: supervisor", kind="marker")
    assert marker_text(bare, tz) == "Transfer to human: supervisor at 2026-11-21 15:02"


@pytest.mark.parametrize(
    ("reason", "status", "text"),
    [
        ("user_disconnect", "completed", "User disconnected at 2026-11-21 14:12"),
        ("system_disconnect", "completed", "System disconnected the session at 2026-11-21 14:12"),
        ("transfer", "transferred", "Session transferred at 2026-11-21 14:12"),
        ("resolved", "completed", "The session was resolved at 2026-11-21 14:12"),
        (None, "failed", "Session ended with an error at 2026-11-21 14:12"),
    ],
)
def test_end_pills(reason: str | None, status: str, text: str) -> None:
    s = summary(status=status, end_reason=reason, ended_at=T0 + timedelta(minutes=10))
    assert end_pill(s, [], UTC) == text


def test_end_pill_skipped_when_hub_marker_says_it() -> None:
    s = summary(status="completed", end_reason="resolved", ended_at=T0 + timedelta(minutes=10))
    marker = message(
        1, "system", "The session was resolved by Anna at 2026-11-21 14:12:00 UTC", kind="marker"
    )
    assert end_pill(s, [marker], UTC) is None
    rows = session_rows(s, [marker], UTC, with_header=True)
    assert [r.kind for r in rows] == ["header", "pill", "marker"]


def test_resolved_by_operator() -> None:
    s = summary(
        status="completed",
        end_reason="resolved",
        ended_at=T0 + timedelta(minutes=10),
        responsible={"kind": "human", "operator": {"id": "o1", "name": "Anna"}},
    )
    assert end_pill(s, [], UTC) == "The session was resolved by Anna at 2026-11-21 14:12"


def test_formatting_helpers() -> None:
    assert format_duration(45) == "45s"
    assert format_duration(225) == "3m 45s"
    assert format_duration(11761) == "3h 16m 1s"
    assert format_size(512) == "512 B" and format_size(184_320) == "180.0 KB"
    assert resolve_time_zone("UTC") is UTC
    assert resolve_time_zone("No/Such_Zone") is UTC
    assert resolve_time_zone("local").utcoffset(datetime.now()) is not None


def test_bare_urls_become_links_but_only_safe_ones() -> None:
    html = render_markdown("Track it here: https://track.example.com/1Z03. Thanks")
    assert '<a href="https://track.example.com/1Z03">https://track.example.com/1Z03</a>.' in html
    assert "<a" not in render_markdown("see `https://code.example` here")
    assert "<a" not in render_markdown("https://pay\u200bpal.com/login")
    assert "<a" not in render_markdown("javascript:alert(1) file:///etc/passwd")
    linked = render_markdown("[label](https://a.example) https://b.example")
    assert linked.count("<a ") == 2
