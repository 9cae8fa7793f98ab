"""What a submission does when an active task already holds its dedup key.

The policy is the submission's ``on_duplicate``: *skip* (Duplicate, Upgraded, or Requeued for
a running task), *supersede* (replace the task) or *reject*. See :mod:`taskmill.model.outcomes`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from taskmill.model.outcomes import (
    Duplicate,
    Rejected,
    Requeued,
    SubmitOutcome,
    Superseded,
    Upgraded,
)
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import NewTask
from taskmill.store.sql import graph
from taskmill.store.sql.records import GROUP, PREEMPTED, TO_HISTORY

# The active task's fields a decision needs, as _find_active returns them.
Current = list[Any]  # [id, priority, status]
InsertNew = Callable[[NewTask], int]  # stores a new task, returns its id
ReasonsOf = Callable[[str, str | None], int]

_REQUEUE = """
UPDATE tasks SET rerun_payload = ?, rerun_label = ?,
                 rerun_priority = min(coalesce(rerun_priority, priority), ?)
WHERE id = ?
"""


# In place: a new version of a task that is not running. Its id, key, schedule and the pause
# reasons that do not depend on the group stay; blocked and waiting tasks stay so.
_REPLACE = f"""
UPDATE tasks SET label = :label, priority = :priority, payload = :payload,
    retry_policy = :retry_policy, created_at = :now, not_before = :not_before,
    last_error = NULL, retry_count = 0, io_read = :io_read, io_write = :io_write,
    io_rx = :io_rx, io_tx = :io_tx, group_key = :group_key,
    pause_reasons = (pause_reasons & ~{GROUP}) | :group_bit,
    status = CASE WHEN status IN ('blocked', 'waiting') THEN status
                  WHEN ((pause_reasons & ~{GROUP}) | :group_bit) != 0 THEN 'paused'
                  ELSE 'pending' END,
    paused_since = CASE WHEN ((pause_reasons & ~{GROUP} & ~{PREEMPTED}) | :group_bit) = 0 THEN NULL
                        ELSE coalesce(paused_since, :now) END,
    ttl = :ttl, ttl_from_start = :ttl_from_start, expires_at = :expires_at, tags = :tags,
    aging_from = coalesce(:not_before, :now),
    rerun_payload = NULL, rerun_label = NULL, rerun_priority = NULL
WHERE id = :id
"""


def resolve(
    conn: sqlite3.Connection,
    task: NewTask,
    current: Current,
    *,
    now: float,
    reasons_of: ReasonsOf,
    insert_new: InsertNew,
) -> SubmitOutcome:
    """Apply ``task.on_duplicate`` to a duplicate of the active task ``current``.

    ``current`` is updated to describe the task that holds the key afterwards.
    """
    task_id, priority, status = current
    running = status == TaskStatus.RUNNING
    policy = task.on_duplicate
    if policy == "reject":
        return Rejected(task_id)
    if policy == "supersede":
        conn.execute(TO_HISTORY, ("superseded", now, None, 0, 0, 0, 0, running, task_id))
        if running:  # the attempt is interrupted by the scheduler; its row goes now
            conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            new_id = insert_new(task)
            graph.transfer(conn, task_id, new_id)  # its dependents wait for the replacement
            current[:] = [new_id, task.priority, TaskStatus.PENDING]
            return Superseded(new_id, task_id)
        conn.execute(_REPLACE, _replacement(task, task_id, now, reasons_of))
        if task.depends_on:  # added to the edges it keeps; dependencies that failed do not count
            waits, _ = graph.classify(conn, task.depends_on)
            graph.add_edges(conn, task_id, waits)
            conn.execute(
                "UPDATE tasks SET status = 'blocked' WHERE id = ? AND status != 'blocked' "
                "AND EXISTS (SELECT 1 FROM dependencies WHERE task_id = ?)",
                (task_id, task_id),
            )
        current[1] = task.priority
        return Superseded(task_id, task_id)
    if running:
        conn.execute(_REQUEUE, (task.payload, task.label, task.priority, task_id))
        return Requeued(task_id)
    if task.priority < priority:
        conn.execute("UPDATE tasks SET priority = ? WHERE id = ?", (task.priority, task_id))
        current[1] = task.priority
        return Upgraded(task_id, priority, task.priority)
    return Duplicate(task_id)


def _replacement(task: NewTask, task_id: int, now: float, reasons_of: ReasonsOf) -> dict[str, Any]:
    io = task.expected_io
    expires = now + task.ttl if task.ttl is not None and not task.ttl_from_start else None
    return {
        "id": task_id,
        "now": now,
        "label": task.label,
        "priority": task.priority,
        "payload": task.payload,
        "retry_policy": task.retry_policy,
        "not_before": task.not_before,
        "io_read": io.disk_read,
        "io_write": io.disk_write,
        "io_rx": io.net_rx,
        "io_tx": io.net_tx,
        "group_key": task.group,
        "group_bit": reasons_of(task.type, task.group) & GROUP,
        "ttl": task.ttl,
        "ttl_from_start": int(task.ttl_from_start),
        "expires_at": expires,
        "tags": task.tags,
    }
