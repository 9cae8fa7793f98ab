"""Recurring schedules in SQL: storing them, firing their occurrences, following their end.

A schedule row holds a task template and ``next_at``, when the next occurrence is due. When
it is due and the previous occurrence has started (or ended), a new occurrence task is
inserted; otherwise the occurrence is skipped. A fixed-delay ``Every`` arms ``next_at`` only
when its occurrence ends, so its occurrences never overlap.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from taskmill.model.errors import ScheduleNotFoundError
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome
from taskmill.model.recurring import next_cron_time
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import Changes, NewSchedule, NewTask, ScheduleEnded, Skipped
from taskmill.store.sql import submissions, tasks
from taskmill.store.sql.records import ENDED_COLUMNS

_LIVE = "status IN ('active', 'paused')"

_TEMPLATE = """id, type, key, label, priority, group_key, payload, retry_policy, ttl,
    ttl_from_start, io_read, io_write, io_rx, io_tx, every, fixed_rate, cron, tz,
    max_occurrences, occurrences, next_at, current_task, tags"""


def add(conn: sqlite3.Connection, schedule: NewSchedule, now: float) -> SubmitOutcome:
    """Store a schedule; a live one with the same type and key makes this a Duplicate."""
    t = schedule.task
    known = conn.execute(
        f"SELECT id FROM schedules WHERE type = ? AND key = ? AND {_LIVE}", (t.type, t.key)
    ).fetchone()
    if known is not None:
        return Duplicate(known[0])
    schedule_id = submissions.reserve_id(conn)
    io = t.expected_io
    conn.execute(
        "INSERT INTO schedules (id, type, key, label, priority, group_key, payload, "
        "retry_policy, ttl, ttl_from_start, io_read, io_write, io_rx, io_tx, every, "
        "fixed_rate, cron, tz, max_occurrences, next_at, status, created_at, tags) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
        (schedule_id, t.type, t.key, t.label, t.priority, t.group, t.payload, t.retry_policy,
         t.ttl, int(t.ttl_from_start), io.disk_read, io.disk_write, io.net_rx, io.net_tx,
         schedule.every, int(schedule.fixed_rate), schedule.cron, schedule.tz,
         schedule.max_occurrences, schedule.first_at, now, t.tags),
    )  # fmt: skip
    return Inserted(schedule_id)


def next_fire(conn: sqlite3.Connection) -> float | None:
    """When the earliest active schedule is due."""
    due: float | None = conn.execute(
        "SELECT min(next_at) FROM schedules WHERE status = 'active' AND next_at IS NOT NULL"
    ).fetchone()[0]
    return due


def fire(conn: sqlite3.Connection, now: float) -> Changes:
    """Create (or skip) every occurrence due by ``now`` and arm the next ones."""
    changes = Changes()
    due = conn.execute(
        f"SELECT {_TEMPLATE} FROM schedules "
        f"WHERE status = 'active' AND next_at IS NOT NULL AND next_at <= ? ORDER BY next_at",
        (now,),
    ).fetchall()
    for row in due:
        _fire_one(conn, row, now, changes)
    changes.fire = next_fire(conn)
    return changes


def _fire_one(conn: sqlite3.Connection, row: Any, now: float, changes: Changes) -> None:
    (schedule_id, task_type, key, label, priority, group, payload, retry_policy, ttl,
     ttl_from_start, io_read, io_write, io_rx, io_tx, every, fixed_rate, cron, tz,
     max_occurrences, occurrences, due_at, current, tags) = row  # fmt: skip
    delay_mode = every is not None and not fixed_rate
    waiting = _not_started(conn, current)
    if waiting is not None:
        if delay_mode:  # its occurrence's end re-arms it
            conn.execute("UPDATE schedules SET next_at = NULL WHERE id = ?", (schedule_id,))
            return
        changes.skipped.append(Skipped(schedule_id, task_type, due_at, waiting))
        _set_next(conn, schedule_id, _next_tick(every, cron, tz, due_at, now))
        return
    number = occurrences + 1
    occurrence = NewTask(
        type=task_type,
        key=occurrence_key(key, schedule_id, number),
        label=label,
        priority=priority,
        payload=payload,
        retry_policy=retry_policy,
        expected_io=IoBudget.of(io_read, io_write, io_rx, io_tx),
        group=group,
        ttl=ttl,
        ttl_from_start=bool(ttl_from_start),
        schedule_id=schedule_id,
        tags=tags,
    )
    [outcome] = submissions.submit(conn, [occurrence], now)
    done = max_occurrences is not None and number >= max_occurrences
    following = None if done or delay_mode else _next_tick(every, cron, tz, due_at, now)
    conn.execute(
        "UPDATE schedules SET occurrences = ?, current_task = ?, next_at = ? WHERE id = ?",
        (number, outcome.id, following, schedule_id),
    )
    changes.ready = True
    if ttl is not None and not ttl_from_start:
        changes.expiry = _earliest(changes.expiry, now + ttl)


def occurrence_key(key: str, schedule_id: int, number: int) -> str:
    """The dedup key of occurrence ``number``: unique to its schedule, whatever came before."""
    return f"{key}@{schedule_id}#{number}"


def _not_started(conn: sqlite3.Connection, task_id: int | None) -> int | None:
    """``task_id`` if it is an occurrence still waiting to start, else ``None``."""
    if task_id is None:
        return None
    row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    started = row is None or row[0] in (TaskStatus.RUNNING, TaskStatus.WAITING)
    return None if started else task_id


def _next_tick(
    every: float | None, cron: str | None, tz: str | None, due_at: float, now: float
) -> float | None:
    """The first tick after ``now`` of a fixed-rate or cron schedule last due at ``due_at``."""
    if every is not None:
        # Ticks keep the phase of the first one; ticks missed while away are not made up.
        return due_at + (math.floor((now - due_at) / every) + 1) * every
    assert cron is not None
    return next_cron_time(cron, tz or "UTC", max(now, due_at))


def _set_next(conn: sqlite3.Connection, schedule_id: int, next_at: float | None) -> None:
    conn.execute("UPDATE schedules SET next_at = ? WHERE id = ?", (next_at, schedule_id))


def occurrence_ended(
    conn: sqlite3.Connection, schedule_id: int, task_id: int, at: float, changes: Changes
) -> None:
    """Follow up the end of an occurrence: re-arm a fixed-delay schedule, or complete one."""
    row = conn.execute(
        "SELECT type, every, fixed_rate, max_occurrences, occurrences, status, current_task "
        "FROM schedules WHERE id = ?",
        (schedule_id,),
    ).fetchone()
    if row is None or row[6] != task_id or row[5] not in ("active", "paused"):
        return  # an older occurrence, or a schedule that already ended
    task_type, every, fixed_rate, max_occurrences, occurrences, status, _ = row
    if max_occurrences is not None and occurrences >= max_occurrences:
        conn.execute(
            "UPDATE schedules SET status = 'completed', next_at = NULL WHERE id = ?",
            (schedule_id,),
        )
        changes.schedules_ended.append(ScheduleEnded(schedule_id, task_type, occurrences))
    elif every is not None and not fixed_rate:
        _set_next(conn, schedule_id, at + every)  # a paused schedule stays paused
        if status == "active":
            changes.fire = _earliest(changes.fire, at + every)


def set_status(conn: sqlite3.Connection, schedule_id: int, status: str, now: float) -> Changes:
    """Pause (``"paused"``), resume (``"active"``) or cancel (``"cancelled"``) a schedule.

    Cancelling also cancels its occurrence if that has not started; a running occurrence
    finishes. Resuming makes a tick missed while paused due at once (one catch-up run).
    """
    row = conn.execute(
        "SELECT status, current_task, next_at FROM schedules WHERE id = ?", (schedule_id,)
    ).fetchone()
    if row is None:
        raise ScheduleNotFoundError(f"no schedule has id {schedule_id}")
    current_status, current_task, next_at = row
    changes = Changes()
    if current_status not in ("active", "paused") or current_status == status:
        return changes  # ended schedules stay ended; a repeated call changes nothing
    if status == "cancelled":
        conn.execute(
            "UPDATE schedules SET status = 'cancelled', next_at = NULL WHERE id = ?",
            (schedule_id,),
        )
        waiting = _not_started(conn, current_task)
        if waiting is not None:
            rows = conn.execute(
                f"SELECT {ENDED_COLUMNS}, schedule_id FROM tasks WHERE id = ?", (waiting,)
            ).fetchall()
            tasks.end_tasks(conn, rows, TaskStatus.CANCELLED, now, changes)
        return changes
    conn.execute("UPDATE schedules SET status = ? WHERE id = ?", (status, schedule_id))
    if status == "active" and next_at is not None:
        changes.fire = next_at
    return changes


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)
