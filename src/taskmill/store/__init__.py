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


def make_store(
    database: Any, durability: Durability, retention: Retention, *, read_only: bool = False
) -> Store:
    """The store for ``Scheduler(database)``: a file path, ``":memory:"``, or a store as is.

    With ``read_only``, a path gives a read-only :class:`SqliteStore`; a store passed as an
    object must be read-only itself (its ``read_only`` attribute), and one that is must be
    passed with ``read_only``, so that the scheduler and its store agree.
    """
    if isinstance(database, str | os.PathLike):
        if os.fspath(database) == ":memory:" and not read_only:
            return MemoryStore(retention=retention)
        return SqliteStore(
            database, durability=durability, retention=retention, read_only=read_only
        )
    if all(hasattr(database, name) for name in ("open", "claim", "settle", "submit")):
        if bool(getattr(database, "read_only", False)) != read_only:
            fix = (
                "pass SqliteStore(path, read_only=True) or the path itself"
                if read_only
                else "pass read_only=True to the scheduler too"
            )
            raise ConfigurationError(
                f"read_only={read_only} but the store {database!r} is "
                f"{'not ' if read_only else ''}read-only; {fix}"
            )
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
