"""Dependencies in SQL: edges, unblocking, and what a dependency's failure does.

Table ``dependencies(task_id, depends_on)`` holds an edge while both tasks are active. Every
operation that ends tasks calls :func:`after_end` in its transaction: a completed dependency
drops its edges (dependents with none left are unblocked), a failed one applies each
dependent's ``on_dependency_failure`` (see :mod:`taskmill.model.dependencies`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from taskmill.model.errors import DependencyError
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import Changes
from taskmill.store.sql.records import (
    ENDED_COLUMNS,
    ENDED_WIDTH,
    LOOKUP_CHUNK,
    PREEMPTED,
    TO_HISTORY,
    ended,
)

# A dependent left without edges runs: pending, or paused if a pause reason holds it.
_UNBLOCK = f"""
UPDATE tasks SET status = CASE WHEN pause_reasons != 0 THEN 'paused' ELSE 'pending' END,
    aging_from = max(aging_from, ?1),
    paused_since = CASE WHEN (pause_reasons & ~{PREEMPTED}) != 0
                        THEN coalesce(paused_since, ?1) END
WHERE id = ?2 AND status = 'blocked'
      AND NOT EXISTS (SELECT 1 FROM dependencies WHERE task_id = ?2)
RETURNING {ENDED_COLUMNS}, status, not_before
"""


def classify(conn: sqlite3.Connection, ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """Split dependency ids into active tasks and ones that ended without completing.

    Completed ones are left out (they add no edge). Raises :class:`DependencyError` for ids
    that are neither in the queue nor in history.
    """
    active: set[int] = set()
    ended: dict[int, str] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = list(ids[start : start + LOOKUP_CHUNK])
        marks = ",".join("?" * len(chunk))
        active.update(
            row[0] for row in conn.execute(f"SELECT id FROM tasks WHERE id IN ({marks})", chunk)
        )
        rows = conn.execute(
            f"SELECT id, status FROM history WHERE id IN ({marks}) ORDER BY seq", chunk
        )
        ended.update({row[0]: row[1] for row in rows})  # the latest record wins
    unknown = [i for i in ids if i not in active and i not in ended]
    if unknown:
        raise DependencyError(
            f"depends_on names tasks that do not exist: {unknown}; give ids returned by "
            f"submit() (tasks pruned from history count as unknown too)"
        )
    failed = [i for i in ids if i not in active and ended[i] != TaskStatus.COMPLETED]
    return sorted(active), failed


def add_edges(conn: sqlite3.Connection, task_id: int, depends_on: Iterable[int]) -> None:
    """Make ``task_id`` wait for ``depends_on``; refuse edges that would close a cycle."""
    depends_on = list(depends_on)
    wanted = [d for d in depends_on if d != task_id]
    if len(wanted) != len(depends_on) or _reaches(conn, wanted, task_id):
        raise DependencyError(
            f"task {task_id} cannot depend on {sorted(depends_on)}: that would make a cycle "
            f"(a task would wait for itself)"
        )
    conn.executemany(
        "INSERT OR IGNORE INTO dependencies (task_id, depends_on) VALUES (?, ?)",
        [(task_id, d) for d in wanted],
    )


def _reaches(conn: sqlite3.Connection, starts: Sequence[int], target: int) -> bool:
    """Whether ``target`` is among what ``starts`` wait for, directly or not."""
    if not starts:
        return False
    row = conn.execute(
        """WITH RECURSIVE reach(id) AS (
               SELECT value FROM json_each(?1)
               UNION SELECT d.depends_on FROM dependencies d JOIN reach r ON d.task_id = r.id
           ) SELECT 1 FROM reach WHERE id = ?2 LIMIT 1""",
        (json.dumps(list(starts)), target),
    ).fetchone()
    return row is not None


def transfer(conn: sqlite3.Connection, old_id: int, new_id: int) -> None:
    """Dependents of ``old_id`` wait for ``new_id`` instead (a running task was replaced)."""
    conn.execute("UPDATE dependencies SET depends_on = ? WHERE depends_on = ?", (new_id, old_id))


def any_edges(conn: sqlite3.Connection) -> bool:
    """Whether any task waits for another (else endings need no dependency checks)."""
    return conn.execute("SELECT 1 FROM dependencies LIMIT 1").fetchone() is not None


def after_end(
    conn: sqlite3.Connection,
    ended: Iterable[tuple[int, TaskStatus, int | None]],
    now: float,
    changes: Changes,
) -> list[tuple[int, TaskStatus, int | None]]:
    """Follow up tasks that just left the queue: their dependents.

    Returns the tasks this ended as ``dependency_failed`` (with their parents), whose own
    dependents it already followed up.
    """
    ended = list(ended)
    if not ended or not any_edges(conn):
        return []
    failures: list[tuple[int, TaskStatus, bool]] = []  # (id, how it ended, cascade forced)
    candidates: list[int] = []
    failed_here: list[tuple[int, TaskStatus, int | None]] = []
    for task_id, status, _ in ended:
        if status == TaskStatus.COMPLETED:
            candidates += _drop_edges_to(conn, task_id)
        else:
            failures.append((task_id, status, False))
    while failures:
        failed, status, forced = failures.pop()
        for dependent, policy in _dependents(conn, failed):
            if policy == "ignore" and not forced:
                conn.execute(
                    "DELETE FROM dependencies WHERE task_id = ? AND depends_on = ?",
                    (dependent, failed),
                )
                candidates.append(dependent)
                continue
            parent = _fail(conn, dependent, failed, status, now=now, changes=changes)
            if parent is not False:
                failed_here.append((dependent, TaskStatus.DEPENDENCY_FAILED, parent))
            failures.append((dependent, TaskStatus.DEPENDENCY_FAILED, forced or policy != "fail"))
    for task_id in candidates:
        unblock(conn, task_id, now, changes)
    return failed_here


def unblock(conn: sqlite3.Connection, task_id: int, now: float, changes: Changes) -> None:
    """Let ``task_id`` run if it is blocked and no edge is left."""
    row = conn.execute(_UNBLOCK, (now, task_id)).fetchone()
    if row is None:
        return
    changes.unblocked.append(ended(row, TaskStatus(row[ENDED_WIDTH])))
    not_before = row[ENDED_WIDTH + 1]
    if not_before is not None:
        changes.due = not_before if changes.due is None else min(changes.due, not_before)
    else:
        changes.ready = True


def fail_now(conn: sqlite3.Connection, task_id: int, dependency: int, now: float) -> None:
    """End a task just submitted whose dependency had already failed (no event)."""
    status = conn.execute(
        "SELECT status FROM history WHERE id = ? ORDER BY seq DESC LIMIT 1", (dependency,)
    ).fetchone()[0]
    _fail(conn, task_id, dependency, TaskStatus(status), now=now, changes=Changes())


def recover(conn: sqlite3.Connection, now: float, changes: Changes) -> None:
    """Drop edges to tasks that vanished; unblock the tasks left with none."""
    conn.execute("DELETE FROM dependencies WHERE depends_on NOT IN (SELECT id FROM tasks)")
    for (task_id,) in conn.execute("SELECT id FROM tasks WHERE status = 'blocked'").fetchall():
        unblock(conn, task_id, now, changes)


def _drop_edges_to(conn: sqlite3.Connection, task_id: int) -> list[int]:
    rows = conn.execute(
        "DELETE FROM dependencies WHERE depends_on = ? RETURNING task_id", (task_id,)
    )
    return [row[0] for row in rows.fetchall()]


def _dependents(conn: sqlite3.Connection, task_id: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT d.task_id, coalesce(t.on_dependency_failure, 'cancel') FROM dependencies d "
        "JOIN tasks t ON t.id = d.task_id WHERE d.depends_on = ? ORDER BY d.task_id",
        (task_id,),
    )
    return [(row[0], row[1]) for row in rows.fetchall()]


def _fail(
    conn: sqlite3.Connection,
    task_id: int,
    dependency: int,
    status: TaskStatus,
    *,
    now: float,
    changes: Changes,
) -> int | bool | None:
    """End ``task_id`` as ``dependency_failed`` because ``dependency`` ended with ``status``.

    Returns its parent id (``None``: it has none), or ``False`` if it had ended already.
    """
    row: Any = conn.execute(
        f"SELECT {ENDED_COLUMNS}, parent_id FROM tasks WHERE id = ?", (task_id,)
    ).fetchone()
    if row is None:  # already ended along another path of the graph
        return False
    error = f"dependency {dependency} ended {status}"
    conn.execute(
        TO_HISTORY, (TaskStatus.DEPENDENCY_FAILED.value, now, error, 0, 0, 0, 0, False, task_id)
    )
    conn.execute("DELETE FROM dependencies WHERE task_id = ?", (task_id,))
    conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
    changes.ended.append(ended(row, TaskStatus.DEPENDENCY_FAILED, cause=dependency))
    parent: int | None = row[ENDED_WIDTH]
    return parent
