"""Attachments in the chat: inline images decoded from ``data:`` URLs or fetched from the hub,
file badges, and whether a card has anything to download.

Nothing here fetches: an image travels in the message, or it is a file of the hub (``hub:<id>``)
that the detail view-model fetches with the user's token when ``ImageCache.requester`` asks.
Any other URL is never fetched; it stays a card opened in the browser after a click.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtGui import QImage

from supervisor_desk.models.markdown_safe import is_safe_url
from supervisor_desk.models.wire import Attachment, Message
from supervisor_desk.views.detail_viewmodel import hub_file_of

INLINE_IMAGE_MAX_BYTES = 8 * 1024 * 1024
# Decoded previews fetched from the hub kept in memory (bytes of the decoded pixels).
HUB_IMAGE_CACHE_BYTES = 64 * 1024 * 1024
PREVIEW_UNAVAILABLE = "Preview unavailable"


def hub_image_file(attachment: Attachment, session_id: str) -> str | None:
    """The hub file id of an image attachment the desktop may fetch itself, else None."""
    if not attachment.mime.startswith("image/") or not attachment.url:
        return None
    return hub_file_of(attachment.url, session_id)


def decode_local_image(attachment: Attachment) -> QImage | None:
    """An image whose bytes travel inside the message (``data:`` URL); nothing is fetched."""
    url = attachment.url or ""
    if not attachment.mime.startswith("image/") or not url.startswith("data:"):
        return None
    head, _, payload = url.partition(",")
    if ";base64" not in head or len(payload) > INLINE_IMAGE_MAX_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    image = QImage()
    if not image.loadFromData(raw) or image.isNull():
        return None
    return image


class ImageCache:
    """Decoded inline images by message and attachment (a failed decode is remembered too),
    and previews of hub files by file id in an LRU bounded by decoded bytes."""

    def __init__(self, hub_budget: int = HUB_IMAGE_CACHE_BYTES) -> None:
        self._images: dict[str, QImage | None] = {}
        self._hub: OrderedDict[str, QImage | None] = OrderedDict()
        self._hub_bytes = 0
        self._hub_budget = hub_budget
        self._requested: set[str] = set()
        # Set by the chat when a hub client is there: (session id, file id) → fetch started.
        self.requester: Callable[[str, str], None] | None = None

    def get(self, message: Message, attachment: Attachment) -> QImage | None:
        file_id = hub_image_file(attachment, message.session_id)
        if file_id is not None:
            return self._hub_image(message.session_id, file_id)
        key = f"{message.session_id}/{message.id}/{attachment.name}"
        if key not in self._images:
            self._images[key] = decode_local_image(attachment)
        return self._images[key]

    def preview_failed(self, message: Message, attachment: Attachment) -> bool:
        """An image that should have had a preview but could not be fetched or decoded."""
        if not attachment.mime.startswith("image/"):
            return False
        file_id = hub_image_file(attachment, message.session_id)
        if file_id is not None:
            return file_id in self._hub and self._hub[file_id] is None
        url = attachment.url or ""
        return url.startswith("data:") and self.get(message, attachment) is None

    def put_hub_image(self, file_id: str, image: QImage | None) -> None:
        """A fetched preview (None: it could not be fetched or decoded)."""
        self._requested.discard(file_id)
        old = self._hub.pop(file_id, None)
        if old is not None:
            self._hub_bytes -= old.sizeInBytes()
        self._hub[file_id] = image
        if image is not None:
            self._hub_bytes += image.sizeInBytes()
        while self._hub_bytes > self._hub_budget and len(self._hub) > 1:
            _, dropped = self._hub.popitem(last=False)
            if dropped is not None:
                self._hub_bytes -= dropped.sizeInBytes()

    @property
    def hub_bytes(self) -> int:
        return self._hub_bytes

    def _hub_image(self, session_id: str, file_id: str) -> QImage | None:
        if file_id in self._hub:
            self._hub.move_to_end(file_id)
            return self._hub[file_id]
        if self.requester is not None and file_id not in self._requested:
            self._requested.add(file_id)
            self.requester(session_id, file_id)
        return None


def file_badge(attachment: Attachment) -> str:
    """Three letters for the card's icon: the extension, else the mime family."""
    suffix = attachment.name.rpartition(".")[2] if "." in attachment.name else ""
    if suffix and len(suffix) <= 4 and suffix.isalnum():
        return suffix.upper()
    return {"audio": "AUD", "image": "IMG", "video": "VID"}.get(
        attachment.mime.split("/")[0], "FILE"
    )


def attachment_downloadable(attachment: Attachment) -> bool:
    """Bytes in the message, a link the browser opens after a click, or a file of the hub
    (fetched with the user's token when clicked)."""
    url = attachment.url or ""
    return (url.startswith(("data:", "hub:", "/api/v1/sessions/")) or is_safe_url(url))
