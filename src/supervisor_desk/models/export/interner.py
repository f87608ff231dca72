"""Sharing of equal parts between indexed summaries, so 100,000 of them fit in memory."""

from __future__ import annotations

from typing import Any

from supervisor_desk.models.wire import SessionSummary


class Interner:
    """Shares equal parts of frozen summaries, so 100,000 indexed sessions fit in memory.

    A validated summary carries its own copy of every nested model, dict and pydantic's
    ``__pydantic_fields_set__`` (a 2 KB set per session); most are equal across sessions
    (agents, empty dicts, the set of fields). The models are frozen and never mutated, so
    one shared instance per distinct value is indistinguishable from copies, and takes a
    third of the memory.
    """

    _NESTED = ("agent", "responsible", "user", "location", "parameters", "results", "metadata")
    _MAX = 500_000

    def __init__(self, *, track_new: bool = False) -> None:
        self._sets: dict[frozenset[str], set[str]] = {}
        self._values: dict[Any, Any] = {}
        # With track_new, every object that becomes shared is listed here until the owner
        # takes the list (a reading process sends each shared object once, then refers to it).
        self.new: list[Any] | None = [] if track_new else None
        self._listed_sets = 0

    def _shared(self, value: Any) -> Any:
        if isinstance(value, dict):
            key: Any = ("dict", tuple(value.items()))
        elif value is None:
            return None
        else:
            key = (type(value), tuple(value.__dict__.values()))
        try:
            found = self._values.get(key)
        except TypeError:  # an unhashable part: keep this one as it is
            return value
        if found is not None:
            return found
        if len(self._values) < self._MAX:
            self._values[key] = value
            if not isinstance(value, dict):
                self._share_fields_set(value)
            if self.new is not None:
                self.new.append(value)
        return value

    def _share_fields_set(self, model: Any) -> None:
        fields_set = model.__pydantic_fields_set__
        shared = self._sets.setdefault(frozenset(fields_set), fields_set)
        if shared is not fields_set:
            object.__setattr__(model, "__pydantic_fields_set__", shared)
        elif self.new is not None and len(self._sets) > self._listed_sets:
            self._listed_sets = len(self._sets)
            self.new.append(shared)

    def compact(self, summary: SessionSummary) -> SessionSummary:
        fields = summary.__dict__
        for name in self._NESTED:
            fields[name] = self._shared(fields[name])
        self._share_fields_set(summary)
        return summary
