"""Schema migrations: numbered ``.sql`` files applied in order, tracked by ``user_version``.

``migrations/0001_initial.sql`` brings an empty database to version 1, ``0002_*.sql`` to
version 2, and so on. Each file is applied in its own transaction together with the new
``user_version``, so a crash mid-migration leaves the previous version intact. The
``application_id`` header field marks the file as taskmill's, so a stray path to another
application's database is refused instead of altered.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from importlib import resources
from pathlib import Path

from taskmill.model.errors import NotADatabaseError, SchemaVersionError

APPLICATION_ID = 0x546D696C  # "Tmil"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@cache
def migrations() -> tuple[str, ...]:
    """Return the migration scripts, index ``i`` upgrading version ``i`` to ``i + 1``."""
    folder = resources.files("taskmill.store") / "migrations"
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found[int(match.group(1))] = entry.read_text(encoding="utf-8")
    numbers = sorted(found)
    assert numbers == list(range(1, len(numbers) + 1)), f"migration numbers have gaps: {numbers}"
    return tuple(found[n] for n in numbers)


def latest_version() -> int:
    """The schema version this taskmill writes."""
    return len(migrations())


def _statements(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    assert not buffer.strip(), "migration ends with an incomplete statement"
    return statements


def check_and_migrate(conn: sqlite3.Connection, path: Path, *, wal: bool = True) -> None:
    """Refuse foreign or newer databases, switch to WAL, and apply missing migrations.

    Nothing is written before the checks pass, so a refused file is left untouched.
    """
    version = _ours(conn, path)
    latest = latest_version()
    if version > latest:
        raise SchemaVersionError(
            f"{str(path)!r} has schema version {version}, written by a newer taskmill; this "
            f"taskmill supports versions up to {latest}. Upgrade taskmill to open it "
            f"(the file was not modified)"
        )
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] if wal else "wal"
    if str(mode).lower() != "wal":
        raise NotADatabaseError(
            f"{str(path)!r} cannot be switched to WAL mode (journal_mode is {mode!r}); "
            f"is it on a network file system? Use a local disk"
        )
    for number in range(version + 1, latest + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations()[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise


def check_read_only(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that a read-only open cannot read as it is (it never migrates)."""
    version = _ours(conn, path)
    latest = latest_version()
    if version == 0:
        raise NotADatabaseError(
            f"{str(path)!r} is empty, not a taskmill database yet; open it once read-write "
            f"(Scheduler(path)) to create its tables"
        )
    if version > latest:
        raise SchemaVersionError(
            f"{str(path)!r} has schema version {version}, written by a newer taskmill; this "
            f"taskmill reads version {latest}. Upgrade taskmill to read it "
            f"(the file was not modified)"
        )
    if version < latest:
        raise SchemaVersionError(
            f"{str(path)!r} has schema version {version}, older than this taskmill's "
            f"{latest}, and a read-only open never migrates: open it once read-write with this "
            f"taskmill (Scheduler(path)), which migrates it, or read it with the taskmill that "
            f"wrote it (the file was not modified)"
        )


def _ours(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of a taskmill (or empty) database; refuse other applications'."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if application_id not in (0, APPLICATION_ID) or (
        application_id == 0 and (version != 0 or _has_tables(conn))
    ):
        raise NotADatabaseError(
            f"{str(path)!r} is a SQLite database of another application, not a taskmill "
            f"database; pass the path of a taskmill database, or of a file that does not exist"
        )
    return version


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchone() is not None
