"""The sessions table's icons are drawn once while an offline file's first rows are read:
the icons the table shows, at the sizes it draws them, and the window still shows every
session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor_desk.models.export import write_export
from supervisor_desk.models.wire import CHANNELS, MODALITIES
from supervisor_desk.views.badge_pixmaps import BADGE_ICON_SIZE
from supervisor_desk.views.icons import channel_icon, modality_icon
from supervisor_desk.views.offline import OfflineWindow
from supervisor_desk.views.offline.icon_warmup import table_icons, warm_table_icons
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.views.history_data import dispose_qt


def test_the_warm_up_draws_the_icons_the_table_draws_at_their_sizes(qapp: Any) -> None:
    icons = list(table_icons(16))
    # The very objects the table's cells and badges get (views/icons.py caches them), so
    # what is drawn now is what the first paint finds drawn.
    assert [icon for icon, _ in icons] == (
        [channel_icon(c) for c in CHANNELS] + [modality_icon(m) for m in MODALITIES])
    assert [size for _, size in icons] == (
        [BADGE_ICON_SIZE] * len(CHANNELS) + [16] * len(MODALITIES))
    assert sum(1 for _ in warm_table_icons(16, 2.0)) == len(icons)  # one loop turn each


def test_a_window_warms_its_icons_and_shows_every_session(
        qapp: Any, qrun: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(120, n_messages=2))
    window = OfflineWindow(path)
    window.show()
    loading = window.start()

    async def scenario() -> None:
        await loading
        await wait_until(lambda: not window.history_vm.fetching, 5)
        assert window.history_vm.total == 120
        assert len(window.history.shown_sessions()) == 50  # the first page, as before
        warming = window._icons_warming
        assert warming is not None
        await wait_until(warming.done, 5)
        assert warming.exception() is None
        await window.aclose()

    try:
        qrun(scenario())
    finally:
        dispose_qt(window)
