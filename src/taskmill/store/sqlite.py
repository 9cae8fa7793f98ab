"""The SQLite store: WAL, one group-committing writer thread, separate read connections."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec

from taskmill.admission.aging import Aging
from taskmill.admission.policy import Candidate
from taskmill.model.config import DURABILITIES, Durability, Retention
from taskmill.model.errors import (
    ConfigurationError,
    ReadOnlyError,
    StoreClosedError,
    TaskNotFoundError,
)
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import Inserted, SubmitOutcome
from taskmill.model.records import HistoryRecord, PauseState, ScheduleRecord, TaskRecord
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
from taskmill.model.status import TaskStatus
from taskmill.store.connection import (
    check_location,
    check_present,
    check_sqlite_version,
    connect,
    map_sqlite_error,
)
from taskmill.store.lock import DatabaseLock
from taskmill.store.protocol import (
    FINAL_KINDS,
    Cancellation,
    Changes,
    ClaimedTask,
    NewSchedule,
    NewTask,
    RecoveryReport,
    Scope,
    Settlement,
    TagSelector,
    not_dead_lettered,
)
from taskmill.store.schema import check_and_migrate, check_read_only
from taskmill.store.sql import control, queries, records, schedules, submissions, tasks
from taskmill.store.sql import tags as tag_sql
from taskmill.store.writer import Writer

T = TypeVar("T")

_READ_THREADS = 2


class SqliteStore:
    """Tasks in a SQLite database file.

    Writes go through one thread that commits everything queued in one transaction; reads
    run on a small pool of read-only connections, so they never wait behind the writer.

    Args:
        path: The database file; created (with its schema) if it does not exist.
        durability: ``"normal"`` survives process crashes, ``"full"`` also power loss.
        retention: How much history to keep.
        read_only: Only read the file, which must exist with this taskmill's schema: no
            lock file, no writer, no migration; connections open the file read-only
            (``mode=ro``), and each read sees the latest commit of whichever process writes
            it. Every write raises :class:`~taskmill.ReadOnlyError`. SQLite may leave empty
            ``-wal`` and ``-shm`` files beside the database (its readers' shared memory);
            the database file itself is never written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "normal",
        retention: Retention = Retention(),  # noqa: B008 - frozen, shared safely
        read_only: bool = False,
    ) -> None:
        if durability not in DURABILITIES:
            raise ConfigurationError(
                f"durability must be one of {DURABILITIES}, got {durability!r}"
            )
        raw = os.fspath(path)
        if not raw or raw.startswith("file:"):
            raise ConfigurationError(f"SqliteStore needs a file path (or ':memory:'), got {raw!r}")
        self.memory = raw == ":memory:"
        if read_only and self.memory:
            raise ConfigurationError(
                "an in-memory database cannot be opened read-only: it lives only in the "
                "scheduler that created it; pass the path of a database file"
            )
        self.read_only = bool(read_only)
        """Whether the store only reads (see the class docstring)."""
        """Whether the database lives in memory (one connection, reads go through the writer)."""
        self.path = Path(raw) if self.memory else Path(raw).absolute()
        self.durability: Durability = durability
        self.retention = retention
        self._writer: Writer | None = None
        self._lock: DatabaseLock | None = None  # held from open to close (file databases)
        self._readers: ThreadPoolExecutor | None = None
        self._reader_local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._since_prune = 0
        self._claim_types: Collection[str] = ()
        self._claim_types_json = b"[]"
        self._on_commit: Callable[[float], None] | None = None

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"SqliteStore({str(self.path)!r}, durability={self.durability!r}{mode})"

    def observe_commits(self, observer: Callable[[float], None] | None) -> None:
        """Tell ``observer`` how many seconds each commit takes (on the writer thread)."""
        self._on_commit = observer
        if self._writer is not None:
            self._writer.on_commit = observer

    # --- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Create or migrate the database and start the writer and readers.

        A read-only store checks that the file exists and has this taskmill's schema, and
        starts only the readers.

        Raises:
            DatabaseNotFoundError: read-only, and the file does not exist.
            SchemaVersionError: the schema is newer than this taskmill's (read-only: or older).
            NotADatabaseError: the file is not a taskmill database.
            DatabaseInUseError: another scheduler has the file open (not read-only).
        """
        check_sqlite_version()
        if self.read_only:
            await self._open_read_only()
            return
        if not self.memory:
            check_location(self.path)
            self._lock = DatabaseLock(self.path)
            self._lock.acquire()
        writer = Writer(
            self._open_writer,
            map_error=self._map_error,
            on_close=tasks.checkpoint,
            name=f"taskmill-writer:{self.path.name}",
        )
        writer.on_commit = self._on_commit
        try:
            await writer.start()
        except BaseException:
            self._release_lock()
            raise
        self._writer = writer
        if self.memory:
            return  # one connection only: an in-memory database is private to it
        self._readers = ThreadPoolExecutor(
            max_workers=_READ_THREADS, thread_name_prefix=f"taskmill-reader:{self.path.name}"
        )

    async def _open_read_only(self) -> None:
        check_present(self.path)
        self._readers = ThreadPoolExecutor(
            max_workers=_READ_THREADS, thread_name_prefix=f"taskmill-reader:{self.path.name}"
        )
        try:
            await self._read(lambda conn: check_read_only(conn, self.path))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Commit queued writes, checkpoint the WAL and close every connection."""
        writer, readers = self._writer, self._readers
        try:
            if writer is not None:
                await writer.close()
            if readers is not None:
                self._readers = None
                await asyncio.get_running_loop().run_in_executor(None, readers.shutdown)
                with self._reader_lock:
                    for conn in self._reader_connections:
                        conn.close()
                    self._reader_connections.clear()
        finally:
            self._release_lock()  # last: no connection of ours is left on the file

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path, durability=self.durability)
        try:
            check_and_migrate(conn, self.path, wal=not self.memory)
        except BaseException:
            conn.close()
            raise
        return conn

    def _map_error(self, exc: BaseException) -> BaseException:
        return map_sqlite_error(exc, self.path, read_only=self.read_only)

    # --- plumbing ------------------------------------------------------------------------

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"{self!r} only reads the database; open a store without read_only=True "
                f"to change tasks"
            )

    def _write(self, operation: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        self._refuse_if_read_only()
        if self._writer is None:
            raise StoreClosedError(f"{self!r} is not open")
        return self._writer.submit(operation)

    async def _read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self.memory:
            return await self._write(operation)
        readers = self._readers
        if readers is None:
            raise StoreClosedError(f"{self!r} is not open")
        return await asyncio.get_running_loop().run_in_executor(readers, self._run_read, operation)

    def _run_read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        try:
            if conn is None:
                conn = connect(
                    self.path,
                    durability=self.durability,
                    readonly=True,
                    file_read_only=self.read_only,
                )
                self._reader_local.conn = conn
                with self._reader_lock:
                    self._reader_connections.append(conn)
            return operation(conn)
        except sqlite3.Error as exc:
            raise self._map_error(exc) from exc

    # --- tasks ---------------------------------------------------------------------------

    async def recover(self, now: float) -> RecoveryReport:
        """Requeue tasks a dead process left running, release preempted and due tasks."""
        return await self._write(lambda conn: tasks.recover(conn, now))

    async def submit(self, new_tasks: Sequence[NewTask], now: float) -> list[SubmitOutcome]:
        """Store ``new_tasks`` in one transaction with dedup by ``(type, key)``."""
        self._refuse_if_read_only()
        if self._writer is None:
            raise StoreClosedError(f"{self!r} is not open")
        outcomes: list[SubmitOutcome] = await self._writer.submit_combined(
            submissions.submit_requests, (new_tasks, now)
        )
        return outcomes

    async def claim(self, limit: int, now: float, types: Collection[str]) -> list[ClaimedTask]:
        """Mark up to ``limit`` ready tasks of ``types`` ``running``, highest priority first."""
        types_json = self._types_json(types)
        return await self._write(lambda conn: tasks.claim(conn, limit, now, types_json))

    async def candidates(
        self,
        *,
        types: Collection[str],
        least_urgent: int,
        excluded_groups: Collection[str],
        limit: int,
        aging: Aging | None = None,
        now: float = 0.0,
        per_group: int | None = None,
    ) -> list[Candidate]:
        """Ready tasks, in dispatch order, as admission candidates."""
        types_json = self._types_json(types)
        groups_json = msgspec.json.encode(sorted(excluded_groups))
        return await self._read(
            lambda conn: tasks.candidates(
                conn,
                types_json,
                least_urgent,
                groups_json,
                limit,
                aging=aging,
                now=now,
                per_group=per_group,
            )
        )

    async def recent_means(
        self, per_type: int = 20
    ) -> dict[str, tuple[float | None, IoBudget | None]]:
        """The mean duration and recorded IO of the latest completed tasks of each type."""
        return await self._read(lambda conn: queries.recent_means(conn, per_type))

    async def claim_ids(self, ids: Sequence[int], now: float) -> list[ClaimedTask]:
        """Mark the tasks ``ids`` running if they are still ready."""
        ids_json = msgspec.json.encode(list(ids))
        return await self._write(lambda conn: tasks.claim_ids(conn, ids_json, now))

    def _types_json(self, types: Collection[str]) -> bytes:
        if types != self._claim_types:  # the registry's names rarely change: encode once
            self._claim_types = tuple(types)
            self._claim_types_json = msgspec.json.encode(sorted(types))
        return self._claim_types_json

    def settle(self, settlements: Sequence[Settlement]) -> asyncio.Future[Changes]:
        """Move final attempts to history and retried or interrupted ones back to the queue.

        Queued for the writer at once (see :meth:`Store.settle`).
        """
        finals = sum(1 for s in settlements if s.kind in FINAL_KINDS)
        self._since_prune += finals
        prune = finals > 0 and self._since_prune >= self.retention.prune_every
        if prune:
            self._since_prune = 0
        retention = self.retention

        def op(conn: sqlite3.Connection) -> Changes:
            changes = tasks.settle(conn, settlements)
            if prune:
                tasks.prune(conn, retention, max(s.at for s in settlements))
            return changes

        return self._write(op)

    async def promote_due(self, now: float) -> float | None:
        """Make delayed tasks whose time came ready; return the next delay's end."""
        return await self._write(lambda conn: tasks.promote(conn, now))

    async def expire_due(self, now: float) -> Changes:
        """Move tasks whose TTL ran out (and that are not running) to history."""
        return await self._write(lambda conn: tasks.expire(conn, now))

    async def cancel(
        self,
        now: float,
        *,
        ids: Sequence[int] = (),
        domain: str | None = None,
        tagged: TagSelector | None = None,
        task_type: str | None = None,
    ) -> Cancellation:
        """Cancel tasks by id, domain, tag or type; return the running ones to stop."""
        return await self._write(
            lambda conn: tasks.cancel(conn, now, ids, domain, tagged, task_type=task_type)
        )

    async def retry_dead_letter(self, task_id: int, now: float) -> SubmitOutcome:
        """Submit the dead-lettered task ``task_id`` again under a new id."""

        def op(conn: sqlite3.Connection) -> SubmitOutcome:
            row = conn.execute(
                "SELECT seq, status, retried_as, type, key, label, priority, payload, "
                "retry_policy, io_read, io_write, io_rx, io_tx, group_key, tags FROM history "
                "WHERE id = ? ORDER BY seq DESC LIMIT 1",
                (task_id,),
            ).fetchone()
            if row is None:
                active = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,))
                found = active.fetchone()
                if found is None:
                    raise TaskNotFoundError(f"no task or history record has id {task_id}")
                raise not_dead_lettered(task_id, found[0], None)
            seq, status, retried_as = row[0], row[1], row[2]
            if status != TaskStatus.DEAD_LETTER or retried_as is not None:
                raise not_dead_lettered(task_id, status, retried_as)
            task = NewTask(
                type=row[3],
                key=row[4],
                label=row[5],
                priority=row[6],
                payload=row[7],
                retry_policy=row[8],
                expected_io=IoBudget.of(row[9], row[10], row[11], row[12]),
                group=row[13],
                tags=row[14],
            )
            outcome = submissions.submit(conn, [task], now)[0]
            if isinstance(outcome, Inserted):
                conn.execute("UPDATE history SET retried_as = ? WHERE seq = ?", (outcome.id, seq))
            return outcome

        return await self._write(op)

    async def prune_history(self, now: float) -> int:
        """Apply the retention policy now."""
        retention = self.retention
        return await self._write(lambda conn: tasks.prune(conn, retention, now))

    # --- pauses ------------------------------------------------------------------------------

    async def pause(self, scope: Scope, name: str, until: float | None, now: float) -> bool:
        """Pause a scope and its tasks; return whether it was not paused before."""
        return await self._write(lambda conn: control.pause(conn, scope, name, until, now))

    async def resume(self, scope: Scope, name: str, now: float) -> Changes | None:
        """Lift a pause; return what became ready, or ``None`` if it was not paused."""

        def op(conn: sqlite3.Connection) -> Changes | None:
            changes = Changes()
            return changes if control.resume(conn, scope, name, changes, now) else None

        return await self._write(op)

    async def resume_expired_pauses(self, now: float) -> tuple[list[str], Changes]:
        """Lift group pauses whose deadline passed; return the groups and what changed."""

        def op(conn: sqlite3.Connection) -> tuple[list[str], Changes]:
            changes = Changes()
            groups = control.resume_expired(conn, now, changes)
            changes.unpause = control.next_unpause(conn)
            return groups, changes

        return await self._write(op)

    async def resume_preempted(self, threshold: int, types: Collection[str]) -> int | None:
        """Release preempted tasks unless a task at least ``threshold`` urgent is ready."""
        types_json = self._types_json(types)
        return await self._write(lambda conn: control.resume_preempted(conn, threshold, types_json))

    async def ready_urgent(
        self, threshold: int, types: Collection[str], limit: int
    ) -> list[tuple[int, int]]:
        """``(id, priority)`` of the ready tasks at least ``threshold`` urgent."""
        types_json = self._types_json(types)
        return await self._read(
            lambda conn: control.ready_urgent(conn, threshold, types_json, limit)
        )

    # --- schedules ---------------------------------------------------------------------------

    async def add_schedule(self, schedule: NewSchedule, now: float) -> SubmitOutcome:
        """Store a recurring schedule; a live one with the same key makes a Duplicate."""
        return await self._write(lambda conn: schedules.add(conn, schedule, now))

    async def fire_schedules(self, now: float) -> Changes:
        """Create or skip the occurrences due by ``now``."""
        return await self._write(lambda conn: schedules.fire(conn, now))

    async def set_schedule_status(self, schedule_id: int, status: str, now: float) -> Changes:
        """Pause, resume or cancel a schedule."""
        return await self._write(lambda conn: schedules.set_status(conn, schedule_id, status, now))

    # --- reads ---------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> TaskRecord | None:
        """Return the active task ``task_id``, or ``None``."""

        def op(conn: sqlite3.Connection) -> TaskRecord | None:
            row = conn.execute(
                f"SELECT {records.TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            return None if row is None else records.task_record(row)

        return await self._read(op)

    async def get_history(self, task_id: int) -> list[HistoryRecord]:
        """Return the history records of ``task_id``, oldest first."""

        def op(conn: sqlite3.Connection) -> list[HistoryRecord]:
            rows = conn.execute(
                f"SELECT {records.HISTORY_COLUMNS} FROM history WHERE id = ? ORDER BY seq",
                (task_id,),
            )
            return [records.history_record(row) for row in rows]

        return await self._read(op)

    async def list_tasks(
        self,
        *,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        task_type: str | None = None,
        key: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        limit: int = 100,
        domain: str | None = None,
        group: str | None = None,
        after: tuple[int, int] | None = None,
        parent: int | None = None,
    ) -> list[TaskRecord]:
        """Return active tasks matching every filter, in dispatch order."""
        statuses = _statuses(status)
        return await self._read(
            lambda conn: queries.list_tasks(
                conn,
                statuses=statuses,
                task_type=task_type,
                key=key,
                tags=tags or {},
                limit=limit,
                domain=domain,
                group=group,
                after=after,
                parent=parent,
            )
        )

    async def list_history(
        self,
        *,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        task_type: str | None = None,
        key: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        before: int | None = None,
        limit: int = 100,
        parent: int | None = None,
    ) -> list[HistoryRecord]:
        """Return history records newest first, ``before`` a ``seq`` to page."""
        statuses = _statuses(status)
        return await self._read(
            lambda conn: queries.list_history(
                conn,
                statuses=statuses,
                task_type=task_type,
                key=key,
                tags=tags or {},
                before=before,
                limit=limit,
                parent=parent,
            )
        )

    async def lookup(self, task_type: str, key: str, history_limit: int = 20) -> KeyLookup:
        """Return the active task holding a key and the key's newest history records."""
        return await self._read(lambda conn: queries.lookup(conn, task_type, key, history_limit))

    async def type_stats(
        self,
        task_types: Sequence[str] | None = None,
        *,
        sample: int = 1000,
        since: float | None = None,
    ) -> list[TypeStats]:
        """Return statistics of the newest ``sample`` history records of each type."""
        return await self._read(lambda conn: queries.type_stats(conn, task_types, sample, since))

    async def throughput(self, since: float, until: float) -> Throughput:
        """Return how many tasks ended from ``since`` on, by outcome."""
        return await self._read(lambda conn: queries.throughput(conn, since, until))

    async def count_by_tag(self, key: str) -> dict[str, int]:
        """Return how many active tasks carry each value of tag ``key``."""
        return await self._read(lambda conn: tag_sql.count_by_value(conn, key))

    async def tag_values(self, key: str) -> list[str]:
        """Return the distinct values of tag ``key`` among active tasks."""
        return await self._read(lambda conn: tag_sql.values(conn, key))

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return how many active tasks are in each status."""
        return await self._read(queries.count_by_status)

    async def count_by_type(self, types: Collection[str] | None = None) -> dict[str, int]:
        """Return how many active tasks each type (of ``types``, if given) has."""
        return await self._read(lambda conn: queries.count_by_type(conn, types))

    async def get_schedule(self, schedule_id: int) -> ScheduleRecord | None:
        """Return the schedule ``schedule_id``, or ``None``."""

        def op(conn: sqlite3.Connection) -> ScheduleRecord | None:
            row = conn.execute(
                f"SELECT {records.SCHEDULE_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)
            ).fetchone()
            return None if row is None else records.schedule_record(row)

        return await self._read(op)

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return the active and paused schedules, oldest first."""

        def op(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            rows = conn.execute(
                f"SELECT {records.SCHEDULE_COLUMNS} FROM schedules "
                f"WHERE status IN ('active', 'paused') ORDER BY id"
            )
            return [records.schedule_record(row) for row in rows]

        return await self._read(op)

    async def pause_state(self) -> PauseState:
        """Return what is paused."""
        return await self._read(control.pause_state)

    async def scan_tasks(self, *, after: int = 0, limit: int = 1000) -> list[TaskRecord]:
        """Return active tasks in id order, after id ``after`` (to walk the whole queue)."""

        def op(conn: sqlite3.Connection) -> list[TaskRecord]:
            rows = conn.execute(
                f"SELECT {records.TASK_COLUMNS} FROM tasks WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
            return [records.task_record(row) for row in rows]

        return await self._read(op)


def _statuses(status: TaskStatus | Collection[TaskStatus] | None) -> tuple[TaskStatus, ...]:
    if status is None:
        return ()
    if isinstance(status, TaskStatus):
        return (status,)
    return tuple(TaskStatus(s) for s in status)
