"""Read-only queries for UIs: filtered lists, per-type statistics, throughput, key lookups.

Each query is bounded by an index or a sample so it stays fast with a million history rows:
history is read newest first through ``history_by_type`` (type, seq) or the rowid, and time
windows are found by a binary search over ``seq`` (history is appended in the order tasks
end, so ``finished_at`` grows with ``seq``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from taskmill.model.io import IoBudget
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
from taskmill.model.status import TaskStatus
from taskmill.store.sql import records
from taskmill.store.sql import tags as tag_sql
from taskmill.store.sql.submissions import key_hash

_FAILED = frozenset({TaskStatus.FAILED.value, TaskStatus.DEAD_LETTER.value})
_COMPLETED = TaskStatus.COMPLETED.value


# --- lists --------------------------------------------------------------------------------------


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _status_clause(statuses: Collection[TaskStatus], clauses: list[str], params: list[Any]) -> None:
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(str(status) for status in statuses)


def list_tasks(
    conn: sqlite3.Connection,
    *,
    statuses: Collection[TaskStatus],
    task_type: str | None,
    key: str | None,
    tags: Mapping[str, str | None],
    limit: int,
    domain: str | None = None,
    group: str | None = None,
    after: tuple[int, int] | None = None,
    parent: int | None = None,
) -> list[TaskRecord]:
    """Active tasks matching every filter, in dispatch order (priority, then id).

    ``after`` is the ``(priority, id)`` of the last task of the previous page.
    """
    clauses, params = tag_sql.tasks_filter(tags)
    _status_clause(statuses, clauses, params)
    if domain is not None:  # a range on the qualified name: "domain::" up to "domain:;"
        clauses.append("type >= ? AND type < ?")
        params += [f"{domain}::", f"{domain}:;"]
    if group is not None:
        clauses.append("group_key = ?")
        params.append(group)
    if parent is not None:
        clauses.append("parent_id = ?")
        params.append(parent)
    if after is not None:
        clauses.append("(priority, id) > (?, ?)")
        params += [after[0], after[1]]
    if key is not None and task_type is not None:
        clauses.append("key_hash = ? AND type = ? AND key = ?")
        params += [key_hash(task_type, key), task_type, key]
    elif key is not None:
        clauses.append("key = ?")
        params.append(key)
    elif task_type is not None:
        clauses.append("type = ?")
        params.append(task_type)
    rows = conn.execute(
        f"SELECT {records.TASK_COLUMNS} FROM tasks {_where(clauses)} ORDER BY priority, id LIMIT ?",
        (*params, limit),
    )
    return [records.task_record(row) for row in rows]


def list_history(
    conn: sqlite3.Connection,
    *,
    statuses: Collection[TaskStatus],
    task_type: str | None,
    key: str | None,
    tags: Mapping[str, str | None],
    before: int | None,
    limit: int,
    parent: int | None = None,
) -> list[HistoryRecord]:
    """History records matching every filter, newest first; ``before`` pages by ``seq``."""
    clauses, params = tag_sql.history_filter(tags)
    _status_clause(statuses, clauses, params)
    if statuses and _COMPLETED not in {str(status) for status in statuses}:
        clauses.append("status != 'completed'")  # verbatim: lets SQLite use history_unsuccessful
    if task_type is not None:
        clauses.append("type = ?")
        params.append(task_type)
    if key is not None:
        clauses.append("key = ?")
        params.append(key)
    if parent is not None:
        clauses.append("parent_id = ?")
        params.append(parent)
    if before is not None:
        clauses.append("seq < ?")
        params.append(before)
    rows = conn.execute(
        f"SELECT {records.HISTORY_COLUMNS} FROM history {_where(clauses)} "
        f"ORDER BY seq DESC LIMIT ?",
        (*params, limit),
    )
    return [records.history_record(row) for row in rows]


@contextmanager
def one_view(conn: sqlite3.Connection) -> Iterator[None]:
    """Read several statements from one snapshot of the database.

    Without it, a task that ends between two SELECTs could show in neither. Inside the
    writer's transaction (the in-memory store reads there) the view is already one.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


_COUNT_ALL = "SELECT count(*) FROM tasks"
_COUNT_NOT_PENDING = "SELECT status, count(*) FROM tasks WHERE status != 'pending' GROUP BY status"


def count_by_status(conn: sqlite3.Connection) -> dict[TaskStatus, int]:
    """How many active tasks are in each status (statuses with none left out).

    Reads indexes only: all rows on the narrowest index, the rest on ``tasks_not_pending``;
    pending is the difference. So the cost grows with the tasks that are not pending, not
    with the queue.
    """
    with one_view(conn):
        (total,) = conn.execute(_COUNT_ALL).fetchone()
        rows = conn.execute(_COUNT_NOT_PENDING).fetchall()
    counts = {TaskStatus(status): count for status, count in rows}
    if pending := total - sum(counts.values()):
        counts[TaskStatus.PENDING] = pending
    return dict(sorted(counts.items()))


def count_by_type(conn: sqlite3.Connection, types: Collection[str] | None = None) -> dict[str, int]:
    """How many active tasks each type has (types with none left out), sorted by type.

    Without ``types`` it reads every active task (on the ``tasks_ready`` index, which holds
    the type): a scan, meant for opening, not for every dispatch step.
    """
    if types is None:
        rows = conn.execute("SELECT type, count(*) FROM tasks GROUP BY type")
    else:
        chosen = sorted(types)
        if not chosen:
            return {}
        marks = ",".join("?" * len(chosen))
        rows = conn.execute(
            f"SELECT type, count(*) FROM tasks WHERE type IN ({marks}) GROUP BY type", chosen
        )
    return dict(sorted(rows.fetchall()))


def lookup(conn: sqlite3.Connection, task_type: str, key: str, history_limit: int) -> KeyLookup:
    """The active task holding ``key`` and the key's history, newest first."""
    with one_view(conn):
        active = list_tasks(
            conn, statuses=(), task_type=task_type, key=key, tags={}, limit=1
        )  # at most one active task holds a key
        history = list_history(
            conn, statuses=(), task_type=task_type, key=key, tags={}, before=None,
            limit=history_limit,
        )  # fmt: skip
    return KeyLookup(task_type, key, active[0] if active else None, tuple(history))


# --- statistics ---------------------------------------------------------------------------------

# Distinct types in history by skipping through history_by_type: one probe per type, instead
# of reading every row.
_HISTORY_TYPES = """
WITH RECURSIVE seen(type) AS (
    SELECT min(type) FROM history
    UNION ALL
    SELECT (SELECT min(type) FROM history WHERE type > seen.type) FROM seen
    WHERE seen.type IS NOT NULL
)
SELECT type FROM seen WHERE type IS NOT NULL
"""

_SAMPLE = """
SELECT status, duration, finished_at, actual_read, actual_write, actual_rx, actual_tx
FROM history WHERE type = ? AND seq >= ? ORDER BY seq DESC LIMIT ?
"""


def history_types(conn: sqlite3.Connection) -> list[str]:
    """Every task type that has history, sorted."""
    return [task_type for (task_type,) in conn.execute(_HISTORY_TYPES)]


def first_seq_since(conn: sqlite3.Connection, since: float) -> int | None:
    """The smallest ``seq`` of a record finished at or after ``since`` (``None``: none is).

    A binary search over point lookups by ``seq``: history is appended as tasks end, so
    ``finished_at`` grows with ``seq`` (a clock stepped backwards only blurs the boundary).
    """
    # two statements: SQLite reads min() or max() alone from the b-tree's edge, both at once
    # by scanning the table
    low = conn.execute("SELECT min(seq) FROM history").fetchone()[0]
    if low is None:
        return None
    high = conn.execute("SELECT max(seq) FROM history").fetchone()[0]
    if _finished_at_or_after(conn, high)[1] < since:
        return None
    while low < high:  # invariant: the answer is in [low, high]
        middle = (low + high) // 2
        seq, finished_at = _finished_at_or_after(conn, middle)
        if finished_at >= since:
            high = seq
        else:
            low = seq + 1
    return int(low)


def _finished_at_or_after(conn: sqlite3.Connection, seq: int) -> tuple[int, float]:
    # pruning leaves gaps at the start only, but a gap anywhere is stepped over
    row = conn.execute(
        "SELECT seq, finished_at FROM history WHERE seq >= ? ORDER BY seq LIMIT 1", (seq,)
    ).fetchone()
    return int(row[0]), float(row[1])


def type_stats(
    conn: sqlite3.Connection, task_types: Sequence[str] | None, sample: int, since: float | None
) -> list[TypeStats]:
    """Statistics over the newest ``sample`` records of each type (finished since ``since``)."""
    with one_view(conn):
        return _type_stats(conn, task_types, sample, since)


def _type_stats(
    conn: sqlite3.Connection, task_types: Sequence[str] | None, sample: int, since: float | None
) -> list[TypeStats]:
    start = 0
    if since is not None:
        first = first_seq_since(conn, since)
        if first is None:
            return []
        start = first
    found = []
    for task_type in history_types(conn) if task_types is None else task_types:
        rows = conn.execute(_SAMPLE, (task_type, start, sample)).fetchall()
        if rows:
            found.append(_summarize(task_type, rows))
    return found


def _summarize(task_type: str, rows: Sequence[Sequence[Any]]) -> TypeStats:
    by_status: dict[str, int] = {}
    durations: list[float] = []
    io = [0, 0, 0, 0]
    for status, duration, _, read, write, rx, tx in rows:
        by_status[status] = by_status.get(status, 0) + 1
        if status == _COMPLETED:
            io[0] += read
            io[1] += write
            io[2] += rx
            io[3] += tx
            if duration is not None:
                durations.append(duration)
    completed = by_status.get(_COMPLETED, 0)
    failed = sum(count for status, count in by_status.items() if status in _FAILED)
    durations.sort()
    mean_io = IoBudget.of(*(round(total / completed) for total in io)) if completed else IoBudget()
    return TypeStats(
        type=task_type,
        count=len(rows),
        by_status=dict(sorted(by_status.items())),
        failure_rate=failed / (completed + failed) if completed + failed else None,
        mean_duration=sum(durations) / len(durations) if durations else None,
        p95_duration=durations[math.ceil(0.95 * len(durations)) - 1] if durations else None,
        mean_io=mean_io,
        oldest=rows[-1][2],
        newest=rows[0][2],
    )


def throughput(conn: sqlite3.Connection, since: float, until: float) -> Throughput:
    """How many tasks ended since ``since``, by outcome."""
    counts: dict[str, int] = {}
    with one_view(conn):
        first = first_seq_since(conn, since)
        if first is not None:
            rows = conn.execute(
                "SELECT status, count(*) FROM history WHERE seq >= ? GROUP BY status", (first,)
            )
            counts = dict(rows)
    completed = counts.pop(_COMPLETED, 0)
    failed = sum(counts.pop(status, 0) for status in _FAILED)
    window = until - since
    return Throughput(
        since, until, completed, failed, sum(counts.values()), completed / window if window else 0.0
    )


# Means of the newest completed tasks of one type; tasks that recorded no IO teach no IO.
_RECENT = """
SELECT avg(duration),
       avg(CASE WHEN recorded THEN actual_read END), avg(CASE WHEN recorded THEN actual_write END),
       avg(CASE WHEN recorded THEN actual_rx END), avg(CASE WHEN recorded THEN actual_tx END)
FROM (SELECT duration, actual_read, actual_write, actual_rx, actual_tx,
             actual_read + actual_write + actual_rx + actual_tx > 0 AS recorded
      FROM history WHERE type = ? AND status = 'completed' ORDER BY seq DESC LIMIT ?)
"""


def recent_means(
    conn: sqlite3.Connection, per_type: int
) -> dict[str, tuple[float | None, IoBudget | None]]:
    """Mean duration and recorded IO of the newest ``per_type`` completed tasks of each type."""
    means: dict[str, tuple[float | None, IoBudget | None]] = {}
    for task_type in history_types(conn):
        row = conn.execute(_RECENT, (task_type, per_type)).fetchone()
        io = None if row[1] is None else IoBudget.of(*(round(value) for value in row[1:]))
        if row[0] is not None or io is not None:
            means[task_type] = (row[0], io)
    return means
