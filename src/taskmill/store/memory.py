"""A store that keeps everything in process memory: for tests and throwaway queues."""

from __future__ import annotations

from taskmill.model.config import Retention
from taskmill.store.sqlite import SqliteStore


class MemoryStore(SqliteStore):
    """The SQLite store on a private in-memory database.

    Same SQL, same semantics, nothing on disk: every task is lost when the store closes.
    ``Scheduler(":memory:")`` uses it.

    Args:
        retention: How much history to keep.
    """

    def __init__(self, *, retention: Retention = Retention()) -> None:  # noqa: B008
        super().__init__(":memory:", retention=retention)

    def __repr__(self) -> str:
        return "MemoryStore()"
