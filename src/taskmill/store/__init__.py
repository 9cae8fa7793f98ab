"""Task storage: the only package that knows SQL.

:class:`Store` is the interface the scheduler uses; :class:`SqliteStore` keeps tasks in a
SQLite file and :class:`MemoryStore` in process memory.
"""

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

__all__ = [
    "ClaimedTask",
    "MemoryStore",
    "NewTask",
    "RecoveryReport",
    "SettleKind",
    "Settlement",
    "SqliteStore",
    "Store",
]
