"""In-memory index of an opened export file: local filter, sort, paging and metrics.

Filtering uses :meth:`SessionFilter.matches` (the hub's own semantics) for every criterion but
full text, which is evaluated here on pre-normalised transcripts with exactly the rule
``matches`` applies (every query word in one message), because normalising a million messages
on each keystroke would take seconds. Sort orders and the last filter's result are cached, so
paging through a result, or re-sorting it, costs a list slice. Transcripts stay on disk: a
session's messages and logs are read by byte range when it is opened. No Qt here.
"""

from __future__ import annotations

import functools
import operator
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from supervisor_desk.models.analytics import (
    DEFAULT_SLA_SECONDS,
    AnalyticsReport,
    TimeRange,
    summaries_report,
)
from supervisor_desk.models.export import IndexedSession, read_record
from supervisor_desk.models.export.records import raw_transcript
from supervisor_desk.models.export.records import (
    raw_transcripts as raw_transcripts,  # re-exported: fed to the normalisation here
)
from supervisor_desk.models.filters import (
    SessionFilter,
    SortSpec,
    ceil_ms,
    normalize_words,
    summary_search_text,
    to_ms,
    user_search_text,
)
from supervisor_desk.models.lock_slices import LockSlicer, lock_sliced
from supervisor_desk.models.metrics import assemble_metrics, session_metrics
from supervisor_desk.models.wire import (
    LIVE_STATUSES,
    ExportedSession,
    Metrics,
    NamedItem,
    SessionPage,
    SessionSummary,
)

_MESSAGE_SEP = "\n"
_ID = attrgetter("id")
# The fields sort keys are computed from, read once per session as it is added (the object is
# fresh in the cache then; read later, 100,000 scattered objects cost ~30 ms per field).
_TIME_FIELDS = ("started_at", "last_message_at", "ended_at", "queued_at", "accepted_at")
_SORT_FIELDS = attrgetter(*_TIME_FIELDS, "message_count")
_LOWEST = float("-inf")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_RECHECK_LIMIT = 2000
# Rows a sort column is extended by per step (~1-2 ms of C), the lock handed over between.
_COLUMN_STEP = 4096
# Tied sort values broken by id one run at a time up to this many; beyond, by the id ranks.
_TIE_LIMIT = 2048
# MessageCountFilter.test's comparisons, as C functions (no Python call per row).
_COUNT_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "lt": operator.lt,
              "ge": operator.ge, "le": operator.le}


def _ms_floats(moments: list[datetime | None]) -> np.ndarray[Any, Any]:
    """``to_ms`` of each (aware) moment as floats, None as -inf, in C loops and NumPy only.

    ``timestamp()`` is the correctly rounded microseconds / 1e6, so ``rint(ts * 1e6)``
    recovers the exact microseconds (below 2**53), and their floor division by 1,000 is
    ``to_ms`` exactly. A comprehension's bytecode per row cost more than the sort it feeds.
    """
    present = np.fromiter(map(operator.is_not, moments, repeat(None)), dtype=bool,
                          count=len(moments))
    values = compress(moments, present) if not present.all() else moments
    seconds = np.fromiter(map(datetime.timestamp, values), dtype=np.float64,  # type: ignore[arg-type]
                          count=int(present.sum()))
    out = np.full(len(moments), _LOWEST, dtype=np.float64)
    out[present] = np.floor_divide(np.rint(seconds * 1e6), 1000.0)
    return out


_WORD = re.compile(r"[^\W_]+")  # normalize_words' word


@functools.cache
def _combining_marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Every character ``unicodedata.combining`` flags: (in the BMP, beyond it).

    Two classes because a class of single BMP characters compiles to a bitmap (one lookup per
    character) while any character beyond the BMP turns it into a list of ranges scanned per
    character, ten times slower; text beyond the BMP is rare, so that class rarely runs.
    """
    marks = [chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))]
    bmp = "".join(re.escape(c) for c in marks if c <= "\uffff")
    astral = "".join(re.escape(c) for c in marks if c > "\uffff")
    return re.compile(f"[{bmp}]+"), re.compile(f"[{astral}]+")


# ASCII characters that are not a word's ([^\W_] on ASCII is [A-Za-z0-9]), but the message
# separator, mapped to a space: str.translate and split() then do in C what the regex does.
_ASCII_GAPS = str.maketrans({chr(c): " " for c in range(128)
                             if not (chr(c).isalnum() or chr(c) == _MESSAGE_SEP)})


def _folded(text: str) -> str:
    """``text`` decomposed (NFKD), its combining marks dropped, lower-cased: in C passes."""
    if text.isascii():
        # ASCII text is its own NFKD form and has no combining marks.
        return text.lower()
    bmp_marks, astral_marks = _combining_marks()
    decomposed = bmp_marks.sub("", unicodedata.normalize("NFKD", text))
    if not decomposed.isascii() and max(decomposed) > "\uffff":
        decomposed = astral_marks.sub("", decomposed)
    return decomposed.lower()


def normalized_raw_transcript(raw: str) -> str:
    """A :func:`raw_transcripts` text (one message a line) with each line's words normalised
    as ``normalize_words`` does, joined by single spaces.

    The whole transcript is folded at once (the steps work character by character and never
    across a line), and text that is ASCII once folded, most text, is split with
    ``str.translate``: 50 -> 19 us per 10-message transcript, the reading's largest cost.
    """
    text = _folded(raw)
    if text.isascii():
        lines = text.translate(_ASCII_GAPS).split(_MESSAGE_SEP)
        return _MESSAGE_SEP.join(" ".join(line.split()) for line in lines)
    return _MESSAGE_SEP.join(" ".join(_WORD.findall(line)) for line in text.split(_MESSAGE_SEP))


def normalized_transcript(texts: Sequence[str]) -> str:
    """One string per session: each message's normalised words, messages on their own line."""
    return normalized_raw_transcript(raw_transcript(texts))


def transcript_has_words(words: set[str], transcript: str) -> bool:
    """``SessionFilter.matches``' text rule on a normalised transcript: all words, one message."""
    # Cheap substring screen first; most sessions miss some word entirely.
    if not all(w in transcript for w in words):
        return False
    return any(words <= set(line.split(" ")) for line in transcript.split(_MESSAGE_SEP))


def prepare_transcripts(entries: Sequence[IndexedSession]) -> list[str | None]:
    return [normalized_transcript(e.texts) if e.texts is not None else None for e in entries]


def _merged_metrics(a: Metrics, b: Metrics, now_ms: int) -> Metrics:
    """The metrics of two disjoint sets of sessions, from theirs: counts add, the longest
    wait is the longer (it grows with the oldest queue time, which is the older)."""
    merged = assemble_metrics(
        total=a.total + b.total, recent_24h=a.recent_24h + b.recent_24h,
        by_channel=Counter(a.by_channel) + Counter(b.by_channel),
        by_status=Counter(a.by_status) + Counter(b.by_status),
        oldest_waiting_since_ms=None, now_ms=now_ms,
    )
    waits = [w for w in (a.longest_wait_seconds, b.longest_wait_seconds) if w is not None]
    return merged.model_copy(update={"longest_wait_seconds": max(waits, default=None)})


class OfflineIndex:
    """Sessions of one file, in file order, with cached sort orders and the last query."""

    def __init__(self, path: Path, *, has_transcripts: bool = True,
                 now: datetime | None = None) -> None:
        self.path = Path(path)
        self.has_transcripts = has_transcripts
        # "Now" for an export is the moment it was taken: live durations and waits stop there.
        self.now = now or datetime.now(UTC)
        self._sessions: list[SessionSummary] = []
        self._offsets: list[tuple[int, int]] = []
        self._transcripts: list[str | None] = []
        self._pending: set[int] = set()  # rows holding raw_transcripts() text
        self._by_id: dict[str, int] = {}
        self._orders: dict[SortSpec, np.ndarray[Any, Any]] = {}
        self._search: list[str] = []
        self._id_rank: np.ndarray[Any, Any] | None = None
        # Per field of _SORT_FIELDS, every row's value (kept up to date by add) ...
        self._fields: dict[str, list[Any]] = {f: [] for f in (*_TIME_FIELDS, "message_count")}
        # ... and derived from them when first needed: ms per time field, floats per field.
        # While a file is read these cover the rows up to the last query and are extended by
        # the rows added since (each refresh would otherwise redo 100,000 rows in one C call
        # of 30-40 ms, holding the lock the Qt thread paints with); a replaced row drops them.
        self._time_columns: dict[str, list[int | None]] = {}
        self._float_columns: dict[str, np.ndarray[Any, Any]] = {}
        # Agent and operator names of the rows up to the first number, and the metrics of
        # every row up to it (same reason: a refresh counts only the rows read since).
        self._names_of: tuple[int, dict[str, str], dict[str, str]] = (0, {}, {})
        self._metrics_of: tuple[int, Metrics | None] = (0, None)
        self._last: tuple[SessionFilter, SortSpec, list[int]] | None = None

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, entries: Iterable[IndexedSession],
            transcripts: Sequence[str | None] | None = None, *,
            normalized: bool = True) -> int:
        """Append a batch read from the file; a repeated id replaces the earlier row.

        ``transcripts`` (from :func:`prepare_transcripts`, computed in the reading thread)
        saves the caller's thread the normalisation, the costly part of adding. With
        ``normalized=False`` they are :func:`raw_transcripts`, normalised by
        :meth:`normalize_transcripts` (or by the first search in transcripts).
        """
        entries = list(entries)
        if transcripts is None:
            transcripts = prepare_transcripts(entries)
        added = 0
        replaced = False
        fields = self._fields
        # Pure Python over a whole batch (3-5 ms for 1,000): it stands aside while the Qt
        # thread paints the table, as the normalisation does.
        for entry, transcript in zip(lock_sliced(entries), transcripts, strict=True):
            row = self._by_id.get(entry.summary.id)
            if row is not None:
                replaced = True
                # A row added earlier in this very batch gets its fields with the batch's.
                if row < len(self._fields["started_at"]):
                    for column, value in zip(fields.values(), _SORT_FIELDS(entry.summary),
                                             strict=True):
                        column[row] = value
                self._sessions[row] = entry.summary
                self._offsets[row] = (entry.offset, entry.length)
                self._transcripts[row] = transcript
                self._set_pending(row, transcript, normalized)
                continue
            self._by_id[entry.summary.id] = len(self._sessions)
            if len(self._search) == len(self._sessions):
                # Kept up to date batch by batch, so the first search costs no indexing pass.
                self._search.append(summary_search_text(entry.summary))
            self._sessions.append(entry.summary)
            self._offsets.append((entry.offset, entry.length))
            self._transcripts.append(transcript)
            self._set_pending(len(self._sessions) - 1, transcript, normalized)
            added += 1
        if added:
            fresh = self._sessions[len(self._sessions) - added:]
            by_field = zip(*map(_SORT_FIELDS, lock_sliced(fresh)), strict=True)
            for column, values in zip(fields.values(), by_field, strict=True):
                column.extend(values)
        if replaced:
            self._time_columns.clear()
            self._float_columns.clear()
            self._names_of = (0, {}, {})
            self._metrics_of = (0, None)
        self._orders.clear()
        self._id_rank = None
        self._last = None
        return added

    def _set_pending(self, row: int, transcript: str | None, normalized: bool) -> None:
        if normalized or transcript is None:
            self._pending.discard(row)
        else:
            self._pending.add(row)

    @property
    def pending_transcripts(self) -> int:
        """Rows whose transcript still waits for :meth:`normalize_transcripts`."""
        return len(self._pending)

    def normalize_transcripts(self, limit: int | None = None) -> int:
        """Normalise up to ``limit`` waiting transcripts (all by default); returns how many
        still wait. Small steps let queries run in between on the index's thread."""
        transcripts = self._transcripts
        # ~50 us of Python per transcript, 1,000 of them per batch read: other threads (the
        # Qt thread painting the table) get the lock between slices, not every 5 ms.
        slicer = LockSlicer()
        for _ in range(len(self._pending) if limit is None else min(limit, len(self._pending))):
            slicer.tick()
            row = self._pending.pop()
            raw = transcripts[row]
            if raw is not None:
                transcripts[row] = normalized_raw_transcript(raw)
        return len(self._pending)

    def get(self, session_id: str) -> SessionSummary | None:
        row = self._by_id.get(session_id)
        return self._sessions[row] if row is not None else None

    def sessions(self) -> list[SessionSummary]:
        return list(self._sessions)

    # ------------------------------------------------------------------ queries

    def _sort_values(self, spec: SortSpec) -> np.ndarray[Any, Any]:
        """``SortSpec.value`` of every row as floats, ``None`` as -inf (lowest, as on the hub).

        Whole milliseconds and counts stay below 2**53, so the floats hold them exactly.
        """
        if spec.key in _TIME_FIELDS or spec.key == "message_count":
            return self._floats(spec.key)
        now = float(to_ms(self.now))
        started = self._floats("started_at")
        ended = self._floats("ended_at")
        ended = np.where(ended != _LOWEST, ended, now)
        if spec.key == "duration":
            duration: np.ndarray[Any, Any] = ended - started
            return duration
        queued = self._floats("queued_at")
        accepted = self._floats("accepted_at")
        until = np.where(accepted != _LOWEST, accepted, ended)
        return np.where(queued != _LOWEST, until - queued, _LOWEST)

    def _floats(self, field: str) -> np.ndarray[Any, Any]:
        """One field of every row as floats: ms for times (None: -inf), or the count."""
        column = self._float_columns.get(field)
        done = 0 if column is None else len(column)
        if column is None or done < len(self._sessions):
            values = self._fields[field]
            parts = [] if column is None else [column]
            slicer = LockSlicer()
            for start in range(done, len(values), _COLUMN_STEP):
                slicer.tick()
                step = values[start:start + _COLUMN_STEP]
                parts.append(np.array(step, dtype=np.float64) if field == "message_count"
                             else _ms_floats(step))
            column = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
            self._float_columns[field] = column
        return column

    def _id_ranks(self) -> np.ndarray[Any, Any]:
        """Each row's place in id order (ids are unique: no two rows share one)."""
        if self._id_rank is None or len(self._id_rank) != len(self._sessions):
            ids = list(map(_ID, self._sessions))
            by_id = sorted(range(len(ids)), key=ids.__getitem__)
            ranks = np.empty(len(ids), dtype=np.int64)
            ranks[np.array(by_id, dtype=np.int64)] = np.arange(len(ids), dtype=np.int64)
            self._id_rank = ranks
        return self._id_rank

    def _order(self, spec: SortSpec) -> np.ndarray[Any, Any]:
        """Row numbers in ``SortSpec.sort`` order: by value, ties by id, both per direction.

        One ``lexsort`` of the value column with the rows' id ranks as the tie-break. Values
        and ids together are unique, so the descending order is exactly the reversed one.
        """
        order = self._orders.get(spec)
        if order is None:
            values = self._sort_values(spec)
            ascending = self._ties_by_id(values, np.argsort(values, kind="stable"))
            order = ascending[::-1] if spec.descending else ascending
            self._orders[spec] = order
        return order

    def _ties_by_id(self, values: np.ndarray[Any, Any],
                    ascending: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``ascending`` (rows by value) with equal values put in id order.

        A few ties (a time column) are sorted run by run; many (counts, missing times) take
        the rows' id ranks, whose one ``sorted`` of every id (15 ms at 30,000 rows) the usual
        case, the start times of a file still being read, so never pays.
        """
        ordered = values[ascending]
        tied = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(tied) > _TIE_LIMIT or np.isnan(ordered[-1:]).any():
            return np.lexsort((self._id_ranks(), values))  # NaN sorts last, never equal
        if not len(tied):
            return ascending
        breaks = np.flatnonzero(np.diff(tied) != 1)
        firsts = np.concatenate((tied[:1], tied[breaks + 1]))
        lasts = np.concatenate((tied[breaks], tied[-1:])) + 2
        sessions = self._sessions
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            run = ascending[first:last].tolist()
            ascending[first:last] = sorted(run, key=lambda row: sessions[row].id)
        return ascending

    def _search_texts(self) -> list[str]:
        if len(self._search) != len(self._sessions):
            self._search = [summary_search_text(s) for s in self._sessions]
        return self._search

    def _times(self, field: str) -> list[int | None]:
        column = self._time_columns.setdefault(field, [])
        values = self._fields[field]
        if len(column) < len(values):
            column.extend(to_ms(v) if v is not None else None
                          for v in lock_sliced(values[len(column):]))
        return column

    def _candidates(self, flt: SessionFilter) -> list[int]:
        """Rows passing every criterion but ``text``, each tested exactly as ``matches`` does.

        One narrowing pass per active criterion over plain attributes is several times faster
        than calling ``matches`` per row; ``matches`` itself then re-checks only a small
        result (see :meth:`_mask`), and tests hold the two equal field by field.
        """
        sessions = self._sessions
        rows: list[int] = list(range(len(sessions)))
        if flt.channel:
            wanted = set(flt.channel)
            rows = [i for i in rows if sessions[i].channel in wanted]
        if flt.status:
            wanted = set(flt.status)
            rows = [i for i in rows if sessions[i].status in wanted]
        if flt.agent:
            wanted = set(flt.agent)
            rows = [i for i in rows if sessions[i].agent.id in wanted]
        if flt.has_attachments is not None:
            rows = [i for i in rows if sessions[i].has_attachments == flt.has_attachments]
        if flt.messages is not None:
            compare = _COUNT_OPS[flt.messages.op]
            n = flt.messages.n
            rows = [i for i in rows if compare(sessions[i].message_count, n)]
        if flt.messages_max is not None:
            most = flt.messages_max
            rows = [i for i in rows if sessions[i].message_count <= most]
        if flt.team:
            wanted = set(flt.team)
            rows = [i for i in rows if sessions[i].team in wanted]
        for field, after, before in (
            ("started_at", flt.started_after, flt.started_before),
            ("ended_at", flt.ended_after, flt.ended_before),
            ("last_message_at", flt.last_message_after, flt.last_message_before),
        ):
            if after is None and before is None:
                continue
            column = self._times(field)
            low = ceil_ms(after) if after is not None else None
            high = ceil_ms(before) if before is not None else None
            rows = [
                i for i in rows if (v := column[i]) is not None
                and (low is None or v >= low) and (high is None or v < high)
            ]
        if flt.q is not None:
            needle = flt.q.lower()
            texts = self._search_texts()
            rows = [i for i in rows
                    if needle in texts[i] or sessions[i].id.lower().startswith(needle)]
        if flt.user is not None:
            needle = flt.user.lower()
            rows = [i for i in rows
                    if needle in user_search_text(sessions[i].user.id, sessions[i].user.name)]
        if flt.country is not None:
            code = flt.country.upper()
            rows = [i for i in rows
                    if (sessions[i].location.country_code or "").upper() == code]
        if flt.ip is not None:
            rows = [i for i in rows if sessions[i].location.ip == flt.ip]
        if flt.operator:
            wanted = set(flt.operator)
            rows = [i for i in rows if (op := sessions[i].responsible.operator) is not None
                    and op.id in wanted]
        if flt.responsible is not None:
            rows = [i for i in rows if sessions[i].responsible.kind == flt.responsible]
        if flt.live is not None:
            rows = [i for i in rows if (sessions[i].status in LIVE_STATUSES) == flt.live]
        return rows

    def _mask(self, flt: SessionFilter) -> list[bool] | None:
        """Rows passing ``flt`` (``None``: every row)."""
        if flt.is_empty():
            return None
        rest = flt.model_copy(update={"text": None})
        sessions = self._sessions
        rows = self._candidates(rest)
        if not rest.is_empty() and len(rows) <= _RECHECK_LIMIT:
            # Belt and braces on small results: the shared definition has the last word.
            matches = rest.matches
            rows = [i for i in rows if matches(sessions[i])]
        if flt.text is not None and self.has_transcripts:
            self.normalize_transcripts()  # what is still raw, before anything is matched
            words = set(normalize_words(flt.text))
            transcripts = self._transcripts
            rows = [i for i in rows
                    if (t := transcripts[i]) is not None and transcript_has_words(words, t)]
        mask = [False] * len(sessions)
        for i in rows:
            mask[i] = True
        return mask

    def matching_rows(self, flt: SessionFilter, sort: SortSpec | str) -> list[int]:
        spec = sort if isinstance(sort, SortSpec) else SortSpec.parse(sort)
        if self._last is not None and self._last[0] == flt and self._last[1] == spec:
            return self._last[2]
        order = self._order(spec)
        rows: list[int]
        if flt.is_empty():
            rows = order.tolist()
        else:
            keep = np.zeros(len(self._sessions), dtype=bool)
            if self._last is not None and self._last[0] == flt:
                # Same filter, new sort: reorder the known result instead of filtering again.
                keep[self._last[2]] = True
            else:
                mask = self._mask(flt)
                assert mask is not None  # only an empty filter keeps every row
                keep[:] = mask
            rows = order[keep[order]].tolist()
        self._last = (flt, spec, rows)
        return rows

    def query(self, flt: SessionFilter, sort: SortSpec | str = "-started_at", offset: int = 0,
              limit: int = 50) -> SessionPage:
        rows = self.matching_rows(flt, sort)
        window = rows[offset: offset + limit]
        return SessionPage(items=[self._sessions[i] for i in window], total=len(rows),
                           offset=offset, limit=limit)

    def matching_ids(self, flt: SessionFilter) -> set[str]:
        return {self._sessions[i].id for i in self.matching_rows(flt, SortSpec())}

    def metrics(self, flt: SessionFilter) -> Metrics:
        """The hub's ``/sessions/metrics`` over the file, as of :attr:`now`."""
        # Sliced: while a file is read, every refresh of the window computes these on the
        # index's thread at the moment the Qt thread paints the new page (36 ms at 30k rows).
        if flt.is_empty():
            return self._all_metrics()
        rows = lock_sliced(self.matching_rows(flt, SortSpec()))
        return session_metrics((self._sessions[i] for i in rows), self.now)

    def _all_metrics(self) -> Metrics:
        """Every row's metrics: those known so far merged with the new rows' (all counts)."""
        done, known = self._metrics_of
        if known is None or done < len(self._sessions):
            fresh = session_metrics(lock_sliced(self._sessions[done:]), self.now)
            known = fresh if known is None else _merged_metrics(known, fresh, to_ms(self.now))
            self._metrics_of = (len(self._sessions), known)
        return known

    def analytics(self, flt: SessionFilter, time_range: TimeRange, now_ms: int,
                  sla_seconds: int = DEFAULT_SLA_SECONDS) -> AnalyticsReport:
        """The hub's ``/analytics`` over the file (``now_ms``: usually the export's time)."""
        return summaries_report(
            (self._sessions[i] for i in lock_sliced(self.matching_rows(flt, SortSpec()))),
            time_range, now_ms, sla_seconds,
        )

    def _names(self) -> tuple[dict[str, str], dict[str, str]]:
        """Agent and operator names (the last row's name wins), extended by the new rows."""
        done, agents, operators = self._names_of
        for s in lock_sliced(self._sessions[done:]):
            agents[s.agent.id] = s.agent.name
            if (operator := s.responsible.operator) is not None:
                operators[operator.id] = operator.name
        self._names_of = (len(self._sessions), agents, operators)
        return agents, operators

    def agents(self) -> list[NamedItem]:
        return sorted((NamedItem(id=i, name=n) for i, n in self._names()[0].items()),
                      key=lambda a: a.name.casefold())

    def operators(self) -> list[NamedItem]:
        return sorted((NamedItem(id=i, name=n) for i, n in self._names()[1].items()),
                      key=lambda a: a.name.casefold())

    # ------------------------------------------------------------------ transcripts

    def record(self, session_id: str) -> ExportedSession:
        """Messages and logs of one session, read from the file now (blocking: use a thread)."""
        row = self._by_id[session_id]
        offset, length = self._offsets[row]
        entry = IndexedSession(self._sessions[row], offset, length, None)
        return read_record(self.path, entry)
