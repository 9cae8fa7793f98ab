"""Opening, running, stopping and closing a scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    ConfigurationError,
    Domain,
    Retention,
    Scheduler,
    SchedulerStateError,
    TaskContext,
    TaskStatus,
)
from taskmill.scheduler import scheduler as scheduler_module


@dataclass
class Job:
    name: str


def blocking_domain() -> tuple[Domain, asyncio.Event, asyncio.Event, list[str]]:
    """A task that signals `started` and then waits for `release` (or cancellation)."""
    domain = Domain("work")
    started, release = asyncio.Event(), asyncio.Event()
    log: list[str] = []

    @domain.task("job")
    async def job(payload: Job, ctx: TaskContext) -> None:
        log.append(f"start {payload.name} attempt {ctx.attempt}")
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            log.append(f"cancelled {payload.name} ({ctx.cancel_token.reason})")
            raise
        log.append(f"done {payload.name}")

    return domain, started, release, log


async def test_submit_before_open_is_refused(db_path: Path) -> None:
    """Using a scheduler that is not open raises SchedulerStateError with the fix."""
    domain, *_ = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain])
    with pytest.raises(SchedulerStateError, match="async with Scheduler"):
        await scheduler.domain(domain).submit(Job("a"))
    with pytest.raises(SchedulerStateError):
        await scheduler.wait_idle()
    await scheduler.close()
    assert not db_path.exists()


async def test_close_is_idempotent_and_final(db_path: Path) -> None:
    """close() twice is fine; a closed scheduler refuses work and cannot reopen."""
    domain, *_ = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain])
    async with scheduler:
        pass
    await scheduler.close()
    with pytest.raises(SchedulerStateError, match="closed"):
        await scheduler.domain(domain).submit(Job("a"))
    with pytest.raises(SchedulerStateError):
        await scheduler.open()


async def test_run_in_foreground_until_stop(db_path: Path) -> None:
    """run() dispatches until stop(), then closes the scheduler."""
    domain, started, release, log = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain])
    await scheduler.open()
    await scheduler.domain(domain).submit(Job("a"))
    runner = asyncio.create_task(scheduler.run())
    await started.wait()
    release.set()
    await scheduler.wait_idle()
    scheduler.stop()
    await runner
    assert log == ["start a attempt 1", "done a"]
    with pytest.raises(SchedulerStateError):
        await scheduler.wait_idle()


async def test_graceful_shutdown_lets_running_tasks_finish(db_path: Path) -> None:
    """Closing waits for running tasks (within shutdown_timeout) and records them."""
    domain, started, release, log = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain], shutdown_timeout=30)
    await scheduler.__aenter__()
    outcome = await scheduler.domain(domain).submit(Job("a"))
    await started.wait()
    closing = asyncio.create_task(scheduler.close())
    await asyncio.sleep(0)  # let close() begin waiting; the task is still running
    assert not closing.done()
    release.set()
    await closing
    assert log == ["start a attempt 1", "done a"]
    async with Scheduler(db_path, domains=[domain]) as reopened:
        [record] = await reopened.get_history(outcome.id)
        assert record.status is TaskStatus.COMPLETED


async def test_shutdown_timeout_cancels_and_requeues(db_path: Path) -> None:
    """Tasks still running after the drain timeout are cancelled and pending at next start."""
    domain, started, _, log = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain], shutdown_timeout=0)
    await scheduler.__aenter__()
    outcome = await scheduler.domain(domain).submit(Job("a"))
    await started.wait()
    await scheduler.close()
    assert log == ["start a attempt 1", "cancelled a (shutdown)"]
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT status, retry_count FROM tasks WHERE id = ?", (outcome.id,))
        assert row.fetchone() == ("pending", 0)
    conn.close()


async def test_events_iteration_ends_when_scheduler_closes(db_path: Path) -> None:
    """An `async for` over events finishes when the scheduler closes."""
    domain, *_ = blocking_domain()
    scheduler = Scheduler(db_path, domains=[domain])
    await scheduler.__aenter__()
    events = scheduler.events()
    consumer = asyncio.create_task(asyncio.wait_for(_drain(events), timeout=30))
    await scheduler.close()
    assert await consumer == []


async def _drain(events: object) -> list[object]:
    return [event async for event in events]  # type: ignore[attr-defined]


async def test_tasks_registered_after_construction_are_known(db_path: Path) -> None:
    """The registry is read at open(), so tasks added to a domain before then count."""
    domain = Domain("late")
    scheduler = Scheduler(db_path, domains=[domain])
    ran: list[int] = []

    @domain.task("added")
    async def added(n: int) -> None:
        ran.append(n)

    async with scheduler:
        await scheduler.domain(domain).submit(5, task="added")
        await scheduler.wait_idle()
    assert ran == [5]


async def test_history_retention_is_applied(db_path: Path) -> None:
    """The configured retention prunes history as tasks finish."""
    domain = Domain("work")

    @domain.task("job")
    async def job(payload: Job) -> None:
        return None

    retention = Retention(max_records=5, prune_every=1)
    async with Scheduler(db_path, domains=[domain], retention=retention) as scheduler:
        await scheduler.domain(domain).submit_many([Job(str(i)) for i in range(12)])
        await scheduler.wait_idle()
        history = await scheduler.list_history(limit=100)
    assert len(history) == 5


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_concurrency", 0),
        ("max_concurrency", 2.5),
        ("max_payload_bytes", -1),
        ("sync_workers", 0),
        ("shutdown_timeout", -1),
        ("durability", "sometimes"),
        ("retention", 10),
    ],
)
def test_invalid_options_are_refused(db_path: Path, option: str, value: object) -> None:
    """Each invalid option raises ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match=option.split("_", maxsplit=1)[0]):
        Scheduler(db_path, **{option: value})  # type: ignore[arg-type]


def test_duplicate_domain_names_are_refused(db_path: Path) -> None:
    """Two different domains with one name cannot share a scheduler."""
    with pytest.raises(ConfigurationError, match="two different domains are named 'x'"):
        Scheduler(db_path, domains=[Domain("x"), Domain("x")])


async def test_memory_database_runs_tasks() -> None:
    """':memory:' runs the same scheduler on the in-memory store."""
    domain, _started, release, log = blocking_domain()
    release.set()
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        await scheduler.domain(domain).submit(Job("m"))
        await scheduler.wait_idle()
    assert log == ["start m attempt 1", "done m"]


async def test_close_abandons_an_executor_that_ignores_cancellation(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """close() returns although an executor swallows CancelledError; the task runs again."""
    monkeypatch.setattr(scheduler_module, "ABANDON_AFTER", 0.05)
    domain = Domain("work")
    started, release = asyncio.Event(), asyncio.Event()
    attempts: list[asyncio.Task[object]] = []

    @domain.task("stubborn")
    async def stubborn(payload: Job, ctx: TaskContext) -> None:
        attempts.append(asyncio.current_task())  # type: ignore[arg-type]
        started.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # the bug being survived
                await release.wait()

    scheduler = Scheduler(db_path, domains=[domain])
    await scheduler.__aenter__()
    outcome = await scheduler.domain(domain).submit(Job("a"))
    await started.wait()
    await scheduler.close(immediate=True)
    assert "1 tasks whose executors ignored cancellation" in caplog.text
    release.set()
    await attempts[0]  # it ends on its own; its result cannot be stored any more
    again = Scheduler(db_path, domains=[domain])
    await again.open()  # recovers, but does not dispatch
    record = await again.get_task(outcome.id)
    await again.close()
    assert record is not None
    assert (record.status, record.retry_count) == (TaskStatus.PENDING, 0)
