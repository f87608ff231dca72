"""Attachment and export file names from untrusted senders are made harmless."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from supervisor_desk.models.filenames import export_filename, safe_filename


def test_hostile_names() -> None:
    cases = {
        "../../.bashrc": "bashrc",
        "..\\..\\Windows\\system32\\evil.dll": "evil.dll",
        "/etc/passwd": "passwd",
        "invoice\u202egpj.exe": "invoicegpj.exe",
        "CON": "_CON",
        "lpt1.txt": "_lpt1.txt",
        "": "attachment",
        "...": "attachment",
        " . ": "attachment",
        "report\x00.pdf\n": "report.pdf",
        'a<b>c:d"e|f?g*h.txt': "a_b_c_d_e_f_g_h.txt",
        "photo.jpg": "photo.jpg",
        "Résumé final.pdf": "Résumé final.pdf",
    }
    for raw, expected in cases.items():
        assert safe_filename(raw, "attachment") == expected, raw
    long = safe_filename("x" * 1000 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 180


@given(st.text(max_size=400))
def test_any_name_becomes_one_plain_component(name: str) -> None:
    out = safe_filename(name, "attachment")
    assert out
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith(".") and not out.endswith((".", " "))
    assert out not in (".", "..")
    assert len(out.encode("utf-8")) <= 180
    assert all(unicodedata.category(ch)[0] != "C" for ch in out)
    assert safe_filename(out, "attachment") == out  # stable


def test_export_file_name() -> None:
    when = datetime(2026, 11, 22, 3, 4, 5)
    assert export_filename("csv", when) == "sessions-20261122-030405.csv"
    assert export_filename("../../x", when).endswith(".json")
