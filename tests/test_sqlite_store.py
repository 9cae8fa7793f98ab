"""What only the SQLite store does: WAL, group commit, hashed keys, the file it leaves."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

import taskmill.store.sql.submissions as submissions_sql
import taskmill.store.sql.tasks as sql
from taskmill import (
    DatabaseAccessError,
    DatabaseInUseError,
    Duplicate,
    Inserted,
    SqliteStore,
    StoreClosedError,
    StoreError,
)
from taskmill.store import NewTask
from taskmill.store.schema import APPLICATION_ID, latest_version
from taskmill.store.writer import Writer


def new(key: str, type: str = "d::t") -> NewTask:
    return NewTask(type=type, key=key, label=key, priority=128, payload=b"{}")


async def test_database_is_wal_and_marked_as_taskmill(db_path: Path) -> None:
    """The file is in WAL mode and carries taskmill's application id and schema version."""
    store = SqliteStore(db_path)
    await store.open()
    await store.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)
    conn.close()


async def test_close_checkpoints_the_wal(db_path: Path) -> None:
    """After close, the WAL is checkpointed and truncated: the data is in the main file."""
    store = SqliteStore(db_path)
    await store.open()
    await store.submit([new(str(i)) for i in range(100)], 1.0)
    await store.close()
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_concurrent_writes_share_commits(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes queued while a commit runs are committed together (group commit)."""
    commits: list[int] = []
    original = Writer._commit

    def counting(self: Writer, conn: sqlite3.Connection, batch: list[object]) -> object:
        commits.append(len(batch))
        return original(self, conn, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(Writer, "_commit", counting)
    store = SqliteStore(db_path)
    await store.open()
    try:
        outcomes = await asyncio.gather(*(store.submit([new(str(i))], 1.0) for i in range(200)))
    finally:
        await store.close()
    assert sorted(o[0].id for o in outcomes) == list(range(1, 201))
    assert sum(commits) == 200
    assert len(commits) < 50


async def test_a_failing_write_fails_alone(db_path: Path) -> None:
    """A request that raises inside a group commit does not fail the others."""
    store = SqliteStore(db_path)
    await store.open()
    try:
        assert store._writer is not None

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO no_such_table VALUES (1)")

        good = [store.submit([new(str(i))], 1.0) for i in range(5)]
        bad = store._writer.submit(broken)
        results = await asyncio.gather(*good, bad, return_exceptions=True)
    finally:
        await store.close()
    assert [type(r[0]) for r in results[:5]] == [Inserted] * 5  # type: ignore[index]
    assert isinstance(results[5], StoreError)
    assert not isinstance(results[5], sqlite3.Error)  # translated at the boundary


async def test_colliding_key_hashes_never_merge_keys(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys whose 64-bit hashes collide are still told apart by their full text."""
    monkeypatch.setattr(submissions_sql, "key_hash", lambda task_type, key: 42)
    store = SqliteStore(db_path)
    await store.open()
    try:
        first = await store.submit([new("a"), new("b"), new("a", type="d::other")], 1.0)
        again = await store.submit([new("b"), new("c")], 1.0)
    finally:
        await store.close()
    assert [type(o) for o in first] == [Inserted, Inserted, Inserted]
    assert again[0] == Duplicate(first[1].id)
    assert isinstance(again[1], Inserted)


async def test_store_refuses_uris() -> None:
    """A SQLite store takes a path (or ':memory:'), not a URI whose options it would ignore."""
    with pytest.raises(ValueError, match="file path"):
        SqliteStore("file:tasks.db?mode=ro")


async def test_use_before_open_is_refused(db_path: Path) -> None:
    """Calls on a store that was never opened raise StoreClosedError."""
    with pytest.raises(StoreClosedError, match="not open"):
        await SqliteStore(db_path).submit([new("a")], 1.0)
    with pytest.raises(StoreClosedError, match="not open"):
        await SqliteStore(db_path).get_task(1)


async def test_dispatch_queries_walk_indexes(db_path: Path) -> None:
    """Claims read tasks_ready in order (no sort, no scan of the table): O(log n) per claim."""
    store = SqliteStore(db_path)
    await store.open()
    await store.close()
    with sqlite3.connect(db_path) as conn:
        claim = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql.CLAIM, (0, "[]", 1))]
        due = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql.NEXT_DUE)]
    conn.close()
    assert "SCAN tasks USING INDEX tasks_ready" in claim
    assert not any("TEMP B-TREE" in step for step in claim)
    assert due == ["SEARCH tasks USING INDEX tasks_delayed (not_before>?)"]


async def test_version_1_database_is_migrated_with_its_tasks(db_path: Path) -> None:
    """A database written at schema version 1 opens, migrates, and its tasks run."""
    from taskmill import Domain, Scheduler, TaskStatus
    from taskmill.store.schema import _statements, migrations

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for statement in _statements(migrations()[0]):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO tasks (id, type, key, key_hash, label, priority, status, payload, "
        "created_at) VALUES (7, 'old::job', 'k', 1, 'old job', 5, 'pending', '\"x\"', 1.0)"
    )
    conn.execute("COMMIT")
    conn.close()

    old = Domain("old")
    ran: list[str] = []

    @old.task("job")
    async def job(payload: str) -> None:
        ran.append(payload)

    scheduler = Scheduler(db_path, domains=[old])
    await scheduler.open()  # not dispatching yet: the task is still pending to look at
    record = await scheduler.get_task(7)
    assert record is not None
    assert (record.group, record.paused_for, record.expires_at) == (None, (), None)
    async with scheduler:
        await scheduler.wait_idle()
        [history] = await scheduler.get_history(7)
    assert ran == ["x"]
    assert history.status is TaskStatus.COMPLETED
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)
    conn.close()


async def test_one_store_per_file_in_a_process_too(db_path: Path) -> None:
    """A second store on an open file is refused without disturbing the first."""
    first, second = SqliteStore(db_path), SqliteStore(db_path)
    await first.open()
    with pytest.raises(DatabaseInUseError, match=rf"is open in process {os.getpid()}: "):
        await second.open()
    [outcome] = await first.submit([new("k")], 1.0)
    assert isinstance(outcome, Inserted)
    await first.close()
    await second.open()  # free again once the first closed
    assert (await second.get_task(outcome.id)) is not None
    await second.close()
    assert db_path.with_name(db_path.name + ".lock").exists()  # kept, harmless, reused


async def test_a_lock_file_that_cannot_be_made_is_an_access_error(db_path: Path) -> None:
    """Something else in the way of <database>.lock is reported as such, not as 'in use'."""
    db_path.with_name(db_path.name + ".lock").mkdir()
    store = SqliteStore(db_path)
    with pytest.raises(DatabaseAccessError, match=r"cannot create the lock file .*\.lock"):
        await store.open()
    assert not db_path.exists()  # refused before the database was created
