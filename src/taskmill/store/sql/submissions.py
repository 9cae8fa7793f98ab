"""Submitting in SQL: new rows, deduplication by key, ids, and the outcome of each."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import (
    Changes,
    NewTask,
)
from taskmill.store.sql import control, duplicates, graph, tags
from taskmill.store.sql.records import LOOKUP_CHUNK

_COLUMNS = """id, type, key, key_hash, label, priority, status, payload, retry_policy,
    created_at, not_before, io_read, io_write, io_rx, io_tx, group_key, pause_reasons, ttl,
    ttl_from_start, expires_at, schedule_id, aging_from, paused_since, tags"""
# Most tasks are in no graph: their rows leave the graph columns to their defaults, which
# saves binding them (measurably, at tens of thousands of rows per transaction). Most take
# no options either: their rows also leave out the eight columns those leave NULL. Binding a
# None costs ~300 ns in Python 3.11's sqlite3 (it looks for an adapter and formats an error
# it discards): bare rows made submit_many ~15 % faster there.
_BARE_COLUMNS = """id, type, key, key_hash, label, priority, status, payload, created_at,
    io_read, io_write, io_rx, io_tx, pause_reasons, ttl_from_start, aging_from"""
INSERT_BARE = f"INSERT INTO tasks ({_BARE_COLUMNS}) VALUES ({', '.join('?' * 16)})"
INSERT = f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join('?' * 24)})"
INSERT_IN_GRAPH = (
    f"INSERT INTO tasks ({_COLUMNS}, on_dependency_failure, parent_id, fail_fast) "
    f"VALUES ({', '.join('?' * 27)})"
)
_BARE_WIDTH = 16
_INSERTS = {_BARE_WIDTH: INSERT_BARE, 24: INSERT, 27: INSERT_IN_GRAPH}  # by a row's width


def submit(conn: sqlite3.Connection, tasks: Sequence[NewTask], now: float) -> list[SubmitOutcome]:
    """Store one submission (see :func:`submit_requests`)."""
    return submit_requests(conn, [(tasks, now)])[0]


def submit_requests(
    conn: sqlite3.Connection, requests: list[tuple[Sequence[NewTask], float]]
) -> list[list[SubmitOutcome]]:
    """Store several submissions, each as if alone and in order; one outcome list each.

    Within a submission the last task with a key is the one stored. A new task lands
    ``paused`` if its scope (everything, its domain or its group) is paused, ``blocked`` if
    it depends on active tasks.
    """
    hashes: dict[tuple[str, str], int] = {}
    for tasks, _ in requests:
        for task in tasks:
            key = (task.type, task.key)
            if key not in hashes:
                hashes[key] = key_hash(*key)
    active = _find_active(conn, hashes)
    pauses = control.PausedScopes.read(conn)
    reasons_of = pauses.reasons if pauses else None
    next_id = _next_id(conn)
    answers: list[list[SubmitOutcome]] = []
    rows: list[tuple[Any, ...]] = []  # inserted in one executemany, unless an upgrade needs them
    waiting: list[tuple[int, NewTask, float]] = []  # tasks with dependencies, once rows exist
    for tasks, now in requests:
        if len(tasks) == 1:  # the common case of concurrent submits: no in-batch duplicates
            last_of_key = {(tasks[0].type, tasks[0].key): 0}
            fresh = [] if (tasks[0].type, tasks[0].key) in active else [0]
        else:
            last_of_key = {}
            for index, task in enumerate(tasks):
                last_of_key[(task.type, task.key)] = index
            fresh = sorted(i for key, i in last_of_key.items() if key not in active)
        inserted: dict[tuple[str, str], int] = {}
        for index in fresh:
            t = tasks[index]
            key = (t.type, t.key)
            reasons = reasons_of(t.type, t.group) if reasons_of is not None else 0
            inserted[key] = next_id
            blocked = False
            if t.depends_on:
                waiting.append((next_id, t, now))
                blocked = True
            rows.append(_row(t, next_id, hashes[key], reasons, now, blocked=blocked))
            active[key] = [next_id, t.priority, TaskStatus.PENDING]  # for later requests
            next_id += 1
        if len(inserted) == len(tasks):
            answers.append([Inserted(inserted[(t.type, t.key)]) for t in tasks])
        else:
            _insert(conn, rows)  # a duplicate below may concern one of these rows
            rows.clear()

            def insert_new(t: NewTask, now: float = now) -> int:
                new_id = _next_id(conn)
                reasons = reasons_of(t.type, t.group) if reasons_of is not None else 0
                row = _row(t, new_id, hashes[t.type, t.key], reasons, now, blocked=True)
                _insert(conn, [row])
                _wait_for(conn, new_id, list(t.depends_on), t.on_dependency_failure, now)
                return new_id

            answers.append(
                _outcomes(
                    conn,
                    tasks,
                    last_of_key=last_of_key,
                    inserted=inserted,
                    active=active,
                    now=now,
                    pauses=pauses,
                    insert_new=insert_new,
                )
            )
            next_id = _next_id(conn)  # a superseded running task may have taken an id
    _insert(conn, rows)
    for task_id, t, now in waiting:
        _wait_for(conn, task_id, list(t.depends_on), t.on_dependency_failure, now)
    return answers


def _wait_for(
    conn: sqlite3.Connection, task_id: int, depends_on: list[int], policy: str, now: float
) -> None:
    """Make a new (blocked) task wait for its dependencies, or settle what they decide.

    Dependencies that completed add no edge; if one already failed, the task's policy
    applies at once (``ignore``: it does not count; otherwise the task ends as
    ``dependency_failed``, with no event).
    """
    waits, failed = graph.classify(conn, depends_on)
    if failed and policy != "ignore":
        graph.fail_now(conn, task_id, failed[0], now)
        return
    graph.add_edges(conn, task_id, waits)
    graph.unblock(conn, task_id, now, Changes())


def _row(
    t: NewTask, task_id: int, hashed: int, reasons: int, now: float, *, blocked: bool = False
) -> tuple[Any, ...]:
    """The INSERT parameters of a new task: 16, 24 or 27 of them (see ``_INSERTS``)."""
    io = t.expected_io
    in_graph = not (t.parent_id is None and t.fail_fast and t.on_dependency_failure == "cancel")
    if not (
        in_graph
        or reasons
        or t.retry_policy is not None
        or t.not_before is not None
        or t.group is not None
        or t.ttl is not None
        or t.schedule_id is not None
        or t.tags is not None
    ):
        status = "blocked" if blocked else "pending"
        return (
            task_id, t.type, t.key, hashed, t.label, t.priority, status, t.payload, now,
            io.disk_read, io.disk_write, io.net_rx, io.net_tx, 0, int(t.ttl_from_start), now,
        )  # fmt: skip
    expires = now + t.ttl if t.ttl is not None and not t.ttl_from_start else None
    status = "blocked" if blocked else "paused" if reasons else "pending"
    row = (
        task_id, t.type, t.key, hashed, t.label, t.priority,
        status, t.payload, t.retry_policy, now,
        t.not_before, io.disk_read, io.disk_write, io.net_rx, io.net_tx, t.group,
        reasons, t.ttl, int(t.ttl_from_start), expires, t.schedule_id,
        now if t.not_before is None else t.not_before, now if reasons else None,
        t.tags,
    )  # fmt: skip
    if not in_graph:
        return row
    policy = None if t.on_dependency_failure == "cancel" else t.on_dependency_failure
    return (*row, policy, t.parent_id, int(t.fail_fast))


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows built by :func:`_row`, and their tag rows."""
    by_width: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_width.setdefault(len(row), []).append(row)
    for width, same in by_width.items():
        conn.executemany(_INSERTS[width], same)
        if width != _BARE_WIDTH:  # a bare row has no tags
            tags.index(conn, same)


def _outcomes(
    conn: sqlite3.Connection,
    tasks: Sequence[NewTask],
    *,
    last_of_key: dict[tuple[str, str], int],
    inserted: dict[tuple[str, str], int],
    active: dict[tuple[str, str], list[Any]],
    now: float,
    pauses: control.PausedScopes | None,
    insert_new: duplicates.InsertNew,
) -> list[SubmitOutcome]:
    def reasons_of(task_type: str, group: str | None) -> int:
        return pauses.reasons(task_type, group) if pauses else 0

    outcomes: list[SubmitOutcome] = []
    for index, task in enumerate(tasks):
        key = (task.type, task.key)
        new_id = inserted.get(key)
        if new_id is not None:
            outcomes.append(Inserted(new_id) if last_of_key[key] == index else Duplicate(new_id))
            continue
        if last_of_key[key] != index:  # a later item of this batch holds the key: it wins
            outcomes.append(Duplicate(active[key][0]))
            continue
        outcomes.append(
            duplicates.resolve(
                conn, task, active[key], now=now, reasons_of=reasons_of, insert_new=insert_new
            )
        )
    return outcomes


def _next_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tasks'").fetchone()
    return (row[0] if row else 0) + 1


def reserve_id(conn: sqlite3.Connection) -> int:
    """Take the next id of the task sequence for a row of another table (a schedule)."""
    new_id = _next_id(conn)
    if conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'tasks'", (new_id,)).rowcount:
        return new_id
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', ?)", (new_id,))
    return new_id


def key_hash(task_type: str, key: str) -> int:
    """The signed 64-bit hash that indexes a dedup key (``tasks.key_hash``).

    Two CRC-32s (fast, in C) rather than a cryptographic hash: a collision only costs an
    extra row to compare, since lookups check type and key themselves.
    """
    data = key.encode()
    high = zlib.crc32(data, zlib.crc32(task_type.encode()))
    return ((high << 32) | zlib.crc32(data)) - (1 << 63)


def _find_active(
    conn: sqlite3.Connection, hashes: dict[tuple[str, str], int]
) -> dict[tuple[str, str], list[Any]]:
    """Return ``[id, priority, status]`` of the active tasks holding any of these keys."""
    wanted = list(set(hashes.values()))
    found: dict[tuple[str, str], list[Any]] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = conn.execute(
            f"SELECT type, key, id, priority, status FROM tasks "
            f"WHERE key_hash IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for task_type, key, task_id, priority, status in rows:
            if (task_type, key) in hashes:  # equal hashes of other keys are ignored
                found[(task_type, key)] = [task_id, priority, status]
    return found
