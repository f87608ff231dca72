"""Writing an export file record by record (the desktop's own exports and the tests')."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from supervisor_desk.models.export.csv_format import CSV_COLUMNS, csv_row
from supervisor_desk.models.export.records import FileFormat
from supervisor_desk.models.wire import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ExportedSession,
    format_timestamp,
)


def export_header(
    filters: Mapping[str, Any] | None = None, exported_at: datetime | None = None
) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": format_timestamp(exported_at or datetime.now(UTC)),
        "filters": dict(filters or {}),
    }


class ExportWriter:
    """Write an export file record by record; the file appears only when complete.

    Records go to a temporary file beside the target, renamed over it by :meth:`close`, so a
    cancelled or failed export never leaves a half-written file under the chosen name.
    """

    def __init__(
        self,
        path: Path,
        fmt: FileFormat,
        *,
        filters: Mapping[str, Any] | None = None,
        exported_at: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.count = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._out: TextIO = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
        header = export_header(filters, exported_at)
        if fmt == "json":
            head = json.dumps(header, ensure_ascii=False)
            self._out.write(head[:-1] + ', "sessions": [')
        elif fmt == "jsonl":
            self._out.write(json.dumps(header, ensure_ascii=False) + "\n")
        else:
            self._csv = csv.writer(self._out, lineterminator="\r\n")
            self._csv.writerow(CSV_COLUMNS)

    def write(self, record: ExportedSession) -> None:
        if self.fmt == "csv":
            self._csv.writerow(csv_row(record.session))
        elif self.fmt == "jsonl":
            self._out.write(record.model_dump_json() + "\n")
        else:
            self._out.write(("\n" if self.count == 0 else ",\n") + record.model_dump_json())
        self.count += 1

    def close(self) -> None:
        if self._out.closed:
            return
        if self.fmt == "json":
            self._out.write("\n]}\n")
        self._out.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._out.closed:
            self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_export(
    path: Path,
    fmt: FileFormat,
    records: Iterable[ExportedSession],
    *,
    filters: Mapping[str, Any] | None = None,
    exported_at: datetime | None = None,
) -> int:
    """Write ``records`` to ``path``; returns how many were written."""
    with ExportWriter(path, fmt, filters=filters, exported_at=exported_at) as writer:
        for record in records:
            writer.write(record)
        return writer.count
