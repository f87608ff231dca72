"""Every window fits a small screen, usable: 1280x720 at 100 % and 1366x768 at 125 %.

The app runs signed in to a real hub on loopback; each page is opened as a supervisor would
(Live with a chat and the logs drawer open, History with seven filter chips, an offline file,
the customer view) and resized to the screen. The window's minimum size must fit, and no
widget may lie outside the window (content inside scroll areas scrolls, so it is exempt).
The 125 % case runs this same test in a child process with ``QT_SCALE_FACTOR=1.25``: Qt
reads the factor once, at start.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QComboBox,
    QLineEdit,
    QWidget,
)

from supervisor_desk.client.credentials import CredentialStore
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.export import write_export
from supervisor_desk.models.filters import SessionFilter
from tests.client.hub_events import message, started
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.test_app import desk_env, make_desk, signed_in_profile
from tests.views import conftest as qt_fixtures

qloop = qt_fixtures.qloop
qrun = qt_fixtures.qrun
__all__ = ["desk_env", "qloop", "qrun", "signed_in_profile"]

# Physical screen per scale factor; a title bar and a panel take some of its height.
SCREENS = {1.0: (1280, 720), 1.25: (1366, 768)}
DECORATION_HEIGHT = 60  # title bar (~30) and a desktop panel (~30), in physical pixels


def _scale() -> float:
    return float(os.environ.get("QT_SCALE_FACTOR", "1") or 1)


def _available() -> tuple[int, int]:
    """The room a maximised window gets, in Qt's logical pixels."""
    scale = _scale()
    width, height = SCREENS[scale]
    return int(width / scale), int((height - DECORATION_HEIGHT) / scale)


def _in_scrolled_content(widget: QWidget, window: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        grand = parent.parentWidget()
        if isinstance(grand, QAbstractScrollArea) and grand.viewport() is parent:
            return True
        parent = grand
    return False


def _problems(window: QWidget) -> list[str]:
    """Widgets outside the window, or controls squeezed below their minimum width."""
    width, height = _available()
    problems = []
    hint = window.minimumSizeHint()
    if hint.width() > width or hint.height() > height:
        problems.append(f"minimumSizeHint {hint.width()}x{hint.height()} > {width}x{height}")
    minimum = window.minimumSize()
    if minimum.width() > width or minimum.height() > height:
        problems.append(f"minimumSize {minimum.width()}x{minimum.height()} > {width}x{height}")
    if window.width() > width or window.height() > height:
        problems.append(f"window is {window.width()}x{window.height()}")
    area = window.rect()
    for child in window.findChildren(QWidget):
        if child.isWindow() or not child.isVisible() or _in_scrolled_content(child, window):
            continue
        where = QRect(child.mapTo(window, QPoint(0, 0)), child.size())
        name = f"{type(child).__name__}#{child.objectName()}"
        if not area.contains(where):
            problems.append(f"{name} at {where.getRect()} outside {area.getRect()}")
        elif isinstance(child, QAbstractButton | QComboBox | QLineEdit) \
                and child.minimumWidth() != child.maximumWidth() \
                and child.width() < min(child.minimumSizeHint().width(), 60):
            problems.append(f"{name} squeezed to {child.width()} px")
    return problems


async def _fit(window: QWidget, *, resize: bool = True) -> list[str]:
    """``resize=False``: the window keeps the screen's size it had (a page switch must not
    make it grow, not even for a moment: Qt never shrinks a window back by itself)."""
    width, height = _available()
    if resize:
        window.resize(width, height)
        await wait_until(lambda: window.width() <= width and window.height() <= height, 5)
    await asyncio.sleep(0.3)  # wrapping rows and folded bars settle in a few layout passes
    return _problems(window)


def test_every_page_fits_the_screen(
    running_hub: EmbeddedHub, signed_in_profile: CredentialStore, qapp: Any, qrun: Any,
    tmp_path: Path, desk_env: None,
) -> None:
    if _scale() not in SCREENS:
        pytest.skip("runs at the scale factors of the screens it knows")
    desk = make_desk(qapp, signed_in_profile, tmp_path)
    w = desk.window
    export = tmp_path / "export.jsonl"
    write_export(export, "jsonl", make_records(30, n_messages=4))
    found: dict[str, list[str]] = {}

    async def scenario() -> None:
        run = asyncio.ensure_future(desk.run())
        await wait_until(lambda: w.connection_pill.text() == "Connected", 15)
        # Enough sessions for History to show every page button.
        events = [started(f"fit-{i}") for i in range(260)]
        events += [message("fit-0", "Hello, I would like to change my delivery address.",
                           "customer" if i % 2 else "ai") for i in range(6)]
        await asyncio.to_thread(ingest, running_hub, events)
        await wait_until(lambda: desk.model.rowCount() == 260, 20)

        # Live, a session open in the chat, the logs drawer open.
        assert w.reveal_session("fit-0")
        await wait_until(lambda: desk.detail.summary is not None)
        desk.detail_tools.set_logs_visible(True)
        found["live"] = await _fit(w)

        # History as it opens (every session, all page buttons), then with seven chips.
        w.show_page(desk.history_page)
        await wait_until(lambda: desk.history_vm.total >= 260)
        found["history, all sessions"] = await _fit(w, resize=False)
        now = datetime.now(UTC)
        desk.history_vm.set_filter(SessionFilter(
            q="delivery address", channel=("web", "phone"), status=("active",),
            responsible="ai", started_after=now - timedelta(days=3), has_attachments=False,
        ))
        await wait_until(lambda: len(desk.history.chips.chip_labels()) == 7)
        found["history"] = await _fit(w, resize=False)
        assert desk.history.filter_bar.search.isVisible()
        assert desk.history.filter_bar.filters_button.isVisible()
        w.show_page(0)

        # The customer view of the open session.
        summary = desk.detail.summary
        assert summary is not None
        view = desk.detail_tools.open_customer_view(summary)
        assert view is not None
        view.show()
        found["customer view"] = await _fit(view)
        view.close()

        # An exported file reviewed offline.
        offline = desk.offline.open(export)
        assert offline is not None
        await wait_until(lambda: offline.loader.done, 20)
        found["offline"] = await _fit(offline)

        desk.request_quit()
        await asyncio.wait_for(run, 15)

    qrun(scenario())
    assert {page: problems for page, problems in found.items() if problems} == {}


def test_every_page_fits_the_screen_at_125_percent(tmp_path: Path) -> None:
    env = {**os.environ, "QT_SCALE_FACTOR": "1.25", "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         f"{__file__}::test_every_page_fits_the_screen"],
        env=env, capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
