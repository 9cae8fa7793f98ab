"""Task storage: the only package that knows SQL.

:class:`Store` is the interface the scheduler uses; :class:`SqliteStore` keeps tasks in a
SQLite file and :class:`MemoryStore` in process memory.
"""

import os
from typing import Any

from taskmill.model.config import Durability, Retention
from taskmill.model.errors import ConfigurationError
from taskmill.store.memory import MemoryStore
from taskmill.store.protocol import (
    ClaimedTask,
    NewTask,
    RecoveryReport,
    SettleKind,
    Settlement,
    Store,
)
from taskmill.store.sqlite import SqliteStore


def make_store(database: Any, durability: Durability, retention: Retention) -> Store:
    """The store for ``Scheduler(database)``: a file path, ``":memory:"``, or a store as is."""
    if isinstance(database, str | os.PathLike):
        if os.fspath(database) == ":memory:":
            return MemoryStore(retention=retention)
        return SqliteStore(database, durability=durability, retention=retention)
    if all(hasattr(database, name) for name in ("open", "claim", "settle", "submit")):
        return database  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"database must be a path, ':memory:' or a taskmill Store, got {database!r}"
    )


__all__ = [
    "ClaimedTask",
    "MemoryStore",
    "NewTask",
    "RecoveryReport",
    "SettleKind",
    "Settlement",
    "SqliteStore",
    "Store",
    "make_store",
]
