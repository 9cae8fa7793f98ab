"""The life of a task in SQL after submit: claim, settle, delay, expire, cancel, recover."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from taskmill.admission.aging import Aging
from taskmill.admission.policy import Candidate
from taskmill.model.config import Retention
from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import (
    FINAL_KINDS,
    Cancellation,
    Changes,
    ClaimedTask,
    RecoveryReport,
    SettleKind,
    Settlement,
    TagSelector,
)
from taskmill.store.sql import children, control, ends, graph, schedules, tags
from taskmill.store.sql.records import (
    ENDED_COLUMNS,
    ENDED_WIDTH,
    LOOKUP_CHUNK,
    PREEMPTED,
    TO_HISTORY,
    ended,
)

# The subquery's WHERE repeats the partial index's, so the planner walks tasks_ready in order;
# the index holds the type, so skipping types this scheduler cannot run reads no table rows.
# A TTL counted from the first attempt starts here.
CLAIM = """
UPDATE tasks SET status = 'running', started_at = ?1,
    expires_at = CASE WHEN ttl_from_start = 1 AND expires_at IS NULL THEN ?1 + ttl
                      ELSE expires_at END
WHERE id IN (SELECT id FROM tasks WHERE status = 'pending' AND not_before IS NULL
             AND type IN (SELECT value FROM json_each(?2))
             ORDER BY priority, id LIMIT ?3)
RETURNING id, type, key, label, priority, payload, retry_count, retry_policy, created_at,
          io_read, io_write, io_rx, io_tx, group_key, expires_at, schedule_id, tags,
          parent_id, phase, memo
"""

# Admission reads candidates (skipping what the policy rules out wholesale), picks, then claims
# the ones it admitted by id, if they are still ready. Without aging or per-group fetching the
# planner walks tasks_ready in order.
CANDIDATES = """
SELECT id, type, priority, group_key, io_read, io_write, io_rx, io_tx FROM tasks
WHERE status = 'pending' AND not_before IS NULL
      AND type IN (SELECT value FROM json_each(:types)) AND priority <= :least_urgent
      AND (group_key IS NULL OR group_key NOT IN (SELECT value FROM json_each(:groups)))
ORDER BY priority, id LIMIT :limit
"""

# With aging, the effective priority is computed for every ready task (no index gives that
# order); :cut is now - grace. A task more urgent than the ceiling keeps its priority.
_EFFECTIVE = """CASE WHEN aging_from >= :cut OR priority <= :ceiling THEN priority
    ELSE max(:ceiling, priority - CAST((:cut - aging_from) / :interval AS INTEGER)) END"""

# For fair sharing every group needs its own best candidates: the first :per_group of each.
_CANDIDATES_BY_GROUP = """
SELECT id, type, effective, group_key, io_read, io_write, io_rx, io_tx FROM (
    SELECT id, type, {effective} AS effective, group_key, io_read, io_write, io_rx, io_tx,
           row_number() OVER (PARTITION BY group_key ORDER BY {effective}, id) AS nth
    FROM tasks
    WHERE status = 'pending' AND not_before IS NULL
          AND type IN (SELECT value FROM json_each(:types))
          AND (group_key IS NULL OR group_key NOT IN (SELECT value FROM json_each(:groups)))
) WHERE nth <= :per_group AND effective <= :least_urgent
ORDER BY effective, id LIMIT :limit
"""

_AGED_CANDIDATES = f"""
SELECT id, type, {_EFFECTIVE} AS effective, group_key, io_read, io_write, io_rx, io_tx FROM tasks
WHERE status = 'pending' AND not_before IS NULL
      AND type IN (SELECT value FROM json_each(:types)) AND effective <= :least_urgent
      AND (group_key IS NULL OR group_key NOT IN (SELECT value FROM json_each(:groups)))
ORDER BY effective, id LIMIT :limit
"""

CANDIDATE_QUERIES = {  # by (aging, per group)
    (False, False): CANDIDATES,
    (True, False): _AGED_CANDIDATES,
    (False, True): _CANDIDATES_BY_GROUP.format(effective="priority"),
    (True, True): _CANDIDATES_BY_GROUP.format(effective=_EFFECTIVE),
}

CLAIM_IDS = """
UPDATE tasks SET status = 'running', started_at = ?1,
    expires_at = CASE WHEN ttl_from_start = 1 AND expires_at IS NULL THEN ?1 + ttl
                      ELSE expires_at END
WHERE id IN (SELECT value FROM json_each(?2)) AND status = 'pending' AND not_before IS NULL
RETURNING id, type, key, label, priority, payload, retry_count, retry_policy, created_at,
          io_read, io_write, io_rx, io_tx, group_key, expires_at, schedule_id, tags,
          parent_id, phase, memo
"""


NEXT_DUE = "SELECT min(not_before) FROM tasks WHERE status = 'pending' AND not_before IS NOT NULL"
NEXT_EXPIRY = (
    "SELECT min(expires_at) FROM tasks WHERE expires_at IS NOT NULL AND status != 'running'"
)

# A task that is not running is 'paused' while any pause reason is set.
_AFTER_ATTEMPT = "CASE WHEN pause_reasons != 0 THEN 'paused' ELSE 'pending' END"
# Back in the queue after an attempt, a task's wait (for aging) starts again: at the first
# parameter, and, if it is paused for a reason other than preemption, its pause at the second.
_WAIT_AGAIN = (
    f"aging_from = ?, paused_since = CASE WHEN (pause_reasons & ~{PREEMPTED}) != 0 THEN ? END"
)


# --- claim and settle -------------------------------------------------------------------------


def claim(conn: sqlite3.Connection, limit: int, now: float, types_json: bytes) -> list[ClaimedTask]:
    """Mark up to ``limit`` ready tasks of the listed types running, in dispatch order."""
    rows = conn.execute(CLAIM, (now, types_json, limit)).fetchall()
    claimed = [_claimed(row) for row in rows]
    claimed.sort(key=_dispatch_order)  # RETURNING order is unspecified
    return claimed


def candidates(
    conn: sqlite3.Connection,
    types_json: bytes,
    least_urgent: int,
    excluded_groups_json: bytes,
    limit: int,
    *,
    aging: Aging | None = None,
    now: float = 0.0,
    per_group: int | None = None,
) -> list[Candidate]:
    """Ready tasks in dispatch order, less the types, priorities and groups ruled out.

    With ``aging``, priorities are effective ones at ``now`` and order by them; with
    ``per_group``, at most that many from each group (and of the ungrouped tasks).
    """
    params: dict[str, Any] = {
        "types": types_json,
        "least_urgent": least_urgent,
        "groups": excluded_groups_json,
        "limit": limit,
        "per_group": per_group,
    }
    if aging is not None:
        params.update(cut=now - aging.grace, interval=aging.interval, ceiling=aging.ceiling)
    sql = CANDIDATE_QUERIES[aging is not None, per_group is not None]
    rows = conn.execute(sql, params)
    return [Candidate(r[0], r[1], r[2], r[3], IoBudget.of(r[4], r[5], r[6], r[7])) for r in rows]


def claim_ids(conn: sqlite3.Connection, ids_json: bytes, now: float) -> list[ClaimedTask]:
    """Mark these tasks running if they are still ready; return them in dispatch order."""
    claimed = [_claimed(row) for row in conn.execute(CLAIM_IDS, (now, ids_json)).fetchall()]
    claimed.sort(key=_dispatch_order)
    return claimed


def _claimed(r: Sequence[Any]) -> ClaimedTask:
    io = IoBudget.of(r[9], r[10], r[11], r[12])
    return ClaimedTask(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], io, r[13], r[14], r[15], r[16],
        r[17], r[18], r[19],
    )  # fmt: skip


def _exists(conn: sqlite3.Connection, task_id: int) -> bool:
    return conn.execute("SELECT 1 FROM tasks WHERE id = ?", (task_id,)).fetchone() is not None


def _dispatch_order(task: ClaimedTask) -> tuple[int, int]:
    return (task.priority, task.id)


def settle(conn: sqlite3.Connection, settlements: Iterable[Settlement]) -> Changes:
    """Move final attempts to history; put retried, interrupted and preempted ones back."""
    final: list[tuple[Any, ...]] = []
    retry: list[tuple[Any, ...]] = []
    requeue: list[tuple[float, float, int]] = []
    preempted: list[tuple[float, float, int]] = []
    occurrences: list[tuple[int, int, float]] = []
    for s in settlements:
        if s.kind is SettleKind.SUPERSEDED:
            continue  # the replaced task already went to history when it was superseded
        if s.kind in FINAL_KINDS:
            io = s.actual_io
            final.append(
                (str(s.kind), s.at, s.error,
                 io.disk_read, io.disk_write, io.net_rx, io.net_tx, 1, s.id)
            )  # fmt: skip
            if s.schedule_id is not None:
                occurrences.append((s.schedule_id, s.id, s.at))
        elif s.kind is SettleKind.RETRY:
            ready_at = s.at if s.not_before is None else s.not_before
            retry.append((s.not_before, s.error, ready_at, s.at, s.id))
        elif s.kind is SettleKind.PREEMPTED:
            preempted.append((s.at, s.at, s.id))
        else:
            requeue.append((s.at, s.at, s.id))
    changes = Changes()
    # Families and dependencies cost nothing to queues that have none: one probe each.
    families = children.any_children(conn)
    if families or any(s.finalize for s in settlements):
        completing = [s for s in settlements if s.kind is SettleKind.COMPLETED]
        parked = children.park(conn, completing, changes)  # parents that wait for children
        final = [row for row in final if row[-1] not in parked]
    if final:
        parents = children.parents_of(conn, [row[-1] for row in final]) if families else {}
        conn.executemany(TO_HISTORY, final)
        cancelled = [(row[-1],) for row in final if row[0] == SettleKind.CANCELLED]
        if cancelled:  # cancelling a task also cancels a run a duplicate asked for
            conn.executemany("UPDATE tasks SET rerun_payload = NULL WHERE id = ?", cancelled)
        ids = [(row[-1],) for row in final]
        deleted = conn.executemany(_DELETE_UNLESS_RERUN, ids).rowcount
        kept: set[int] = set()
        if deleted < len(final):  # some were requeued by a duplicate: they run once more
            kept = {row[-1] for row in final if _exists(conn, row[-1])}
            conn.executemany(RERUN, [(row[1], row[1], row[1], row[-1]) for row in final])
            changes.ready = True
        if families or graph.any_edges(conn):
            ended = [
                (row[-1], _STATUS[row[0]], parents.get(row[-1]))
                for row in final
                if row[-1] not in kept
            ]
            ends.followup(conn, ended, final[-1][1], changes)
    if retry:
        conn.executemany(
            f"UPDATE tasks SET status = {_AFTER_ATTEMPT}, retry_count = retry_count + 1, "
            f"not_before = ?, last_error = ?, {_WAIT_AGAIN} WHERE id = ?",
            retry,
        )
    if requeue:
        conn.executemany(
            f"UPDATE tasks SET status = {_AFTER_ATTEMPT}, {_WAIT_AGAIN} "
            f"WHERE id = ? AND status = 'running'",
            requeue,
        )
    if preempted:
        conn.executemany(
            f"UPDATE tasks SET status = 'paused', pause_reasons = pause_reasons | {PREEMPTED}, "
            f"{_WAIT_AGAIN} WHERE id = ? AND status = 'running'",
            preempted,
        )
    for schedule_id, task_id, at in occurrences:
        schedules.occurrence_ended(conn, schedule_id, task_id, at, changes)
    return changes


_STATUS = {str(status): status for status in TaskStatus}

_DELETE_UNLESS_RERUN = "DELETE FROM tasks WHERE id = ? AND rerun_payload IS NULL"

# A task a duplicate requeued while it ran (see duplicates.py) starts over as the duplicate
# asked: its payload, label and priority, no retries, a TTL counted again.
RERUN = f"""
UPDATE tasks SET status = {_AFTER_ATTEMPT}, payload = rerun_payload, label = rerun_label,
    priority = rerun_priority, retry_count = 0, last_error = NULL, not_before = NULL,
    started_at = NULL, expires_at = CASE WHEN ttl IS NOT NULL AND ttl_from_start = 0
                                         THEN ?1 + ttl END,
    rerun_payload = NULL, rerun_label = NULL, rerun_priority = NULL, {_WAIT_AGAIN}
WHERE id = ? AND rerun_payload IS NOT NULL
"""


# --- time -------------------------------------------------------------------------------------


def promote(conn: sqlite3.Connection, now: float) -> float | None:
    """Make delayed tasks due by ``now`` ready; return the next ``not_before``, if any."""
    conn.execute(
        "UPDATE tasks SET not_before = NULL "
        "WHERE status = 'pending' AND not_before IS NOT NULL AND not_before <= ?",
        (now,),
    )
    due: float | None = conn.execute(NEXT_DUE).fetchone()[0]
    return due


def expire(conn: sqlite3.Connection, now: float) -> Changes:
    """Move tasks whose TTL ran out before they started to history as ``expired``.

    ``changes.expiry`` is the next expiry of any task that is not running.
    """
    rows = conn.execute(
        f"SELECT {ENDED_COLUMNS}, schedule_id FROM tasks "
        f"WHERE expires_at IS NOT NULL AND status != 'running' AND expires_at <= ?",
        (now,),
    ).fetchall()
    changes = Changes()
    end_tasks(conn, rows, TaskStatus.EXPIRED, now, changes)
    changes.expiry = conn.execute(NEXT_EXPIRY).fetchone()[0]
    return changes


def end_tasks(
    conn: sqlite3.Connection,
    rows: Sequence[Sequence[Any]],
    status: TaskStatus,
    now: float,
    changes: Changes,
) -> None:
    """Move tasks (rows of ``ENDED_COLUMNS, schedule_id``) that are not running to history.

    They are added to ``changes.ended``; their schedules are followed up.
    """
    io = NO_IO
    conn.executemany(
        TO_HISTORY,
        [(str(status), now, None, io.disk_read, io.disk_write, io.net_rx, io.net_tx, 0, r[0])
         for r in rows],
    )  # fmt: skip
    parents = children.parents_of(conn, [r[0] for r in rows])
    conn.executemany("DELETE FROM tasks WHERE id = ?", [(r[0],) for r in rows])
    for row in rows:
        changes.ended.append(ended(row, status))
        schedule_id = row[ENDED_WIDTH]
        if schedule_id is not None:
            schedules.occurrence_ended(conn, schedule_id, row[0], now, changes)
    ends.followup(conn, [(row[0], status, parents.get(row[0])) for row in rows], now, changes)


# --- cancel -----------------------------------------------------------------------------------


def cancel(
    conn: sqlite3.Connection,
    now: float,
    ids: Sequence[int],
    domain: str | None,
    tagged: TagSelector | None = None,
    *,
    task_type: str | None = None,
) -> Cancellation:
    """Cancel tasks by id, domain, tag or type: the ones not running go to history at once."""
    select = f"SELECT {ENDED_COLUMNS}, schedule_id, status FROM tasks"
    if task_type is not None:
        found = conn.execute(f"{select} WHERE type = ?", (task_type,)).fetchall()
    elif domain is not None:
        rows = conn.execute(f"{select} WHERE {control.DOMAIN_FILTER}", control.domain_range(domain))
        found = rows.fetchall()
    elif tagged is not None:
        clause, params = tags.selector_clause(tagged)
        found = conn.execute(f"{select} WHERE id IN ({clause})", params).fetchall()
    else:
        found = []
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = list(ids[start : start + LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            found.extend(conn.execute(f"{select} WHERE id IN ({marks})", chunk).fetchall())
    status = ENDED_WIDTH + 1  # after schedule_id
    running = [row[0] for row in found if row[status] == TaskStatus.RUNNING]
    idle = [row[:status] for row in found if row[status] != TaskStatus.RUNNING]
    changes = Changes()
    end_tasks(conn, idle, TaskStatus.CANCELLED, now, changes)
    return Cancellation(running, changes)


# --- recovery and retention -------------------------------------------------------------------


def recover(conn: sqlite3.Connection, now: float) -> RecoveryReport:
    """Requeue what a dead process left running; release preempted and due tasks."""
    resumed = control.resume_preempted(conn) or 0  # after a restart nothing preempts
    # An interrupted run that a duplicate requeued runs again anyway: as the duplicate asked.
    conn.execute(
        "UPDATE tasks SET payload = rerun_payload, label = rerun_label, "
        "priority = rerun_priority, retry_count = 0, rerun_payload = NULL, rerun_label = NULL, "
        "rerun_priority = NULL WHERE status = 'running' AND rerun_payload IS NOT NULL"
    )
    requeued = conn.execute(
        f"UPDATE tasks SET status = {_AFTER_ATTEMPT}, {_WAIT_AGAIN} WHERE status = 'running'",
        (now, now),
    ).rowcount
    graph.recover(conn, now, Changes())
    return RecoveryReport(
        requeued=requeued,
        resumed=resumed,
        next_due=promote(conn, now),
        next_fire=schedules.next_fire(conn),
        next_expiry=conn.execute(NEXT_EXPIRY).fetchone()[0],
        pauses=control.pause_state(conn),
    )


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
