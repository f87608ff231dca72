"""ChatView: every message kind and pill, live following, search, clicks, time zones."""

from __future__ import annotations

import os
import sys
from datetime import UTC as UTC_TZ
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.models.chat_rows import PLACEHOLDER_TEXT, ChatRow
from supervisor_desk.models.wire import Message, SessionDetail
from supervisor_desk.views.chat import ChatView, opener
from supervisor_desk.views.chat.layout import RowLayout
from supervisor_desk.views.chat.model import KindRole, ObjectRole
from supervisor_desk.views.chat.styles import DRAFT_LABEL, NOTE_LABEL, TEMPLATE_BADGE
from tests.views.chat_samples import (
    T0,
    every_kind_detail,
    long_detail,
    message,
    summary,
    voice_pending_detail,
    whatsapp_detail,
)


def settle(view: ChatView, rounds: int = 30) -> None:
    """Let the batched list layout finish (it lays rows out over several event rounds)."""
    for _ in range(rounds):
        QApplication.processEvents()


@pytest.fixture
def chat(qtbot: QtBot) -> ChatView:
    view = ChatView(time_zone="UTC")
    qtbot.addWidget(view)
    view.resize(760, 700)
    view.show()
    return view


def rows(view: ChatView) -> list[ChatRow]:
    return [view.model.index(i, 0).data(ObjectRole) for i in range(view.model.rowCount())]


def layout_of(view: ChatView, key: str) -> RowLayout:
    position = view.model.position_of(key)
    assert position is not None, key
    return view.delegate.layout(view.model.row_at(position))


def key(msg_id: str, sid: str = summary().id) -> str:
    return f"{sid}/m/{msg_id}"


def row_point(view: ChatView, row_key: str, inner: QPoint) -> QPoint:
    """Viewport coordinates of ``inner`` (row coordinates), after scrolling the row into view."""
    index = view.index_of(row_key)
    view.list_view.scrollTo(index)
    settle(view, 5)
    return view.list_view.visualRect(index).topLeft() + inner


def test_every_message_kind_is_rendered(chat: ChatView) -> None:
    chat.set_detail(every_kind_detail())
    settle(chat)
    kinds = [r.kind for r in rows(chat)]
    assert (
        kinds[0] == "pill"
        and rows(chat)[0].text == "Client started the session at 2026-11-21 14:02"
    )
    assert kinds.count("message") == 8
    assert kinds.count("marker") == 2
    assert chat.title_label.text() == "Chat · 8 messages"

    customer = layout_of(chat, key("m1"))
    ai = layout_of(chat, key("m2"))
    assert customer.align == "right" and ai.align == "left"
    assert customer.style is not None and ai.style is not None
    assert customer.style.fill == "#2f3b52"  # dark bubble
    assert ai.style.fill == "#eef1f6"  # light bubble
    # Markdown: emphasis and lists keep their structure, the link is an anchor.
    assert customer.doc is not None and "October" in customer.doc.toPlainText()
    assert "**" not in customer.doc.toPlainText()
    assert ai.doc is not None and "the invoice number" in ai.doc.toPlainText()
    assert "https://example.com/billing-faq" in ai.doc.toHtml()
    # Reaction under the AI message; quick replies as chips under it.
    assert ai.reaction_glyph == "👍"
    assert [text for _, text in ai.chips] == ["Invoice number", "Card digits", "Talk to a human"]
    assert layout_of(chat, key("m4")).reaction_glyph == "👎"
    # Delivery icons.
    assert customer.delivery_glyph == "✓✓"
    assert layout_of(chat, key("m9")).delivery_glyph == "!"

    draft = layout_of(chat, key("m7"))
    assert draft.label == DRAFT_LABEL and draft.copy_rect is not None
    assert draft.style is not None and draft.style.dashed
    note = layout_of(chat, key("m8"))
    assert note.label.startswith(NOTE_LABEL) and note.style is not None and note.style.dashed
    human = layout_of(chat, key("m9"))
    assert human.label == "Anna Petrova" and human.label_bold

    markers = [r.text for r in rows(chat) if r.kind == "marker"]
    assert markers == [
        "Transfer to human agent at 2026-11-21 14:04",
        "Anna Petrova was assigned by Max Weber at 2026-11-21 14:05",
    ]
    # Model text for accessibility names who said what.
    texts = [chat.model.index(i, 0).data() for i in range(chat.model.rowCount())]
    assert any(t.startswith("Draft from Copilot · Copilot: Refund") for t in texts)
    assert any(t.startswith("Private note · Anna Petrova:") for t in texts)


def test_attachments_cards_and_local_image(chat: ChatView) -> None:
    chat.set_detail(every_kind_detail())
    settle(chat)
    lay = layout_of(chat, key("m3"))
    pdf, png = lay.cards
    assert pdf.attachment.name == "invoice-october.pdf" and pdf.button is not None
    assert pdf.image is None
    # Bytes carried in the message: shown inline, no button needed to see it.
    assert png.image is not None and png.image.width() == 160


def test_template_badge_and_end_pill(chat: ChatView) -> None:
    chat.set_detail(whatsapp_detail())
    settle(chat)
    first = layout_of(chat, key("m1", "wa-0001-outbound"))
    assert first.badge == TEMPLATE_BADGE
    assert rows(chat)[-1].kind == "pill"
    assert rows(chat)[-1].text == "User disconnected at 2026-11-21 14:11"
    assert chat.status_label.text() == "Completed"


def test_voice_session_without_transcript_shows_placeholder(chat: ChatView) -> None:
    chat.set_detail(voice_pending_detail())
    settle(chat)
    placeholder = [r for r in rows(chat) if r.kind == "placeholder"]
    assert [r.text for r in placeholder] == [PLACEHOLDER_TEXT]
    recording = layout_of(chat, key("m1", "voice-77")).cards[0]
    assert recording.attachment.mime == "audio/mpeg" and recording.button is not None


def test_placeholder_goes_when_the_transcript_arrives(chat: ChatView) -> None:
    detail = voice_pending_detail()
    live = SessionDetail(
        session=detail.session.model_copy(
            update={"status": "active", "ended_at": None, "end_reason": None}
        ),
        messages=detail.messages,
    )
    chat.set_detail(live)
    assert any(r.kind == "placeholder" for r in rows(chat))
    chat.append_message(message(2, "customer", "Hello, I'm calling about…", session_id="voice-77"))
    assert not any(r.kind == "placeholder" for r in rows(chat))


def test_markers_shown_in_the_chosen_time_zone(chat: ChatView) -> None:
    detail = SessionDetail(
        session=summary(),
        messages=[
            message(
                1,
                "system",
                "Client started the session at 2026-11-21 14:02:11 UTC",
                kind="marker",
                minutes=0,
            ),
        ],
    )
    chat.set_time_zone("Asia/Tokyo")
    chat.set_detail(detail)
    pills = [r.text for r in rows(chat)]
    # The platform's baked-in UTC time is replaced by the reader's zone (UTC+9).
    assert pills == ["Client started the session at 2026-11-21 23:02"]
    lay = layout_of(chat, key("m1"))
    assert lay.pill_text == pills[0]


def test_message_time_in_time_zone_and_delivery_tooltip_in_utc(chat: ChatView) -> None:
    chat.set_time_zone("America/New_York")
    chat.set_detail(every_kind_detail())
    settle(chat)
    lay = layout_of(chat, key("m1"))
    assert lay.footer == "09:02"  # 14:02 UTC
    row = chat.model.row_at(chat.model.position_of(key("m1")) or 0)
    assert lay.delivery_rect is not None
    tip = chat.delegate.tooltip_at(row, lay.delivery_rect.center())
    assert tip == "Read at 2026-11-21 14:02:51 UTC\nProvider note: Read receipt from widget"


def test_update_message_changes_reaction_in_place(chat: ChatView) -> None:
    detail = every_kind_detail()
    chat.set_detail(detail)
    before = chat.model.rowCount()
    changed = detail.messages[3].model_copy(update={"reaction": "up"})
    chat.update_message(changed)
    assert chat.model.rowCount() == before
    assert layout_of(chat, key("m4")).reaction_glyph == "👍"


def test_live_messages_follow_when_at_bottom(chat: ChatView) -> None:
    chat.set_detail(long_detail(200, live=True))
    settle(chat, 60)
    bar = chat.list_view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    chat.append_message(
        message(201, "customer", "one more", session_id="long-session", minutes=100)
    )
    settle(chat, 10)
    assert bar.value() == bar.maximum()
    assert chat.new_messages_button.isHidden()
    assert chat.title_label.text() == "Chat · 201 messages"


def test_scrolled_up_reader_gets_new_messages_button(chat: ChatView, qtbot: QtBot) -> None:
    chat.set_detail(long_detail(200, live=True))
    settle(chat, 60)
    bar = chat.list_view.verticalScrollBar()
    bar.setSliderPosition(bar.maximum() // 3)  # as the reader drags the scroll bar
    settle(chat, 5)
    assert not chat.following
    position = bar.value()
    counts: list[int] = []
    chat.message_count_changed.connect(counts.append)
    for seq in (201, 202, 203):
        chat.append_message(
            message(seq, "customer", f"new {seq}", session_id="long-session", minutes=100 + seq)
        )
    settle(chat, 10)
    assert bar.value() == position  # the reader was not yanked down
    assert chat.new_messages_button.isVisible()
    assert chat.new_messages_button.text() == "3 new messages ↓"
    assert counts == [201, 202, 203]
    qtbot.mouseClick(chat.new_messages_button, Qt.MouseButton.LeftButton)
    settle(chat, 10)
    assert bar.value() == bar.maximum()
    assert chat.new_messages_button.isHidden() and chat.unread_count == 0


def test_scrolling_to_the_bottom_clears_the_button(chat: ChatView) -> None:
    chat.set_detail(long_detail(120, live=True))
    settle(chat, 60)
    bar = chat.list_view.verticalScrollBar()
    bar.setSliderPosition(0)
    settle(chat, 3)
    chat.append_message(message(121, "ai", "hello", session_id="long-session", minutes=99))
    assert chat.new_messages_button.isVisible()
    settle(chat, 20)
    bar.setSliderPosition(bar.maximum())
    settle(chat, 3)
    assert chat.new_messages_button.isHidden() and chat.following


def test_duplicate_append_is_an_update(chat: ChatView) -> None:
    detail = every_kind_detail()
    chat.set_detail(detail)
    count = chat.model.rowCount()
    chat.append_message(detail.messages[0])
    assert chat.model.rowCount() == count


def test_search_highlights_and_steps(chat: ChatView, qtbot: QtBot) -> None:
    chat.set_detail(every_kind_detail())
    settle(chat)
    qtbot.keyClick(chat.list_view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert chat.search_bar.isVisible() and chat.search_bar.edit.hasFocus()
    qtbot.keyClicks(chat.search_bar.edit, "INV-2026")
    qtbot.waitUntil(lambda: chat.search_bar.count_label.text() == "1 of 2", timeout=2000)
    assert chat.current_match == (key("m3"), 0)
    qtbot.keyClick(chat.search_bar.edit, Qt.Key.Key_Return)
    assert chat.current_match == (key("m7"), 0)
    assert chat.search_bar.count_label.text() == "2 of 2"
    chat.search_bar.next_button.click()
    assert chat.current_match == (key("m3"), 0)
    chat.search_bar.prev_button.click()
    assert chat.current_match == (key("m7"), 0)
    # The current match is painted with the strong highlight (a plain-text body).
    lay = layout_of(chat, key("m7"))
    assert lay.text_layout is not None and lay.doc is None
    ranges = chat.delegate.plain_highlights(
        chat.model.row_at(chat.model.position_of(key("m7")) or 0)
    )
    assert len(ranges) == 1
    assert lay.body_text()[ranges[0].start : ranges[0].start + ranges[0].length] == "INV-2026"
    assert ranges[0].format.background().color().name() == "#ff9d3b"
    # A Markdown body is highlighted in its document.
    assert chat.search("billing") == 1
    md = layout_of(chat, key("m2"))
    assert md.doc is not None
    selections = chat.delegate.highlights(
        chat.model.row_at(chat.model.position_of(key("m2")) or 0), md.doc
    )
    assert len(selections) == 1 and selections[0].cursor.selectedText() == "billing"
    # Emoji before a match: Qt's UTF-16 positions still point at the match.
    assert chat.search("so much") == 1
    thanks = chat.model.row_at(chat.model.position_of(key("m10")) or 0)
    (emoji_range,) = chat.delegate.plain_highlights(thanks)
    assert emoji_range.start == len("Thank you ")
    assert chat.search("thank") == 1
    assert chat.search("no such words") == 0
    assert chat.search_bar.count_label.text() == "No matches"
    qtbot.keyClick(chat.search_bar.edit, Qt.Key.Key_Escape)
    assert chat.search_bar.isHidden() and chat.delegate.query == ""


def test_draft_copy_button_puts_text_on_clipboard(chat: ChatView, qtbot: QtBot) -> None:
    chat.set_detail(every_kind_detail())
    settle(chat)
    lay = layout_of(chat, key("m7"))
    assert lay.copy_rect is not None
    point = row_point(chat, key("m7"), lay.copy_rect.center())
    with qtbot.waitSignal(chat.draft_copied, timeout=1000):
        qtbot.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert QGuiApplication.clipboard().text() == (
        "Refund of the duplicate charge of €49.00 for INV-2026-1043 approved."
    )


def find_anchor_point(lay: RowLayout, href: str) -> QPoint:
    assert lay.doc is not None
    size = lay.doc.size()
    for y in range(0, int(size.height()), 2):
        for x in range(0, int(size.width()), 2):
            if lay.doc.documentLayout().anchorAt(QPoint(x, y).toPointF()) == href:
                return lay.doc_pos + QPoint(x, y)
    raise AssertionError(f"no anchor {href}")


def test_http_link_opens_in_browser_only_after_click(
    chat: ChatView, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(opener, "launch", lambda url, done: opened.append(url.toString()))
    chat.set_detail(every_kind_detail())
    settle(chat)
    assert opened == []
    lay = layout_of(chat, key("m2"))
    point = row_point(chat, key("m2"), find_anchor_point(lay, "https://example.com/billing-faq"))
    qtbot.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert opened == ["https://example.com/billing-faq"]


def test_download_writes_local_bytes(chat: ChatView, tmp_path: Any) -> None:
    chat.set_detail(every_kind_detail())
    png = layout_of(chat, key("m3")).cards[1].attachment
    dest = tmp_path / "shot.png"
    chat.download_attachment(png, dest)
    assert dest.read_bytes().startswith(b"\x89PNG")


def test_download_of_remote_file_goes_to_browser(
    chat: ChatView, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(opener, "launch", lambda url, done: opened.append(url))
    chat.set_detail(every_kind_detail())
    pdf = layout_of(chat, key("m3")).cards[0].attachment
    chat.download_attachment(pdf)
    assert [u.toString() for u in opened] == ["https://files.example.com/invoice-october.pdf"]


def _fake_xdg_open(folder: Path, exit_status: int) -> Path:
    """An xdg-open on PATH that records its argument and exits with ``exit_status``."""
    script = folder / "xdg-open"
    record = folder / "opened.txt"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{record}"\nexit {exit_status}\n')
    script.chmod(0o755)
    return record


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open is Linux's opener")
def test_download_that_nothing_can_open_says_so(
    chat: ChatView, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xdg-open finds no application (exit 3): the chat says so instead of nothing."""
    record = _fake_xdg_open(tmp_path, 3)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    chat.set_detail(every_kind_detail())
    pdf = layout_of(chat, key("m3")).cards[0].attachment
    with qtbot.waitSignal(chat.open_finished, timeout=5000) as finished:
        chat.download_attachment(pdf)
    assert finished.args == [pdf.url, "no application is set up to open it"]
    assert record.read_text() == "https://files.example.com/invoice-october.pdf"
    assert chat.status_label.text() == (
        "Could not open invoice-october.pdf: no application is set up to open it"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open is Linux's opener")
def test_download_that_opens_says_so(
    chat: ChatView, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_xdg_open(tmp_path, 0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    chat.set_detail(every_kind_detail())
    pdf = layout_of(chat, key("m3")).cards[0].attachment
    with qtbot.waitSignal(chat.open_finished, timeout=5000) as finished:
        chat.download_attachment(pdf)
    assert finished.args == [pdf.url, ""]
    assert chat.status_label.text().startswith("Opened invoice-october.pdf")


def test_without_xdg_open_a_refused_link_is_reported(
    chat: ChatView, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows, macOS or no xdg-open: Qt's own answer decides."""
    monkeypatch.setattr(opener.shutil, "which", lambda name: None)
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    chat.set_detail(every_kind_detail())
    pdf = layout_of(chat, key("m3")).cards[0].attachment
    chat.download_attachment(pdf)
    assert "Could not open invoice-october.pdf" in chat.status_label.text()


def test_several_sessions_get_clickable_headers(chat: ChatView, qtbot: QtBot) -> None:
    first = every_kind_detail()
    second = whatsapp_detail()
    chat.set_details([first, second], headers=True)
    settle(chat, 40)
    headers = [r for r in rows(chat) if r.kind == "header"]
    assert [h.session_id for h in headers] == [first.session.id, second.session.id]
    assert headers[1].text.startswith("Session wa-0001- · WhatsApp · Billing assistant · started")
    lay = layout_of(chat, f"{second.session.id}/header")
    point = row_point(chat, f"{second.session.id}/header", lay.pill_rect.center())
    with qtbot.waitSignal(chat.session_header_clicked, timeout=1000) as signal:
        qtbot.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert signal.args == [second.session.id]
    chat.list_view.scrollToBottom()
    chat.jump_to_session(first.session.id)
    settle(chat, 5)
    top = chat.list_view.indexAt(QPoint(10, 2))
    assert top.data(KindRole) == "header" and top.data(ObjectRole).session_id == first.session.id


def test_session_end_adds_pill(chat: ChatView) -> None:
    detail = long_detail(5, live=True)
    chat.set_detail(detail)
    ended = detail.session.model_copy(
        update={
            "status": "completed",
            "end_reason": "system_disconnect",
            "ended_at": T0 + timedelta(minutes=30),
        }
    )
    chat.set_session(ended)
    assert rows(chat)[-1].text == "System disconnected the session at 2026-11-21 14:32"
    # A late message still lands before the end pill.
    chat.append_message(message(6, "ai", "late", session_id="long-session"))
    assert rows(chat)[-2].message is not None and rows(chat)[-2].message.id == "m6"


def test_empty_state(chat: ChatView) -> None:
    chat.set_detail(every_kind_detail())
    chat.set_detail(None)
    assert chat.model.rowCount() == 0
    assert chat.empty_label.isVisible() and chat.title_label.text() == "Chat"


def test_ten_thousand_messages_open_without_laying_out_everything_at_once(
    chat: ChatView, qtbot: QtBot
) -> None:
    detail = long_detail(10_000)
    chat.set_detail(detail)
    QApplication.processEvents()
    # Only the rows on screen (and a first background slice) are measured at once.
    view = chat.list_view
    assert not view.fully_measured
    assert view._unmeasured > 8_000
    assert chat.model.rowCount() == 10_002
    # The rest is measured in slices in the background (the Qt thread stays responsive).
    before = view._unmeasured
    qtbot.waitUntil(lambda: view._unmeasured < before - 300, timeout=20_000)


def test_message_kinds_the_model_exposes(chat: ChatView) -> None:
    chat.set_detail(every_kind_detail())
    kinds = {chat.model.index(i, 0).data(KindRole) for i in range(chat.model.rowCount())}
    assert kinds == {"pill", "message", "marker"}
    msg: Message | None = chat.model.row_at(1).message
    assert msg is not None and msg.author.role == "customer"


def test_inline_image_opens_full_size(chat: ChatView, qtbot: QtBot) -> None:
    chat.set_detail(every_kind_detail())
    settle(chat)
    lay = layout_of(chat, key("m3"))
    image_card = lay.cards[1]
    point = row_point(chat, key("m3"), image_card.rect.center())
    qtbot.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    from PySide6.QtWidgets import QDialog

    dialogs = [d for d in chat.findChildren(QDialog) if d.isVisible()]
    assert [d.windowTitle() for d in dialogs] == ["screenshot.png"]
    dialogs[0].close()


def test_chat_model_passes_qt_model_tester(qtmodeltester: Any) -> None:
    from supervisor_desk.models.chat_rows import session_rows
    from supervisor_desk.views.chat.model import ChatModel

    detail = every_kind_detail()
    model = ChatModel()
    model.set_rows(session_rows(detail.session, detail.messages, UTC_TZ, with_header=True))
    qtmodeltester.check(model, force_py=True)
    model.append_rows(session_rows(whatsapp_detail().session, [], UTC_TZ, with_header=True))
    qtmodeltester.check(model, force_py=True)


def test_resize_keeps_the_reader_on_the_same_message(chat: ChatView) -> None:
    chat.set_detail(long_detail(400))
    settle(chat, 10)
    view = chat.list_view
    view.scrollTo(
        chat.index_of(key("m200", "long-session")), QAbstractItemView.ScrollHint.PositionAtTop
    )
    settle(chat, 3)
    assert view.indexAt(QPoint(5, 1)).data(ObjectRole).key == key("m200", "long-session")
    chat.resize(420, 700)  # narrower: every height changes
    settle(chat, 10)
    top = view.indexAt(QPoint(5, 1)).data(ObjectRole)
    assert top.key == key("m200", "long-session")


def test_keyboard_scrolling_stops_following(chat: ChatView, qtbot: QtBot) -> None:
    chat.set_detail(long_detail(150, live=True))
    settle(chat, 30)
    bar = chat.list_view.verticalScrollBar()
    assert chat.following and bar.value() == bar.maximum()
    chat.list_view.setFocus()
    qtbot.keyClick(chat.list_view, Qt.Key.Key_PageUp)
    settle(chat, 3)
    assert bar.value() < bar.maximum() and not chat.following
    qtbot.keyClick(chat.list_view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(chat.list_view, Qt.Key.Key_PageDown)
    settle(chat, 3)
    assert bar.value() == bar.maximum() and chat.following


def test_hovering_the_delivery_icon_shows_an_escaped_tooltip(chat: ChatView) -> None:
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    chat.set_detail(every_kind_detail())
    settle(chat)
    lay = layout_of(chat, key("m9"))
    assert lay.delivery_rect is not None
    point = row_point(chat, key("m9"), lay.delivery_rect.center())
    viewport = chat.list_view.viewport()
    event = QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point))
    QApplication.sendEvent(viewport, event)
    assert QToolTip.isVisible()
    assert QToolTip.text() == (
        "<qt>Not delivered at 2026-11-21 14:07:11 UTC<br/>"
        "Provider note: Provider: recipient offline</qt>"
    )
    QToolTip.hideText()


def test_full_text_hit_opens_on_the_first_match_with_next_previous(
    chat: ChatView, qtbot: QtBot
) -> None:
    """History's full-text search matched words anywhere in a message: the chat opens on the
    first one, highlighted, scrolled into view, with next/previous working."""
    detail = long_detail(300, session_id="s-long")
    chat.set_detail(detail)
    settle(chat)
    # The phrase never occurs as typed; its longest word does (every 4th message).
    count = chat.find_text("88213  office")
    assert chat.search_bar.isVisible()
    assert chat.search_bar.edit.text() == "office"
    assert count == 75 and chat.search_bar.count_label.text() == "1 of 75"
    first = chat.current_match
    assert first is not None and first[0] == "s-long/m/m2"
    settle(chat)
    viewport = chat.list_view.viewport().rect()
    assert viewport.intersects(chat.list_view.visualRect(chat.index_of(first[0])))
    position = chat.model.position_of(first[0]) or 0
    (highlight,) = chat.delegate.plain_highlights(chat.model.row_at(position))
    assert highlight.format.background().color() == QColor(chat.delegate.palette.current_highlight)
    chat.search_bar.next_button.click()
    assert chat.current_match == ("s-long/m/m6", 0)
    chat.search_bar.prev_button.click()
    chat.search_bar.prev_button.click()
    assert chat.search_bar.count_label.text() == "75 of 75"
    # Nothing found: the bar says so rather than jumping anywhere.
    assert chat.find_text("zebra crossing") == 0
    assert chat.search_bar.count_label.text() == "No matches"


def test_long_mime_type_wraps_on_the_card_instead_of_being_cut(chat: ChatView) -> None:
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    detail = every_kind_detail()
    detail.messages.append(
        message(
            20,
            "customer",
            "",
            attachments=[{"name": "contract.docx", "mime": docx, "size": 48_213, "url": None}],
        )
    )
    chat.resize(420, 700)
    chat.set_detail(detail)
    settle(chat)
    lay = layout_of(chat, key("m20"))
    (card,) = lay.cards
    assert card.meta.replace("\u200b", "") == f"47.1 KB · {docx}"
    one_line = chat.delegate.engine.fonts.fm_small.height()
    assert card.meta_height >= 2 * one_line  # laid out on more lines …
    assert card.rect.height() > 46  # … and the card grows to hold them
    assert lay.bubble.contains(card.rect)
    # A short MIME type keeps the one-line card.
    pdf, _png = layout_of(chat, key("m3")).cards
    assert pdf.meta_height == one_line and pdf.rect.height() == 46


@pytest.mark.parametrize("width", [260, 320, 420, 760])
def test_the_placeholder_pill_holds_its_italic_text(qtbot: QtBot, width: int) -> None:
    """The pill is measured in the italic face it is painted in, so a narrow chat wraps it
    onto two full lines instead of cutting one wrapped line at top and bottom."""
    from PySide6.QtGui import QFont, QFontMetrics

    from supervisor_desk.models.chat_rows import placeholder_row
    from supervisor_desk.views.chat.styles import PILL_FLAGS

    view = ChatView(time_zone="UTC")
    qtbot.addWidget(view)
    view.resize(width, 500)
    row = placeholder_row("s-voice")
    lay = view.delegate.layout(row)
    italic = QFont(view.delegate.engine.fonts.small)
    italic.setItalic(True)
    inner = lay.pill_rect.adjusted(12, 4, -12, -4)
    needed = QFontMetrics(italic).boundingRect(inner, PILL_FLAGS, lay.pill_text)
    assert needed.height() <= inner.height()
    assert needed.width() <= inner.width()
