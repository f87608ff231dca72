"""Unexpected errors: logged, kept for the state dump, and shown in one non-modal dialog.

Three roads lead here: ``sys.excepthook`` (a Qt slot raised), the asyncio loop's exception
handler, and the app's ``TaskOwner`` (a background task failed). The dialog is opened with
``open()``, never ``exec()`` (docs/architecture.md, "Platform facts"); while it is on screen,
later errors update its text instead of stacking windows.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from supervisor_desk import APP_NAME
from supervisor_desk.client.paths import log_dir
from supervisor_desk.client.redact import redact

log = logging.getLogger("supervisor_desk")


class ErrorReporter(QObject):
    """Logs unexpected errors and shows one non-modal dialog for them (never ``exec()``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.errors: list[str] = []
        self._dialog: QMessageBox | None = None
        self.show_dialogs = True

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        sys.excepthook = self.excepthook
        loop.set_exception_handler(self.loop_exception_handler)

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            return
        log.critical("unhandled error", exc_info=(exc_type, exc, tb))
        self.report(f"{exc_type.__name__}: {exc}", "".join(traceback.format_tb(tb)))

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        exc = context.get("exception")
        message = context.get("message", "asyncio error")
        if isinstance(exc, asyncio.CancelledError):
            return
        log.error("asyncio: %s", message, exc_info=exc)
        details = "".join(traceback.format_exception(exc)) if exc is not None else ""
        self.report(f"{message}: {exc}" if exc is not None else message, details)

    def task_failed(self, task: asyncio.Task[Any], exc: BaseException) -> None:
        """The TaskOwner's reporter: a background task ended with an exception."""
        log.error("task %s failed", task.get_name(), exc_info=exc)
        self.report(f"task {task.get_name()} failed: {exc}",
                    "".join(traceback.format_exception(exc)))

    def report(self, summary: str, details: str = "") -> None:
        summary, details = redact(summary), redact(details)
        self.errors.append(summary)
        if not self.show_dialogs or QApplication.instance() is None:
            return
        if self._dialog is not None and self._dialog.isVisible():
            self._dialog.setInformativeText(
                f"{len(self.errors)} errors so far; the latest: {summary}"
            )
            return
        dialog = QMessageBox(QMessageBox.Icon.Critical, f"{APP_NAME} — unexpected error",
                             "Something went wrong. The app keeps running; details are in the "
                             f"log folder ({log_dir()}).")
        dialog.setTextFormat(Qt.TextFormat.PlainText)
        dialog.setInformativeText(summary)
        if details:
            dialog.setDetailedText(details)
        dialog.setStandardButtons(QMessageBox.StandardButton.Close)
        self._dialog = dialog
        dialog.open()
