"""The snapshot: running tasks with progress (reported or extrapolated), counts, state."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from taskmill import (
    Domain,
    Every,
    RateLimit,
    RunningTask,
    Scheduler,
    Snapshot,
    SqliteStore,
    TaskContext,
)
from taskmill.scheduler.estimates import CAP, estimate
from taskmill.testing import FakeClock, FixedPressure


class Gates:
    """Executors that wait until the test lets them finish, and report when they start."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}

    def of(self, name: str) -> tuple[asyncio.Event, asyncio.Event]:
        return (
            self.started.setdefault(name, asyncio.Event()),
            self.release.setdefault(name, asyncio.Event()),
        )


def gated_domain(gates: Gates, clock: FakeClock) -> Domain:
    domain = Domain("work")

    @domain.task("job", key=lambda name: name)
    async def job(name: str, ctx: TaskContext) -> None:
        started, release = gates.of(name)
        if name.startswith("quick"):
            clock.advance(10.0)  # every quick task takes 10 s of fake time
            return
        if name.startswith("half"):
            ctx.progress.report(0.5, "halfway")
        started.set()
        await release.wait()

    return domain


async def test_extrapolated_progress_rises_and_stays_below_one(clock: FakeClock) -> None:
    """A task that reports nothing moves with its type's mean duration, capped at 99 %."""
    gates = Gates()
    domain = gated_domain(gates, clock)
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        for i in range(3):
            await handle.submit(f"quick{i}")
            await scheduler.wait_idle()
        await handle.submit("silent")
        started, release = gates.of("silent")
        await started.wait()
        seen: list[float | None] = []
        for elapsed in [0.0, 2.5, 5.0, 9.0, 9.95, 10.0, 50.0]:
            [running] = (await scheduler.snapshot()).running
            clock.advance(elapsed - running.elapsed)
            [running] = (await scheduler.snapshot()).running
            assert running.extrapolated
            assert running.expected_duration == 10.0
            seen.append(running.progress)
        release.set()
        await scheduler.wait_idle()
        assert (await scheduler.snapshot()).running == ()
    assert seen == pytest.approx([0.0, 0.25, 0.5, 0.9, CAP, CAP, CAP])
    assert all(p is not None and p < 1.0 for p in seen)


async def test_reported_progress_is_carried_forward(clock: FakeClock) -> None:
    """Between reports the estimate moves on at the task's own pace, below 100 %."""
    gates = Gates()
    domain = gated_domain(gates, clock)
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         progress_interval=1.0) as scheduler:  # fmt: skip
        await scheduler.domain(domain).submit("half")
        started, release = gates.of("half")
        await started.wait()
        [at_report] = (await scheduler.snapshot()).running
        clock.advance(1.0)  # the report is taken (sent) when the interval ends: 1 s in
        [taken] = (await scheduler.snapshot()).running
        clock.advance(0.5)
        [later] = (await scheduler.snapshot()).running
        clock.advance(10.0)
        [much_later] = (await scheduler.snapshot()).running
        release.set()
    assert (at_report.progress, at_report.reported, at_report.message) == (0.5, 0.5, "halfway")
    assert not at_report.extrapolated  # reported just now: nothing to carry forward
    assert (taken.progress, taken.extrapolated) == (0.5, False)
    # 0.5 done in 1 s: 1 s expected left (no type mean yet); half of it has passed
    assert (later.progress, later.extrapolated) == (0.75, True)
    assert much_later.progress == CAP


def test_estimate_blends_the_report_with_the_type_mean() -> None:
    """Pace says 10 s left, the type mean 20 s: 15 s expected, progress moves accordingly."""
    assert estimate(elapsed=10.0, reported=0.5, reported_after=10.0, mean=30.0) == 0.5
    assert estimate(elapsed=17.5, reported=0.5, reported_after=10.0, mean=30.0) == 0.75
    assert estimate(elapsed=99.0, reported=0.5, reported_after=10.0, mean=30.0) == CAP
    assert estimate(elapsed=99.0, reported=1.0, reported_after=10.0, mean=30.0) == 1.0
    assert estimate(elapsed=5.0, reported=None, reported_after=None, mean=None) is None
    assert estimate(elapsed=5.0, reported=0.2, reported_after=4.0, mean=None) == pytest.approx(
        0.2 + 0.8 * (1.0 / 16.0)
    )


async def test_snapshot_gathers_counts_admission_pauses_and_schedules(clock: FakeClock) -> None:
    gates = Gates()
    domain = gated_domain(gates, clock)
    other = Domain("other")

    @other.task("tick")
    async def tick(n: int) -> None:
        return None

    async with Scheduler(
        ":memory:", domains=[domain, other], clock=clock, max_concurrency=2,
        pressure_sources={"disk": FixedPressure(0.25)},
        group_rate_limits={"uploads": RateLimit(per_second=5)},
    ) as scheduler:  # fmt: skip
        handle = scheduler.domain(domain)
        await handle.submit("running", tags={"user": "ann"})
        started, release = gates.of("running")
        await started.wait()
        await handle.submit("later", run_after=60)
        await scheduler.domain(other).submit(1, recurring=Every(3600, initial_delay=3600))
        await scheduler.pause(other)
        await scheduler.pause_group("uploads", until=30)  # seconds from now
        snapshot = await scheduler.snapshot()
        release.set()
    assert isinstance(snapshot, Snapshot)
    assert snapshot.at == clock.now()
    [running] = snapshot.running
    assert isinstance(running, RunningTask)
    assert (running.task.key, running.task.tags, running.attempt) == ("running", {"user": "ann"}, 1)
    assert snapshot.counts == {"pending": 1, "running": 1}
    assert snapshot.admission.pressure == 0.25
    assert snapshot.admission.breakdown == {"disk": 0.25}
    assert snapshot.admission.max_concurrency == 2
    assert snapshot.admission.tokens == {"group:uploads": 5.0}
    assert snapshot.pauses.domains == ("other",)
    assert snapshot.pauses.groups == {"uploads": clock.now() + 30}
    assert [s.type for s in snapshot.schedules] == ["other::tick"]
    data = snapshot.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["running"][0]["task"]["key"] == "running"


async def test_queries_do_not_wait_behind_the_writer(db_path: Path, clock: FakeClock) -> None:
    """While the writer is busy (here: held), snapshot and history queries still answer."""
    gates = Gates()
    domain = gated_domain(gates, clock)
    store = SqliteStore(db_path)
    async with Scheduler(store, domains=[domain], clock=clock) as scheduler:
        await scheduler.domain(domain).submit("quick")
        await scheduler.wait_idle()
        held, hold = threading.Event(), threading.Event()

        def block(conn: object) -> None:
            held.set()
            hold.wait()

        blocked = store._write(block)
        await asyncio.to_thread(held.wait)
        try:
            history = await asyncio.wait_for(scheduler.list_history(), 10)
            stats = await asyncio.wait_for(scheduler.type_stats(), 10)
            snapshot = await asyncio.wait_for(scheduler.snapshot(), 10)
            assert not blocked.done()
        finally:
            hold.set()
        await blocked
    assert [r.key for r in history] == ["quick"]
    assert [s.count for s in stats] == [1]
    assert snapshot.counts == {}
