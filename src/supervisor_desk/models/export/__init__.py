"""Export files (``.json``, ``.jsonl``, ``.csv``): streaming writer and incremental reader.

The format is the hub's ``GET /api/v1/sessions/export`` (docs/protocol.md, "Sessions"): JSON is
one document ``{"format", "version", "exported_at", "filters", "sessions": [...]}``; JSONL is
that header alone on the first line, then one ``{"session", "messages", "logs"}`` object per
line; CSV is one row per session with the table's columns (:data:`CSV_COLUMNS`).

One module per job: :mod:`.records` (index entries, the read report, errors),
:mod:`.writer`, :mod:`.reader` (JSONL and the dispatch), :mod:`.json_walker` (the JSON
document), :mod:`.csv_format` (CSV rows both ways) and :mod:`.interner`. No Qt here.
"""

from supervisor_desk.models.export.csv_format import CSV_COLUMNS, csv_row, project_csv
from supervisor_desk.models.export.reader import (
    ExportReader,
    check_export,
    iter_records,
    read_record,
)
from supervisor_desk.models.export.records import (
    FILE_FORMATS,
    MAX_RECORD_BYTES,
    MAX_REVIEW_SESSIONS,
    MAX_REVIEW_TEXT_BYTES,
    ExportFileError,
    FileFormat,
    IndexedSession,
    ReadReport,
    format_of,
    too_much_text,
)
from supervisor_desk.models.export.writer import ExportWriter, export_header, write_export

__all__ = [
    "CSV_COLUMNS",
    "FILE_FORMATS",
    "MAX_RECORD_BYTES",
    "MAX_REVIEW_SESSIONS",
    "MAX_REVIEW_TEXT_BYTES",
    "ExportFileError",
    "ExportReader",
    "ExportWriter",
    "FileFormat",
    "IndexedSession",
    "ReadReport",
    "check_export",
    "csv_row",
    "export_header",
    "format_of",
    "iter_records",
    "project_csv",
    "read_record",
    "too_much_text",
    "write_export",
]
