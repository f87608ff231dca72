"""How the SQL that both backends share is given to each driver: statements are written with
``?`` placeholders (SQLite's), psycopg wants ``%s``; and the few words only one of them has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Connection(Protocol):
    """What both drivers' connections offer: ``execute`` returning a cursor."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    placeholder: str
    # Appended to a SELECT that reads a row the transaction is about to change (PostgreSQL;
    # SQLite's write transactions hold the whole database already).
    for_update: str = ""

    def sql(self, text: str) -> str:
        """``text`` with this driver's placeholders (shared statements hold no other ``?``)."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def execute(self, conn: Connection, text: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self.sql(text), params)


SQLITE = Dialect("?")
POSTGRES = Dialect("%s", for_update=" FOR UPDATE")
