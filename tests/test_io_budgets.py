"""IO budgets in the scheduler: declared and learned IO, against the throughput a sampler saw.

These tests turn the adaptive IO limit off (``io_control=None``) to see the budget alone;
``tests/test_io_control.py`` covers the limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import ConfigurationError, Domain, IoBudget, Scheduler, TaskContext
from taskmill.testing import FakeSampler

MB = 1_000_000
# A disk seen writing 100 MB/s: with the default 80 % of a 2-second window, 160 MB may be
# in flight, so two 64 MB writers fit and a third waits.
DISK = 100 * MB
WRITE = IoBudget.disk(write=64 * MB)


@dataclass
class Job:
    name: str


@dataclass
class Ping:
    name: str


class Writers:
    """Tasks that block until released, counting how many run at once."""

    def __init__(self, domain: Domain, *, record: int = 0, expected: IoBudget | None = None):
        self.domain = domain
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

        @domain.task("write", expected_io=expected)
        async def write(payload: Job, ctx: TaskContext) -> None:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(payload.name)
            async with self.changed:
                self.changed.notify_all()
            await self.release.wait()
            if record:
                ctx.record_write_bytes(record)
            self.running -= 1

        @domain.task("light")
        async def light(payload: Ping, ctx: TaskContext) -> None:
            self.started.append(payload.name)
            async with self.changed:
                self.changed.notify_all()

    async def wait_started(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.started) >= count)


async def test_declared_io_limits_how_many_writers_run_at_once() -> None:
    """Two 64 MB writers fit in a 160 MB budget; the rest wait, and all six finish."""
    w = Writers(Domain("d"), expected=WRITE)
    sampler = FakeSampler(disk_write=DISK)
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=8,
                         sampler=sampler, io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(6)])
        await w.wait_started(2)
        await asyncio.sleep(0)  # one more loop turn: nothing else may start
        assert (w.running, w.started) == (2, ["w0", "w1"])
        w.release.set()
        await scheduler.wait_idle()
    assert (w.peak, len(w.started)) == (2, 6)


async def test_tasks_without_io_run_beside_a_full_budget() -> None:
    """A task that moves no declared IO is never held back by the IO budget."""
    w = Writers(Domain("d"), expected=WRITE)
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=8,
                         sampler=FakeSampler(disk_write=DISK),
                         io_control=None) as scheduler:  # fmt: skip
        handle = scheduler.domain(w.domain)
        await handle.submit_many([Job(f"w{i}") for i in range(4)])
        await w.wait_started(2)
        await handle.submit_many([Ping(f"l{i}") for i in range(3)])
        await w.wait_started(5)
        assert w.started == ["w0", "w1", "l0", "l1", "l2"]
        w.release.set()
        await scheduler.wait_idle()
    assert w.peak == 2


async def test_a_budget_larger_than_the_capacity_runs_alone() -> None:
    """A task that needs more than the whole budget still runs, one at a time."""
    w = Writers(Domain("d"), expected=IoBudget.disk(write=500 * MB))
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=8,
                         sampler=FakeSampler(disk_write=DISK),
                         io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(3)])
        await w.wait_started(1)
        w.release.set()
        await scheduler.wait_idle()
    assert (w.peak, w.started) == (1, ["w0", "w1", "w2"])


async def test_unobserved_capacity_sets_no_budget() -> None:
    """Before the sampler has seen any throughput on an axis, no IO budget applies to it."""
    w = Writers(Domain("d"), expected=WRITE)
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=8,
                         sampler=FakeSampler(), io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(3)])
        await w.wait_started(3)
        w.release.set()
        await scheduler.wait_idle()
    assert w.peak == 3


async def test_without_monitoring_io_budgets_are_not_enforced() -> None:
    """With no sampler, declared IO does not limit concurrency; only the global cap does."""
    w = Writers(Domain("d"), expected=WRITE)
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=4) as scheduler:
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(6)])
        await w.wait_started(4)
        w.release.set()
        await scheduler.wait_idle()
    assert w.peak == 4


async def test_a_larger_budget_fraction_admits_more() -> None:
    """``io_budget=1.0, io_window=4`` gives 400 MB: six 64 MB writers run together."""
    w = Writers(Domain("d"), expected=WRITE)
    async with Scheduler(":memory:", domains=[w.domain], max_concurrency=8,
                         sampler=FakeSampler(disk_write=DISK), io_budget=1.0,
                         io_window=4.0, io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(w.domain).submit_many([Job(f"w{i}") for i in range(8)])
        await w.wait_started(6)
        w.release.set()
        await scheduler.wait_idle()
    assert w.peak == 6


async def test_learned_io_limits_a_type_that_declares_none(tmp_path: Path) -> None:
    """A type without a budget is budgeted by the IO its completed tasks recorded.

    The first writer runs before anything is known; once it has recorded 64 MB, writers run
    two at a time. After a restart the knowledge comes back from history.
    """
    path = tmp_path / "tasks.db"
    w = Writers(Domain("d"), record=64 * MB)
    async with Scheduler(path, domains=[w.domain], max_concurrency=8,
                         sampler=FakeSampler(disk_write=DISK),
                         io_control=None) as scheduler:  # fmt: skip
        handle = scheduler.domain(w.domain)
        await handle.submit(Job("first"))
        w.release.set()
        await scheduler.wait_idle()
        w.release.clear()
        await handle.submit_many([Job(f"w{i}") for i in range(4)])
        await w.wait_started(3)
        await asyncio.sleep(0)
        assert w.running == 2
        w.release.set()
        await scheduler.wait_idle()
    assert w.peak == 2

    again = Writers(Domain("d"), record=64 * MB)
    async with Scheduler(path, domains=[again.domain], max_concurrency=8,
                         sampler=FakeSampler(disk_write=DISK),
                         io_control=None) as scheduler:  # fmt: skip
        await scheduler.domain(again.domain).submit_many([Job(f"r{i}") for i in range(4)])
        await again.wait_started(2)
        await asyncio.sleep(0)
        assert again.running == 2
        again.release.set()
        await scheduler.wait_idle()
    assert again.peak == 2


async def test_the_scheduler_starts_and_stops_its_sampler() -> None:
    """The sampler runs while the scheduler is open, not before or after."""
    sampler = FakeSampler(disk_write=DISK)
    scheduler = Scheduler(":memory:", sampler=sampler)
    assert not sampler.running
    async with scheduler:
        assert sampler.running
    assert not sampler.running


async def test_admission_state_shows_io_capacity_load_and_learned_means() -> None:
    """The snapshot holds the IO budget, the expected IO of running tasks and learned means."""
    w = Writers(Domain("d"), expected=WRITE)
    sampler = FakeSampler(disk_write=DISK)
    async with Scheduler(":memory:", domains=[w.domain], sampler=sampler) as scheduler:
        scheduler.admission.io.remember({"d::light": IoBudget.net(rx=5 * MB)})
        await scheduler.domain(w.domain).submit(Job("w0"))
        await w.wait_started(1)
        state = scheduler.admission.state()
        w.release.set()
    assert state.io_capacity == IoBudget.disk(write=160 * MB)
    assert state.io_in_flight == WRITE
    assert state.learned_io == {"d::light": IoBudget.net(rx=5 * MB)}
    assert state.to_dict()["io_in_flight"] == {
        "disk_read": 0,
        "disk_write": 64 * MB,
        "net_rx": 0,
        "net_tx": 0,
    }


def test_without_a_sampler_the_snapshot_has_no_io_capacity() -> None:
    """IO budgets are off without monitoring: ``io_capacity`` is None."""
    assert Scheduler(":memory:").admission.state(0.0).io_capacity is None


def test_resource_monitoring_uses_psutil_by_default() -> None:
    """``resource_monitoring=True`` without a sampler samples the system with psutil."""
    from taskmill.resources import PsutilSampler

    scheduler = Scheduler(":memory:", resource_monitoring=True)
    assert isinstance(scheduler.admission.io.sampler, PsutilSampler)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"io_budget": 0}, "io_budget"),
        ({"io_budget": 1.5}, "io_budget"),
        ({"io_budget": "80%"}, "io_budget"),
        ({"io_window": 0}, "io_window"),
        ({"io_window": float("inf")}, "io_window"),
    ],
)
def test_bad_io_options_are_refused(option: dict[str, object], message: str) -> None:
    """Out-of-range or mistyped IO budget options raise ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match=message):
        Scheduler(":memory:", sampler=FakeSampler(), **option)  # type: ignore[arg-type]
