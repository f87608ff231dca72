"""The chat pane (transcript, search, live following) and the detail pane composed around it."""

from __future__ import annotations

from supervisor_desk.views.chat.view import ChatView

__all__ = ["ChatView"]
