"""The JSON export document, walked one session at a time (never loaded whole)."""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from supervisor_desk.models.export.interner import Interner
from supervisor_desk.models.export.records import (
    MAX_RECORD_BYTES,
    TOO_DEEP,
    UTF8_BOM,
    ExportFileError,
    IndexedSession,
    ReadReport,
    check_header,
    describe_validation,
    entry_from_record,
)
from supervisor_desk.models.wire import ExportHeader

CHUNK = 1024 * 1024


class JsonWalker:
    """Walk ``{"format": ..., "sessions": [ ... ]}`` one element at a time.

    The header keys come before ``sessions`` in every export the hub writes (it streams the
    sessions last); each element is decoded with ``raw_decode`` from a sliding text buffer,
    and its byte range is kept so the record can be re-read later. ``header_found`` is called
    with the checked header as soon as it is known (before the first session).
    """

    def __init__(
        self,
        path: Path,
        f: io.BufferedIOBase,
        report: ReadReport,
        interner: Interner,
        header_found: Callable[[ExportHeader], None],
    ) -> None:
        self.path = path
        self.f = f
        self.report = report
        self.interner = interner
        self.header_found = header_found
        self.header: ExportHeader | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.dec = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        # buf[mark_char] is at file byte mark_bytes: byte offsets are counted incrementally
        # from the last record instead of re-encoding the whole buffer for each one.
        self.mark_char = 0
        self.mark_bytes = 0
        self.raw_read = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(CHUNK)
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise ExportFileError(
                self.path, f"invalid UTF-8 near byte {self.raw_read + exc.start}: the file is "
                "damaged or not a UTF-8 export"
            ) from exc
        if self.raw_read == 0 and text.startswith("\ufeff"):
            # A byte order mark (Windows editors): not part of the document, 3 bytes long.
            text = text[1:]
            self.mark_bytes = len(UTF8_BOM)
        self.raw_read += len(chunk)
        self.report.bytes_read = self.raw_read
        if not chunk:
            self.eof = True
            return False
        # Drop what has been consumed so the buffer holds about one record at a time.
        if self.pos > CHUNK:
            self.mark_bytes = self._byte_at(self.pos)
            self.mark_char = 0
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        return True

    def _byte_at(self, char_pos: int) -> int:
        if char_pos >= self.mark_char:
            return self.mark_bytes + len(self.buf[self.mark_char : char_pos].encode("utf-8"))
        return self.mark_bytes - len(self.buf[char_pos : self.mark_char].encode("utf-8"))

    def _skip_ws(self) -> None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return

    def _peek(self) -> str:
        self._skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if c == "":
            raise ExportFileError(self.path, f"the file ends early (truncated) {what}")
        if c not in chars:
            raise ExportFileError(
                self.path, f"not a Supervisor Desk JSON export: expected {what}, found {c!r}"
            )
        self.pos += 1
        return c

    def _value(self, what: str) -> tuple[Any, int, int]:
        """Decode one JSON value; returns it with its (char start, char end) in ``buf``."""
        self._skip_ws()
        while True:
            try:
                value, end = self.dec.raw_decode(self.buf, self.pos)
            except RecursionError as exc:
                # json's C scanner recurses per level: a hostile file can nest far deeper.
                raise ExportFileError(self.path, f"{what} is {TOO_DEEP}") from exc
            except json.JSONDecodeError as exc:
                # Only an error at the end of the buffer (a literal, number or string cut by
                # the read) can be cured by reading more; anything else is bad JSON now.
                incomplete = (len(self.buf) - exc.pos <= 64
                              or exc.msg.startswith("Unterminated"))
                if not incomplete:
                    raise ExportFileError(
                        self.path, f"invalid JSON in {what}: {exc.msg} "
                        f"(byte {self._byte_at(exc.pos)})"
                    ) from exc
                if len(self.buf) - self.pos > MAX_RECORD_BYTES:
                    raise ExportFileError(
                        self.path, f"{what} is larger than {MAX_RECORD_BYTES >> 20} MB or is "
                        f"not valid JSON ({exc.msg})"
                    ) from exc
                if self._fill():
                    continue
                raise ExportFileError(
                    self.path, f"the file ends early (truncated) in {what}"
                ) from exc
            # A number or literal cut by the buffer end would decode short: read more first.
            if end >= len(self.buf) and not self.eof and self._fill():
                continue
            start = self.pos
            self.pos = end
            return value, start, end

    def _set_header(self, fields: dict[str, Any]) -> None:
        if self.header is None:
            self.header = check_header(self.path, fields)
            self.header_found(self.header)

    def walk(self) -> Iterator[IndexedSession]:
        self._fill()
        if self._peek() != "{":
            raise ExportFileError(self.path, "not a Supervisor Desk JSON export (not a JSON "
                                  "object)")
        self.pos += 1
        header: dict[str, Any] = {}
        seen_sessions = False
        index = 0
        while True:
            c = self._peek()
            if c == "}":
                self.pos += 1
                break
            if c == "":
                raise ExportFileError(self.path, "the file ends early (truncated) after "
                                      f"{index} sessions")
            if header or seen_sessions:
                self._expect(",", "',' between keys")
            key, _, _ = self._value("a key")
            if not isinstance(key, str):
                raise ExportFileError(self.path, "not a Supervisor Desk JSON export")
            self._expect(":", "':' after a key")
            if key != "sessions":
                header[key], _, _ = self._value(f"the {key!r} field")
                continue
            self._set_header(header)
            seen_sessions = True
            self._expect("[", "'[' opening the sessions")
            if self._peek() == "]":
                self.pos += 1
                continue
            while True:
                record, start, end = self._value(f"session #{index + 1}")
                byte_start = self._byte_at(start)
                length = len(self.buf[start:end].encode("utf-8"))
                self.mark_char, self.mark_bytes = end, byte_start + length
                index += 1
                try:
                    yield entry_from_record(record, byte_start, length, self.interner)
                except ValidationError as exc:
                    self.report.note(f"session #{index}: {describe_validation(exc)}")
                except ValueError as exc:
                    self.report.note(f"session #{index}: {exc}")
                sep = self._expect(",]", f"',' or ']' after session #{index}")
                if sep == "]":
                    break
        self._set_header(header)
        if not seen_sessions:
            raise ExportFileError(self.path, "no \"sessions\" list in the file")
        if self._peek() != "":
            raise ExportFileError(self.path, "unexpected data after the end of the export")
