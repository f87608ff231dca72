"""History view-model: one filtered, sorted, paged window onto a session source.

The source is the hub (``HubSessionSource``: ``GET /sessions``, ``/sessions/metrics``) or an
opened export file (``views/offline/``): the same view-model, widgets and filter definition
serve both, so the offline review behaves exactly like History. Requests are asyncio tasks
run in the ``TaskScope`` the app gives (the owner names, tracks and reports them); a newer
request cancels the older one, so a slow answer never overwrites a newer filter's rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.lock_slices import foreground
from supervisor_desk.models.wire import Metrics, NamedItem, SessionPage, SessionSummary
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.tasks import TaskScope, standalone_scope

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# Server-side sort keys (PROTOCOL `sort`), in the order the sort menu offers them.
SORT_KEYS: dict[str, str] = {
    "started_at": "Start",
    "last_message_at": "Last message",
    "ended_at": "Finish",
    "message_count": "Messages",
    "duration": "Duration",
    "wait": "Wait",
}
DEFAULT_SORT = "-started_at"


class SessionSource(Protocol):
    """Where History rows come from: the hub, or an export file opened offline."""

    async def page(self, flt: SessionFilter, sort: str, offset: int, limit: int) -> SessionPage: ...
    async def metrics(self, flt: SessionFilter) -> Metrics | None: ...
    async def agents(self) -> list[NamedItem]: ...
    async def operators(self) -> list[NamedItem]: ...


class HubSessionSource:
    def __init__(self, client: HubClient) -> None:
        self.client = client

    async def page(self, flt: SessionFilter, sort: str, offset: int, limit: int) -> SessionPage:
        return await self.client.sessions(flt, sort=sort, offset=offset, limit=limit)

    async def metrics(self, flt: SessionFilter) -> Metrics | None:
        return await self.client.metrics(flt)

    async def agents(self) -> list[NamedItem]:
        return await self.client.agents()

    async def operators(self) -> list[NamedItem]:
        return await self.client.operators()


def describe_error(exc: Exception) -> str:
    if isinstance(exc, HubError):
        if exc.code == "unreachable":
            return f"Hub unreachable — {exc.message}"
        if exc.code == "unauthorized":
            return "Signed out: sign in again to load History"
        return f"The hub refused the request: {exc.message}"
    return f"Could not load sessions: {exc}"


class HistoryViewModel(QObject):
    """State of the History screen: filter, sort, the shown range, metrics, lookups."""

    rows_changed = Signal(list, bool)  # sessions, appended (Load more) or replacing
    range_changed = Signal()  # offset / shown / total / page changed
    loading_changed = Signal(bool)
    error_changed = Signal(str)  # "" when cleared
    filter_changed = Signal(object)  # SessionFilter
    sort_changed = Signal(str)
    metrics_changed = Signal(object)  # Metrics | None (None: loading, show skeletons)
    agents_changed = Signal(list)  # list[NamedItem]
    operators_changed = Signal(list)

    loading = ObservableProperty(False)
    error = ObservableProperty("")  # "" when all is well
    filter = ObservableProperty(SessionFilter())
    sort = ObservableProperty(DEFAULT_SORT)
    metrics = ObservableProperty[Metrics | None](None)
    agents = ObservableProperty[list[NamedItem]]([])
    operators = ObservableProperty[list[NamedItem]]([])

    def __init__(
        self, source: SessionSource | None = None, parent: QObject | None = None, *,
        page_size: int = PAGE_SIZE, with_metrics: bool = True, tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks or standalone_scope("history")
        self._source = source
        self._limit = page_size
        self._offset = 0
        self._shown = 0
        self._total = 0
        self._page_rows: list[SessionSummary] = []  # the rows last replaced on screen
        self._with_metrics = with_metrics
        self._page_task: asyncio.Task[Any] | None = None
        self._metrics_task: asyncio.Task[Any] | None = None
        self._generation = 0

    # ------------------------------------------------------------------ properties

    @property
    def source(self) -> SessionSource | None:
        return self._source

    @property
    def fetching(self) -> bool:
        """A page is on its way: busy (``loading``) or quiet (:meth:`refresh` ``quiet``)."""
        return self._page_task is not None and not self._page_task.done()

    def set_source(self, source: SessionSource | None) -> None:
        self._source = source
        self.agents, self.operators = [], []
        if source is None:
            # Signed out: nothing of the previous account stays on screen.
            self._cancel(self._page_task)
            self._cancel(self._metrics_task)
            self._generation += 1
            self.loading = False
            self.error = ""
            self._offset = self._shown = self._total = 0
            self._page_rows = []
            self.rows_changed.emit([], False)
            self.range_changed.emit()
            self.metrics = None
            return
        self.reload()
        self.load_lookups()

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def shown(self) -> int:
        return self._shown

    @property
    def total(self) -> int:
        return self._total

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def page(self) -> int:
        """Index (0-based) of the last page on screen (Load more extends the range)."""
        return max(0, (self._offset + max(self._shown, 1) - 1) // self._limit)

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self._total / self._limit))

    @property
    def has_previous(self) -> bool:
        return self._offset > 0

    @property
    def has_more(self) -> bool:
        return self._offset + self._shown < self._total

    def range_text(self) -> str:
        if self._total == 0:
            return "No sessions"
        first = self._offset + 1 if self._shown else 0
        last = self._offset + self._shown
        noun = "session" if self._total == 1 else "sessions"
        return f"Showing {first:,} to {last:,} of {self._total:,} {noun}"

    # ------------------------------------------------------------------ commands

    def set_filter(self, flt: SessionFilter) -> None:
        if flt == self.filter:
            return
        self.filter = flt
        self._offset = 0
        self.reload()

    def set_sort(self, sort: str) -> None:
        if sort == self.sort:
            return
        self.sort = sort
        self._offset = 0
        self._request(0, self._limit, append=False)

    def go_to_page(self, page: int) -> None:
        page = max(0, min(page, self.page_count - 1))
        self._request(page * self._limit, self._limit, append=False)

    def next_page(self) -> None:
        if self.has_more:
            self._request(self._offset + self._shown, self._limit, append=False)

    def previous_page(self) -> None:
        if self.has_previous:
            self.go_to_page(self._offset // self._limit - 1)

    def load_more(self) -> None:
        if self.has_more:
            self._request(self._offset + self._shown, self._limit, append=True)

    def reload(self) -> None:
        """Fetch the first page and the metrics again (filter change, Refresh, Retry)."""
        self._request(0, self._limit, append=False)
        self.reload_metrics()

    def refresh(self, *, quiet: bool = False) -> None:
        """Refresh in place: the same range, fresh data.

        ``quiet``: a refresh the user did not ask for (an offline file still being read,
        about once a second): no busy state, and the metrics stay on screen until the new
        ones arrive. Each busy flip repainted the whole table once more, beside the repaint
        of the new rows, and the cards blinked to their placeholders every second.
        """
        self._request(self._offset, max(self._limit, self._shown), append=False,
                      busy=not quiet)
        self.reload_metrics(keep_shown=quiet)

    def reload_metrics(self, *, keep_shown: bool = False) -> None:
        if not self._with_metrics or self._source is None:
            return
        self._cancel(self._metrics_task)
        if not keep_shown:
            self.metrics = None
        self._metrics_task = self.tasks.spawn(self._fetch_metrics(self.filter), "history-metrics")

    def load_lookups(self) -> None:
        if self._source is not None:
            self.tasks.spawn(self._fetch_lookups(), "history-lookups")

    async def aclose(self) -> None:
        await self.tasks.aclose()

    def shutdown(self) -> None:
        self.tasks.cancel()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and not task.done():
            task.cancel()

    def _request(self, offset: int, limit: int, *, append: bool, busy: bool = True) -> None:
        if self._source is None:
            return
        self._cancel(self._page_task)
        self._generation += 1
        if busy:
            self.loading = True
        self._page_task = self.tasks.spawn(
            self._fetch_page(self._generation, self.filter, self.sort, offset, limit, append),
            "history-page",
        )

    async def _fetch_page(
        self, generation: int, flt: SessionFilter, sort: str, offset: int, limit: int,
        append: bool,
    ) -> None:
        assert self._source is not None
        try:
            page = await self._source.page(flt, sort, offset, limit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes the banner with Retry
            if generation == self._generation:
                log.info("history page failed: %s", exc)
                self.error = describe_error(exc)
                self.loading = False
            return
        if generation != self._generation:
            return
        self.error = ""
        # The same rows again (a refresh of a page that did not change: an export written
        # newest first, the hub's order, keeps its first page while the rest is read) are
        # not shown again: a model reset drops the table's cell cache and repaints it all.
        unchanged = (not append and page.offset == self._offset
                     and page.items == self._page_rows)
        if append:
            self._shown += len(page.items)
            self._page_rows += page.items
        else:
            self._offset = page.offset
            self._shown = len(page.items)
            self._page_rows = list(page.items)
        self._total = page.total
        # A model reset and relayout call back into Python densely: a thread working beside
        # (an offline file's index) stands aside meanwhile.
        with foreground:
            if not unchanged:
                self.rows_changed.emit(list(page.items), append)
            self.range_changed.emit()
            self.loading = False

    async def _fetch_metrics(self, flt: SessionFilter) -> None:
        assert self._source is not None
        try:
            metrics = await self._source.metrics(flt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the page request reports the error
            log.info("history metrics failed: %s", exc)
            return
        self.metrics = metrics

    async def _fetch_lookups(self) -> None:
        assert self._source is not None
        try:
            # Sequential on purpose: gather() sub-tasks under qasync are not seen as running
            # on an event loop by httpx's sniffio check.
            agents = await self._source.agents()
            operators = await self._source.operators()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # lists stay empty; typing a name still works
            log.info("history lookups failed: %s", exc)
            return
        self.agents, self.operators = agents, operators
