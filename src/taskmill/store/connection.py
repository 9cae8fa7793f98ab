"""Opening SQLite connections, and translating ``sqlite3`` errors into taskmill errors."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from taskmill.model.config import Durability
from taskmill.model.errors import (
    DatabaseAccessError,
    NotADatabaseError,
    StorageFullError,
    StoreBusyError,
    StoreError,
    TaskmillError,
)

BUSY_TIMEOUT_SECONDS = 10.0
MIN_SQLITE_VERSION = (3, 35, 0)  # UPDATE ... RETURNING


def check_sqlite_version() -> None:
    """Raise :class:`StoreError` if the linked SQLite lacks features the store needs."""
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        need = ".".join(map(str, MIN_SQLITE_VERSION))
        raise StoreError(
            f"taskmill needs SQLite >= {need}, but Python is linked against "
            f"{sqlite3.sqlite_version}; use a newer Python build"
        )


def check_location(path: Path) -> None:
    """Raise :class:`DatabaseAccessError` if the database cannot be created or written there.

    SQLite's own message ("unable to open database file") does not say which of the causes
    applies, so the common ones are checked up front.
    """
    directory = path.parent
    if not directory.is_dir():
        raise DatabaseAccessError(
            errno.ENOENT,
            f"cannot create the task database {str(path)!r}: directory {str(directory)!r} does "
            f"not exist; create it first or choose another path",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DatabaseAccessError(
            errno.EACCES,
            f"cannot use the task database {str(path)!r}: directory {str(directory)!r} is not "
            f"writable (SQLite keeps its -wal and -shm files beside the database); choose a "
            f"path in a writable directory",
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseAccessError(
            errno.EACCES,
            f"cannot use the task database {str(path)!r}: the file is not readable and "
            f"writable by this user; fix its permissions or choose another path",
        )


def connect(path: Path, *, durability: Durability, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection in autocommit mode with taskmill's pragmas."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
        check_same_thread=False,  # each connection is used by one thread at a time
        cached_statements=256,
        timeout=BUSY_TIMEOUT_SECONDS,
    )
    try:
        conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute("PRAGMA temp_store = MEMORY")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def map_sqlite_error(exc: BaseException, path: Path) -> BaseException:
    """Translate a ``sqlite3`` (or OS) error into the matching taskmill error."""
    if isinstance(exc, TaskmillError) or not isinstance(exc, sqlite3.Error | OSError):
        return exc
    message = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    new: StoreError
    if code == sqlite3.SQLITE_NOTADB or "file is not a database" in message:
        new = NotADatabaseError(
            f"{str(path)!r} is not a SQLite database (or it is encrypted or corrupt); "
            f"pass the path of a taskmill database, or of a file that does not exist yet"
        )
    elif code == sqlite3.SQLITE_FULL or "database or disk is full" in message:
        new = StorageFullError(
            errno.ENOSPC,
            f"the disk holding {str(path)!r} is full; free space and retry "
            f"(nothing stored was lost: the failed write was rolled back)",
        )
    elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in message:
        new = StoreBusyError(
            f"{str(path)!r} stayed locked by another connection for over "
            f"{BUSY_TIMEOUT_SECONDS:g} s; is another process writing to it?"
        )
    elif code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM) or (
        "readonly" in message or "unable to open" in message
    ):
        new = DatabaseAccessError(
            errno.EACCES,
            f"cannot write the task database {str(path)!r} ({message}); check that the file "
            f"and its directory are writable",
        )
    else:
        new = StoreError(f"task database {str(path)!r}: {message}")
    new.__cause__ = exc
    return new
