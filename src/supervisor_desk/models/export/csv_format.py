"""The CSV export format: one session per row, the table's columns, no transcripts.

Writing (:func:`csv_row`, also the hub's), reading back (:func:`read_csv_rows`, which accepts
the hub's column names and any subset holding :data:`CSV_REQUIRED`) and the projection of a
file to the visible columns (:func:`project_csv`). No Qt here.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from supervisor_desk.models.export.interner import Interner
from supervisor_desk.models.export.records import (
    TOO_DEEP,
    ExportFileError,
    IndexedSession,
    ReadReport,
    describe_validation,
)
from supervisor_desk.models.wire import SessionSummary, format_timestamp

CSV_COLUMNS: tuple[str, ...] = (
    "id", "agent_id", "agent", "modality", "channel", "status", "end_reason",
    "responsible", "operator_id", "operator", "team", "stage",
    "user_id", "user_name", "user_external_id", "user_is_mobile",
    "country_code", "country", "city", "ip",
    "started_at", "queued_at", "accepted_at", "ended_at", "last_message_at",
    "message_count", "has_attachments", "parameters", "results", "metadata", "contact",
    "version",
)
# The least a CSV must carry to rebuild a session row; everything else has a default.
CSV_REQUIRED: tuple[str, ...] = ("id", "channel", "status", "started_at")
# The hub's CSV export names some columns after the table; their meaning in ours.
_HUB_CSV_ALIASES = {"session_id": "id", "user": "user_name", "country": "country_code"}
# Spreadsheets run cells starting with these as formulas; a leading quote keeps them text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_uncell(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def _ts(value: datetime | None) -> str:
    return format_timestamp(value) if value is not None else ""


def csv_row(s: SessionSummary) -> list[str]:
    """One CSV row in :data:`CSV_COLUMNS` order (also used by the hub's CSV export)."""
    operator = s.responsible.operator
    row = [
        s.id, s.agent.id, s.agent.name, s.modality, s.channel, s.status, s.end_reason or "",
        s.responsible.kind, operator.id if operator else "", operator.name if operator else "",
        s.team or "", s.stage or "",
        s.user.id, s.user.name or "", s.user.external_id or "",
        "" if s.user.is_mobile is None else str(s.user.is_mobile).lower(),
        s.location.country_code or "", s.location.country or "", s.location.city or "",
        s.location.ip or "",
        _ts(s.started_at), _ts(s.queued_at), _ts(s.accepted_at), _ts(s.ended_at),
        _ts(s.last_message_at),
        str(s.message_count), str(s.has_attachments).lower(),
        json.dumps(s.parameters, ensure_ascii=False, sort_keys=True),
        json.dumps(s.results, ensure_ascii=False, sort_keys=True),
        json.dumps(s.metadata, ensure_ascii=False, sort_keys=True),
        s.contact.model_dump_json() if s.contact is not None else "",
        str(s.version),
    ]
    return [_csv_cell(v) for v in row]


def _opt(row: Mapping[str, str], key: str) -> str | None:
    value = _csv_uncell(row.get(key, ""))
    return value if value != "" else None


def _json_cell(row: Mapping[str, str], key: str) -> Any:
    value = _opt(row, key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"column {key}: not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise ValueError(f"column {key}: {TOO_DEEP}") from exc


def summary_from_csv(row: Mapping[str, str]) -> SessionSummary:
    agent_id = _opt(row, "agent_id") or _opt(row, "agent")
    operator_id = _opt(row, "operator_id") or _opt(row, "operator")
    data: dict[str, Any] = {
        "id": _opt(row, "id"),
        "agent": {"id": agent_id, "name": _opt(row, "agent") or agent_id},
        "channel": _opt(row, "channel"),
        "modality": _opt(row, "modality") or "chat",
        "status": _opt(row, "status"),
        "end_reason": _opt(row, "end_reason"),
        "responsible": {
            "kind": _opt(row, "responsible") or "ai",
            "operator": ({"id": operator_id, "name": _opt(row, "operator") or operator_id}
                         if operator_id else None),
        },
        "team": _opt(row, "team"),
        "stage": _opt(row, "stage"),
        "user": {
            "id": _opt(row, "user_id") or _opt(row, "user_name") or "unknown",
            "name": _opt(row, "user_name"),
            "external_id": _opt(row, "user_external_id"),
            "is_mobile": _opt(row, "user_is_mobile"),
        },
        "location": {
            "ip": _opt(row, "ip"),
            "country_code": _opt(row, "country_code"),
            "country": _opt(row, "country"),
            "city": _opt(row, "city"),
        },
        "started_at": _opt(row, "started_at"),
        "queued_at": _opt(row, "queued_at"),
        "accepted_at": _opt(row, "accepted_at"),
        "ended_at": _opt(row, "ended_at"),
        "last_message_at": _opt(row, "last_message_at"),
        "message_count": _opt(row, "message_count") or 0,
        "has_attachments": _opt(row, "has_attachments") or False,
        "parameters": _json_cell(row, "parameters") or {},
        "results": _json_cell(row, "results") or {},
        "metadata": _json_cell(row, "metadata") or {},
        "contact": _json_cell(row, "contact"),
        "version": _opt(row, "version") or 1,
    }
    return SessionSummary.model_validate(data)


def read_csv_rows(
    path: Path, raw: io.BufferedReader, report: ReadReport, interner: Interner
) -> Iterator[IndexedSession]:
    """Every session row of an opened CSV file; a bad row is skipped and counted."""
    # Closed with the reading (it closes ``raw`` too): an unclosed wrapper warns at exit.
    with io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="") as text:
        yield from _csv_sessions(path, text, raw, report, interner)


def _csv_sessions(
    path: Path, text: io.TextIOWrapper, raw: io.BufferedReader, report: ReadReport,
    interner: Interner,
) -> Iterator[IndexedSession]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise ExportFileError(path, "the file is empty") from None
    except UnicodeDecodeError as exc:
        raise ExportFileError(
            path, f"not a text file: invalid UTF-8 at byte {exc.start}"
        ) from exc
    except csv.Error as exc:
        raise ExportFileError(path, f"not a CSV file ({exc})") from exc
    header = [h.strip().lstrip("\ufeff") for h in header]
    if "session_id" in header and "id" not in header:
        # The hub's CSV spells the table's columns (PROTOCOL: "the table's columns").
        header = [_HUB_CSV_ALIASES.get(h, h) for h in header]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing or not ({"agent", "agent_id"} & set(header)):
        if "agent" not in header and "agent_id" not in header:
            missing.append("agent")
        raise ExportFileError(
            path,
            "not a Supervisor Desk CSV export: missing column"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
        )
    row_no = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                path, f"invalid UTF-8 after row {row_no} (byte {exc.start} of a "
                "block): the file is damaged or not UTF-8"
            ) from exc
        except csv.Error as exc:
            raise ExportFileError(path, f"row {row_no + 1}: {exc}") from exc
        row_no += 1
        report.bytes_read = raw.tell()
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            report.note(f"row {row_no}: {len(row)} cells, header has {len(header)}")
            continue
        try:
            summary = summary_from_csv(dict(zip(header, row, strict=True)))
        except (ValidationError, ValueError) as exc:
            problem = (describe_validation(exc) if isinstance(exc, ValidationError)
                       else str(exc))
            report.note(f"row {row_no}: {problem}")
            continue
        yield IndexedSession(interner.compact(summary), -1, 0, None)
    report.bytes_read = report.total_bytes


def project_csv(source: Path, dest: Path, columns: Iterable[str]) -> int:
    """Copy a CSV export keeping only ``columns`` (in the source's order); returns the rows.

    Streams row by row into a temporary file beside ``dest``, renamed over it when complete.
    Columns the source lacks are ignored, so a projection never fails on another version.
    """
    wanted = set(columns)
    dest = Path(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    tmp = Path(tmp_name)
    count = 0
    try:
        with open(source, encoding="utf-8", newline="") as src, \
                open(fd, "w", encoding="utf-8", newline="") as out:
            reader = csv.reader(src)
            writer = csv.writer(out, lineterminator="\r\n")
            header = next(reader, [])
            keep = [i for i, name in enumerate(header) if name in wanted]
            writer.writerow([header[i] for i in keep])
            for row in reader:
                writer.writerow([row[i] for i in keep if i < len(row)])
                count += 1
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
