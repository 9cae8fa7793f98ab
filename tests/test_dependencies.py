"""Dependencies: blocked until every dependency completed; failure policies; across domains."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    DependencyError,
    DependencyFailed,
    Domain,
    Inserted,
    PermanentError,
    Scheduler,
    Submission,
    Superseded,
    TaskContext,
    TaskStatus,
    Unblocked,
)


@dataclass
class Step:
    name: str
    fail: bool = False


class Log(list[str]):
    """Names of the steps that ran, in order."""


def make_domain(name: str, log: Log) -> Domain:
    domain = Domain(name)

    @domain.task("step", key=lambda s: s.name)
    async def step(job: Step, ctx: TaskContext) -> None:
        log.append(job.name)
        if job.fail:
            raise PermanentError(f"{job.name} failed")

    return domain


async def statuses(scheduler: Scheduler, ids: dict[str, int]) -> dict[str, TaskStatus]:
    result = {}
    for name, task_id in ids.items():
        record = await scheduler.get_task(task_id)
        if record is not None:
            result[name] = record.status
        else:
            result[name] = (await scheduler.get_history(task_id))[-1].status
    return result


async def test_a_chain_runs_in_order_and_blocks_meanwhile() -> None:
    """B waits for A and C for B; before running they are blocked and show what they wait for."""
    log = Log()
    domain = make_domain("d", log)
    scheduler = Scheduler(":memory:", domains=[domain], max_concurrency=4)
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Step("a"))
    b = await handle.submit(Step("b"), depends_on=[a.id])
    c = await handle.submit(Step("c"), depends_on=[b.id])
    blocked = await scheduler.get_task(c.id)
    counts = await scheduler.count_by_status()
    async with scheduler, scheduler.events() as events:
        await scheduler.wait_idle()
        events.close()
        unblocked = [e.task.id for e in [e async for e in events] if isinstance(e, Unblocked)]
    assert blocked is not None
    assert (blocked.status, blocked.depends_on) == (TaskStatus.BLOCKED, (b.id,))
    assert counts == {TaskStatus.PENDING: 1, TaskStatus.BLOCKED: 2}
    assert log == ["a", "b", "c"]
    assert unblocked == [b.id, c.id]


async def test_a_diamond_across_two_domains() -> None:
    """A (domain x) -> B, C (domain y) -> D (domain x): D runs last, each exactly once."""
    log = Log()
    x, y = make_domain("x", log), make_domain("y", log)
    async with Scheduler(":memory:", domains=[x, y], max_concurrency=4) as scheduler:
        a = await scheduler.domain(x).submit(Step("a"))
        b, c = await scheduler.domain(y).submit_many(
            [Submission(Step("b"), depends_on=[a.id]), Submission(Step("c"), depends_on=[a.id])]
        )
        await scheduler.domain(x).submit(Step("d"), depends_on=[b.id, c.id])
        await scheduler.wait_idle()
    assert log[0] == "a"
    assert sorted(log[1:3]) == ["b", "c"]
    assert log[3:] == ["d"]


async def test_a_failure_cascades_three_levels() -> None:
    """With the default policy, A's failure ends B, C and D as dependency_failed."""
    log = Log()
    domain = make_domain("d", log)
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    ids = {"a": (await handle.submit(Step("a", fail=True))).id}
    for parent, name in [("a", "b"), ("b", "c"), ("c", "d")]:
        ids[name] = (await handle.submit(Step(name), depends_on=[ids[parent]])).id
    async with scheduler, scheduler.events() as events:
        await scheduler.wait_idle()
        events.close()
        failed = [(e.task.id, e.dependency) for e in [e async for e in events]
                  if isinstance(e, DependencyFailed)]  # fmt: skip
        result = await statuses(scheduler, ids)
        [record] = await scheduler.get_history(ids["d"])
    assert log == ["a"]
    assert result == {
        "a": TaskStatus.FAILED,
        "b": TaskStatus.DEPENDENCY_FAILED,
        "c": TaskStatus.DEPENDENCY_FAILED,
        "d": TaskStatus.DEPENDENCY_FAILED,
    }
    assert sorted(failed) == [(ids["b"], ids["a"]), (ids["c"], ids["b"]), (ids["d"], ids["c"])]
    assert record.last_error == f"dependency {ids['c']} ended dependency_failed"


async def test_fail_and_ignore_policies() -> None:
    """'fail' ends only the dependent; its own dependents apply their policies ('ignore' runs).

    'cancel' would have forced the cascade past an 'ignore' further down.
    """
    log = Log()
    domain = make_domain("d", log)
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    ids = {"a": (await handle.submit(Step("a", fail=True))).id}
    ids["b"] = (await handle.submit(Step("b"), depends_on=[ids["a"]],
                                    on_dependency_failure="fail")).id  # fmt: skip
    ids["c"] = (await handle.submit(Step("c"), depends_on=[ids["b"]],
                                    on_dependency_failure="ignore")).id  # fmt: skip
    ids["x"] = (await handle.submit(Step("x"), depends_on=[ids["a"]])).id  # cancel
    ids["y"] = (await handle.submit(Step("y"), depends_on=[ids["x"]],
                                    on_dependency_failure="ignore")).id  # fmt: skip
    async with scheduler:
        await scheduler.wait_idle()
        result = await statuses(scheduler, ids)
    assert log == ["a", "c"]
    assert result == {
        "a": TaskStatus.FAILED,
        "b": TaskStatus.DEPENDENCY_FAILED,
        "c": TaskStatus.COMPLETED,
        "x": TaskStatus.DEPENDENCY_FAILED,
        "y": TaskStatus.DEPENDENCY_FAILED,
    }


async def test_dependencies_that_already_ended() -> None:
    """A completed dependency adds no edge; a failed one applies the policy at once."""
    log = Log()
    domain = make_domain("d", log)
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        handle = scheduler.domain(domain)
        done = await handle.submit(Step("done"))
        bad = await handle.submit(Step("bad", fail=True))
        await scheduler.wait_idle()
        after_done = await handle.submit(Step("after-done"), depends_on=[done.id])
        after_bad = await handle.submit(Step("after-bad"), depends_on=[bad.id])
        ignoring = await handle.submit(Step("ignoring"), depends_on=[bad.id, done.id],
                                       on_dependency_failure="ignore")  # fmt: skip
        await scheduler.wait_idle()
        [history] = await scheduler.get_history(after_bad.id)
    assert isinstance(after_done, Inserted)
    assert isinstance(ignoring, Inserted)
    assert log == ["done", "bad", "after-done", "ignoring"]
    assert history.status is TaskStatus.DEPENDENCY_FAILED


async def test_cancelling_a_dependency_cascades() -> None:
    """Cancelling a waiting dependency ends its dependents as dependency_failed."""
    log = Log()
    domain = make_domain("d", log)
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Step("a"))
    b = await handle.submit(Step("b"), depends_on=[a.id])
    assert await scheduler.cancel(a.id)
    [record] = await scheduler.get_history(b.id)
    await scheduler.close()
    assert (record.status, record.last_error) == (
        TaskStatus.DEPENDENCY_FAILED,
        f"dependency {a.id} ended cancelled",
    )


async def test_superseding_a_running_dependency_keeps_dependents_waiting() -> None:
    """The dependents of a running task that is superseded wait for its replacement."""
    log = Log()
    domain = Domain("d")
    gate = asyncio.Event()
    started = asyncio.Event()

    @domain.task("slow", key=lambda s: s.name, on_duplicate="supersede")
    async def slow(job: Step) -> None:
        log.append(f"slow {job.fail}")
        started.set()
        await gate.wait()

    @domain.task("step")
    async def step(job: str) -> None:
        log.append(job)

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        handle = scheduler.domain(domain)
        first = await handle.submit(Step("s"))
        after = await handle.submit("after", depends_on=[first.id])
        await started.wait()
        replaced = await handle.submit(Step("s", fail=True))
        record = await scheduler.get_task(after.id)
        gate.set()
        await scheduler.wait_idle()
    assert isinstance(replaced, Superseded)
    assert record is not None
    assert record.depends_on == (replaced.id,)
    assert log == ["slow False", "slow True", "after"]


async def test_unknown_and_malformed_dependencies_are_refused() -> None:
    """Unknown ids and non-ids raise DependencyError; nothing is stored."""
    domain = make_domain("d", Log())
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Step("a"))
    with pytest.raises(DependencyError, match=r"do not exist: \[999\]"):
        await handle.submit(Step("b"), depends_on=[a.id, 999])
    for bad in (0, [0], ["1"], [True], "12"):
        with pytest.raises(DependencyError):
            await handle.submit(Step("c"), depends_on=bad)  # type: ignore[arg-type]
    left = [r.id for r in await scheduler.list_tasks()]
    await scheduler.close()
    assert left == [a.id]


async def test_a_cycle_is_refused() -> None:
    """Superseding A so that it would wait for B, which waits for A, is a DependencyError."""
    log = Log()
    domain = Domain("d")

    @domain.task("step", key=lambda s: s.name, on_duplicate="supersede")
    async def step(job: Step) -> None:
        log.append(job.name)

    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Step("a"))
    b = await handle.submit(Step("b"), depends_on=[a.id])
    with pytest.raises(DependencyError, match="cycle"):
        await handle.submit(Step("a"), depends_on=[b.id])
    record = await scheduler.get_task(a.id)
    await scheduler.close()
    assert record is not None
    assert (record.status, record.depends_on) == (TaskStatus.PENDING, ())


async def test_edges_to_vanished_tasks_are_dropped_at_open(tmp_path: Path) -> None:
    """A dependency edge whose task is gone (say, deleted by hand) no longer blocks."""
    log = Log()
    domain = make_domain("d", log)
    path = tmp_path / "tasks.db"
    scheduler = Scheduler(path, domains=[domain])
    await scheduler.open()
    a = await scheduler.domain(domain).submit(Step("a"))
    b = await scheduler.domain(domain).submit(Step("b"), depends_on=[a.id])
    await scheduler.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM tasks WHERE id = ?", (a.id,))
    conn.close()
    async with Scheduler(path, domains=[domain]) as again:
        await again.wait_idle()
        [record] = await again.get_history(b.id)
    assert log == ["b"]
    assert record.status is TaskStatus.COMPLETED
