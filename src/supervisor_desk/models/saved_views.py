"""Saved views: a named History view (filters, columns, sort) or Analytics view (range, charts,
filters), kept in one JSON file and shared as the same file format. No Qt here.

File: ``{"format": "supervisor-desk-views", "version": 1, "views": [SavedView, ...]}``.
Filters are stored as :meth:`SessionFilter.to_dict` and read back through
:meth:`SessionFilter.from_query`, so a shared file is checked like any query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from supervisor_desk.models.analytics import RANGE_NAMES
from supervisor_desk.models.atomic_file import write_atomically
from supervisor_desk.models.filters import SORT_KEYS, FilterError, SessionFilter

VIEWS_FORMAT = "supervisor-desk-views"
VIEWS_VERSION = 1
MAX_VIEWS = 200
MAX_FILE_BYTES = 2_000_000


class SavedViewError(ValueError):
    """A views file that cannot be read: says what and where."""


class SavedView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["history", "analytics"]
    filter: dict[str, Any] = {}
    sort: str | None = Field(default=None, max_length=50)
    columns: tuple[str, ...] | None = Field(default=None, max_length=50)
    range: str | None = None
    charts: tuple[str, ...] | None = Field(default=None, max_length=50)

    def session_filter(self) -> SessionFilter:
        """The stored filter, validated as a query would be (raises :class:`FilterError`)."""
        pairs: list[tuple[str, str]] = []
        for key, value in self.filter.items():
            items = value if isinstance(value, list) else [value]
            for item in items:
                text = ("true" if item else "false") if isinstance(item, bool) else str(item)
                pairs.append((key, text))
        return SessionFilter.from_query(pairs)


def history_view(name: str, flt: SessionFilter, sort: str, columns: Iterable[str]) -> SavedView:
    return SavedView(name=name, kind="history", filter=flt.to_dict(), sort=sort,
                     columns=tuple(columns))


def analytics_view(name: str, flt: SessionFilter, range_name: str,
                   charts: Iterable[str]) -> SavedView:
    return SavedView(name=name, kind="analytics", filter=flt.to_dict(), range=range_name,
                     charts=tuple(charts))


def _check(view: SavedView, where: str) -> None:
    try:
        view.session_filter()
    except FilterError as exc:
        raise SavedViewError(f"{where} ({view.name!r}): {exc}") from None
    if view.sort is not None and view.sort.lstrip("-") not in SORT_KEYS:
        raise SavedViewError(f"{where} ({view.name!r}): unknown sort {view.sort[:50]!r}")
    if view.range is not None and view.range not in RANGE_NAMES:
        raise SavedViewError(f"{where} ({view.name!r}): unknown range {view.range[:50]!r}")


def dumps_views(views: Iterable[SavedView]) -> str:
    return json.dumps({"format": VIEWS_FORMAT, "version": VIEWS_VERSION,
                       "views": [v.model_dump(mode="json", exclude_none=True) for v in views]},
                      indent=2, ensure_ascii=False)


def loads_views(text: str) -> list[SavedView]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedViewError(f"not a views file: invalid JSON at line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("format") != VIEWS_FORMAT:
        raise SavedViewError(f"not a views file (expected format {VIEWS_FORMAT!r})")
    if data.get("version") != VIEWS_VERSION:
        raise SavedViewError(f"views file version {data.get('version')!r} is not supported "
                             f"(this app reads version {VIEWS_VERSION})")
    items = data.get("views")
    if not isinstance(items, list) or len(items) > MAX_VIEWS:
        raise SavedViewError(f"a views file holds a list of at most {MAX_VIEWS} views")
    views = []
    for number, item in enumerate(items, start=1):
        try:
            view = SavedView.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            place = ".".join(str(p) for p in first["loc"])
            raise SavedViewError(f"view {number}: {place}: {first['msg']}") from None
        _check(view, f"view {number}")
        views.append(view)
    return views


def read_views(path: Path) -> list[SavedView]:
    """The views of ``path`` ([] if it does not exist); :class:`SavedViewError` if unreadable."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SavedViewError(f"{path.name} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedViewError(f"cannot read {path.name}: {exc}") from None
    return loads_views(text)


def write_views(path: Path, views: Iterable[SavedView]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    write_atomically(path, dumps_views(views))


def merge_views(current: list[SavedView], incoming: Iterable[SavedView]) -> list[SavedView]:
    """Imported views replace same-named views of the same kind; others are added."""
    merged = {(v.kind, v.name): v for v in current}
    for view in incoming:
        merged[(view.kind, view.name)] = view
    return list(merged.values())[:MAX_VIEWS]


def rename_view(views: list[SavedView], view: SavedView, name: str) -> list[SavedView]:
    """``views`` with ``view`` renamed in place (its position kept).

    Raises :class:`SavedViewError` for an empty or too long name, or a name another view of
    the same kind already has (renaming would silently replace it on the next import).
    """
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise SavedViewError("a view's name has 1 to 100 characters")
    if any(v is not view and v.kind == view.kind and v.name == name for v in views):
        raise SavedViewError(f"another {view.kind} view is already named \u201c{name}\u201d")
    renamed = view.model_copy(update={"name": name})
    return [renamed if v is view else v for v in views]
