"""The SQL of the SQLite store: statements, and the operations the writer runs with them.

Every function taking a connection runs on the writer thread inside its open transaction
(or on a read connection, for the row converters) and must keep all its effects there.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from taskmill.model.config import Retention
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome, Upgraded
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import FINAL_KINDS, ClaimedTask, NewTask, SettleKind, Settlement

_decode_json = msgspec.json.decode

# --- SQL ------------------------------------------------------------------------------------

INSERT = """
INSERT INTO tasks (id, type, key, key_hash, label, priority, status, payload, retry_policy,
                   created_at, not_before, io_read, io_write, io_rx, io_tx)
VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)
"""

# The subquery's WHERE repeats the partial index's, so the planner walks tasks_ready in order;
# the index holds the type, so skipping types this scheduler cannot run reads no table rows.
CLAIM = """
UPDATE tasks SET status = 'running', started_at = ?
WHERE id IN (SELECT id FROM tasks WHERE status = 'pending' AND not_before IS NULL
             AND type IN (SELECT value FROM json_each(?))
             ORDER BY priority, id LIMIT ?)
RETURNING id, type, key, label, priority, payload, retry_count, retry_policy, created_at,
          io_read, io_write, io_rx, io_tx
"""

TO_HISTORY = """
INSERT INTO history (id, type, key, label, priority, status, payload, retry_count,
                     retry_policy, created_at, started_at, finished_at, last_error,
                     io_read, io_write, io_rx, io_tx,
                     actual_read, actual_write, actual_rx, actual_tx)
SELECT id, type, key, label, priority, ?, payload, retry_count,
       retry_policy, created_at, started_at, ?, coalesce(?, last_error),
       io_read, io_write, io_rx, io_tx, ?, ?, ?, ?
FROM tasks WHERE id = ?
"""

TASK_COLUMNS = """id, type, key, label, priority, status, payload, retry_count, created_at,
    started_at, not_before, last_error, io_read, io_write, io_rx, io_tx"""

HISTORY_COLUMNS = """seq, id, type, key, label, priority, status, payload, retry_count,
    created_at, started_at, finished_at, last_error, io_read, io_write, io_rx, io_tx,
    actual_read, actual_write, actual_rx, actual_tx, retried_as"""

NEXT_DUE = "SELECT min(not_before) FROM tasks WHERE status = 'pending' AND not_before IS NOT NULL"


# --- operations, run on the writer thread inside its transaction ------------------------------


def dispatch_order(task: ClaimedTask) -> tuple[int, int]:
    """The sort key that puts claimed tasks in dispatch order."""
    return (task.priority, task.id)


def submit(conn: sqlite3.Connection, tasks: Sequence[NewTask], now: float) -> list[SubmitOutcome]:
    """Store one submission (see :func:`submit_requests`)."""
    return submit_requests(conn, [(tasks, now)])[0]


def submit_requests(
    conn: sqlite3.Connection, requests: list[tuple[Sequence[NewTask], float]]
) -> list[list[SubmitOutcome]]:
    """Store several submissions, each as if alone and in order; one outcome list each."""
    hashes: dict[tuple[str, str], int] = {}
    for tasks, _ in requests:
        for task in tasks:
            key = (task.type, task.key)
            if key not in hashes:
                hashes[key] = key_hash(*key)
    active = _find_active(conn, hashes)
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tasks'").fetchone()
    next_id = (row[0] if row else 0) + 1
    answers: list[list[SubmitOutcome]] = []
    rows: list[tuple[Any, ...]] = []  # inserted in one executemany, unless an upgrade needs them
    for tasks, now in requests:
        # The last task with a given key is the one stored; earlier ones are its duplicates.
        last_of_key: dict[tuple[str, str], int] = {}
        for index, task in enumerate(tasks):
            last_of_key[(task.type, task.key)] = index
        inserted: dict[tuple[str, str], int] = {}
        for index in sorted(i for key, i in last_of_key.items() if key not in active):
            t = tasks[index]
            io = t.expected_io
            key = (t.type, t.key)
            inserted[key] = next_id
            rows.append(
                (next_id, t.type, t.key, hashes[key], t.label, t.priority, t.payload,
                 t.retry_policy, now, t.not_before,
                 io.disk_read, io.disk_write, io.net_rx, io.net_tx)
            )  # fmt: skip
            active[key] = [next_id, t.priority, TaskStatus.PENDING]
            next_id += 1
        if len(inserted) == len(tasks):
            answers.append([Inserted(inserted[(t.type, t.key)]) for t in tasks])
        else:
            conn.executemany(INSERT, rows)  # an upgrade below may concern one of these rows
            rows.clear()
            answers.append(_outcomes(conn, tasks, last_of_key, inserted, active))
    conn.executemany(INSERT, rows)
    return answers


def _outcomes(
    conn: sqlite3.Connection,
    tasks: Sequence[NewTask],
    last_of_key: dict[tuple[str, str], int],
    inserted: dict[tuple[str, str], int],
    active: dict[tuple[str, str], list[Any]],
) -> list[SubmitOutcome]:
    outcomes: list[SubmitOutcome] = []
    for index, task in enumerate(tasks):
        key = (task.type, task.key)
        new_id = inserted.get(key)
        if new_id is not None:
            outcomes.append(Inserted(new_id) if last_of_key[key] == index else Duplicate(new_id))
            continue
        current = active[key]
        task_id, priority, status = current
        if task.priority < priority and status != TaskStatus.RUNNING:
            conn.execute("UPDATE tasks SET priority = ? WHERE id = ?", (task.priority, task_id))
            current[1] = task.priority
            outcomes.append(Upgraded(task_id, priority, task.priority))
        else:
            outcomes.append(Duplicate(task_id))
    return outcomes


def key_hash(task_type: str, key: str) -> int:
    """The signed 64-bit hash that indexes a dedup key (``tasks.key_hash``)."""
    digest = hashlib.blake2b(task_type.encode(), digest_size=8)
    digest.update(b"\0")
    digest.update(key.encode())
    return int.from_bytes(digest.digest(), "big", signed=True)


_LOOKUP_CHUNK = 500


def _find_active(
    conn: sqlite3.Connection, hashes: dict[tuple[str, str], int]
) -> dict[tuple[str, str], list[Any]]:
    """Return ``[id, priority, status]`` of the active tasks holding any of these keys."""
    wanted = list(set(hashes.values()))
    found: dict[tuple[str, str], list[Any]] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        rows = conn.execute(
            f"SELECT type, key, id, priority, status FROM tasks "
            f"WHERE key_hash IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for task_type, key, task_id, priority, status in rows:
            if (task_type, key) in hashes:  # equal hashes of other keys are ignored
                found[(task_type, key)] = [task_id, priority, status]
    return found


def settle(conn: sqlite3.Connection, settlements: Iterable[Settlement]) -> None:
    """Move final attempts to history; put retried and interrupted ones back to pending."""
    final: list[tuple[Any, ...]] = []
    retry: list[tuple[Any, ...]] = []
    requeue: list[tuple[int]] = []
    for s in settlements:
        if s.kind in FINAL_KINDS:
            io = s.actual_io
            final.append(
                (str(s.kind), s.at, s.error,
                 io.disk_read, io.disk_write, io.net_rx, io.net_tx, s.id)
            )  # fmt: skip
        elif s.kind is SettleKind.RETRY:
            retry.append((s.not_before, s.error, s.id))
        else:
            requeue.append((s.id,))
    if final:
        conn.executemany(TO_HISTORY, final)
        conn.executemany("DELETE FROM tasks WHERE id = ?", [(row[-1],) for row in final])
    if retry:
        conn.executemany(
            "UPDATE tasks SET status = 'pending', retry_count = retry_count + 1, "
            "not_before = ?, last_error = ? WHERE id = ?",
            retry,
        )
    if requeue:
        conn.executemany(
            "UPDATE tasks SET status = 'pending' WHERE id = ? AND status = 'running'", requeue
        )


def promote(conn: sqlite3.Connection, now: float) -> float | None:
    """Make delayed tasks due by ``now`` ready; return the next ``not_before``, if any."""
    conn.execute(
        "UPDATE tasks SET not_before = NULL "
        "WHERE status = 'pending' AND not_before IS NOT NULL AND not_before <= ?",
        (now,),
    )
    due: float | None = conn.execute(NEXT_DUE).fetchone()[0]
    return due


def prune(conn: sqlite3.Connection, retention: Retention, now: float) -> int:
    """Delete history beyond ``retention``; return how many records went."""
    removed = 0
    if retention.max_records is not None:
        removed += conn.execute(
            "DELETE FROM history WHERE seq <= "
            "(SELECT seq FROM history ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (retention.max_records,),
        ).rowcount
    max_age = retention.max_age_seconds
    if max_age is not None:
        # seq grows with finished_at, so the oldest records are a prefix of seq order.
        removed += conn.execute(
            "DELETE FROM history WHERE seq < "
            "coalesce((SELECT min(seq) FROM history WHERE finished_at >= ?), "
            "(SELECT max(seq) + 1 FROM history))",
            (now - max_age,),
        ).rowcount
    return removed


def checkpoint(conn: sqlite3.Connection) -> object:
    """Copy the WAL into the database file and truncate it."""
    return conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


# --- rows to records --------------------------------------------------------------------------


def task_record(row: Sequence[Any]) -> TaskRecord:
    """Build a record from a row of ``SELECT {TASK_COLUMNS}``."""
    return TaskRecord(
        id=row[0],
        type=row[1],
        key=row[2],
        label=row[3],
        priority=row[4],
        status=TaskStatus(row[5]),
        payload=_decode_json(row[6]),
        retry_count=row[7],
        created_at=row[8],
        started_at=row[9],
        not_before=row[10],
        last_error=row[11],
        expected_io=IoBudget.of(row[12], row[13], row[14], row[15]),
    )


def history_record(row: Sequence[Any]) -> HistoryRecord:
    """Build a record from a row of ``SELECT {HISTORY_COLUMNS}``."""
    started, finished = row[10], row[11]
    return HistoryRecord(
        seq=row[0],
        id=row[1],
        type=row[2],
        key=row[3],
        label=row[4],
        priority=row[5],
        status=TaskStatus(row[6]),
        payload=_decode_json(row[7]),
        retry_count=row[8],
        created_at=row[9],
        started_at=started,
        finished_at=finished,
        duration=None if started is None else max(0.0, finished - started),
        last_error=row[12],
        expected_io=IoBudget.of(row[13], row[14], row[15], row[16]),
        actual_io=IoBudget.of(row[17], row[18], row[19], row[20]),
        retried_as=row[21],
    )
