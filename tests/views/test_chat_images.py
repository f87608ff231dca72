"""Image attachments stored on the hub show inline: fetched from the hub alone, with the
user's token, never from a third-party host; a click opens them full size; a file that is not
a readable image says "Preview unavailable" on its card."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.chat.attachments import PREVIEW_UNAVAILABLE, ImageCache
from supervisor_desk.views.chat.image_viewer import ImageViewer
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.tasks import standalone_scope
from tests.conftest import ingest
from tests.helpers import wait_until

# A real loopback HTTP server standing for a third-party host: any request means a fetch.
from tests.views.test_chat_hostile import tracker  # noqa: F401  (a pytest fixture)

SESSION = "img-1"


def png_bytes(width: int, height: int) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#3080d0"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def upload(hub: EmbeddedHub, name: str, body: bytes) -> str:
    answer = httpx.post(
        f"{hub.url}/api/v1/sessions/{SESSION}/files", params={"name": name}, content=body,
        headers={"Authorization": f"Bearer {hub.ingest_token}"},  # type: ignore[attr-defined]
        timeout=30.0,
    )
    assert answer.status_code in (200, 201), answer.text
    url: str = answer.json()["url"]
    return url


def _ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def start_session(hub: EmbeddedHub) -> None:
    ingest(hub, [{"id": "img-start", "type": "session.started", "session_id": SESSION,
                  "at": _ts(), "data": {"agent": {"id": "a1", "name": "Ada"},
                                        "channel": "web", "status": "active",
                                        "modality": "chat",
                                        "user": {"id": "u1", "name": "Customer",
                                                 "external_id": None},
                                        "location": {"ip": None, "country_code": None,
                                                     "country": None, "city": None},
                                        "started_at": _ts()}}])


def post_message(hub: EmbeddedHub, message_id: str, attachments: list[dict[str, Any]]) -> None:
    ingest(hub, [{"id": message_id, "type": "message.created", "session_id": SESSION,
                  "at": _ts(), "data": {"id": message_id, "at": _ts(),
                                        "author": {"role": "customer", "name": None},
                                        "text": "see attached", "attachments": attachments}}])


def shown_pane(client: HubClient, qtbot: Any, name: str) -> tuple[DetailViewModel, DetailPane]:
    """A detail view-model on ``client`` and the chat pane that shows it, on screen."""
    detail = DetailViewModel(client, tasks=standalone_scope(name))
    pane = DetailPane(detail)
    qtbot.addWidget(pane)
    pane.resize(700, 700)
    pane.show()
    return detail, pane


def message_cards(pane: DetailPane, message_id: str) -> list[Any]:
    chat = pane.chat
    for position in range(chat.model.rowCount()):
        row = chat.model.row_at(position)
        if row.message is not None and row.message.id == message_id:
            return chat.delegate.layout(row).cards
    return []


def message_height(pane: DetailPane, message_id: str) -> int:
    chat = pane.chat
    for position in range(chat.model.rowCount()):
        row = chat.model.row_at(position)
        if row.message is not None and row.message.id == message_id:
            return chat.delegate.layout(row).height
    return 0


def test_hub_image_previews_inline_and_third_party_is_never_fetched(
    running_hub: EmbeddedHub, tracker: tuple[int, list[str]], qtbot: Any,  # noqa: F811
    qrun: Callable[..., Any], tmp_path: Path,
) -> None:
    port, hits = tracker
    start_session(running_hub)
    picture = png_bytes(640, 480)
    picture_url = upload(running_hub, "photo.png", picture)
    broken_url = upload(running_hub, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40)
    post_message(running_hub, "m-photo", [
        {"name": "photo.png", "mime": "image/png", "size": len(picture), "url": picture_url},
        {"name": "elsewhere.png", "mime": "image/png", "size": 10,
         "url": f"http://127.0.0.1:{port}/elsewhere.png"},
    ])
    post_message(running_hub, "m-broken", [
        {"name": "broken.png", "mime": "image/png", "size": 328, "url": broken_url}])

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        sent: list[tuple[str, str]] = []

        async def record(request: httpx.Request) -> None:
            sent.append((request.url.path, request.headers.get("Authorization", "")))

        client._http.event_hooks["request"].append(record)
        detail, pane = shown_pane(client, qtbot, "images")
        try:
            await client.login("supervisor", "supervisor")
            detail.select(SESSION)
            await wait_until(lambda: len(message_cards(pane, "m-photo")) == 2, timeout=10)
            await wait_until(lambda: message_cards(pane, "m-photo")[0].image is not None,
                             timeout=10)
            photo, elsewhere = message_cards(pane, "m-photo")
            # Scaled to the bubble: as wide as the card at most, height capped.
            assert photo.image.width() == 640
            assert photo.rect.height() > 100
            assert photo.button is None  # an image, not a file card
            # The third-party image stays a link card with a button, never a preview.
            assert elsewhere.image is None and elsewhere.button is not None
            assert message_height(pane, "m-photo") > photo.rect.height()

            # The fetch went to the hub's file route with the user's token.
            file_id = picture_url.removeprefix("hub:")
            fetches = [auth for path, auth in sent if path.endswith(f"/files/{file_id}")]
            assert fetches and all(auth == f"Bearer {client.token}" for auth in fetches)

            # A file that is no readable image says so on its card.
            await wait_until(lambda: any(PREVIEW_UNAVAILABLE in c.meta
                                         for c in message_cards(pane, "m-broken")), timeout=10)
            assert message_cards(pane, "m-broken")[0].image is None

            # Clicking the preview opens it full size; Escape closes it; Save as… writes it.
            chat = pane.chat
            position = next(i for i in range(chat.model.rowCount())
                            if (r := chat.model.row_at(i)).message is not None
                            and r.message.id == "m-photo")
            index = chat.model.index(position, 0)
            chat.list_view.scrollTo(index)
            top = chat.list_view.visualRect(index).topLeft()
            QTest.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier, top + photo.rect.center())
            viewers = [w for w in pane.findChildren(ImageViewer) if w.isVisible()]
            assert len(viewers) == 1
            viewer = viewers[0]
            assert viewer.label.pixmap().width() == 640
            assert viewer.save_to(tmp_path / "saved.png")
            assert QImage(str(tmp_path / "saved.png")).width() == 640
            QTest.keyClick(viewer, Qt.Key.Key_Escape)
            await wait_until(lambda: not viewer.isVisible(), timeout=5)
        finally:
            await detail.aclose()
            await client.aclose()

    qrun(scenario())
    # Sentinel: our own request after everything the chat could have started.
    urllib.request.urlopen(f"http://127.0.0.1:{port}/sentinel", timeout=10).close()
    assert hits == ["/sentinel"]


def test_hub_previews_are_bounded_by_bytes() -> None:
    cache = ImageCache(hub_budget=3 * 100 * 100 * 4)
    for n in range(5):
        image = QImage(100, 100, QImage.Format.Format_ARGB32)
        cache.put_hub_image(f"f{n}", image)
    assert cache.hub_bytes <= 3 * 100 * 100 * 4
    assert "f0" not in cache._hub and "f4" in cache._hub


def test_a_hub_file_attachment_downloads_with_the_token(
    running_hub: EmbeddedHub, qtbot: Any, qrun: Callable[..., Any], tmp_path: Path,
) -> None:
    """A PDF stored on the hub is a file card whose Download saves the hub's exact bytes."""
    start_session(running_hub)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 50 + b"\n%%EOF\n"
    pdf_url = upload(running_hub, "invoice.pdf", pdf)
    post_message(running_hub, "m-pdf", [
        {"name": "invoice.pdf", "mime": "application/pdf", "size": len(pdf), "url": pdf_url}])

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        detail, pane = shown_pane(client, qtbot, "download")
        try:
            await client.login("supervisor", "supervisor")
            detail.select(SESSION)
            await wait_until(lambda: len(message_cards(pane, "m-pdf")) == 1, timeout=10)
            card = message_cards(pane, "m-pdf")[0]
            assert card.button is not None  # a file card with its Download button
            dest = tmp_path / "saved.pdf"
            pane.chat.download_attachment(card.attachment, dest)
            await wait_until(lambda: pane.chat.status_label.text() == "Saved saved.pdf",
                             timeout=10)
            assert dest.read_bytes() == pdf
            # Signed out (no client): the same card says what is wrong instead of failing.
            gone = tmp_path / "gone.pdf"
            await client.logout()
            pane.chat.download_attachment(card.attachment, gone)
            await wait_until(lambda: pane.chat.status_label.text().startswith(
                "Could not download invoice.pdf"), timeout=10)
            assert not gone.exists()
        finally:
            await detail.aclose()
            await client.aclose()

    qrun(scenario())
