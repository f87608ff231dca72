"""Attachments in the chat: inline images decoded from ``data:`` URLs, file badges, and
whether a card has anything to download.

Nothing here fetches: an image is shown inline only when its bytes travel in the message.
"""

from __future__ import annotations

import base64
import binascii

from PySide6.QtGui import QImage

from supervisor_desk.models.markdown_safe import is_safe_url
from supervisor_desk.models.wire import Attachment, Message

INLINE_IMAGE_MAX_BYTES = 8 * 1024 * 1024


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
    """Decoded inline images by message and attachment (a failed decode is remembered too)."""

    def __init__(self) -> None:
        self._images: dict[str, QImage | None] = {}

    def get(self, message: Message, attachment: Attachment) -> QImage | None:
        key = f"{message.session_id}/{message.id}/{attachment.name}"
        if key not in self._images:
            self._images[key] = decode_local_image(attachment)
        return self._images[key]


def file_badge(attachment: Attachment) -> str:
    """Three letters for the card's icon: the extension, else the mime family."""
    suffix = attachment.name.rpartition(".")[2] if "." in attachment.name else ""
    if suffix and len(suffix) <= 4 and suffix.isalnum():
        return suffix.upper()
    return {"audio": "AUD", "image": "IMG", "video": "VID"}.get(
        attachment.mime.split("/")[0], "FILE"
    )


def attachment_downloadable(attachment: Attachment) -> bool:
    url = attachment.url or ""
    return url.startswith("data:") or is_safe_url(url)
