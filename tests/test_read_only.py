"""Read-only schedulers: inspecting a database that a running app holds, writing nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Live
from taskmill import (
    ConfigurationError,
    DatabaseInUseError,
    DatabaseNotFoundError,
    Domain,
    NotADatabaseError,
    ReadOnlyError,
    Scheduler,
    SchedulerStateError,
    SchemaVersionError,
    SqliteStore,
    StoreError,
    TaskmillError,
    TaskStatus,
)
from taskmill.store.schema import latest_version


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def quiet_db(db_path: Path) -> Path:
    """A database with two tasks, closed, and without its lock file."""
    domain = Domain("app")

    @domain.task("job")
    async def job(payload: dict[str, Any], ctx: object) -> None:
        raise AssertionError("never runs")

    scheduler = Scheduler(db_path, domains=[domain])
    await scheduler.open()
    await scheduler.domain(domain).submit({"n": 1}, task="job")
    await scheduler.domain(domain).submit({"n": 2}, task="job", tags={"k": "v"})
    await scheduler.close()
    db_path.with_name(db_path.name + ".lock").unlink()
    return db_path


async def test_read_only_sees_the_live_state_of_another_process(live: Live) -> None:
    """Counts, the running task, pauses and history are those of the running app."""
    async with Scheduler(live.path, read_only=True) as view:
        assert await view.count_by_status() == {
            TaskStatus.PAUSED: 1,
            TaskStatus.PENDING: 1,
            TaskStatus.RUNNING: 1,
        }
        snapshot = await view.snapshot()
        assert [(r.task.id, r.task.type, r.attempt) for r in snapshot.running] == [
            (live.held, "live::hold", 1)
        ]
        assert snapshot.running[0].progress is None
        assert snapshot.admission is None
        assert snapshot.counts == {"paused": 1, "pending": 1, "running": 1}
        assert snapshot.pauses.groups == {"uploads": None}
        assert (await view.pause_state()).groups == {"uploads": None}
        held = await view.get_task(live.held)
        assert held is not None
        assert held.status == TaskStatus.RUNNING
        history = await view.list_history()
        assert [(r.type, r.status) for r in history] == [
            ("live::boom", TaskStatus.FAILED),
            ("live::quick", TaskStatus.COMPLETED),
            ("live::quick", TaskStatus.COMPLETED),
            ("live::quick", TaskStatus.COMPLETED),
        ]
        assert history[0].last_error == "PermanentError: b1: disk on fire"
        assert [r.payload for r in await view.list_tasks()] == [
            {"name": "h1"},
            {"name": "p1"},
            {"name": "p2"},
        ]
        stats = {s.type: s.count for s in await view.type_stats()}
        assert stats == {"live::boom": 1, "live::quick": 3}
        lookup = await view.lookup("live::quick", "q2")
        assert [r.status for r in lookup.history] == [TaskStatus.COMPLETED]
        assert await view.count_by_tag("batch") == {"b1": 1, "b2": 1}
        assert await view.tag_values("batch") == ["b1", "b2"]
        assert (await view.throughput(3600)).completed == 3
        assert await view.list_schedules() == []
        assert view.running_count == 0


async def test_read_write_open_of_the_live_database_is_still_refused(live: Live) -> None:
    """The app's lock still holds: only read-only opens pass."""
    with pytest.raises(DatabaseInUseError):
        async with Scheduler(live.path):
            pass


async def test_list_filters_by_domain_group_and_any_tag_value_without_domains(live: Live) -> None:
    """Domain and type names as strings work on a scheduler that registered no domain."""
    async with Scheduler(live.path, read_only=True) as view:
        assert [r.key for r in await view.list_tasks(domain="live", tags={"batch": None})] == [
            "p1",
            "p2",
        ]
        assert [r.key for r in await view.list_tasks(group="uploads")] == ["p1"]
        assert await view.list_tasks(domain="other") == []
        [first] = await view.list_tasks(limit=1)
        rest = await view.list_tasks(after=(first.priority, first.id))
        assert [r.key for r in rest] == ["p1", "p2"]
        tagged = await view.list_history(tags={"user": None}, task_type="live::quick")
        assert [r.key for r in tagged] == ["q1"]


async def test_read_only_open_writes_nothing(quiet_db: Path) -> None:
    """No lock file, and the database file keeps its bytes and its mtime."""
    before, mtime = digest(quiet_db), quiet_db.stat().st_mtime_ns
    async with Scheduler(quiet_db, read_only=True) as view:
        assert len(await view.list_tasks()) == 2
    assert not quiet_db.with_name(quiet_db.name + ".lock").exists()
    assert digest(quiet_db) == before
    assert quiet_db.stat().st_mtime_ns == mtime
    wal = quiet_db.with_name(quiet_db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_every_call_that_changes_tasks_raises_read_only_error(quiet_db: Path) -> None:
    """Submitting, control, schedules, retries, pruning, run and wait_idle all refuse."""
    domain = Domain("app")

    @domain.task("job")
    async def job(payload: dict[str, Any], ctx: object) -> None:
        raise AssertionError("never runs")

    before = digest(quiet_db)
    async with Scheduler(quiet_db, domains=[domain], read_only=True) as view:
        calls = {
            "submit": lambda: view.domain(domain).submit({"n": 3}, task="job"),
            "submit_many": lambda: view.domain(domain).submit_many([{"n": 4}], task="job"),
            "pause": view.pause,
            "resume": lambda: view.resume(domain),
            "pause_group": lambda: view.pause_group("g"),
            "resume_group": lambda: view.resume_group("g"),
            "cancel": lambda: view.cancel(1),
            "cancel_domain": lambda: view.cancel_domain("app"),
            "cancel_tagged": lambda: view.cancel_tagged("k"),
            "cancel_where": lambda: view.cancel_where(lambda record: True),
            "pause_schedule": lambda: view.pause_schedule(1),
            "resume_schedule": lambda: view.resume_schedule(1),
            "cancel_schedule": lambda: view.cancel_schedule(1),
            "retry_dead_letter": lambda: view.retry_dead_letter(1),
            "prune_history": view.prune_history,
            "run": view.run,
            "wait_idle": view.wait_idle,
            "next_due": view.next_due,
        }
        refused = {}
        for name, call in calls.items():
            with pytest.raises(ReadOnlyError) as error:
                await call()
            refused[name] = str(error.value)
        assert [r.status for r in await view.list_tasks()] == [TaskStatus.PENDING] * 2
    assert isinstance(error.value, SchedulerStateError)
    assert "opened with read_only=True" in refused["pause"]
    assert refused["cancel"].startswith("cancel() changes tasks")
    assert refused["submit_many"].startswith("submit() changes tasks")
    assert digest(quiet_db) == before


async def test_the_read_only_store_refuses_writes_itself(quiet_db: Path) -> None:
    """A read-only SqliteStore raises ReadOnlyError for writes, whoever calls it."""
    store = SqliteStore(quiet_db, read_only=True)
    await store.open()
    try:
        with pytest.raises(ReadOnlyError, match="only reads the database"):
            await store.prune_history(0.0)
        with pytest.raises(ReadOnlyError):
            await store.submit([], 0.0)
        assert len(await store.list_tasks()) == 2
    finally:
        await store.close()
    async with Scheduler(SqliteStore(quiet_db, read_only=True), read_only=True) as view:
        assert len(await view.list_tasks()) == 2


async def test_missing_database_is_not_created(tmp_path: Path) -> None:
    """A missing file raises DatabaseNotFoundError (a FileNotFoundError) and stays missing."""
    path = tmp_path / "nope.db"
    with pytest.raises(DatabaseNotFoundError, match="does not exist; a read-only open") as error:
        async with Scheduler(path, read_only=True):
            pass
    assert isinstance(error.value, FileNotFoundError)
    assert isinstance(error.value, StoreError)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (1, "written by a newer taskmill; this taskmill reads version"),
        (-1, "open it once read-write with this taskmill"),
    ],
)
async def test_schema_version_mismatch_is_refused_untouched(
    quiet_db: Path, shift: int, message: str
) -> None:
    """A newer or older schema raises SchemaVersionError and the file is not modified."""
    with sqlite3.connect(quiet_db) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + shift}")
    conn.close()
    before = digest(quiet_db)
    with pytest.raises(SchemaVersionError, match=message):
        async with Scheduler(quiet_db, read_only=True):
            pass
    assert digest(quiet_db) == before


async def test_empty_and_foreign_files_are_not_databases(tmp_path: Path) -> None:
    """An empty file and another application's database raise NotADatabaseError."""
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NotADatabaseError, match="is empty, not a taskmill database yet"):
        async with Scheduler(empty, read_only=True):
            pass
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text)")
    conn.close()
    with pytest.raises(NotADatabaseError, match="another application"):
        async with Scheduler(foreign, read_only=True):
            pass
    assert empty.stat().st_size == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: Scheduler(":memory:", read_only=True), "in-memory database cannot"),
        (lambda p: Scheduler(SqliteStore(p), read_only=True), "is not read-only"),
        (lambda p: Scheduler(SqliteStore(p, read_only=True)), "pass read_only=True"),
        (lambda p: Scheduler(p, read_only=True, resource_monitoring=True), "no use for"),
        (lambda p: Scheduler(p, read_only="yes"), "read_only must be a bool"),
    ],
)
def test_read_only_configuration_errors(db_path: Path, make: Any, message: str) -> None:
    """Options that cannot go with read-only mode are refused when the scheduler is built."""
    with pytest.raises(ConfigurationError, match=message):
        make(db_path)


async def test_read_only_closed_scheduler_says_closed(quiet_db: Path) -> None:
    """After close, queries raise SchedulerStateError, not ReadOnlyError."""
    view = Scheduler(quiet_db, read_only=True)
    await view.open()
    await view.close()
    with pytest.raises(SchedulerStateError, match="closed") as error:
        await view.cancel(1)
    assert not isinstance(error.value, ReadOnlyError)
    assert isinstance(error.value, TaskmillError)
