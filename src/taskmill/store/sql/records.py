"""Column lists and the conversion of rows into records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from taskmill.model.io import IoBudget
from taskmill.model.records import HistoryRecord, ScheduleRecord, TaskRecord
from taskmill.model.status import TaskStatus
from taskmill.model.tags import decode_tags
from taskmill.store.protocol import Ended

LOOKUP_CHUNK = 500
"""Ids bound per ``IN (...)`` lookup: well under SQLite's limit on bound parameters."""

_decode_json = msgspec.json.decode

# Why a task is paused: one bit per reason (tasks.pause_reasons).
PREEMPTED, GLOBAL, DOMAIN, GROUP = 1, 2, 4, 8
REASON_NAMES = ((PREEMPTED, "preempted"), (GLOBAL, "global"), (DOMAIN, "domain"), (GROUP, "group"))

TASK_COLUMNS = """id, type, key, label, priority, status, payload, retry_count, created_at,
    started_at, not_before, last_error, io_read, io_write, io_rx, io_tx,
    group_key, pause_reasons, expires_at, schedule_id, tags,
    (SELECT json_group_array(depends_on) FROM dependencies WHERE task_id = tasks.id),
    parent_id"""

HISTORY_COLUMNS = """seq, id, type, key, label, priority, status, payload, retry_count,
    created_at, started_at, finished_at, last_error, io_read, io_write, io_rx, io_tx,
    actual_read, actual_write, actual_rx, actual_tx, retried_as, group_key, schedule_id,
    duration, tags, parent_id"""

SCHEDULE_COLUMNS = """id, type, key, label, priority, group_key, every, fixed_rate, cron, tz,
    max_occurrences, occurrences, next_at, current_task, status, created_at, tags"""

# What events need of a task that ends; ``ended()`` reads them, extra columns follow.
ENDED_COLUMNS = "id, type, key, label, priority, tags"
ENDED_WIDTH = 6

# Moves a task's row to history: ?1 status, ?2 finished_at, ?3 error (else its last one),
# ?4..?7 the IO its last attempt recorded, ?8 whether it ended running (then its duration is
# known), ?9 its id. The caller deletes the row.
TO_HISTORY = """
INSERT INTO history (id, type, key, label, priority, status, payload, retry_count,
                     retry_policy, created_at, started_at, finished_at, last_error,
                     io_read, io_write, io_rx, io_tx,
                     actual_read, actual_write, actual_rx, actual_tx, group_key, schedule_id,
                     duration, tags, parent_id)
SELECT id, type, key, label, priority, ?1, payload, retry_count,
       retry_policy, created_at, started_at, ?2, coalesce(?3, last_error),
       io_read, io_write, io_rx, io_tx, ?4, ?5, ?6, ?7, group_key, schedule_id,
       CASE WHEN ?8 THEN max(0.0, ?2 - started_at) END, tags, parent_id
FROM tasks WHERE id = ?9
"""


def reasons(bits: int) -> tuple[str, ...]:
    """The names of the pause reasons set in ``bits``."""
    return tuple(name for bit, name in REASON_NAMES if bits & bit)


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
        group=row[16],
        paused_for=reasons(row[17]),
        expires_at=row[18],
        schedule_id=row[19],
        tags=decode_tags(row[20]),
        depends_on=tuple(sorted(_decode_json(row[21]))),
        parent_id=row[22],
    )


def history_record(row: Sequence[Any]) -> HistoryRecord:
    """Build a record from a row of ``SELECT {HISTORY_COLUMNS}``."""
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
        started_at=row[10],
        finished_at=row[11],
        duration=row[24],
        last_error=row[12],
        expected_io=IoBudget.of(row[13], row[14], row[15], row[16]),
        actual_io=IoBudget.of(row[17], row[18], row[19], row[20]),
        retried_as=row[21],
        group=row[22],
        schedule_id=row[23],
        tags=decode_tags(row[25]),
        parent_id=row[26],
    )


def schedule_record(row: Sequence[Any]) -> ScheduleRecord:
    """Build a record from a row of ``SELECT {SCHEDULE_COLUMNS}``."""
    return ScheduleRecord(
        id=row[0],
        type=row[1],
        key=row[2],
        label=row[3],
        priority=row[4],
        group=row[5],
        every=row[6],
        fixed_rate=bool(row[7]),
        cron=row[8],
        tz=row[9],
        max_occurrences=row[10],
        occurrences=row[11],
        next_at=row[12],
        current_task=row[13],
        status=row[14],
        created_at=row[15],
        tags=decode_tags(row[16]),
    )


def ended(
    row: Sequence[Any], status: TaskStatus, *, cause: int | None = None, error: str | None = None
) -> Ended:
    """Build an :class:`Ended` from a row of ``SELECT {ENDED_COLUMNS}``."""
    return Ended(row[0], row[1], row[2], row[3], row[4], status, decode_tags(row[5]), cause, error)
