"""Child tasks in SQL: parents that wait for their children, fail-fast, and finalize steps.

A child names its parent (``tasks.parent_id``). When a parent's executor returns while
children are active, the parent is parked ``waiting`` with phase ``finalize``; when its last
child ends it becomes pending again and its next run is the finalize step. With fail-fast
(the default), a child's failure cancels its siblings and fails the parent; a parent that
ends any way but completed cancels its children.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from taskmill.model.status import TaskStatus
from taskmill.store.protocol import Changes, Settlement
from taskmill.store.sql.records import ENDED_COLUMNS, PREEMPTED, TO_HISTORY, ended

Ending = tuple[int, TaskStatus, int | None]
"""A task that left the queue: (id, status, parent id)."""

FAILURES = frozenset(
    {
        TaskStatus.FAILED,
        TaskStatus.DEAD_LETTER,
        TaskStatus.EXPIRED,
        TaskStatus.DEPENDENCY_FAILED,
    }
)
"""Ends of a child that count as its failure (cancelled and superseded do not)."""

_READY_AGAIN = f"""
UPDATE tasks SET status = CASE WHEN pause_reasons != 0 THEN 'paused' ELSE 'pending' END,
    aging_from = ?1,
    paused_since = CASE WHEN (pause_reasons & ~{PREEMPTED}) != 0 THEN ?1 END
WHERE id = ?2 AND status = 'waiting'
      AND NOT EXISTS (SELECT 1 FROM tasks WHERE parent_id = ?2)
"""


def any_children(conn: sqlite3.Connection) -> bool:
    """Whether any active task is somebody's child (else parents need no checks)."""
    row = conn.execute("SELECT 1 FROM tasks WHERE parent_id IS NOT NULL LIMIT 1").fetchone()
    return row is not None


def park(conn: sqlite3.Connection, completing: Sequence[Settlement], changes: Changes) -> set[int]:
    """Keep parents in the queue whose executor just returned; return their ids.

    A parent with active children waits for them; one whose children all ended already, and
    whose type has a finalize step, runs it next. Tasks already in their finalize step, and
    tasks without children, complete as usual.
    """
    parked: set[int] = set()
    for s in completing:
        row = conn.execute("SELECT phase FROM tasks WHERE id = ?", (s.id,)).fetchone()
        if row is None or row[0] == "finalize":
            continue
        if _has_active_children(conn, s.id):
            conn.execute(
                "UPDATE tasks SET status = 'waiting', phase = 'finalize', memo = ? WHERE id = ?",
                (s.memo, s.id),
            )
            changes.waiting.append(s.id)
        elif s.finalize and _had_children(conn, s.id):
            conn.execute(
                "UPDATE tasks SET status = 'waiting', phase = 'finalize', memo = ? WHERE id = ?",
                (s.memo, s.id),
            )
            conn.execute(_READY_AGAIN, (s.at, s.id))
            changes.waiting.append(s.id)
            changes.ready = True
        else:
            continue
        parked.add(s.id)
    return parked


def parents_of(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, int]:
    """The parent of each of these (active) tasks that has one."""
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, parent_id FROM tasks WHERE id IN ({marks}) AND parent_id IS NOT NULL",
            chunk,
        )
        found.update({row[0]: row[1] for row in rows})
    return found


def after_end(
    conn: sqlite3.Connection, ended: Iterable[Ending], now: float, changes: Changes
) -> list[Ending]:
    """Follow up tasks that left the queue: their parents and their children.

    Returns the tasks this ended in turn (cancelled siblings and children, failed parents),
    for the caller to follow up as well.
    """
    more: list[Ending] = []
    for task_id, status, parent_id in ended:
        if status != TaskStatus.COMPLETED:
            more += _cancel_children(conn, task_id, now, changes)
        if parent_id is None:
            continue
        parent = conn.execute(
            "SELECT status, fail_fast, parent_id FROM tasks WHERE id = ?", (parent_id,)
        ).fetchone()
        if parent is None:
            continue
        parent_status, fail_fast, grandparent = parent
        if status in FAILURES and fail_fast:
            more += _cancel_children(conn, parent_id, now, changes)
            reason = f"child {task_id} ended {status}"
            if parent_status == TaskStatus.RUNNING:
                changes.fail_running[parent_id] = reason
            else:
                _end(conn, parent_id, TaskStatus.FAILED, reason, now=now, changes=changes)
                more.append((parent_id, TaskStatus.FAILED, grandparent))
        elif (
            parent_status == TaskStatus.WAITING
            and conn.execute(_READY_AGAIN, (now, parent_id)).rowcount
        ):
            changes.ready = True
    return more


def _cancel_children(
    conn: sqlite3.Connection, parent_id: int, now: float, changes: Changes
) -> list[Ending]:
    """Cancel the active children of a parent: idle ones now, running ones by interrupt."""
    rows = conn.execute(
        "SELECT id, status, parent_id FROM tasks WHERE parent_id = ?", (parent_id,)
    ).fetchall()
    ended: list[Ending] = []
    for child_id, child_status, _ in rows:
        if child_status == TaskStatus.RUNNING:
            changes.interrupt.append(child_id)
            continue
        error = f"parent {parent_id} ended"
        _end(conn, child_id, TaskStatus.CANCELLED, error, now=now, changes=changes)
        ended.append((child_id, TaskStatus.CANCELLED, parent_id))
    return ended


def _end(
    conn: sqlite3.Connection,
    task_id: int,
    status: TaskStatus,
    error: str,
    *,
    now: float,
    changes: Changes,
) -> None:
    row: Any = conn.execute(
        f"SELECT {ENDED_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
    ).fetchone()
    if row is None:
        return
    conn.execute(TO_HISTORY, (str(status), now, error, 0, 0, 0, 0, False, task_id))
    conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
    changes.ended.append(ended(row, status, error=error))


def _has_active_children(conn: sqlite3.Connection, task_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM tasks WHERE parent_id = ? LIMIT 1", (task_id,)).fetchone()
    return row is not None


def _had_children(conn: sqlite3.Connection, task_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM history WHERE parent_id = ? LIMIT 1", (task_id,)).fetchone()
    return row is not None
