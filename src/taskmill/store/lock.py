"""One scheduler per database file: an OS lock held while a store has the file open.

Two schedulers on one file would each take the other's running tasks for the leftovers of a
crash and run them again. The lock lives on ``<database>.lock`` next to the database (never
on the database itself, whose byte-range locks belong to SQLite). The operating system
releases it when the process ends, however it ends, so a crash leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

from taskmill.model.errors import DatabaseAccessError, DatabaseInUseError

_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES}  # what a lock held elsewhere raises


class DatabaseLock:
    """An exclusive, non-blocking lock on ``<database>.lock``."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`DatabaseInUseError` naming the holder's pid."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DatabaseAccessError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            _lock(fd)
        except OSError as exc:
            holder = _read_pid(fd) if exc.errno in _HELD else ""
            os.close(fd)
            if exc.errno not in _HELD:
                raise DatabaseAccessError(f"cannot lock {self.path}: {exc}") from exc
            by = f"process {holder}" if holder else "another scheduler"
            raise DatabaseInUseError(
                f"{self.database} is open in {by}: taskmill runs one scheduler "
                "per database file; close the other one, or give this one its own file"
            ) from None
        self._fd = fd
        # The pid is for the message another scheduler gets; the lock alone is what counts.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, str(os.getpid()).encode())

    def release(self) -> None:
        """Let go of the lock (the file stays: only the lock on it counts)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _unlock(fd)
            os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except (OSError, AttributeError):  # no pread on Windows, or the byte is locked there
        return ""


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        # Byte 64, past where the pid is written: Windows locks forbid reading locked bytes.
        os.lseek(fd, 64, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 64, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
