"""Dispatch: priority order, FIFO, concurrency, sync executors, idleness, events."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from taskmill import (
    Completed,
    Dispatched,
    Domain,
    Missed,
    Priority,
    Scheduler,
    Submission,
    TaskContext,
    TaskStatus,
)


@dataclass
class Job:
    name: str


def recording_domain() -> tuple[Domain, list[str]]:
    domain = Domain("work")
    ran: list[str] = []

    @domain.task("job")
    async def job(payload: Job, ctx: TaskContext) -> None:
        ran.append(payload.name)

    return domain, ran


async def test_priority_order_then_fifo_with_concurrency_one(database: str) -> None:
    """With one slot, tasks run by priority, and in submission order within a priority."""
    domain, ran = recording_domain()
    scheduler = Scheduler(database, domains=[domain], max_concurrency=1)
    await scheduler.open()
    handle = scheduler.domain(domain)
    plan = [
        ("n1", Priority.NORMAL),
        ("b1", Priority.BACKGROUND),
        ("h1", Priority.HIGH),
        ("n2", Priority.NORMAL),
        ("r1", Priority.REALTIME),
        ("h2", Priority.HIGH),
        ("i1", Priority.IDLE),
        ("n3", Priority.NORMAL),
        ("x1", 100),
    ]
    for name, priority in plan:
        await handle.submit(Job(name), priority=priority)
    runner = asyncio.create_task(scheduler.run())
    await scheduler.wait_idle()
    scheduler.stop()
    await runner
    assert ran == ["r1", "h1", "h2", "x1", "n1", "n2", "n3", "b1", "i1"]


async def test_batch_submit_runs_in_priority_order(database: str) -> None:
    """A batch is committed at once, so dispatch sees all of it and orders it."""
    domain, ran = recording_domain()
    async with Scheduler(database, domains=[domain], max_concurrency=1) as scheduler:
        await scheduler.domain(domain).submit_many(
            [
                Submission(Job("low"), priority=200),
                Submission(Job("high"), priority=10),
                Submission(Job("mid"), priority=100),
            ]
        )
        await scheduler.wait_idle()
    assert ran == ["high", "mid", "low"]


async def test_concurrency_limit_is_never_exceeded(database: str) -> None:
    """At most max_concurrency executors run at the same time, and all tasks run."""
    domain = Domain("work")
    running = 0
    peak = 0
    release = asyncio.Event()
    started = asyncio.Event()

    @domain.task("job")
    async def job(payload: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            started.set()
        await release.wait()
        running -= 1

    async with Scheduler(database, domains=[domain], max_concurrency=3) as scheduler:
        await scheduler.domain(domain).submit_many([Job(str(i)) for i in range(10)])
        await started.wait()
        assert scheduler.running_count == 3
        counts = await scheduler.count_by_status()
        assert counts == {TaskStatus.RUNNING: 3, TaskStatus.PENDING: 7}
        release.set()
        await scheduler.wait_idle()
        history = await scheduler.list_history(limit=100)
    assert peak == 3
    assert len(history) == 10
    assert {r.status for r in history} == {TaskStatus.COMPLETED}


async def test_sync_executor_runs_in_a_thread_without_blocking_the_loop(database: str) -> None:
    """A blocking plain-function executor runs off the loop: async work proceeds meanwhile."""
    domain = Domain("work")
    gate = threading.Event()
    blocked = threading.Event()
    threads: dict[str, str] = {}
    async_done = asyncio.Event()

    @domain.task("blocking")
    def blocking(payload: Job, ctx: TaskContext) -> None:
        threads["sync"] = threading.current_thread().name
        blocked.set()
        assert gate.wait(timeout=30)

    @domain.task("quick", payload=dict)
    async def quick(payload: dict[str, str]) -> None:
        threads["async"] = threading.current_thread().name
        async_done.set()

    async with Scheduler(database, domains=[domain], max_concurrency=2) as scheduler:
        handle = scheduler.domain(domain)
        await handle.submit(Job("block"))
        await asyncio.get_running_loop().run_in_executor(None, blocked.wait)
        await handle.submit({"x": "y"}, task="quick")
        await async_done.wait()  # completes while the sync executor still blocks
        assert not gate.is_set()
        gate.set()
        await scheduler.wait_idle()
        statuses = [r.status for r in await scheduler.list_history()]
    assert statuses == [TaskStatus.COMPLETED, TaskStatus.COMPLETED]
    assert threads["async"] == threading.main_thread().name
    assert threads["sync"].startswith("taskmill-sync")


async def test_executor_may_omit_the_context(database: str) -> None:
    """Executors taking only the payload are called with only the payload."""
    domain = Domain("work")
    seen: list[int] = []

    @domain.task("one")
    async def one(n: int) -> None:
        seen.append(n)

    @domain.task("two")
    def two(n: list[int]) -> None:
        seen.extend(n)

    async with Scheduler(database, domains=[domain]) as scheduler:
        await scheduler.domain(domain).submit(7, task="one")
        await scheduler.domain(domain).submit([8, 9], task=two)
        await scheduler.wait_idle()
    assert sorted(seen) == [7, 8, 9]


async def test_context_describes_the_attempt(database: str) -> None:
    """The executor's context carries the task's id, type, key, label, priority, attempt."""
    domain = Domain("work")
    contexts: list[TaskContext] = []

    @domain.task("job", key=lambda j: j.name, label=lambda j: f"Job {j.name}")
    async def job(payload: Job, ctx: TaskContext) -> None:
        ctx.progress.report(0.5, "half")
        ctx.record_read_bytes(10)
        ctx.record_write_bytes(20)
        ctx.record_net_rx_bytes(30)
        ctx.record_net_tx_bytes(40)
        contexts.append(ctx)

    async with Scheduler(database, domains=[domain]) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"), priority=7)
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    [ctx] = contexts
    assert (ctx.id, ctx.type, ctx.key, ctx.label, ctx.priority, ctx.attempt) == (
        outcome.id,
        "work::job",
        "a",
        "Job a",
        7,
        1,
    )
    assert (ctx.progress.fraction, ctx.progress.message) == (0.5, "half")
    assert (record.actual_io.disk_read, record.actual_io.net_tx) == (10, 40)
    assert record.label == "Job a"


async def test_events_of_a_completed_task(database: str) -> None:
    """A task that completes emits Dispatched then Completed, with its header."""
    domain, _ = recording_domain()
    async with Scheduler(database, domains=[domain]) as scheduler:
        events = scheduler.events()
        outcome = await scheduler.domain(domain).submit(Job("a"), priority=3)
        await scheduler.wait_idle()
        events.close()
        received = [event async for event in events]
    assert [type(e) for e in received] == [Dispatched, Completed]
    dispatched, completed = received
    assert isinstance(dispatched, Dispatched)
    assert isinstance(completed, Completed)
    assert dispatched.task.id == completed.task.id == outcome.id
    assert (dispatched.task.type, dispatched.task.priority, dispatched.attempt) == (
        "work::job",
        3,
        1,
    )
    assert completed.attempt == 1


async def test_completed_event_comes_after_commit(database: str) -> None:
    """When Completed arrives, the task is already in history."""
    domain, _ = recording_domain()
    async with Scheduler(database, domains=[domain]) as scheduler, scheduler.events() as events:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        async for event in events:
            if isinstance(event, Completed):
                assert await scheduler.get_task(outcome.id) is None
                [record] = await scheduler.get_history(outcome.id)
                assert record.status is TaskStatus.COMPLETED
                break


async def test_wait_idle_returns_at_once_when_empty(database: str) -> None:
    """An empty scheduler is idle."""
    domain, _ = recording_domain()
    async with Scheduler(database, domains=[domain]) as scheduler:
        await scheduler.wait_idle()
        assert await scheduler.count_by_status() == {}


async def test_slow_subscriber_loses_oldest_events_and_is_told(database: str) -> None:
    """A subscriber that does not read keeps the newest events and is told what it lost."""
    domain, _ = recording_domain()
    async with Scheduler(database, domains=[domain], max_concurrency=8) as scheduler:
        lagging = scheduler.events(maxsize=5)
        await scheduler.domain(domain).submit_many([Job(str(i)) for i in range(20)])
        await scheduler.wait_idle()
    received = [event async for event in lagging]
    assert len(received) == 1 + 5  # the Missed notice, then the newest five
    assert received[0] == Missed(received[1].at, 40 - 5)
    assert lagging.missed == 40 - 5
    assert isinstance(received[-1], Completed)
