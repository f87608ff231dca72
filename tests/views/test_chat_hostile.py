"""Hostile message content: shown as text, nothing navigates, nothing is fetched, no freeze."""

from __future__ import annotations

import http.server
import socketserver
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.models.wire import SessionDetail
from supervisor_desk.views.chat import ChatView, opener
from supervisor_desk.views.chat.delegate import escape_tooltip
from supervisor_desk.views.chat.layout import SafeTextDocument
from tests.views.chat_samples import message, summary


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[tuple[int, list[str]]]:
    """A real loopback HTTP server: any request it gets means the chat fetched something."""
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits})
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def hostile_messages(port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "script": "<script>alert('x')</script> hello",
        "bold": "<b>x</b>",
        "img": f"<img src={base}/img.png> look",
        "md_image": f"![tracker]({base}/md.png)",
        "html_link": f'<a href="{base}/a">click me</a>',
        "file": "[x](file:///etc/passwd)",
        "js": "[x](javascript:alert(1))",
        "data": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "autolink": f"<{base}/auto>",
        "style": f"<style>body{{background:url({base}/css.png)}}</style>",
        "rtl": "مرحبا، هل يمكنك المساعدة؟ ‮txt.exe‬ שלום <b>x</b>",
        "emoji": "👍🏽 👨‍👩‍👧‍👦 🇩🇪 thanks!",
        "zero_width": "pay\u200bpal.com [login](https://pay\u200bpal.com/login) \u2066x\u2069",
        "big": ("lorem ipsum dolor sit amet " * 4000)[:100_000],
        "big_markdown": "**bold** [ok](https://example.com)\n\n" + "- item <i>x</i>\n" * 6000,
    }


def hostile_detail(port: int) -> SessionDetail:
    msgs = []
    for seq, (name, text) in enumerate(hostile_messages(port).items(), start=1):
        msgs.append(message(seq, "customer" if seq % 2 else "ai", text, id=name))
    msgs.append(
        message(
            len(msgs) + 1,
            "human",
            "plain",
            id="evil_name",
            name=f"<img src=http://127.0.0.1:{port}/name.png>Anna",
        )
    )
    msgs.append(
        message(
            len(msgs) + 1,
            "system",
            f"<b>Transfer</b> <img src=http://127.0.0.1:{port}/m>",
            id="evil_marker",
            kind="marker",
        )
    )
    msgs.append(
        message(
            len(msgs) + 1,
            "customer",
            "files",
            id="evil_files",
            attachments=[
                {
                    "name": "<b>a.png</b>",
                    "mime": "image/png",
                    "size": 10,
                    "url": f"http://127.0.0.1:{port}/att.png",
                },
                {"name": "passwd", "mime": "text/plain", "size": 10, "url": "file:///etc/passwd"},
            ],
        )
    )
    return SessionDetail(session=summary(), messages=msgs)


@pytest.fixture
def shown(qtbot: QtBot, tracker: tuple[int, list[str]]) -> tuple[ChatView, list[str], int]:
    port, hits = tracker
    view = ChatView(time_zone="UTC")
    qtbot.addWidget(view)
    view.resize(800, 700)
    view.show()
    view.set_detail(hostile_detail(port))
    for _ in range(40):
        QApplication.processEvents()
    return view, hits, port


class Body:
    """What a message body shows: its text, its anchors, its (rich) HTML if any."""

    def __init__(self, view: ChatView, msg_id: str) -> None:
        position = view.model.position_of(f"{summary().id}/m/{msg_id}")
        assert position is not None
        self.layout = view.delegate.layout(view.model.row_at(position))
        self.doc = self.layout.doc

    def toPlainText(self) -> str:
        return self.layout.body_text()

    def toHtml(self) -> str:
        return self.doc.toHtml() if self.doc is not None else ""

    def size(self) -> Any:
        if self.doc is not None:
            return self.doc.size()
        assert self.layout.text_layout is not None
        return self.layout.text_layout.boundingRect().size()


def doc_of(view: ChatView, msg_id: str) -> Body:
    return Body(view, msg_id)


def anchors(body: Body) -> list[str]:
    doc = body.doc
    if doc is None:
        return []
    found = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isAnchor():
                found.append(fmt.anchorHref())
            it += 1
        block = block.next()
    return found


def test_raw_html_is_shown_as_literal_text(shown: tuple[ChatView, list[str], int]) -> None:
    view, _, port = shown
    assert doc_of(view, "bold").toPlainText() == "<b>x</b>"
    assert doc_of(view, "script").toPlainText() == "<script>alert('x')</script> hello"
    assert doc_of(view, "img").toPlainText() == f"<img src=http://127.0.0.1:{port}/img.png> look"
    assert "<style>" in doc_of(view, "style").toPlainText()
    assert doc_of(view, "html_link").toPlainText().startswith("<a href=")
    for msg_id in ("bold", "script", "img", "html_link", "style"):
        # A URL inside the literal tag may become a clickable http link (opened in the
        # browser after a click, never fetched); nothing else turns into markup.
        assert all(a.startswith("http://127.0.0.1:") for a in anchors(doc_of(view, msg_id)))
        assert "<img" not in doc_of(view, msg_id).toHtml().replace("&lt;img", "")


def test_only_http_links_become_anchors(shown: tuple[ChatView, list[str], int]) -> None:
    view, _, port = shown
    assert doc_of(view, "file").toPlainText() == "[x](file:///etc/passwd)"
    assert doc_of(view, "js").toPlainText() == "[x](javascript:alert(1))"
    assert doc_of(view, "data").toPlainText().startswith("[x](data:text/html")
    for msg_id in ("file", "js", "data", "zero_width"):
        assert anchors(doc_of(view, msg_id)) == [], msg_id
    # An image becomes a labelled link to open in the browser, never an <img>.
    assert doc_of(view, "md_image").toPlainText() == "[image: tracker]"
    assert anchors(doc_of(view, "md_image")) == [f"http://127.0.0.1:{port}/md.png"]
    assert anchors(doc_of(view, "autolink")) == [f"http://127.0.0.1:{port}/auto"]


def test_rtl_emoji_zero_width_and_names_kept_as_text(
    shown: tuple[ChatView, list[str], int],
) -> None:
    view, _, port = shown
    assert doc_of(view, "rtl").toPlainText() == hostile_messages(port)["rtl"]
    assert doc_of(view, "emoji").toPlainText() == hostile_messages(port)["emoji"]
    assert "pay\u200bpal.com" in doc_of(view, "zero_width").toPlainText()
    name_row = view.model.row_at(view.model.position_of(f"{summary().id}/m/evil_name") or 0)
    assert view.delegate.layout(name_row).label.startswith("<img src=")
    marker = view.model.row_at(view.model.position_of(f"{summary().id}/m/evil_marker") or 0)
    assert marker.text.startswith("<b>Transfer</b> <img src=")


def test_large_messages_are_laid_out_completely(shown: tuple[ChatView, list[str], int]) -> None:
    view, _, port = shown
    big = doc_of(view, "big")
    assert big.toPlainText() == hostile_messages(port)["big"]
    assert big.size().height() > 1000
    listing = doc_of(view, "big_markdown")
    assert listing.toPlainText().count("<i>x</i>") == 6000


def test_nothing_fetched_and_nothing_navigates(
    shown: tuple[ChatView, list[str], int], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    view, hits, port = shown
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    monkeypatch.setattr(opener, "launch", lambda url, done: opened.append(url.toString()))
    # Paint every row (scrolling through) and click everywhere inside every bubble.
    lv = view.list_view
    for position in range(view.model.rowCount()):
        index = view.model.index(position, 0)
        row = view.model.row_at(position)
        lay = view.delegate.layout(row)
        lv.scrollTo(index)
        QApplication.processEvents()
        view.grab()
        if row.kind != "message" or row.message is None or row.message.id.startswith("big"):
            continue
        top = lv.visualRect(index).topLeft()
        rect = lay.bubble
        for y in range(rect.top(), min(rect.bottom(), lv.viewport().height() - top.y()), 6):
            for x in range(rect.left(), rect.right(), 12):
                qtbot.mouseClick(lv.viewport(), Qt.MouseButton.LeftButton, pos=top + QPoint(x, y))
        for card in lay.cards:
            if card.button is not None:
                qtbot.mouseClick(
                    lv.viewport(), Qt.MouseButton.LeftButton, pos=top + card.button.center()
                )
    QApplication.processEvents()
    # Sentinel: our own request, after everything the chat could have started. The tracker
    # serves one connection at a time in arrival order, so a fetch the chat began would be
    # recorded before it.
    urllib.request.urlopen(f"http://127.0.0.1:{port}/sentinel", timeout=10).close()
    assert hits == ["/sentinel"]
    # Clicks reached only http(s) links (which the browser would open), never file/javascript.
    assert opened, "the http links were clickable"
    assert all(url.startswith(("http://", "https://")) for url in opened), opened
    assert not any("passwd" in url for url in opened)


def test_documents_never_load_resources(tracker: tuple[int, list[str]]) -> None:
    port, hits = tracker
    doc = SafeTextDocument()
    assert (
        doc.loadResource(
            QTextDocument.ResourceType.ImageResource.value, QUrl(f"http://127.0.0.1:{port}/r.png")
        )
        is None
    )
    assert (
        doc.loadResource(
            QTextDocument.ResourceType.HtmlResource.value, QUrl("file:///etc/hostname")
        )
        is None
    )
    assert hits == []


def test_tooltips_are_escaped() -> None:
    assert escape_tooltip("<b>x</b>\nnext") == "<qt>&lt;b&gt;x&lt;/b&gt;<br/>next</qt>"
