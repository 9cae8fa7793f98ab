"""Retries under the fake clock: backoff, explicit Retry, permanent errors, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    DeadLettered,
    Dispatched,
    Domain,
    Failed,
    Inserted,
    NotDeadLetteredError,
    PermanentError,
    Retry,
    RetryPolicy,
    Scheduler,
    TaskContext,
    TaskNotFoundError,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until_idle


@dataclass
class Job:
    name: str
    fail_times: int = 0


def flaky_domain(clock: FakeClock, policy: RetryPolicy) -> tuple[Domain, list[tuple[int, float]]]:
    """A task that fails `fail_times` times, recording (attempt, time) of each try."""
    domain = Domain("work", retry=policy)
    tries: list[tuple[int, float]] = []

    @domain.task("flaky")
    async def flaky(job: Job, ctx: TaskContext) -> None:
        tries.append((ctx.attempt, clock.now()))
        if ctx.attempt <= job.fail_times:
            raise ConnectionError(f"attempt {ctx.attempt} failed")

    return domain, tries


async def test_exponential_backoff_timing(database: str, clock: FakeClock) -> None:
    """Each retry waits delay * backoff**(n-1): 2 s, 4 s, 8 s after the failures."""
    policy = RetryPolicy(max_retries=3, delay=2.0, backoff=2.0, jitter=0.0)
    domain, tries = flaky_domain(clock, policy)
    t0 = clock.now()
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a", fail_times=3))
        await scheduler.wait_idle(include_delayed=False)
        assert tries == [(1, t0)]
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert (record.status, record.retry_count, record.not_before) == (
            TaskStatus.PENDING,
            1,
            t0 + 2,
        )
        assert record.last_error == "ConnectionError: attempt 1 failed"
        clock.advance(1.999)
        await scheduler.wait_idle(include_delayed=False)
        assert len(tries) == 1
        clock.advance(0.001)
        await scheduler.wait_idle(include_delayed=False)
        assert tries == [(1, t0), (2, t0 + 2)]
        await run_until_idle(scheduler, clock)
        [history] = await scheduler.get_history(outcome.id)
    assert tries == [(1, t0), (2, t0 + 2), (3, t0 + 6), (4, t0 + 14)]
    assert (history.status, history.retry_count) == (TaskStatus.COMPLETED, 3)


async def test_failed_events_carry_retry_after(database: str, clock: FakeClock) -> None:
    """Failed(will_retry=True, retry_after=delay) for each retried attempt, then Completed."""
    policy = RetryPolicy.fixed(5.0, max_retries=3)
    domain, _ = flaky_domain(clock, policy)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit(Job("a", fail_times=1))
        await run_until_idle(scheduler, clock)
        events.close()
        kinds = [(type(e).__name__, getattr(e, "attempt", None)) async for e in events]
        assert kinds == [
            ("Dispatched", 1),
            ("Failed", 1),
            ("Dispatched", 2),
            ("Completed", 2),
        ]


async def test_exhausted_retries_dead_letter(database: str, clock: FakeClock) -> None:
    """After max_retries retries the next failure dead-letters the task."""
    policy = RetryPolicy.fixed(1.0, max_retries=2)
    domain, tries = flaky_domain(clock, policy)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        outcome = await scheduler.domain(domain).submit(Job("a", fail_times=99))
        await run_until_idle(scheduler, clock)
        events.close()
        received = [e async for e in events]
        [record] = await scheduler.get_history(outcome.id)
        assert await scheduler.get_task(outcome.id) is None
    assert [attempt for attempt, _ in tries] == [1, 2, 3]
    assert (record.status, record.retry_count) == (TaskStatus.DEAD_LETTER, 2)
    assert record.last_error == "ConnectionError: attempt 3 failed"
    failed = [e for e in received if isinstance(e, Failed)]
    assert [(e.attempt, e.will_retry, e.retry_after, e.dead_letter) for e in failed] == [
        (1, True, 1.0, False),
        (2, True, 1.0, False),
        (3, False, None, True),
    ]
    assert isinstance(received[-1], DeadLettered)
    assert (received[-1].attempts, received[-1].error) == (3, "ConnectionError: attempt 3 failed")


async def test_retry_dead_letter_runs_the_task_again(database: str, clock: FakeClock) -> None:
    """retry_dead_letter resubmits under a new id with retries reset; it can then succeed."""
    domain = Domain("work", retry=RetryPolicy.never())
    outcomes: list[str] = []

    @domain.task("job")
    async def job(payload: Job, ctx: TaskContext) -> None:
        if not outcomes:
            outcomes.append("fail")
            raise RuntimeError("first time fails")
        outcomes.append(f"ok:{ctx.attempt}")

    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        first = await scheduler.domain(domain).submit(Job("a"))
        await run_until_idle(scheduler, clock)
        [dead] = await scheduler.get_history(first.id)
        assert dead.status is TaskStatus.DEAD_LETTER
        again = await scheduler.retry_dead_letter(first.id)
        assert isinstance(again, Inserted)
        assert again.id > first.id
        await run_until_idle(scheduler, clock)
        [done] = await scheduler.get_history(again.id)
        with pytest.raises(NotDeadLetteredError):
            await scheduler.retry_dead_letter(again.id)
        with pytest.raises(TaskNotFoundError):
            await scheduler.retry_dead_letter(10_000)
    assert outcomes == ["fail", "ok:1"]
    assert (done.status, done.payload) == (TaskStatus.COMPLETED, {"name": "a", "fail_times": 0})


async def test_explicit_retry_after_overrides_policy(database: str, clock: FakeClock) -> None:
    """Retry(after=...) sets this retry's delay and still counts against max_retries."""
    domain = Domain("work", retry=RetryPolicy.fixed(100.0, max_retries=1))
    tries: list[float] = []

    @domain.task("job")
    async def job(payload: Job) -> None:
        tries.append(clock.now())
        raise Retry("rate limited", after=7)

    t0 = clock.now()
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await run_until_idle(scheduler, clock)
        [record] = await scheduler.get_history(outcome.id)
    assert tries == [t0, t0 + 7]
    assert (record.status, record.last_error) == (TaskStatus.DEAD_LETTER, "Retry: rate limited")


async def test_an_invalid_retry_delay_fails_the_task_with_its_message(
    database: str, clock: FakeClock
) -> None:
    """Retry(after=inf) no longer parks a task forever: it fails, saying why, at once."""
    domain = Domain("work", retry=RetryPolicy.fixed(1.0, max_retries=5))
    tries: list[float] = []

    @domain.task("job")
    async def job(payload: Job) -> None:
        tries.append(clock.now())
        raise Retry("later", after=float("inf"))

    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await scheduler.wait_idle()  # returns: nothing is left waiting for ever
        [record] = await scheduler.get_history(outcome.id)
    assert tries == [clock.now()]
    assert (record.status, record.retry_count) == (TaskStatus.FAILED, 0)
    assert record.last_error is not None
    assert record.last_error.startswith("InvalidRetryPolicyError: Retry(after=inf): after must")


async def test_permanent_error_fails_without_retry(database: str, clock: FakeClock) -> None:
    """PermanentError, and exceptions listed in permanent_errors, fail at once."""
    domain = Domain("work", retry=RetryPolicy.fixed(1.0, max_retries=5))
    calls: list[str] = []

    @domain.task("explicit")
    async def explicit(payload: Job) -> None:
        calls.append("explicit")
        raise PermanentError("file is corrupt")

    @domain.task("listed", permanent_errors=(KeyError,))
    async def listed(payload: dict[str, int]) -> None:
        calls.append("listed")
        raise KeyError("missing")

    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        events = scheduler.events()
        a = await handle.submit(Job("a"))
        b = await handle.submit({"x": 1}, task="listed")
        await run_until_idle(scheduler, clock)
        events.close()
        failed = [e async for e in events if isinstance(e, Failed)]
        [ra] = await scheduler.get_history(a.id)
        [rb] = await scheduler.get_history(b.id)
    assert sorted(calls) == ["explicit", "listed"]
    assert (ra.status, ra.retry_count, ra.last_error) == (
        TaskStatus.FAILED,
        0,
        "PermanentError: file is corrupt",
    )
    assert (rb.status, rb.last_error) == (TaskStatus.FAILED, "KeyError: 'missing'")
    assert [e.will_retry for e in failed] == [False, False]


async def test_submission_retry_policy_overrides_and_persists(
    db_path: Path, clock: FakeClock
) -> None:
    """A per-submission retry policy is stored with the task and used after a restart."""
    policy = RetryPolicy(max_retries=0)
    domain, tries = flaky_domain(clock, policy)
    override = RetryPolicy.fixed(3.0, max_retries=1)
    scheduler = Scheduler(db_path, domains=[domain], clock=clock)
    await scheduler.open()
    outcome = await scheduler.domain(domain).submit(Job("a", fail_times=1), retry=override)
    await scheduler.close()
    t0 = clock.now()
    async with Scheduler(db_path, domains=[domain], clock=clock) as scheduler:
        await run_until_idle(scheduler, clock)
        [record] = await scheduler.get_history(outcome.id)
    assert tries == [(1, t0), (2, t0 + 3)]
    assert record.status is TaskStatus.COMPLETED


async def test_jitter_stays_within_bounds(database: str, clock: FakeClock) -> None:
    """Jittered delays lie within ±jitter of the nominal delay."""
    policy = RetryPolicy(max_retries=1, delay=10.0, backoff=1.0, jitter=0.5)
    domain, _ = flaky_domain(clock, policy)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit_many([Job(str(i), fail_times=1) for i in range(30)])
        await run_until_idle(scheduler, clock)
        events.close()
        delays = [e.retry_after async for e in events if isinstance(e, Failed)]
    assert len(delays) == 30
    assert all(d is not None and 5.0 <= d <= 15.0 for d in delays)
    assert len(set(delays)) > 1


async def test_dispatched_attempts_count_up(database: str, clock: FakeClock) -> None:
    """Each retry is dispatched with the next attempt number."""
    domain, _ = flaky_domain(clock, RetryPolicy.fixed(0.0, max_retries=3))
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit(Job("a", fail_times=2))
        await run_until_idle(scheduler, clock)
        events.close()
        attempts = [e.attempt async for e in events if isinstance(e, Dispatched)]
    assert attempts == [1, 2, 3]
