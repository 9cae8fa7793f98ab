"""Cancellation (one task, a domain, a predicate), the on_cancel hook, and shutdown modes."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    Cancelled,
    Domain,
    Scheduler,
    TaskContext,
    TaskNotFoundError,
    TaskStatus,
)
from taskmill.testing import FakeClock


@dataclass
class Job:
    name: str
    block: bool = False


class Harness:
    """A domain whose blocking tasks wait on one gate, and which logs what happens."""

    def __init__(self, *, on_cancel_sleeps: bool = False) -> None:
        self.domain = Domain("work")
        self.log: list[str] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.cleaning = asyncio.Event()

        async def on_cancel(payload: Job, ctx: TaskContext) -> None:
            self.log.append(f"cleanup {payload.name} ({ctx.cancel_token.reason})")
            self.cleaning.set()
            if on_cancel_sleeps:
                await asyncio.Event().wait()  # never ends: the timeout must cut it

        @self.domain.task("job", on_cancel=on_cancel, on_cancel_timeout=5)
        async def job(payload: Job) -> None:
            self.log.append(f"start {payload.name}")
            if payload.block:
                self.started.set()
                await self.gate.wait()
            self.log.append(f"done {payload.name}")


async def test_cancel_a_pending_task(db_path: Path) -> None:
    """A task that has not started goes to history as cancelled, with an event."""
    h = Harness()
    async with Scheduler(db_path, domains=[h.domain]) as scheduler:
        await scheduler.pause()
        outcome = await scheduler.domain(h.domain).submit(Job("a"))
        events = scheduler.events()
        assert await scheduler.cancel(outcome.id) is True
        [record] = await scheduler.get_history(outcome.id)
        events.close()
        cancelled = [e async for e in events if isinstance(e, Cancelled)]
    assert record.status is TaskStatus.CANCELLED
    assert [(e.task.id, e.was_running) for e in cancelled] == [(outcome.id, False)]
    assert h.log == []


async def test_cancel_a_running_task_runs_its_hook(db_path: Path) -> None:
    """A running task gets its cancel signal, then its on_cancel hook, then history."""
    h = Harness()
    async with Scheduler(db_path, domains=[h.domain]) as scheduler:
        events = scheduler.events()
        outcome = await scheduler.domain(h.domain).submit(Job("a", block=True))
        await h.started.wait()
        assert await scheduler.cancel(outcome.id) is True
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
        events.close()
        cancelled = [e async for e in events if isinstance(e, Cancelled)]
    assert h.log == ["start a", "cleanup a (cancelled)"]
    assert (record.status, record.retry_count) == (TaskStatus.CANCELLED, 0)
    assert [(e.task.id, e.was_running) for e in cancelled] == [(outcome.id, True)]


async def test_on_cancel_hook_is_cut_by_its_timeout(db_path: Path) -> None:
    """A hook that hangs is abandoned after on_cancel_timeout; the task is still cancelled."""
    h = Harness(on_cancel_sleeps=True)
    clock = FakeClock()
    async with Scheduler(db_path, domains=[h.domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(h.domain).submit(Job("a", block=True))
        await h.started.wait()
        await scheduler.cancel(outcome.id)
        await h.cleaning.wait()
        assert await scheduler.get_task(outcome.id) is not None  # still in its hook
        clock.advance(5)  # the hook's timeout
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.status is TaskStatus.CANCELLED


async def test_cancel_finished_and_unknown_tasks(db_path: Path) -> None:
    """Cancelling a finished task returns False; an unknown id raises TaskNotFoundError."""
    h = Harness()
    async with Scheduler(db_path, domains=[h.domain]) as scheduler:
        outcome = await scheduler.domain(h.domain).submit(Job("a"))
        await scheduler.wait_idle()
        assert await scheduler.cancel(outcome.id) is False
        with pytest.raises(TaskNotFoundError, match="12345"):
            await scheduler.cancel(12345)


async def test_cancel_domain_and_predicate(db_path: Path) -> None:
    """cancel_domain and cancel_where cancel exactly the matching active tasks."""
    h = Harness()
    other = Domain("other")

    @other.task("job")
    async def other_job(payload: Job) -> None: ...

    async with Scheduler(db_path, domains=[h.domain, other]) as scheduler:
        await scheduler.pause()
        await scheduler.domain(h.domain).submit_many([Job(str(i)) for i in range(5)])
        await scheduler.domain(other).submit_many([Job("x"), Job("y")])
        assert await scheduler.cancel_where(lambda r: r.payload["name"] in ("1", "3")) == 2
        assert await scheduler.cancel_domain(other) == 2
        remaining = sorted(r.payload["name"] for r in await scheduler.list_tasks())
        cancelled = await scheduler.list_history(status="cancelled")
    assert remaining == ["0", "2", "4"]
    assert len(cancelled) == 4


async def test_immediate_shutdown_requeues_running_tasks(db_path: Path) -> None:
    """close(immediate=True) does not wait: running tasks are cancelled and pending again."""
    h = Harness()
    scheduler = Scheduler(db_path, domains=[h.domain], shutdown_timeout=3600)
    await scheduler.__aenter__()
    outcome = await scheduler.domain(h.domain).submit(Job("a", block=True))
    await h.started.wait()
    await scheduler.close(immediate=True)
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT status, retry_count FROM tasks WHERE id = ?", (outcome.id,))
        assert row.fetchone() == ("pending", 0)
    conn.close()
    assert h.log == ["start a"]  # no on_cancel: a shutdown is not a cancellation


async def test_stop_immediately_from_run(db_path: Path) -> None:
    """stop(immediate=True) makes run() close without draining running tasks."""
    h = Harness()
    scheduler = Scheduler(db_path, domains=[h.domain], shutdown_timeout=3600)
    await scheduler.open()
    outcome = await scheduler.domain(h.domain).submit(Job("a", block=True))
    runner = asyncio.create_task(scheduler.run())
    await h.started.wait()
    scheduler.stop(immediate=True)
    await runner
    reopened = Scheduler(db_path, domains=[h.domain])
    await reopened.open()  # without dispatching, so the task stays as the stop left it
    record = await reopened.get_task(outcome.id)
    await reopened.close()
    assert record is not None
    assert (record.status, record.retry_count) == (TaskStatus.PENDING, 0)
    assert h.log == ["start a"]
