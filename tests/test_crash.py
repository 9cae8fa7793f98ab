"""Crash safety: a worker killed with SIGKILL loses nothing and never re-runs completed work."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crash_workload import CONCURRENCY, Work, make_domain
from taskmill import (
    DatabaseInUseError,
    Priority,
    Scheduler,
    Submission,
    TaskContext,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until

WORKLOAD = Path(__file__).with_name("crash_workload.py")


def submit_workload(db_path: Path, items: list[Submission]) -> list[int]:
    """Store the workload without running it; return the task ids."""

    async def submit() -> list[int]:
        scheduler = Scheduler(db_path, domains=[make_domain(block_forever=True)])
        await scheduler.open()
        try:
            outcomes = await scheduler.domain("crash").submit_many(items)
        finally:
            await scheduler.close()
        return [o.id for o in outcomes]

    return asyncio.run(submit())


def run_child_until(
    db_path: Path, enough: Callable[[list[str]], bool], mode: str = "basic"
) -> list[str]:
    """Run the workload in a child, read its lines until `enough(lines)`, then SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, str(WORKLOAD), str(db_path), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    lines: list[str] = []
    try:
        assert child.stdout is not None
        while not enough(lines):
            line = child.stdout.readline()
            assert line, f"the child exited early with {child.wait()}; output: {lines}"
            lines.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return lines


def raw_state(db_path: Path) -> tuple[dict[int, tuple[str, int]], Counter[int], str]:
    """Read the database as the kill left it: active tasks, history counts, integrity."""
    conn = sqlite3.connect(db_path)
    try:
        active = {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT id, status, retry_count FROM tasks")
        }
        history = Counter(row[0] for row in conn.execute("SELECT id FROM history"))
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return active, history, integrity


def reopen_and_drain(
    db_path: Path,
) -> tuple[list[int], dict[int, tuple[TaskStatus, int]], list[int]]:
    """Reopen after the crash; return the recovered tasks, then run them all and report."""
    domain = make_domain(block_forever=False)
    executed: list[int] = []

    @domain.task("record")
    async def record(n: int, ctx: TaskContext) -> None:  # pragma: no cover - never submitted
        """A second task type, to show the domain may grow between runs."""

    original = domain.tasks["work"].executor

    async def counting(job: Work, ctx: TaskContext) -> None:
        executed.append(ctx.id)
        await original(job, ctx)

    domain.tasks["work"].executor = counting
    domain.tasks["work"].is_async = True

    async def go() -> tuple[list[int], dict[int, tuple[TaskStatus, int]]]:
        scheduler = Scheduler(db_path, domains=[domain], max_concurrency=CONCURRENCY)
        await scheduler.open()
        recovered = {
            r.id: (r.status, r.retry_count) for r in await scheduler.list_tasks(limit=10_000)
        }
        runner = asyncio.create_task(scheduler.run())
        await scheduler.wait_idle()
        history = await scheduler.list_history(limit=10_000)
        scheduler.stop()
        await runner
        assert all(r.status is TaskStatus.COMPLETED for r in history)
        return [r.id for r in history], recovered

    history_ids, recovered = asyncio.run(go())
    return history_ids, recovered, executed


def test_sigkill_mid_run_recovers_every_task(db_path: Path) -> None:
    """Running tasks come back pending with retry_count unchanged; completed ones never re-run."""
    quick = [Submission(Work(n), priority=Priority.HIGH) for n in range(20)]
    blocking = [Submission(Work(100 + n, block=True)) for n in range(CONCURRENCY)]
    ids = submit_workload(db_path, quick + blocking)
    quick_ids, blocking_ids = set(ids[:20]), set(ids[20:])

    def enough(lines: list[str]) -> bool:
        completed = {int(line.split()[1]) for line in lines if line.startswith("completed")}
        second_attempts = {
            int(line.split()[1])
            for line in lines
            if line.startswith("started") and line.endswith(" 2")
        }
        return completed == quick_ids and second_attempts == blocking_ids

    run_child_until(db_path, enough)

    active, history, integrity = raw_state(db_path)
    assert integrity == "ok"
    assert active == dict.fromkeys(blocking_ids, ("running", 1))
    assert set(history) == quick_ids

    history_ids, recovered, executed = reopen_and_drain(db_path)
    assert recovered == dict.fromkeys(blocking_ids, (TaskStatus.PENDING, 1))
    assert sorted(executed) == sorted(blocking_ids)  # completed tasks never ran again
    assert sorted(history_ids) == sorted(ids)  # every task accounted for, once
    assert raw_state(db_path)[2] == "ok"


def test_sigkill_at_random_points_loses_nothing(db_path: Path) -> None:
    """Killed at random points, no task is lost and none completes twice."""
    rng = random.Random(random.getrandbits(32))  # pytest-randomly seeds `random`
    ids = submit_workload(db_path, [Submission(Work(n)) for n in range(300)])
    expected = sorted(ids)
    for _ in range(3):
        remaining = len(raw_state(db_path)[0])
        if not remaining:
            break
        kill_after = rng.randint(1, min(120, remaining))  # never more than the child can do
        run_child_until(
            db_path, lambda lines, k=kill_after: sum(x.startswith("completed") for x in lines) >= k
        )
        active, history, integrity = raw_state(db_path)
        assert integrity == "ok"
        assert sorted([*active, *history]) == expected  # nothing lost
        assert all(count == 1 for count in history.values())  # nothing recorded twice
    _, history, _ = raw_state(db_path)
    history_ids, recovered, executed = reopen_and_drain(db_path)
    assert not set(executed) & set(history)  # completed before the kill: never re-run
    assert sorted(history_ids) == expected
    assert Counter(history_ids).most_common(1)[0][1] == 1
    assert all(status is TaskStatus.PENDING for status, _ in recovered.values())


def test_sigkill_during_recurring_workload_keeps_every_schedule_exactly_once(
    db_path: Path,
) -> None:
    """After a kill mid-schedule: one schedule, occurrences numbered without gaps or repeats.

    And after reopening, the schedule goes on.
    """
    run_child_until(
        db_path, lambda lines: sum(x.startswith("completed") for x in lines) >= 5, "recurring"
    )
    conn = sqlite3.connect(db_path)
    try:
        schedules = conn.execute(
            "SELECT id, key, occurrences, current_task, status FROM schedules"
        ).fetchall()
        occurrences_by_id = dict(
            conn.execute(
                "SELECT id, key FROM tasks WHERE schedule_id IS NOT NULL "
                "UNION ALL SELECT id, key FROM history WHERE schedule_id IS NOT NULL"
            ).fetchall()
        )
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    assert integrity == "ok"
    [(schedule_id, key, occurrences, current, status)] = schedules
    assert status == "active"
    assert occurrences >= 5
    assert sorted(occurrences_by_id.values()) == sorted(
        f"{key}@{schedule_id}#{n}" for n in range(1, occurrences + 1)
    )
    assert occurrences_by_id[current] == f"{key}@{schedule_id}#{occurrences}"

    async def resume() -> list[int]:
        clock = FakeClock(time.time())
        domain = make_domain(block_forever=False)
        async with Scheduler(db_path, domains=[domain], clock=clock) as scheduler:
            await run_until(scheduler, clock, clock.now() + 0.05)
            return [s.occurrences for s in await scheduler.list_schedules()]

    [after] = asyncio.run(resume())
    assert after > occurrences  # the schedule went on, once


def test_sigkill_during_preemption_loses_no_preempted_task(db_path: Path) -> None:
    """Killed while preempted work waits: after reopening every task is there and completes.

    Nothing stays paused for a preemptor that is gone.
    """
    lines = run_child_until(
        db_path,
        lambda lines: (
            any(x.startswith("preempted") for x in lines)
            and sum(x.startswith("started") for x in lines) >= 2 * CONCURRENCY + 1
        ),
        "preemption",
    )
    preempted = {int(x.split()[1]) for x in lines if x.startswith("preempted")}
    active, history, integrity = raw_state(db_path)
    assert integrity == "ok"
    assert len(active) == CONCURRENCY + 1
    assert not history
    assert all(active[i][0] == "paused" for i in preempted)
    history_ids, recovered, executed = reopen_and_drain(db_path)
    assert {status for status, _ in recovered.values()} == {TaskStatus.PENDING}
    assert sorted(history_ids) == sorted(active)
    assert preempted <= set(executed)


def test_sigkill_after_a_requeue_runs_the_task_once_as_requested(db_path: Path) -> None:
    """Killed while a requeued task ran: reopened, it runs once, as the duplicate asked."""
    lines = run_child_until(db_path, lambda lines: any(x.startswith("requeued") for x in lines),
                            mode="requeue")  # fmt: skip
    task_id = int(lines[-1].split()[1])
    assert lines[-2] == f"started {task_id} 1 v1"
    domain = make_domain(block_forever=False)
    versions: list[str] = []
    original = domain.tasks["hold"].executor

    async def recording(job: Any, ctx: TaskContext) -> None:
        versions.append(job.version)
        await original(job, ctx)

    domain.tasks["hold"].executor = recording

    async def go() -> tuple[list[tuple[TaskStatus, Any]], list[Any]]:
        async with Scheduler(db_path, domains=[domain]) as scheduler:
            await scheduler.wait_idle()
            history = await scheduler.get_history(task_id)
            left = await scheduler.list_tasks()
        return [(r.status, r.payload["version"]) for r in history], left

    history, left = asyncio.run(go())
    assert versions == ["v2"]
    assert history == [(TaskStatus.COMPLETED, "v2")]
    assert left == []


def test_sigkill_during_a_dependency_chain_finishes_it_in_order(db_path: Path) -> None:
    """Killed mid-chain: a prefix completed and the rest runs after reopening, in order, once."""

    async def submit_chain() -> list[int]:
        scheduler = Scheduler(db_path, domains=[make_domain(block_forever=True)])
        await scheduler.open()
        ids: list[int] = []
        try:
            for n in range(30):
                outcome = await scheduler.domain("crash").submit(
                    Work(n), depends_on=ids[-1:] or None
                )
                ids.append(outcome.id)
        finally:
            await scheduler.close()
        return ids

    ids = asyncio.run(submit_chain())
    kill_after = random.randint(3, 20)
    run_child_until(
        db_path, lambda lines: sum(x.startswith("completed") for x in lines) >= kill_after
    )

    active, history, integrity = raw_state(db_path)
    assert integrity == "ok"
    done = len(history)
    assert set(history) == set(ids[:done])  # a prefix of the chain, each once
    assert active[ids[done]][0] in ("pending", "running")
    assert {active[i][0] for i in ids[done + 1 :]} <= {"blocked"}

    history_ids, _, executed = reopen_and_drain(db_path)
    assert executed == ids[done:]  # the rest, in order; nothing completed ran again
    assert sorted(history_ids) == ids


def test_sigkill_during_a_fan_out_finalizes_the_parent_once(db_path: Path) -> None:
    """Killed while a parent waits: reopened, the rest run and finalize runs exactly once."""

    def enough(lines: list[str]) -> bool:
        return (
            any(x.startswith("waiting") for x in lines)
            and sum(x.startswith("completed") for x in lines) >= 10
        )

    lines = run_child_until(db_path, enough, mode="fanout")
    parent = int(next(x for x in lines if x.startswith("waiting")).split()[1])
    assert not any(x.startswith("finalized") for x in lines)
    active, _, integrity = raw_state(db_path)
    assert integrity == "ok"
    assert active[parent][0] == "waiting"

    domain = make_domain(block_forever=False)
    finalized: list[tuple[int, object]] = []

    async def count(job: Any, ctx: TaskContext) -> None:
        finalized.append((ctx.id, ctx.memo))

    domain.tasks["fan"].finalize = count
    domain.tasks["fan"].finalize_is_async = True

    async def go() -> tuple[list[Any], list[Any]]:
        async with Scheduler(db_path, domains=[domain], max_concurrency=CONCURRENCY) as again:
            await again.wait_idle()
            return await again.list_history(limit=1000), await again.list_tasks()

    records, left = asyncio.run(go())
    assert finalized == [(parent, 20)]
    assert left == []
    by_id = Counter(r.id for r in records)
    assert set(by_id.values()) == {1}  # every task ended once
    assert len(by_id) == 21
    assert {r.status for r in records} == {TaskStatus.COMPLETED}


def test_a_second_scheduler_on_the_file_is_refused_until_the_first_dies(db_path: Path) -> None:
    """While a process runs a scheduler on the file, another cannot open it.

    (It would take the running tasks for a crash's leftovers.) Once that process is
    SIGKILLed, it can: the lock dies with its holder.
    """

    async def open_and_close() -> None:
        scheduler = Scheduler(db_path, domains=[make_domain(block_forever=False)])
        await scheduler.open()
        await scheduler.close()

    refusals: list[str] = []

    def try_to_open(lines: list[str]) -> bool:
        if lines[-1:] == ["ready"]:
            with pytest.raises(DatabaseInUseError) as refused:
                asyncio.run(open_and_close())
            refusals.append(str(refused.value))
            return True
        return False

    run_child_until(db_path, try_to_open)
    [message] = refusals
    assert re.fullmatch(
        rf"{re.escape(str(db_path))} is open in process \d+: taskmill runs one scheduler per "
        r"database file; close the other one, or give this one its own file",
        message,
    )
    asyncio.run(open_and_close())  # the kill released the lock: no stale lock file blocks
