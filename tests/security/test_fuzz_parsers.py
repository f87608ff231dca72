"""hypothesis against the parsers that read untrusted input on the desktop and the hub:
the filter query parser (URL parameters, saved searches) and the export reader (files a user
opens). Any input gives a value or the module's own clear error: never another exception, never
a hang. (The reducer's convergence property lives in tests/models/test_state.py.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_desk.models.export import ExportFileError, ExportReader, write_export
from supervisor_desk.models.filters import FILTER_PARAMS, FilterError, SessionFilter
from tests.models.export_samples import make_records

pytestmark = pytest.mark.timeout(300)

VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["true", "false", "gt:3", "eq:0", "le:-1", "xx:5", "gt:", ":", "ge:1e9",
                     "2026-11-22T03:00:00Z", "2026-13-40", "2026-11-22T03:00:00+05:00",
                     "0", "-1", "99999999999999999999", "nan", "web", "active", "ai", "FR"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers().map(str),
)
KEYS = st.one_of(st.sampled_from(sorted(FILTER_PARAMS)), st.text(max_size=12))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(KEYS, VALUES), max_size=8))
def test_filter_query_gives_a_filter_or_a_filter_error(pairs: list[tuple[str, str]]) -> None:
    try:
        flt = SessionFilter.from_query(pairs)
    except FilterError as exc:
        assert str(exc)
        return
    # What parsed round-trips through the query the desktop would send.
    assert SessionFilter.from_query(flt.to_query()) == flt


@pytest.fixture(scope="module")
def samples() -> dict[str, bytes]:
    records = make_records(4)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("json", "jsonl", "csv"):
            path = Path(folder) / f"sample.{fmt}"
            write_export(path, fmt, records)  # type: ignore[arg-type]
            out[fmt] = path.read_bytes()
    return out


def _read(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"opened.{fmt}"
        path.write_bytes(data)
        try:
            reader = ExportReader(path, batch_size=3)
            entries = reader.read_all()
            for entry in entries[:5]:
                reader.read_record(entry)
        except ExportFileError as exc:
            assert str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=3000), fmt=st.sampled_from(["json", "jsonl", "csv"]))
def test_any_bytes_open_cleanly_or_fail_clearly(data: bytes, fmt: str) -> None:
    _read(data, fmt)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(fmt=st.sampled_from(["json", "jsonl", "csv"]), cut=st.integers(min_value=0),
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
       insert=st.binary(max_size=20))
def test_damaged_exports_open_cleanly_or_fail_clearly(
    samples: dict[str, bytes], fmt: str, cut: int, flips: list[tuple[int, int]], insert: bytes
) -> None:
    data = bytearray(samples[fmt])
    for position, value in flips:
        data[position % len(data)] = value
    at = cut % (len(data) + 1)
    _read(bytes(data[:at]) + insert + bytes(data[at:]) if cut % 2 else bytes(data[:at]), fmt)
