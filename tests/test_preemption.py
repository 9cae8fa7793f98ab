"""Preemption: urgent work takes the slot of the least important running task."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from taskmill import (
    Dispatched,
    Domain,
    Preempted,
    Priority,
    Scheduler,
    TaskContext,
    TaskStatus,
)


@dataclass
class Job:
    name: str


class Workload:
    """Tasks that block until released, logging starts, interruptions and ends."""

    def __init__(self) -> None:
        self.domain = Domain("work")
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.starts: dict[str, int] = {}
        self.changed = asyncio.Condition()

        @self.domain.task("job")
        async def job(payload: Job, ctx: TaskContext) -> None:
            name = payload.name
            self.log.append(f"start {name} #{ctx.attempt}")
            self.starts[name] = self.starts.get(name, 0) + 1
            async with self.changed:
                self.changed.notify_all()
            try:
                await self.gate(name).wait()
            except asyncio.CancelledError:
                self.log.append(f"stop {name} ({ctx.cancel_token.reason})")
                raise
            self.log.append(f"end {name}")

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def wait_started(self, name: str, times: int = 1) -> None:
        """Wait until task `name` has started `times` times."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.starts.get(name, 0) >= times)


async def test_urgent_task_preempts_and_preempted_work_resumes(db_path: Path) -> None:
    """A REALTIME task takes the lowest-priority slot; the preempted task resumes after it."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=2) as scheduler:
        events = scheduler.events()
        handle = scheduler.domain(w.domain)
        normal = await handle.submit(Job("normal"), priority=Priority.NORMAL)
        background = await handle.submit(Job("background"), priority=Priority.BACKGROUND)
        await w.wait_started("normal")
        await w.wait_started("background")
        urgent = await handle.submit(Job("urgent"), priority=Priority.REALTIME)
        await w.wait_started("urgent")
        record = await scheduler.get_task(background.id)
        assert record is not None
        assert (record.status, record.paused_for, record.retry_count) == (
            TaskStatus.PAUSED,
            ("preempted",),
            0,
        )
        w.gate("background").set()  # it may finish once it runs again
        w.gate("urgent").set()
        await w.wait_started("background", times=2)
        w.gate("normal").set()
        await scheduler.wait_idle()
        history = {r.id: r for r in await scheduler.list_history()}
        events.close()
        preempted = [e async for e in events if isinstance(e, Preempted)]
    assert w.log == [
        "start normal #1",
        "start background #1",
        "stop background (preempted)",
        "start urgent #1",
        "end urgent",
        "start background #1",
        "end background",
        "end normal",
    ]
    assert history[background.id].retry_count == 0
    assert {history[i].status for i in (normal.id, background.id, urgent.id)} == {
        TaskStatus.COMPLETED
    }
    assert [(e.task.id, e.by) for e in preempted] == [(background.id, urgent.id)]


async def test_preempted_work_waits_while_any_urgent_task_runs(db_path: Path) -> None:
    """No thrash: preempted tasks stay paused until the last urgent task has ended."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=2) as scheduler:
        handle = scheduler.domain(w.domain)
        for name in ("low1", "low2"):
            await handle.submit(Job(name), priority=Priority.IDLE)
            await w.wait_started(name)
        await handle.submit(Job("u1"), priority=Priority.REALTIME)
        await handle.submit(Job("u2"), priority=Priority.REALTIME)
        await w.wait_started("u1")
        await w.wait_started("u2")
        w.gate("u1").set()
        await scheduler.domain(w.domain).submit(Job("probe"), priority=Priority.HIGH)
        await w.wait_started("probe")  # u1's slot went to the HIGH task, not to low1/low2
        paused = await scheduler.list_tasks(status="paused")
        assert sorted(r.payload["name"] for r in paused) == ["low1", "low2"]
        w.gate("u2").set()
        w.gate("probe").set()
        for name in ("low1", "low2"):
            w.gate(name).set()
        await scheduler.wait_idle()
    assert w.log.count("start low1 #1") == 2
    assert w.log.count("start low2 #1") == 2


async def test_no_preemption_while_a_slot_is_free(db_path: Path) -> None:
    """An urgent task that finds a free slot interrupts nobody."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=2) as scheduler:
        events = scheduler.events()
        await scheduler.domain(w.domain).submit(Job("low"), priority=Priority.IDLE)
        await w.wait_started("low")
        await scheduler.domain(w.domain).submit(Job("urgent"), priority=Priority.REALTIME)
        await w.wait_started("urgent")
        for name in ("low", "urgent"):
            w.gate(name).set()
        await scheduler.wait_idle()
        events.close()
        assert not [e async for e in events if isinstance(e, Preempted)]


async def test_urgent_tasks_do_not_preempt_each_other(db_path: Path) -> None:
    """Only tasks below the urgent one give way; urgent work is never preempted."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=1) as scheduler:
        await scheduler.domain(w.domain).submit(Job("first"), priority=Priority.REALTIME)
        await w.wait_started("first")
        await scheduler.domain(w.domain).submit(Job("second"), priority=Priority.REALTIME)
        w.gate("first").set()
        w.gate("second").set()
        await scheduler.wait_idle()
    assert w.log == ["start first #1", "end first", "start second #1", "end second"]


async def test_urgent_task_in_a_paused_scope_preempts_nothing(db_path: Path) -> None:
    """An urgent task that arrives paused cannot run, so it takes nobody's slot."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=1) as scheduler:
        await scheduler.domain(w.domain).submit(Job("low"), priority=Priority.IDLE)
        await w.wait_started("low")
        await scheduler.pause_group("held")
        await scheduler.domain(w.domain).submit(
            Job("urgent"), priority=Priority.REALTIME, group="held"
        )
        w.gate("low").set()
        await scheduler.wait_idle()
    assert w.log == ["start low #1", "end low"]


async def test_custom_threshold(db_path: Path) -> None:
    """preempt_priority sets how urgent a task must be to preempt."""
    w = Workload()
    async with Scheduler(
        db_path, domains=[w.domain], max_concurrency=1, preempt_priority=Priority.HIGH
    ) as scheduler:
        events = scheduler.events()
        await scheduler.domain(w.domain).submit(Job("low"), priority=Priority.NORMAL)
        await w.wait_started("low")
        await scheduler.domain(w.domain).submit(Job("high"), priority=Priority.HIGH)
        await w.wait_started("high")
        w.gate("high").set()
        w.gate("low").set()
        await scheduler.wait_idle()
        events.close()
        dispatched = [e.task.priority async for e in events if isinstance(e, Dispatched)]
    assert dispatched == [Priority.NORMAL, Priority.HIGH, Priority.NORMAL]


async def test_delayed_urgent_task_preempts_when_it_becomes_due(db_path: Path) -> None:
    """An urgent task that becomes ready later (its delay ends) preempts like a new one."""
    from taskmill.testing import FakeClock

    w = Workload()
    clock = FakeClock()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=1, clock=clock) as s:
        events = s.events()
        await s.domain(w.domain).submit(Job("low"), priority=Priority.IDLE)
        await w.wait_started("low")
        await s.domain(w.domain).submit(Job("urgent"), priority=Priority.REALTIME, run_after=60)
        clock.advance(60)
        await w.wait_started("urgent")
        w.gate("urgent").set()
        w.gate("low").set()
        await s.wait_idle()
        events.close()
        preempted = [e async for e in events if isinstance(e, Preempted)]
    assert [e.task.priority for e in preempted] == [Priority.IDLE]
    assert w.log[:3] == ["start low #1", "stop low (preempted)", "start urgent #1"]


async def test_upgrading_a_delayed_task_preempts_nothing_yet(db_path: Path) -> None:
    """Raising a delayed task to REALTIME does not interrupt anyone before it is due."""
    w = Workload()
    async with Scheduler(db_path, domains=[w.domain], max_concurrency=1) as scheduler:
        events = scheduler.events()
        handle = scheduler.domain(w.domain)
        await handle.submit(Job("low"), priority=Priority.IDLE)
        await w.wait_started("low")
        await handle.submit(Job("later"), run_after=3600, key="k")
        await handle.submit(Job("later"), priority=Priority.REALTIME, key="k")  # Upgraded
        w.gate("low").set()
        await scheduler.wait_idle(include_delayed=False)
        events.close()
        assert not [e async for e in events if isinstance(e, Preempted)]
    assert w.log == ["start low #1", "end low"]
