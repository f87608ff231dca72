"""What reading an export produces: index entries, the read report, and the error it raises.

Shared by every reader (JSONL, JSON, CSV) and by the offline index; no Qt here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import Field, TypeAdapter, ValidationError

from supervisor_desk.models.export.interner import Interner
from supervisor_desk.models.wire import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ExportHeader,
    SessionSummary,
)

FileFormat = Literal["json", "jsonl", "csv"]
FILE_FORMATS: tuple[FileFormat, ...] = ("json", "jsonl", "csv")

# One record (a session with its messages and logs) bigger than this is not a real export
# record; refusing it keeps a hostile or corrupt file from exhausting memory.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Offline review keeps every session's summary and transcript text in memory: about 2.5 KB
# per session of the benchmark's kind (10 messages). Measured for the whole window: 250,000
# such sessions peaked at 795 MB RSS (while their transcripts were normalised for search),
# too close to the 800 MB bound; 200,000 leaves a margin for longer records. A bigger file is
# refused (up front when its size says so, else when the count is reached).
MAX_REVIEW_SESSIONS = 200_000
# The transcripts of that many sessions take ~110 MB; longer ones (or text outside Latin-1,
# two or four bytes a character) could take several times that, so their memory is bounded
# too.
MAX_REVIEW_TEXT_BYTES = 150 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
# How a record nested deeper than the JSON parsers follow is described (json's C scanner stops
# near the interpreter's recursion limit, pydantic-core's at 200 levels; real records nest 6).
TOO_DEEP = "nested too deeply (arrays or objects inside each other beyond the reader's limit)"
# Problems beyond this many are only counted: a file with a million bad lines needs no list.
MAX_PROBLEMS = 20


def too_many_sessions(count_text: str, limit: int) -> str:
    """The problem text for a file beyond :data:`MAX_REVIEW_SESSIONS`, with what to do."""
    return (f"{count_text} sessions: offline review opens at most {limit:,} sessions at a "
            "time (to stay within its memory bound); export a filtered subset (a shorter "
            "period, fewer channels or agents) and open that")


def too_much_text(sessions: int, text_bytes: int, limit: int) -> str:
    """The problem text when transcripts outgrow :data:`MAX_REVIEW_TEXT_BYTES`."""
    return (f"the transcripts of the first {sessions:,} sessions already take "
            f"{text_bytes >> 20:,} MB: offline review keeps them within {limit >> 20:,} MB "
            "(its memory bound); export a filtered subset (a shorter period, fewer channels "
            "or agents) and open that")


class ExportFileError(Exception):
    """A file that cannot be read as an export; ``str()`` names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


@dataclass(slots=True)
class IndexedSession:
    """One session of an opened file, as much as filtering and the table need.

    ``offset``/``length`` locate the whole record (messages and logs) in the file, so a
    transcript is read only when the session is opened; CSV records carry none (-1).
    ``texts`` are the message texts for full-text search, ``None`` when the file has no
    transcripts (CSV).
    """

    summary: SessionSummary
    offset: int
    length: int
    texts: tuple[str, ...] | None


@dataclass(slots=True)
class ReadReport:
    """What a reader has seen so far: progress, and the records it had to skip."""

    total_bytes: int = 0
    bytes_read: int = 0
    sessions: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def format_of(path: Path) -> FileFormat:
    """The format named by the file's extension; anything else is refused up front."""
    name = Path(path)
    if is_compressed(name):
        name = name.with_suffix("")  # export.jsonl.gz is a compressed export.jsonl
    suffix = name.suffix.lower().lstrip(".")
    if suffix == "ndjson":
        return "jsonl"
    for fmt in FILE_FORMATS:
        if suffix == fmt:
            return fmt
    raise ExportFileError(
        path, f"unknown file type {Path(path).suffix or '(none)'!r}: expected .json, .jsonl or "
        ".csv (or those compressed, .gz)"
    )


def is_compressed(path: Path) -> bool:
    return Path(path).suffix.lower() == ".gz"


def describe_validation(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "record"
    return f"{where}: {first.get('msg', 'invalid')}"


def check_header(path: Path, obj: Any) -> ExportHeader:
    if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT:
        raise ExportFileError(path, "not a Supervisor Desk export (no \"format\": "
                              f"\"{EXPORT_FORMAT}\" header)")
    version = obj.get("version")
    if version != EXPORT_VERSION:
        raise ExportFileError(
            path, f"unsupported export version {version!r} (this app reads version "
            f"{EXPORT_VERSION})"
        )
    try:
        return ExportHeader.model_validate(obj)
    except ValidationError as exc:
        raise ExportFileError(path, f"bad export header: {describe_validation(exc)}") from exc


def entry_from_record(
    obj: Any, offset: int, length: int, interner: Interner | None = None
) -> IndexedSession:
    """Validate only what the index needs; messages stay raw until the session is opened."""
    if not isinstance(obj, dict) or not isinstance(obj.get("session"), dict):
        raise ValueError("not a session record (no \"session\" object)")
    summary = SessionSummary.model_validate(obj["session"])
    if interner is not None:
        summary = interner.compact(summary)
    messages = obj.get("messages", [])
    if not isinstance(messages, list):
        raise ValueError("\"messages\" is not a list")
    texts = tuple(
        m["text"] if isinstance(m, dict) and isinstance(m.get("text"), str) else ""
        for m in messages
    )
    return IndexedSession(summary, offset, length, texts)


class _IndexedMessage(TypedDict, total=False):
    text: str


class _IndexedRecord(TypedDict):
    """What the index takes from a record: the summary and the message texts (logs skipped)."""

    session: SessionSummary
    # A message that is not {"text": str, ...} still counts, with no text (as in entry_from_record).
    # Left to right: a message that is one is taken as it is; the default "smart" union also
    # validated every message against Any to pick the closer match (records of 10 messages:
    # 54 -> 39 us each, the reading process's largest cost).
    messages: NotRequired[list[Annotated[_IndexedMessage | Any,
                                         Field(union_mode="left_to_right")]]]


_INDEXED_RECORD = TypeAdapter(_IndexedRecord)


def entry_from_json(
    data: bytes, offset: int, length: int, interner: Interner | None = None
) -> IndexedSession:
    """:func:`entry_from_record` on a record's raw JSON, parsed and validated in one pass by
    pydantic-core (no dict is built for messages and logs): the JSONL reader's hot path.
    Raises ``ValidationError`` (type ``json_invalid`` for bad JSON)."""
    record = _INDEXED_RECORD.validate_json(data)
    summary = record["session"]
    if interner is not None:
        summary = interner.compact(summary)
    texts = tuple(
        t if isinstance(m, dict) and isinstance(t := m.get("text"), str) else ""
        for m in record.get("messages", ())
    )
    return IndexedSession(summary, offset, length, texts)


def raw_transcripts(entries: Sequence[IndexedSession]) -> list[str | None]:
    """Each session's message texts, one message a line, not yet normalised.

    A few C-level joins per session instead of the normalisation (a third of the cost of
    reading a file): ``OfflineIndex.add`` with ``normalized=False`` takes these, and
    ``OfflineIndex.normalize_transcripts`` normalises them later, off the reading path. Here,
    not beside the normalisation, so the reading process imports no index (NumPy and all).
    """
    return [raw_transcript(e.texts) if e.texts is not None else None for e in entries]


def raw_transcript(texts: Sequence[str]) -> str:
    """One session's message texts, a line each (a line break inside a text is a space)."""
    return "\n".join(t.replace("\n", " ") for t in texts)
