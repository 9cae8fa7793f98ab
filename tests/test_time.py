"""Time rules under the fake clock: delayed tasks and time to live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskmill import (
    Domain,
    Expired,
    Inserted,
    InvalidTimeError,
    Scheduler,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until_idle


@dataclass
class Job:
    name: str


def timed_domain(clock: FakeClock, **defaults: object) -> tuple[Domain, list[tuple[str, float]]]:
    """A domain whose task records (name, time) when it runs."""
    domain = Domain("timed", **defaults)  # type: ignore[arg-type]
    ran: list[tuple[str, float]] = []

    @domain.task("job")
    async def job(payload: Job) -> None:
        ran.append((payload.name, clock.now()))

    return domain, ran


async def test_run_after_and_run_at(database: str, clock: FakeClock) -> None:
    """Delayed tasks wait for their instant; undelayed work runs meanwhile."""
    domain, ran = timed_domain(clock)
    t0 = clock.now()
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        at = datetime.fromtimestamp(t0 + 30, UTC)
        await handle.submit(Job("at"), run_at=at)
        delayed = await handle.submit(Job("after"), run_after=timedelta(seconds=10))
        await handle.submit(Job("now"))
        await scheduler.wait_idle(include_delayed=False)
        assert ran == [("now", t0)]
        record = await scheduler.get_task(delayed.id)
        assert record is not None
        assert (record.status, record.not_before) == (TaskStatus.PENDING, t0 + 10)
        clock.advance(9.5)
        await scheduler.wait_idle(include_delayed=False)
        assert len(ran) == 1
        await run_until_idle(scheduler, clock)
    assert ran == [("now", t0), ("after", t0 + 10), ("at", t0 + 30)]


async def test_run_at_in_the_past_runs_at_once(database: str, clock: FakeClock) -> None:
    """A run_at that already passed is no delay at all."""
    domain, ran = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        past = datetime.fromtimestamp(clock.now() - 60, UTC)
        await scheduler.domain(domain).submit(Job("late"), run_at=past)
        await scheduler.wait_idle(include_delayed=False)
    assert ran == [("late", clock.now())]


async def test_delayed_task_survives_restart(db_path: Path, clock: FakeClock) -> None:
    """A delay is stored: after a restart the task still waits, then runs on time."""
    domain, ran = timed_domain(clock)
    scheduler = Scheduler(db_path, domains=[domain], clock=clock)
    await scheduler.open()
    await scheduler.domain(domain).submit(Job("later"), run_after=100)
    await scheduler.close()
    clock.advance(50)
    async with Scheduler(db_path, domains=[domain], clock=clock) as scheduler:
        await scheduler.wait_idle(include_delayed=False)
        assert ran == []
        await run_until_idle(scheduler, clock)
    assert ran == [("later", clock.now())]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"run_at": datetime(2030, 1, 1)}, "naive datetime"),
        ({"run_at": "2030-01-01"}, "timezone-aware datetime"),
        ({"run_after": -5}, "run_after must be a finite duration >= 0"),
        ({"run_after": 1, "run_at": datetime(2030, 1, 1, tzinfo=UTC)}, "not both"),
        ({"ttl": 0}, "ttl must be a finite duration > 0"),
        ({"ttl": -1}, "ttl must be a finite duration > 0"),
        ({"ttl": 10, "ttl_from": "tomorrow"}, "ttl_from must be one of"),
    ],
)
async def test_bad_times_are_refused(options: dict[str, object], message: str) -> None:
    """Unusable times raise InvalidTimeError (a ValueError) saying what is wrong."""
    domain, _ = timed_domain(FakeClock())
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    try:
        with pytest.raises(InvalidTimeError, match=message) as info:
            await scheduler.domain(domain).submit(Job("x"), **options)  # type: ignore[arg-type]
        assert isinstance(info.value, ValueError)
        assert await scheduler.count_by_status() == {}
    finally:
        await scheduler.close()


async def test_ttl_expires_a_task_that_did_not_start(database: str, clock: FakeClock) -> None:
    """A paused task past its TTL goes to history as expired, with an event, freeing its key."""
    domain, ran = timed_domain(clock)
    t0 = clock.now()
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.pause(domain)
        first = await scheduler.domain(domain).submit(Job("a"), ttl=60, key="k")
        clock.advance(59)
        await scheduler.wait_idle(include_delayed=False)
        assert await scheduler.get_task(first.id) is not None
        clock.advance(1)
        await scheduler.wait_idle(include_delayed=False)
        [record] = await scheduler.get_history(first.id)
        assert (record.status, record.finished_at) == (TaskStatus.EXPIRED, t0 + 60)
        again = await scheduler.domain(domain).submit(Job("b"), key="k")
        assert isinstance(again, Inserted)
        events.close()
        expired = [e async for e in events if isinstance(e, Expired)]
    assert [e.task.id for e in expired] == [first.id]
    assert ran == []


async def test_ttl_precedence(clock: FakeClock) -> None:
    """TTL comes from the submission, else the task type, the domain, the scheduler."""
    domain = Domain("d", ttl=300)

    @domain.task("typed", ttl=timedelta(seconds=200))
    async def typed(payload: Job) -> None: ...

    @domain.task("plain")
    async def plain(payload: Job) -> None: ...

    other = Domain("other")

    @other.task("bare")
    async def bare(payload: dict[str, int]) -> None: ...

    t0 = clock.now()
    scheduler = Scheduler(":memory:", domains=[domain, other], clock=clock, default_ttl=400)
    await scheduler.open()
    try:
        handle = scheduler.domain(domain)
        ids = [
            (await handle.submit(Job("1"), task="typed", ttl=100)).id,
            (await handle.submit(Job("2"), task="typed")).id,
            (await handle.submit(Job("3"), task="plain")).id,
            (await scheduler.domain(other).submit({"x": 1}, task="bare")).id,
        ]
        expiries = [(await scheduler.get_task(i)).expires_at for i in ids]  # type: ignore[union-attr]
    finally:
        await scheduler.close()
    assert expiries == [t0 + 100, t0 + 200, t0 + 300, t0 + 400]


async def test_ttl_from_first_attempt(clock: FakeClock) -> None:
    """A TTL counted from the first attempt starts at that attempt and bounds the retries."""
    domain = Domain("d")
    attempts: list[float] = []

    @domain.task("flaky")
    async def flaky(payload: Job) -> None:
        attempts.append(clock.now())
        raise RuntimeError("try again")

    from taskmill import RetryPolicy

    t0 = clock.now()
    scheduler = Scheduler(":memory:", domains=[domain], clock=clock)
    await scheduler.open()
    outcome = await scheduler.domain(domain).submit(
        Job("a"),
        ttl=50,
        ttl_from="first_attempt",
        retry=RetryPolicy.fixed(30, max_retries=10),
        run_after=100,
    )
    record = await scheduler.get_task(outcome.id)
    assert record is not None
    assert record.expires_at is None
    async with scheduler:
        await run_until_idle(scheduler, clock)
        [history] = await scheduler.get_history(outcome.id)
    # Starts at +100 (expires at +150); retries at +130; the next retry (+160) is too late.
    assert attempts == [t0 + 100, t0 + 130]
    assert (history.status, history.finished_at) == (TaskStatus.EXPIRED, t0 + 150)


async def test_running_task_is_not_expired(clock: FakeClock) -> None:
    """TTL limits waiting, not running: a task that started in time finishes."""
    import asyncio

    domain = Domain("d")
    gate = asyncio.Event()
    probed = asyncio.Event()

    @domain.task("slow")
    async def slow(payload: Job) -> None:
        await gate.wait()

    @domain.task("probe", payload=str)
    async def probe(payload: str) -> None:
        probed.set()

    async with Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=2) as s:
        events = s.events()
        outcome = await s.domain(domain).submit(Job("a"), ttl=10)
        await events.__anext__()  # Dispatched: it runs
        clock.advance(60)  # its expiry instant passes while it runs
        await s.domain(domain).submit("after the expiry check")
        await probed.wait()  # dispatch checked expiries before starting the probe
        gate.set()
        await s.wait_idle()
        [record] = await s.get_history(outcome.id)
    assert record.status is TaskStatus.COMPLETED
