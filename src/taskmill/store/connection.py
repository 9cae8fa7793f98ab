"""Opening SQLite connections, and translating ``sqlite3`` errors into taskmill errors."""

from __future__ import annotations

import errno
import os
import shlex
import sqlite3
from pathlib import Path
from urllib.parse import quote

from taskmill.model.config import Durability
from taskmill.model.errors import (
    DatabaseAccessError,
    DatabaseCorruptError,
    DatabaseNotFoundError,
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
    if path.is_dir():
        raise NotADatabaseError(
            f"{str(path)!r} is a directory; pass the path of a database file in it, such as "
            f"{str(path / 'tasks.db')!r}"
        )
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


def check_present(path: Path) -> None:
    """Raise unless ``path`` is an existing file: a read-only open never creates a database."""
    if not path.exists():
        raise DatabaseNotFoundError(
            f"the task database {str(path)!r} does not exist; a read-only open never creates "
            f"one: check the path, or open it read-write (Scheduler(path)) to create it"
        )
    if not path.is_file():
        raise NotADatabaseError(
            f"{str(path)!r} is not a file (a directory?); pass the path of a taskmill database"
        )


def connect(
    path: Path, *, durability: Durability, readonly: bool = False, file_read_only: bool = False
) -> sqlite3.Connection:
    """Open a connection in autocommit mode with taskmill's pragmas.

    ``readonly`` makes the connection refuse writes (``query_only``); ``file_read_only``
    opens the file itself read-only (``mode=ro``): such a connection can never write it,
    and reads the latest committed state of a WAL database that another process writes.
    """
    target: str | Path = f"file:{quote(str(path))}?mode=ro" if file_read_only else path
    conn = sqlite3.connect(
        target,
        uri=file_read_only,
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


def map_sqlite_error(exc: BaseException, path: Path, *, read_only: bool = False) -> BaseException:
    """Translate a ``sqlite3`` (or OS) error into the matching taskmill error.

    With ``read_only``, failures to open are reported as failures to read.
    """
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
    elif code == sqlite3.SQLITE_CORRUPT or "malformed" in message:
        new = DatabaseCorruptError(
            f"the task database {str(path)!r} is damaged ({message}); taskmill wrote nothing "
            f"more to it. Stop every process using it, then restore it from a backup, or save "
            f"what is readable: sqlite3 {shlex.quote(str(path))} .recover | sqlite3 recovered.db"
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
    elif read_only and (
        code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM) or "unable to open" in message
    ):
        new = DatabaseAccessError(
            errno.EACCES,
            f"cannot read the task database {str(path)!r} ({message}); check that the file "
            f"is readable, and that its directory is writable or already holds its -wal and "
            f"-shm files (SQLite's readers need them)",
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
