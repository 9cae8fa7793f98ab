"""The adaptive IO limit in a running scheduler, scripted with FakeSampler and FakeClock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from taskmill import Domain, IoBudget, Priority, Scheduler, Submission, TaskContext
from taskmill.resources import DiskMonitor
from taskmill.testing import FakeClock, FakeSampler

WRITE = IoBudget.disk(write=64 << 20)


@dataclass
class Job:
    name: str


@dataclass
class Thought:
    name: str


class Writers:
    """Disk-IO tasks that block until released, counting how many run at once."""

    def __init__(self) -> None:
        self.domain = Domain("d")
        self.running = 0
        self.started: list[str] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

        @self.domain.task("write", expected_io=WRITE)
        async def write(job: Job, ctx: TaskContext) -> None:
            self.running += 1
            self.started.append(job.name)
            async with self.changed:
                self.changed.notify_all()
            await self.release.wait()
            self.running -= 1

        @self.domain.task("think")
        async def think(job: Thought, ctx: TaskContext) -> None:
            self.started.append(job.name)
            async with self.changed:
                self.changed.notify_all()

    async def wait_started(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.started) >= count)


def scheduler_for(w: Writers, sampler: FakeSampler, clock: FakeClock) -> Scheduler:
    return Scheduler(
        ":memory:", domains=[w.domain], max_concurrency=8, sampler=sampler, clock=clock
    )


async def clean_second(sampler: FakeSampler, clock: FakeClock) -> None:
    """Eight clean readings, 125 ms apart (exact in binary): one clean window of readings."""
    for _ in range(8):
        clock.advance(0.125)
        sampler.congest(0.0)
    await asyncio.sleep(0)  # let the woken dispatcher take its step


async def test_background_io_starts_one_at_a_time_and_grows_while_the_disk_is_clean(
    clock: FakeClock,
) -> None:
    """Limit 1 at start; each clean second in use doubles it (2, 4, 8) and starts more."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(10)])
        await w.wait_started(1)
        sampler.congest(0.0)  # the first reading opens the clean window
        seen = [w.running]
        for expected in (2, 4, 8):
            await clean_second(sampler, clock)
            await w.wait_started(expected)
            seen.append(w.running)
        assert scheduler.admission.io_control.limit == 8
        w.release.set()
        await scheduler.wait_idle()
    assert (seen, len(w.started)) == ([1, 2, 4, 8], 10)


async def test_congestion_halves_the_limit_and_new_work_waits(clock: FakeClock) -> None:
    """Congested at limit 4: the limit halves to 2, none start, ctx.io is paced till clean."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(6)])
        await w.wait_started(1)
        sampler.congest(0.0)
        await clean_second(sampler, clock)
        await clean_second(sampler, clock)
        await w.wait_started(4)
        clock.advance(0.125)
        sampler.congest(3.0)
        state = scheduler.admission.state()
        paced_while_congested = scheduler.admission.pacer.rate is not None
        await clean_second(sampler, clock)  # a clean second at limit 2 with 4 running: no growth
        assert (w.running, len(w.started)) == (4, 4)
        assert (paced_while_congested, scheduler.admission.pacer.rate) == (True, None)
        w.release.set()
        await scheduler.wait_idle()
    assert state.io_limit is not None
    assert (state.io_limit.limit, state.io_limit.congested, state.io_limit.running) == (2, True, 4)
    assert state.io_limit.reason == "disk congested: fake disk latency 3.0 ms (target 1.0 ms)"
    assert state.waiting_by == {"io limit": 2}


async def test_high_priority_io_is_exempt_from_the_limit(clock: FakeClock) -> None:
    """At limit 1 with a NORMAL writer running, HIGH and REALTIME writers start at once."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        handle = scheduler.domain(w.domain)
        await handle.submit(Job("normal"))
        await w.wait_started(1)
        sampler.congest(5.0)
        await handle.submit_many(
            [
                Submission(Job("background"), priority=Priority.BACKGROUND),
                Submission(Job("high"), priority=Priority.HIGH),
                Submission(Job("realtime"), priority=Priority.REALTIME),
            ]
        )
        await w.wait_started(3)
        await asyncio.sleep(0)
        assert w.started == ["normal", "realtime", "high"]
        w.release.set()
        await scheduler.wait_idle()
    assert w.started[-1] == "background"


async def test_tasks_without_disk_io_pass_a_congested_disk(clock: FakeClock) -> None:
    """A task that declares and learned no disk IO starts beside a full IO limit."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        handle = scheduler.domain(w.domain)
        await handle.submit_many([Job("w0"), Job("w1")])
        await w.wait_started(1)
        sampler.congest(9.0)
        await handle.submit(Thought("t0"))
        await w.wait_started(2)
        assert w.started == ["w0", "t0"]
        w.release.set()
        await scheduler.wait_idle()


async def test_the_limit_recovers_to_the_cap_after_congestion_ends(clock: FakeClock) -> None:
    """Halved to 1 by a congested second, then clean seconds: 1, 2, 3, ... back to 8."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(8)])
        await w.wait_started(1)
        sampler.congest(2.0)
        sampler.congest(0.0)  # clean from the same instant on
        limits = []
        for _ in range(7):
            await clean_second(sampler, clock)
            limits.append(scheduler.admission.io_control.limit)
        await w.wait_started(8)
        w.release.set()
        await scheduler.wait_idle()
    assert limits == [2, 3, 4, 5, 6, 7, 8]


async def test_the_disk_is_watched_only_while_io_tasks_run_or_wait(clock: FakeClock) -> None:
    """Tasks without disk IO never start the monitor; writers start it once, and it stops."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        handle = scheduler.domain(w.domain)
        await handle.submit_many([Thought(f"t{i}") for i in range(20)])
        await scheduler.wait_idle()
        assert (sampler.watching, sampler.watches) == (False, 0)
        await handle.submit_many([Job("w0"), Job("w1")])
        await w.wait_started(21)
        assert sampler.watching
        w.release.set()
        await scheduler.wait_idle()
        assert (sampler.watching, sampler.watches) == (False, 1)


async def test_an_idle_monitoring_scheduler_never_reads_the_disk(db_path: Path) -> None:
    """With real monitoring, tasks without disk IO leave the monitor without a single reading."""
    w = Writers()
    async with Scheduler(db_path, domains=[w.domain], resource_monitoring=True) as scheduler:
        monitor = scheduler.admission.io_control.monitor
        assert isinstance(monitor, DiskMonitor)
        await scheduler.domain(w.domain).submit_many([Thought(f"t{i}") for i in range(50)])
        await scheduler.wait_idle()
        assert (monitor.readings, scheduler.admission.io_control.watching) == (0, False)


async def test_without_io_control_the_limit_is_off(clock: FakeClock) -> None:
    """``io_control=None``: no adaptive limit, no readings asked for, writers fill the slots."""
    w, sampler = Writers(), FakeSampler()
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=4, sampler=sampler,
                         clock=clock, io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(4)])
        await w.wait_started(4)
        assert scheduler.admission.state().io_limit is None
        assert sampler.watches == 0
        w.release.set()
        await scheduler.wait_idle()


async def test_the_snapshot_says_why_work_waits(clock: FakeClock) -> None:
    """Held back by the limit, each waiting task has a reason naming the congested disk."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        outcomes = await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(3)])
        await w.wait_started(1)
        sampler.congest(4.0)
        snapshot = await scheduler.snapshot()
        w.release.set()
        await scheduler.wait_idle()
    admission = snapshot.admission
    waiting_ids = [o.id for o in outcomes[1:]]
    assert sorted(admission.waiting) == waiting_ids
    assert admission.waiting[waiting_ids[0]] == (
        "IO limit 1: disk congested: fake disk latency 4.0 ms (target 1.0 ms)"
    )
    assert admission.summary() == (
        "2 tasks wait for the IO limit (disk congested: fake disk latency 4.0 ms (target 1.0 ms))"
    )
    assert snapshot.to_dict()["admission"]["io_limit"]["limit"] == 1


async def test_a_lower_global_cap_lowers_the_limits_ceiling(clock: FakeClock) -> None:
    """After set_max_concurrency(2), clean readings grow the limit to 2, not beyond."""
    w, sampler = Writers(), FakeSampler()
    async with scheduler_for(w, sampler, clock) as scheduler:
        scheduler.admission.set_max_concurrency(2)
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(4)])
        await w.wait_started(1)
        sampler.congest(0.0)
        for _ in range(3):
            await clean_second(sampler, clock)
        assert scheduler.admission.io_control.limit == 2
        w.release.set()
        await scheduler.wait_idle()
