"""The SQLite backend of the hub's store: every SQLite statement of the hub lives here."""

from supervisor_desk.hub.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
