"""List model of a chat transcript: one row per message, pill or session header.

The rows are :class:`~supervisor_desk.models.chat_rows.ChatRow` values; the delegate paints
them. Rows only grow at the end (live messages) or change in place (reactions, delivery),
so every change is a ranged insert or a ``dataChanged`` with an explicit role list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from supervisor_desk.models.chat_rows import AUTHOR_LABELS, ChatRow

ObjectRole = Qt.ItemDataRole.UserRole + 1
KindRole = Qt.ItemDataRole.UserRole + 2
KeyRole = Qt.ItemDataRole.UserRole + 3
SessionIdRole = Qt.ItemDataRole.UserRole + 4

_Index = QModelIndex | QPersistentModelIndex


class ChatModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ChatRow] = []
        self._by_key: dict[str, int] = {}
        self._message_rows = 0

    # --- Qt interface -------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(row)
        if role == ObjectRole:
            return row
        if role == KindRole:
            return row.kind
        if role == KeyRole:
            return row.key
        if role == SessionIdRole:
            return row.session_id
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled

    # --- mutations ----------------------------------------------------------------------
    def set_rows(self, rows: Sequence[ChatRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._message_rows = sum(1 for r in self._rows if r.kind == "message")
        self._reindex(0)
        self.endResetModel()

    def append_rows(self, rows: Sequence[ChatRow]) -> None:
        self.insert_rows(len(self._rows), rows)

    def insert_rows(self, position: int, rows: Sequence[ChatRow]) -> None:
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), position, position + len(rows) - 1)
        self._rows[position:position] = rows
        self._message_rows += sum(1 for r in rows if r.kind == "message")
        self._reindex(position)
        self.endInsertRows()

    def remove_row(self, position: int) -> None:
        self.remove_rows(position, 1)

    def remove_rows(self, position: int, count: int) -> None:
        """Remove ``count`` rows from ``position`` (one rowsRemoved: views keep the heights
        they measured for the rest, as a reset would not)."""
        if count <= 0:
            return
        self.beginRemoveRows(QModelIndex(), position, position + count - 1)
        gone = self._rows[position:position + count]
        self._message_rows -= sum(1 for r in gone if r.kind == "message")
        del self._rows[position:position + count]
        if position == 0:
            self._by_key = {}
        else:
            for row in gone:
                self._by_key.pop(row.key, None)
        self._reindex(position)
        self.endRemoveRows()

    def replace_row(self, position: int, row: ChatRow) -> None:
        old = self._rows[position]
        self._rows[position] = row
        self._message_rows += (row.kind == "message") - (old.kind == "message")
        if old.key != row.key:
            self._by_key.pop(old.key, None)
            self._by_key[row.key] = position
        index = self.index(position, 0)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole, ObjectRole])

    def _reindex(self, start: int) -> None:
        if start == 0:
            self._by_key = {}
        for position in range(start, len(self._rows)):
            self._by_key[self._rows[position].key] = position

    # --- queries ------------------------------------------------------------------------
    def row_at(self, position: int) -> ChatRow:
        return self._rows[position]

    @property
    def message_rows(self) -> int:
        """How many rows are messages (not pills or headers): the chat title's count."""
        return self._message_rows

    def position_of(self, key: str) -> int | None:
        return self._by_key.get(key)

    def rows(self) -> list[ChatRow]:
        return list(self._rows)


def display_text(row: ChatRow) -> str:
    """One line per row for accessibility and tests: who said what."""
    message = row.message
    if row.kind != "message" or message is None:
        return row.text
    who = message.author.name or AUTHOR_LABELS.get(message.author.role, message.author.role)
    prefix = {"draft": "Draft from Copilot", "note": "Private note"}.get(message.kind)
    head = f"{prefix} · {who}" if prefix else who
    return f"{head}: {message.text}"
