"""Edge cases found in review: each pins a behaviour that once surprised someone."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    ConfigurationError,
    Domain,
    Failed,
    Inserted,
    NotDeadLetteredError,
    PayloadValidationError,
    RetryPolicy,
    Scheduler,
    SchedulerStateError,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until_idle


@dataclass
class Job:
    name: str


async def test_tasks_registered_after_the_handle_was_taken(db_path: Path) -> None:
    """A handle taken before open() knows task types registered after open()."""
    domain = Domain("late")
    ran: list[str] = []
    scheduler = Scheduler(db_path, domains=[domain])
    handle = scheduler.domain(domain)
    async with scheduler:

        @domain.task("job")
        async def job(payload: Job) -> None:
            ran.append(payload.name)

        await handle.submit(Job("x"))
        await scheduler.wait_idle()
    assert ran == ["x"]


async def test_wait_idle_refuses_a_scheduler_that_does_not_dispatch(db_path: Path) -> None:
    """wait_idle() on an open, non-dispatching scheduler raises instead of hanging."""
    scheduler = Scheduler(db_path, domains=[Domain("d")])
    await scheduler.open()
    with pytest.raises(SchedulerStateError, match="not dispatching"):
        await scheduler.wait_idle()
    await scheduler.close()


async def test_subscribing_after_close_ends_at_once(db_path: Path) -> None:
    """events() on a closed scheduler yields nothing and ends."""
    async with Scheduler(db_path, domains=[Domain("d")]) as scheduler:
        pass
    assert [event async for event in scheduler.events()] == []


@pytest.mark.parametrize("database", ["file", ":memory:"])
async def test_status_filters_accept_strings(db_path: Path, database: str) -> None:
    """Status filters take TaskStatus members or their string values; typos are refused."""
    domain = Domain("d")

    @domain.task("job")
    async def job(payload: Job) -> None: ...

    path = str(db_path) if database == "file" else database
    scheduler = Scheduler(path, domains=[domain])
    await scheduler.open()
    try:
        await scheduler.domain(domain).submit(Job("a"))
        assert len(await scheduler.list_tasks(status="pending")) == 1
        assert len(await scheduler.list_tasks(status=TaskStatus.PENDING)) == 1
        assert await scheduler.list_history(status="completed") == []
        with pytest.raises(ConfigurationError, match="unknown status 'pendign'"):
            await scheduler.list_tasks(status="pendign")
    finally:
        await scheduler.close()


async def test_executors_own_cancelled_error_is_a_failure(clock: FakeClock) -> None:
    """An executor whose inner await was cancelled fails (and retries); it does not loop."""
    domain = Domain("d", retry=RetryPolicy.fixed(1.0, max_retries=1))
    attempts: list[int] = []

    @domain.task("job")
    async def job(payload: Job, ctx: object) -> None:
        attempts.append(1)
        inner = asyncio.get_running_loop().create_future()
        inner.cancel()
        await inner  # raises CancelledError inside the executor

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await run_until_idle(scheduler, clock)
        [record] = await scheduler.get_history(outcome.id)
    assert len(attempts) == 2
    assert (record.status, record.last_error) == (TaskStatus.DEAD_LETTER, "CancelledError")


async def test_tasks_of_unregistered_types_wait_for_a_scheduler_that_knows_them(
    db_path: Path,
) -> None:
    """A scheduler runs only the types it registers; others stay pending for the one that does."""
    photos, music = Domain("photos"), Domain("music")
    ran: list[str] = []

    @photos.task("thumb")
    async def thumb(payload: Job) -> None:
        ran.append(f"photo {payload.name}")

    @music.task("play", payload=str)
    async def play(payload: str) -> None:
        ran.append(f"song {payload}")

    both = Scheduler(db_path, domains=[photos, music])
    await both.open()
    song = await both.domain(music).submit("hey jude")
    await both.domain(photos).submit(Job("a"))
    await both.close()
    async with Scheduler(db_path, domains=[photos]) as only_photos:
        await only_photos.wait_idle()
        record = await only_photos.get_task(song.id)
        assert record is not None
        assert record.status is TaskStatus.PENDING
    assert ran == ["photo a"]
    async with Scheduler(db_path, domains=[music]) as only_music:
        await only_music.wait_idle()
    assert ran == ["photo a", "song hey jude"]


async def test_failing_key_function_is_a_payload_error() -> None:
    """A key function that cannot handle the payload gives a PayloadValidationError."""
    domain = Domain("d")

    @domain.task("job", payload=dict, key=lambda job: job.name)
    async def job(payload: dict[str, str]) -> None: ...

    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    with pytest.raises(PayloadValidationError, match=r"key function of d::job.*AttributeError"):
        await scheduler.domain(domain).submit({"name": "a"}, task="job")
    await scheduler.close()


async def test_a_dead_letter_is_retried_once(clock: FakeClock) -> None:
    """retry_dead_letter records the new task; retrying the same dead letter again is refused."""
    domain = Domain("d", retry=RetryPolicy.never())

    @domain.task("job")
    async def job(payload: Job) -> None:
        raise RuntimeError("always")

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        dead = await scheduler.domain(domain).submit(Job("a"))
        await run_until_idle(scheduler, clock)
        again = await scheduler.retry_dead_letter(dead.id)
        assert isinstance(again, Inserted)
        with pytest.raises(NotDeadLetteredError, match=f"already retried as task {again.id}"):
            await scheduler.retry_dead_letter(dead.id)
        [record] = await scheduler.get_history(dead.id)
    assert record.retried_as == again.id


def test_durability_is_checked_for_every_store() -> None:
    """An invalid durability is refused even for the in-memory store."""
    with pytest.raises(ConfigurationError, match="durability"):
        Scheduler(":memory:", durability="bogus")  # type: ignore[arg-type]


async def test_retry_after_is_the_policy_delay(clock: FakeClock) -> None:
    """Failed.retry_after reports the delay as configured, not a float artefact."""
    domain = Domain("d", retry=RetryPolicy.fixed(0.1, max_retries=1))

    @domain.task("job")
    async def job(payload: Job) -> None:
        raise RuntimeError("once")

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit(Job("a"))
        await run_until_idle(scheduler, clock)
        events.close()
        delays = [e.retry_after async for e in events if isinstance(e, Failed) and e.will_retry]
    assert delays == [0.1]


async def test_interrupt_before_the_first_step_still_settles(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt cancelled before its coroutine ever ran is settled, not stranded."""
    from taskmill.scheduler.runner import Interrupt, Runner
    from taskmill.store.protocol import ClaimedTask

    domain = Domain("d")
    calls: list[str] = []

    async def on_cancel(payload: Job, ctx: object) -> None:
        calls.append("on_cancel")

    @domain.task("job", on_cancel=on_cancel)
    async def job(payload: Job) -> None:
        calls.append("executor")

    original = Runner.start

    def start_then_cancel(self: Runner, claimed: list[ClaimedTask], now: float) -> None:
        original(self, claimed, now)
        for task in claimed:
            self.interrupt(self._state.running[task.id], Interrupt.CANCELLED)

    monkeypatch.setattr(Runner, "start", start_then_cancel)
    async with Scheduler(db_path, domains=[domain]) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.status is TaskStatus.CANCELLED
    assert calls == []  # the executor never ran, so there is nothing to clean up


async def test_expired_task_has_no_duration(clock: FakeClock) -> None:
    """A task that expired while waiting records no duration; a completed one does."""
    domain = Domain("d", retry=RetryPolicy.fixed(100, max_retries=3))
    calls: list[int] = []

    @domain.task("job")
    async def job(payload: Job) -> None:
        calls.append(1)
        clock.advance(2)  # the attempt "takes" two seconds
        if payload.name == "fails":
            raise RuntimeError("again")

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        done = await handle.submit(Job("ok"))
        expiring = await handle.submit(Job("fails"), ttl=50)
        await run_until_idle(scheduler, clock)
        [completed] = await scheduler.get_history(done.id)
        [expired] = await scheduler.get_history(expiring.id)
    assert completed.duration == 2.0
    assert (expired.status, expired.duration, expired.retry_count) == (TaskStatus.EXPIRED, None, 1)


async def test_on_cancel_hook_may_take_only_the_payload(db_path: Path) -> None:
    """Like executors, an on_cancel hook may omit the context parameter."""
    domain = Domain("d")
    started = asyncio.Event()
    cleaned: list[str] = []

    @domain.task("job", on_cancel=lambda payload: cleaned.append(payload.name))
    async def job(payload: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    async with Scheduler(db_path, domains=[domain]) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await started.wait()
        await scheduler.cancel(outcome.id)
        await scheduler.wait_idle()
    assert cleaned == ["a"]


async def test_group_pause_event_on_change_only(db_path: Path) -> None:
    """GroupPaused is published when a group's pause starts or its deadline moves."""
    from taskmill import GroupPaused

    async with Scheduler(db_path, domains=[Domain("d")]) as scheduler:
        events = scheduler.events()
        await scheduler.pause_group("g")
        await scheduler.pause_group("g")  # no change
        await scheduler.pause_group("g", until=60)  # deadline set: announced
        events.close()
        paused = [e async for e in events if isinstance(e, GroupPaused)]
    assert [e.until is None for e in paused] == [True, False]
