"""Recurring schedules under the fake clock: Every (delay or rate), Cron, pile-up, control."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from taskmill import (
    Cron,
    Domain,
    Duplicate,
    Every,
    Inserted,
    InvalidScheduleError,
    RecurringCompleted,
    RecurringSkipped,
    ScheduleNotFoundError,
    Scheduler,
    TaskContext,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until


@dataclass
class Tick:
    name: str


class Recorder:
    """A domain whose task records (time, task id); it can be made to block."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.domain = Domain("cron")
        self.runs: list[float] = []
        self.ids: list[int] = []
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

        @self.domain.task("tick")
        async def tick(payload: Tick, ctx: TaskContext) -> None:
            self.runs.append(self.clock.now())
            self.ids.append(ctx.id)
            self.started.set()
            if self.hold is not None:
                await self.hold.wait()

    def offsets(self, t0: float) -> list[float]:
        return [round(t - t0, 3) for t in self.runs]


async def test_every_fixed_delay_counts_from_completion(clock: FakeClock) -> None:
    """Every(60) starts the next occurrence 60 s after the previous one *ended*."""
    rec = Recorder(clock)
    rec.hold = asyncio.Event()
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        await scheduler.domain(rec.domain).submit(Tick("t"), recurring=Every(60))
        await rec.started.wait()
        clock.advance(10)  # the first occurrence takes 10 s
        rec.hold.set()
        rec.hold = None
        await run_until(scheduler, clock, t0 + 200)
    assert rec.offsets(t0) == [0, 70, 130, 190]


async def test_every_fixed_rate_keeps_the_beat(database: str, clock: FakeClock) -> None:
    """Every(60, fixed_rate=True) ticks at t0, t0+60, ... whatever each occurrence takes."""
    rec = Recorder(clock)
    t0 = clock.now()
    async with Scheduler(database, domains=[rec.domain], clock=clock) as scheduler:
        await scheduler.domain(rec.domain).submit(Tick("t"), recurring=Every(60, fixed_rate=True))
        await run_until(scheduler, clock, t0 + 185)
    assert rec.offsets(t0) == [0, 60, 120, 180]


async def test_occurrence_not_started_makes_the_next_one_skip(clock: FakeClock) -> None:
    """Pile-up guard: while an occurrence waits to start, due occurrences are skipped."""
    rec = Recorder(clock)
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.pause(rec.domain)  # occurrences will be created paused
        outcome = await scheduler.domain(rec.domain).submit(
            Tick("t"), recurring=Every(60, fixed_rate=True)
        )
        await run_until(scheduler, clock, t0 + 150)
        waiting = await scheduler.list_tasks()
        assert [(r.status, r.schedule_id) for r in waiting] == [(TaskStatus.PAUSED, outcome.id)]
        await scheduler.resume(rec.domain)
        await run_until(scheduler, clock, t0 + 185)
        events.close()
        skipped = [e async for e in events if isinstance(e, RecurringSkipped)]
    assert [round(e.due_at - t0) for e in skipped] == [60, 120]
    assert {e.waiting_task for e in skipped} == {waiting[0].id}
    assert rec.offsets(t0) == [150, 180]  # the first ran on resume; then the beat goes on


async def test_max_occurrences_completes_the_schedule(database: str, clock: FakeClock) -> None:
    """After max_occurrences the schedule ends, with RecurringCompleted."""
    rec = Recorder(clock)
    t0 = clock.now()
    async with Scheduler(database, domains=[rec.domain], clock=clock) as scheduler:
        events = scheduler.events()
        outcome = await scheduler.domain(rec.domain).submit(
            Tick("t"), recurring=Every(timedelta(minutes=1), max_occurrences=3, initial_delay=30)
        )
        await run_until(scheduler, clock, t0 + 3600)
        schedule = await scheduler.get_schedule(outcome.id)
        assert await scheduler.list_schedules() == []
        events.close()
        completed = [e async for e in events if isinstance(e, RecurringCompleted)]
    assert rec.offsets(t0) == [30, 90, 150]
    assert (schedule.status, schedule.occurrences, schedule.next_at) == ("completed", 3, None)
    assert [(e.schedule_id, e.occurrences) for e in completed] == [(outcome.id, 3)]


async def test_cron_schedule(clock: FakeClock) -> None:
    """Cron("*/15 * * * *") runs on the quarter hours."""
    rec = Recorder(clock)
    clock.advance(7 * 60)  # 00:07 UTC
    start = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        await scheduler.domain(rec.domain).submit(Tick("q"), recurring=Cron("*/15 * * * *"))
        await run_until(scheduler, clock, start + 3600)
    times = [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in rec.runs]
    assert times == ["00:15", "00:30", "00:45", "01:00"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Spring forward: 02:30 does not exist on 29 March; cron runs it at 03:00 instead.
        (
            "2026-03-27",
            ["03-27 02:30+01:00", "03-28 02:30+01:00", "03-29 03:00+02:00", "03-30 02:30+02:00"],
        ),
        # Fall back: 02:30 happens twice on 25 October; cron runs it once.
        (
            "2026-10-23",
            ["10-23 02:30+02:00", "10-24 02:30+02:00", "10-25 02:30+02:00", "10-26 02:30+01:00"],
        ),
    ],
)
async def test_cron_across_daylight_saving_changes(start: str, expected: list[str]) -> None:
    """A daily 02:30 cron in Europe/Berlin follows cron's rules across DST changes."""
    berlin = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime.fromisoformat(start).replace(tzinfo=berlin).timestamp())
    rec = Recorder(clock)
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        await scheduler.domain(rec.domain).submit(
            Tick("nightly"), recurring=Cron("30 2 * * *", tz="Europe/Berlin")
        )
        await run_until(scheduler, clock, clock.now() + 4 * 86400 - 1)
    local = [datetime.fromtimestamp(t, berlin) for t in rec.runs]
    assert [d.strftime("%m-%d %H:%M") + d.strftime("%z")[:3] + ":00" for d in local] == expected


async def test_schedule_paused_while_its_occurrence_runs_stays_paused(clock: FakeClock) -> None:
    """Pausing a schedule mid-occurrence: the occurrence finishes, no new one follows."""
    rec = Recorder(clock)
    rec.hold = asyncio.Event()
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(rec.domain).submit(Tick("t"), recurring=Every(60))
        await rec.started.wait()
        await scheduler.pause_schedule(outcome.id)
        rec.hold.set()
        rec.hold = None
        await run_until(scheduler, clock, t0 + 600)
        assert rec.offsets(t0) == [0]
        schedule = await scheduler.get_schedule(outcome.id)
        assert (schedule.status, schedule.next_at) == ("paused", t0 + 60)
        await scheduler.resume_schedule(outcome.id)  # the missed occurrence runs at once
        await run_until(scheduler, clock, t0 + 700)
    assert rec.offsets(t0) == [0, 600, 660]


async def test_cancel_schedule_cancels_its_waiting_occurrence(clock: FakeClock) -> None:
    """A cancelled schedule makes no more occurrences; one not started is cancelled."""
    rec = Recorder(clock)
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        await scheduler.pause()
        outcome = await scheduler.domain(rec.domain).submit(Tick("t"), recurring=Every(60))
        await run_until(scheduler, clock, t0 + 1)
        [occurrence] = await scheduler.list_tasks()
        await scheduler.cancel_schedule(outcome.id)
        await scheduler.resume()
        await run_until(scheduler, clock, t0 + 600)
        [record] = await scheduler.get_history(occurrence.id)
        schedule = await scheduler.get_schedule(outcome.id)
    assert rec.runs == []
    assert record.status is TaskStatus.CANCELLED
    assert schedule.status == "cancelled"


async def test_schedules_survive_restart_without_duplicates(
    db_path: Path, clock: FakeClock
) -> None:
    """A stored schedule goes on after a restart; registering it again is a Duplicate."""
    rec = Recorder(clock)
    t0 = clock.now()
    async with Scheduler(db_path, domains=[rec.domain], clock=clock) as scheduler:
        first = await scheduler.domain(rec.domain).submit(
            Tick("t"), recurring=Every(60, fixed_rate=True), key="heartbeat"
        )
        await run_until(scheduler, clock, t0 + 61)
    assert isinstance(first, Inserted)
    clock.advance(29)  # down for a while: t0 + 90
    async with Scheduler(db_path, domains=[rec.domain], clock=clock) as scheduler:
        again = await scheduler.domain(rec.domain).submit(
            Tick("t"), recurring=Every(60, fixed_rate=True), key="heartbeat"
        )
        assert again == Duplicate(first.id)
        await run_until(scheduler, clock, t0 + 185)
        [schedule] = await scheduler.list_schedules()
    assert rec.offsets(t0) == [0, 60, 120, 180]
    assert schedule.occurrences == 4
    assert first.id not in rec.ids  # a schedule id is never a task id


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cron("61 * * * *"), r"invalid cron expression '61 \* \* \* \*'"),
        (lambda: Cron("every day"), r"invalid cron expression 'every day'"),
        (lambda: Cron("0 9 * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (lambda: Every(0), "must be a positive number"),
        (lambda: Every(-5), "must be a positive number"),
        (lambda: Every(timedelta(0)), "must be a positive number"),
        (lambda: Every(10, max_occurrences=0), "max_occurrences"),
        (lambda: Every(10, initial_delay=-1), "initial_delay"),
    ],
)
def test_bad_schedules_are_refused(make: object, message: str) -> None:
    """Malformed schedules raise InvalidScheduleError (a ValueError) naming the problem."""
    with pytest.raises(InvalidScheduleError, match=message) as info:
        make()  # type: ignore[operator]
    assert isinstance(info.value, ValueError)


async def test_unknown_schedule_id(clock: FakeClock) -> None:
    """Asking for or steering a schedule that does not exist raises ScheduleNotFoundError."""
    rec = Recorder(clock)
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        with pytest.raises(ScheduleNotFoundError, match="999"):
            await scheduler.get_schedule(999)
        with pytest.raises(ScheduleNotFoundError, match="999"):
            await scheduler.pause_schedule(999)


async def test_recurring_refuses_run_after(clock: FakeClock) -> None:
    """A recurring submission's first run is set by the schedule, not by run_after."""
    rec = Recorder(clock)
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock) as scheduler:
        with pytest.raises(ValueError, match="initial_delay"):
            await scheduler.domain(rec.domain).submit(Tick("t"), recurring=Every(5), run_after=3)


async def test_reregistering_a_cancelled_schedule_starts_afresh(clock: FakeClock) -> None:
    """Re-registered after cancel, a schedule gets its own occurrences, old ones running."""
    rec = Recorder(clock)
    rec.hold = asyncio.Event()
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[rec.domain], clock=clock, max_concurrency=2) as s:
        old = await s.domain(rec.domain).submit(Tick("t"), recurring=Every(60), key="job")
        await rec.started.wait()  # the old schedule's first occurrence runs (and holds)
        await s.cancel_schedule(old.id)
        new = await s.domain(rec.domain).submit(Tick("t"), recurring=Every(60), key="job")
        assert isinstance(new, Inserted)
        assert new.id != old.id
        rec.hold.set()
        rec.hold = None
        await run_until(s, clock, t0 + 61)
        schedule = await s.get_schedule(new.id)
    assert rec.offsets(t0) == [0, 0, 60]  # old occurrence, new first, new second
    assert schedule.occurrences == 2
