"""on_duplicate policies in the scheduler: requeue, supersede, reject."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from taskmill import (
    ConfigurationError,
    Domain,
    Inserted,
    Priority,
    Rejected,
    Replaced,
    Requeued,
    Retry,
    Scheduler,
    Submission,
    Superseded,
    TaskContext,
    TaskStatus,
)


@dataclass
class Render:
    doc: str
    version: int


class Runs(list[tuple[int, int, int]]):
    """(version, attempt, priority) of each run, with a way to wait for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    async def add(self, run: tuple[int, int, int]) -> None:
        self.append(run)
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self) >= count)


def make_domain(**task_options: object) -> tuple[Domain, Runs, asyncio.Event]:
    """A render task keyed by document whose runs wait for the gate."""
    domain = Domain("docs")
    runs = Runs()
    gate = asyncio.Event()

    @domain.task("render", key=lambda r: r.doc, **task_options)  # type: ignore[arg-type]
    async def render(job: Render, ctx: TaskContext) -> None:
        await runs.add((job.version, ctx.attempt, ctx.priority))
        await gate.wait()

    return domain, runs, gate


async def test_supersede_chain_keeps_one_task_and_two_superseded_rows() -> None:
    """A -> B -> C on a waiting task: same id, payload C, two 'superseded' history rows."""
    domain, runs, gate = make_domain(on_duplicate="supersede")
    gate.set()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Render("x", 1))
    b = await handle.submit(Render("x", 2))
    c = await handle.submit(Render("x", 3), priority=Priority.HIGH)
    assert isinstance(a, Inserted)
    assert (b, c) == (Superseded(a.id, a.id), Superseded(a.id, a.id))
    async with scheduler:
        await scheduler.wait_idle()
        history = await scheduler.get_history(a.id)
    assert runs == [(3, 1, Priority.HIGH)]
    assert [(r.status, r.payload["version"]) for r in history] == [
        (TaskStatus.SUPERSEDED, 1),
        (TaskStatus.SUPERSEDED, 2),
        (TaskStatus.COMPLETED, 3),
    ]


async def test_superseding_a_running_task_interrupts_it_and_runs_the_new_one() -> None:
    """The running attempt is cancelled (its on_cancel hook runs); the replacement runs."""
    cleaned: list[int] = []

    async def on_cancel(job: Render, ctx: TaskContext) -> None:
        cleaned.append(job.version)

    domain, runs, gate = make_domain(on_duplicate="supersede", on_cancel=on_cancel)
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        events = scheduler.events()
        handle = scheduler.domain(domain)
        first = await handle.submit(Render("x", 1))
        await runs.wait_for(1)
        second = await handle.submit(Render("x", 2))
        assert isinstance(second, Superseded)
        assert second.replaced == first.id
        assert second.id != first.id
        await runs.wait_for(2)
        gate.set()
        await scheduler.wait_idle()
        old = await scheduler.get_history(first.id)
        new = await scheduler.get_history(second.id)
        events.close()
        replaced = [e async for e in events if isinstance(e, Replaced)]
    assert runs == [(1, 1, Priority.NORMAL), (2, 1, Priority.NORMAL)]
    assert cleaned == [1]
    assert [r.status for r in old] == [TaskStatus.SUPERSEDED]
    assert [r.status for r in new] == [TaskStatus.COMPLETED]
    assert [(e.task.id, e.replaced, e.was_running) for e in replaced] == [
        (second.id, first.id, True)
    ]


async def test_cancelling_a_requeued_task_cancels_its_extra_run() -> None:
    """A running task that a duplicate requeued, then cancelled, does not run again."""
    domain, runs, _ = make_domain()
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        handle = scheduler.domain(domain)
        first = await handle.submit(Render("x", 1))
        await runs.wait_for(1)
        assert await handle.submit(Render("x", 2)) == Requeued(first.id)
        assert await scheduler.cancel(first.id)
        await scheduler.wait_idle()
        history = await scheduler.get_history(first.id)
        left = await scheduler.list_tasks()
    assert runs == [(1, 1, Priority.NORMAL)]
    assert [r.status for r in history] == [TaskStatus.CANCELLED]
    assert left == []


async def test_reject_changes_nothing() -> None:
    """'reject' per submission: the active task keeps its payload and priority."""
    domain, runs, gate = make_domain()
    gate.set()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Render("x", 1))
    b = await handle.submit(Render("x", 2), priority=0, on_duplicate="reject")
    async with scheduler:
        await scheduler.wait_idle()
    assert b == Rejected(a.id)
    assert runs == [(1, 1, Priority.NORMAL)]


async def test_requeued_task_runs_again_at_the_higher_priority_with_no_retries() -> None:
    """A task on its second attempt is requeued: the next run is attempt 1, at HIGH."""
    domain = Domain("docs")
    runs = Runs()
    release = asyncio.Event()

    @domain.task("render", key=lambda r: r.doc)
    async def render(job: Render, ctx: TaskContext) -> None:
        await runs.add((job.version, ctx.attempt, ctx.priority))
        if ctx.attempt == 1 and job.version == 1:
            raise Retry("transient", after=0)
        await release.wait()

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        handle = scheduler.domain(domain)
        first = await handle.submit(Render("x", 1))
        await runs.wait_for(2)
        again = await handle.submit(Render("x", 2), priority=Priority.HIGH)
        release.set()
        await scheduler.wait_idle()
    assert again == Requeued(first.id)
    assert runs == [(1, 1, Priority.NORMAL), (1, 2, Priority.NORMAL), (2, 1, Priority.HIGH)]


async def test_batch_duplicates_last_wins_then_policy_applies() -> None:
    """In a batch only the last item of a key meets the policy; the others are Duplicates."""
    domain, _, _ = make_domain()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Render("x", 1))
    outcomes = await handle.submit_many(
        [
            Submission(Render("x", 2), on_duplicate="supersede"),
            Submission(Render("x", 3), on_duplicate="supersede"),
        ]
    )
    await scheduler.close()
    assert [type(o).__name__ for o in outcomes] == ["Duplicate", "Superseded"]
    assert outcomes[1] == Superseded(a.id, a.id)


def test_unknown_policy_is_refused() -> None:
    """A policy other than skip, supersede and reject raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="on_duplicate"):
        make_domain(on_duplicate="replace")
