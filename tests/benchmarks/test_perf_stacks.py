"""benchmarks/perf_stacks.py: shares of a thread's samples by what ran, Python and Qt."""

from __future__ import annotations

from benchmarks.perf_stacks import read_samples, report, under, under_loop

LOOP = "py::_QEventLoop.run_forever:/venv/qasync/__init__.py (/tmp/jitted-1-1.so)"
PAINT = "py::SessionTableView.paintEvent:/src/views/session_table_view.py (/tmp/jitted-1-2.so)"
DATA = "py::SessionTableModel.multiData:/src/views/session_table_model.py (/tmp/j-1-3.so)"
SCRIPT = f"""\
supervisor-desk 101    1001001
\t          25b9f0 QCommonStyle::drawControl (/qt/libQt6Widgets.so.6)
\t          25b000 QStyledItemDelegate::paint (/qt/libQt6Widgets.so.6)
\t          25a000 QTableView::paintEvent (/qt/libQt6Widgets.so.6)
\t              85 {PAINT}
\t              85 {LOOP}
\t            1000 main (/usr/bin/python3)

supervisor-desk 101    1001001
\t          25b9f0 _PyEval_EvalFrameDefault (/lib/libpython3.13.so.1.0)
\t              85 {DATA}
\t          25b000 QStyledItemDelegate::initStyleOption (/qt/libQt6Widgets.so.6)
\t          25a000 QTableView::paintEvent (/qt/libQt6Widgets.so.6)
\t              85 {PAINT}
\t              85 {LOOP}

supervisor-desk 101    1001001
\t          25b9f0 QBackingStore::flush (/qt/libQt6Gui.so.6)
\t              85 {LOOP}

supervisor-desk 101    1001001
\t          25b9f0 [unknown] (/qt/libQt6Gui.so.6)
\t              85 py::FeedClient._take:/src/client/feed.py (/tmp/jitted-1-4.so)

supervisor-desk 202    1001001
\t          25b9f0 poll (/lib/libc.so.6)
"""


def test_samples_are_told_by_the_first_python_function_under_the_loop() -> None:
    samples = [s for s in read_samples(SCRIPT.splitlines()) if s.tid == 101]
    assert len(samples) == 4
    assert under_loop(samples) == {
        "SessionTableView.paintEvent (session_table_view.py)": 2, "(Qt)": 1, "(stack cut)": 1}


def test_a_frame_is_broken_down_by_what_ran_below_it() -> None:
    samples = read_samples(SCRIPT.splitlines())
    total, below = under(samples, "QTableView::paintEvent", depth=2)
    assert total == 2
    assert below == {
        "QStyledItemDelegate::paint > QCommonStyle::drawControl": 1,
        "QStyledItemDelegate::initStyleOption > "
        "SessionTableModel.multiData (session_table_model.py)": 1,
    }
    text = report(samples, name="QTableView::paintEvent", depth=2)
    assert "under QTableView::paintEvent: 40.0 %" in text
    assert report([]) == "no samples\n"
