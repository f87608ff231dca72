"""History: server-side filtered, sorted, paged sessions; also the offline file's table."""

from __future__ import annotations

from supervisor_desk.views.history.filter_dialog import FilterDialog
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.history.viewmodel import (
    HistoryViewModel,
    HubSessionSource,
    SessionSource,
)

__all__ = ["FilterDialog", "HistoryView", "HistoryViewModel", "HubSessionSource",
           "SessionSource"]
