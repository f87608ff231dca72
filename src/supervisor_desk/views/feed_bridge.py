"""The live feed read off the Qt thread, handed to its listener on the Qt thread.

:class:`ThreadedFeed` stands where a :class:`FeedClient` would for the live view-model (``run``,
``state``, ``seq``, ``read_interval``, ``read_now``): the reading runs on a worker thread
(:class:`supervisor_desk.client.feed_thread.FeedThread`), whose once-per-batch "wake" is one
queued signal here; its slot hands what was buffered to the listener on the Qt thread, in order,
in slices of a few ms (a catch-up of thousands of events must not block a paint), coming back
for the rest by the same queued signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from supervisor_desk.client.feed import ConnectionState, FeedListener
from supervisor_desk.client.feed_thread import FeedThread
from supervisor_desk.client.rest import HubClient

log = logging.getLogger(__name__)

# Longest run of handing over on the Qt thread before letting it paint (as FeedClient's slice).
HAND_OVER_SLICE_S = 0.008
# How long stopping waits for the worker's socket to close (FeedClient's close_timeout is 2 s).
STOP_WAIT_S = 5.0


class ThreadedFeed(QObject):
    """A feed client whose reading runs on a worker thread; see the module's docstring."""

    # Emitted from the worker thread (and from here to come back for the rest): always queued.
    batch_ready = Signal()

    def __init__(self, client: HubClient, listener: FeedListener, *,
                 parent: QObject | None = None, **feed_options: Any) -> None:
        super().__init__(parent)
        self._listener = listener
        self._reader = FeedThread(client, self.batch_ready.emit, **feed_options)
        self.batch_ready.connect(self._on_batch_ready, Qt.ConnectionType.QueuedConnection)
        self._finished: asyncio.Future[None] | None = None  # the worker said its last
        self._listener_error: Exception | None = None

    # What the live view-model reads of a FeedClient.

    @property
    def seq(self) -> int:
        """Seq of the last event handed to the listener (or of its snapshot)."""
        return self._reader.seq

    @property
    def epoch(self) -> str | None:
        return self._reader.epoch

    @property
    def state(self) -> ConnectionState:
        return self._reader.state

    @property
    def connections(self) -> int:
        return self._reader.connections

    @property
    def snapshots(self) -> int:
        return self._reader.snapshots

    @property
    def resting(self) -> bool:
        return self._reader.resting

    @property
    def read_interval(self) -> float:
        return self._reader.read_interval

    @read_interval.setter
    def read_interval(self, seconds: float) -> None:
        self._reader.read_interval = seconds

    def read_now(self) -> None:
        self._reader.read_now()

    @property
    def backoff_base(self) -> float | None:
        """FeedClient's ``backoff_base`` (None: its default, until the worker starts)."""
        return self._reader.feed_option("backoff_base")

    @backoff_base.setter
    def backoff_base(self, seconds: float) -> None:
        self._reader.set_feed_option("backoff_base", seconds)

    async def run(self) -> None:
        """Read until cancelled or until the hub refuses the token (state UNAUTHORIZED); the
        worker's thread has ended when this returns. Runs once: a new run needs a new object."""
        if self._finished is not None:
            raise RuntimeError("ThreadedFeed.run() runs once")
        finished = self._finished = asyncio.get_running_loop().create_future()
        self._reader.start()
        try:
            await asyncio.shield(finished)
        finally:
            self._reader.stop()
            if not finished.done():  # cancelled: the worker closes its socket and says STOPPED
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(finished), STOP_WAIT_S)
            if not self._reader.join(1.0):
                log.warning("the feed's worker thread did not end")
        error = self._listener_error or self._reader.error
        if error is not None:
            raise error

    def _on_batch_ready(self) -> None:
        reader = self._reader
        if self._listener_error is not None:
            reader.discard()
        else:
            try:
                more = reader.hand_over(self._listener, HAND_OVER_SLICE_S)
            except Exception as exc:  # a bug in the listener ends the run, as with FeedClient
                self._listener_error = exc
                reader.stop()
                reader.discard()
                more = False
            if more:
                self.batch_ready.emit()  # queued: paints and other events go first
                return
        finished = self._finished
        if reader.finished and finished is not None and not finished.done():
            finished.set_result(None)
