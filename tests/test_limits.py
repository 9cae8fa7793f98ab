"""Admission in the scheduler: concurrency caps, pressure throttling, rate limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from taskmill import (
    AdmissionState,
    ConfigurationError,
    Domain,
    Fairness,
    Priority,
    RateLimit,
    Scheduler,
    Submission,
    TaskContext,
)
from taskmill.testing import FakeClock, FixedPressure, run_until


@dataclass
class Job:
    name: str


class Tracker:
    """Tasks that block until released; tracks how many run at once, per group."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.running: dict[str | None, int] = {}
        self.peak: dict[str | None, int] = {}
        self.started: list[str] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

        @domain.task("job")
        async def job(payload: Job, ctx: TaskContext) -> None:
            group = payload.name.split("-")[0]
            self.running[group] = self.running.get(group, 0) + 1
            self.peak[group] = max(self.peak.get(group, 0), self.running[group])
            self.started.append(payload.name)
            async with self.changed:
                self.changed.notify_all()
            await self.release.wait()
            self.running[group] -= 1

    async def wait_started(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.started) >= count)


async def test_group_cap_holds_with_a_larger_global_cap() -> None:
    """With group cap 2 and global cap 10, no more than 2 tasks of the group run at once."""
    t = Tracker(Domain("d"))
    async with Scheduler(":memory:", domains=[t.domain], max_concurrency=10,
                         group_limits={"s3": 2}) as scheduler:  # fmt: skip
        await scheduler.domain(t.domain).submit_many(
            [Submission(Job(f"s3-{i}"), group="s3") for i in range(6)]
            + [Submission(Job(f"other-{i}")) for i in range(4)]
        )
        await t.wait_started(6)
        assert t.running == {"s3": 2, "other": 4}
        t.release.set()
        await scheduler.wait_idle()
    assert t.peak["s3"] == 2
    assert len(t.started) == 10


async def test_domain_cap() -> None:
    """Domain(max_concurrency=1) runs its tasks one at a time; other domains are not held."""
    capped, free = Domain("capped", max_concurrency=1), Domain("free")
    a, b = Tracker(capped), Tracker(free)
    async with Scheduler(":memory:", domains=[capped, free], max_concurrency=8) as scheduler:
        await scheduler.domain(capped).submit_many([Job(f"c-{i}") for i in range(3)])
        await scheduler.domain(free).submit_many([Job(f"f-{i}") for i in range(3)])
        await a.wait_started(1)
        await b.wait_started(3)
        assert (a.running["c"], b.running["f"]) == (1, 3)
        a.release.set()
        b.release.set()
        await scheduler.wait_idle()
    assert a.peak["c"] == 1


async def test_cap_lowered_at_runtime_is_obeyed_at_the_next_dispatch() -> None:
    """Lowering a group cap stops new starts until the group is under it."""
    t = Tracker(Domain("d"))
    async with Scheduler(":memory:", domains=[t.domain], max_concurrency=8) as scheduler:
        handle = scheduler.domain(t.domain)
        await handle.submit_many([Submission(Job(f"g-{i}"), group="g") for i in range(3)])
        await t.wait_started(3)
        scheduler.admission.set_group_limit("g", 1)
        await handle.submit_many([Submission(Job(f"g-{i}"), group="g") for i in range(3, 6)])
        t.release.set()  # the three running finish; from now on one at a time
        t.release = asyncio.Event()
        await t.wait_started(4)
        await asyncio.sleep(0)  # let the dispatcher try to start more
        assert t.running["g"] == 1
        t.release.set()
        await scheduler.wait_idle()
    assert len(t.started) == 6


async def test_global_cap_changed_at_runtime() -> None:
    """Raising max_concurrency at run time starts more tasks at once."""
    t = Tracker(Domain("d"))
    async with Scheduler(":memory:", domains=[t.domain], max_concurrency=1) as scheduler:
        await scheduler.domain(t.domain).submit_many([Job(f"x-{i}") for i in range(4)])
        await t.wait_started(1)
        scheduler.admission.set_max_concurrency(3)
        await t.wait_started(3)
        assert scheduler.max_concurrency == 3
        t.release.set()
        await scheduler.wait_idle()
    assert t.peak["x"] == 3


@pytest.mark.parametrize(
    ("pressure", "runs"),
    [
        (0.6, ["high", "normal"]),  # BACKGROUND waits above 0.5
        (0.8, ["high"]),  # NORMAL waits above 0.75
        (0.3, ["high", "normal", "background"]),
    ],
)
async def test_pressure_holds_less_important_work(pressure: float, runs: list[str]) -> None:
    """Under pressure, BACKGROUND waits first, then NORMAL; HIGH always runs."""
    domain = Domain("d")
    ran: list[str] = []

    @domain.task("job")
    async def job(payload: Job) -> None:
        ran.append(payload.name)

    source = FixedPressure(pressure)
    clock = FakeClock()
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         pressure_sources={"disk": source}) as scheduler:  # fmt: skip
        await scheduler.domain(domain).submit_many(
            [
                Submission(Job("background"), priority=Priority.BACKGROUND),
                Submission(Job("normal"), priority=Priority.NORMAL),
                Submission(Job("high"), priority=Priority.HIGH),
            ]
        )
        await run_until(scheduler, clock, clock.now() + 0.5)
        assert sorted(ran) == sorted(runs)
        source.value = 0.0  # the pressure eases: the held work runs at the next look
        await run_until(scheduler, clock, clock.now() + 1.0)
    assert sorted(ran) == ["background", "high", "normal"]


async def test_pressure_poll_sets_when_held_work_is_looked_at_again() -> None:
    """With pressure_poll=5, work held by pressure is looked at again 5 s later, not sooner."""
    domain = Domain("d")
    ran: list[float] = []
    clock = FakeClock()

    @domain.task("job")
    async def job(payload: Job) -> None:
        ran.append(clock.now())

    source = FixedPressure(0.9)
    async with Scheduler(":memory:", domains=[domain], clock=clock, pressure_poll=5,
                         pressure_sources={"disk": source}) as scheduler:  # fmt: skip
        start = clock.now()
        await scheduler.domain(domain).submit(Job("held"))  # NORMAL waits above 0.75
        await run_until(scheduler, clock, start + 1)
        source.value = 0.0
        await run_until(scheduler, clock, start + 4.9)
        assert ran == []
        await run_until(scheduler, clock, start + 5.1)
    assert [t - start for t in ran] == [5.0]


async def test_rate_limited_type_does_not_stop_other_work() -> None:
    """A HIGH type limited to 1 start per second waits for tokens; NORMAL work runs meanwhile."""
    domain = Domain("d")
    ran: list[tuple[str, float]] = []
    clock = FakeClock()
    t0 = clock.now()

    @domain.task("api", rate_limit=RateLimit(per_second=1, burst=1), priority=Priority.HIGH)
    async def api(payload: Job) -> None:
        ran.append((payload.name, clock.now() - t0))

    @domain.task("local", payload=str)
    async def local(payload: str) -> None:
        ran.append((payload, clock.now() - t0))

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        await handle.submit_many([Job(f"api-{i}") for i in range(3)])
        await handle.submit_many(["local-1", "local-2"], task="local")
        await run_until(scheduler, clock, t0 + 5)
    assert ran == [
        ("api-0", 0.0),
        ("local-1", 0.0),
        ("local-2", 0.0),
        ("api-1", 1.0),
        ("api-2", 2.0),
    ]


async def test_group_rate_limit() -> None:
    """A group rate limit spaces out the starts of the group's tasks."""
    domain = Domain("d")
    starts: list[float] = []
    clock = FakeClock()

    @domain.task("job")
    async def job(payload: Job) -> None:
        starts.append(clock.now())

    limits = {"api": RateLimit(per_minute=30, burst=2)}
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         group_rate_limits=limits) as scheduler:  # fmt: skip
        await scheduler.domain(domain).submit_many(
            [Submission(Job(str(i)), group="api") for i in range(4)]
        )
        await run_until(scheduler, clock, clock.now() + 10)
    t0 = starts[0]
    assert [s - t0 for s in starts] == [0.0, 0.0, 2.0, 4.0]


async def test_admission_state_is_a_frozen_snapshot() -> None:
    """admission.state() reports pressure, breakdown, limits and tokens, JSON-ready."""
    import json

    domain = Domain("d", max_concurrency=2)

    @domain.task("job", rate_limit=RateLimit(per_second=5, burst=3))
    async def job(payload: Job) -> None: ...

    scheduler = Scheduler(":memory:", domains=[domain], max_concurrency=6,
                          pressure_sources={"mem": FixedPressure(0.4), "net": lambda: 0.7},
                          group_limits={"g": 1}, default_group_limit=3)  # fmt: skip
    await scheduler.open()
    state = scheduler.admission.state(0.0)
    await scheduler.close()
    assert isinstance(state, AdmissionState)
    assert (state.pressure, state.breakdown) == (0.7, {"mem": 0.4, "net": 0.7})
    assert (state.max_concurrency, state.domain_limits, state.group_limits) == (
        6,
        {"d": 2},
        {"g": 1},
    )
    assert (state.default_group_limit, state.tokens) == (3, {"d::job": 3.0})
    assert json.loads(json.dumps(state.to_dict())) == state.to_dict()


def test_bad_limits_are_refused() -> None:
    """Limits are checked when given: a clear ConfigurationError names the bad value."""
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        Domain("d", max_concurrency=0)
    with pytest.raises(ConfigurationError, match="group limit"):
        Scheduler(":memory:", group_limits={"g": -1})
    with pytest.raises(ConfigurationError, match="pressure source 'x'"):
        Scheduler(":memory:", pressure_sources={"x": 0.5})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="rate_limit"):
        Domain("d").task("t", rate_limit=5)  # type: ignore[arg-type]


async def test_fair_scheduling_shares_slots_by_group_weight() -> None:
    """Weights 3:1 over 8 slots run 6 and 2, though 40 tasks of group a come first."""
    t = Tracker(Domain("d"))
    fairness = Fairness(weights={"a": 3, "b": 1})
    async with Scheduler(":memory:", domains=[t.domain], max_concurrency=8,
                         fairness=fairness) as scheduler:  # fmt: skip
        handle = scheduler.domain(t.domain)
        await handle.submit_many(
            [Submission(Job(f"a-{i}"), group="a") for i in range(40)]
            + [Submission(Job(f"b-{i}"), group="b") for i in range(12)]
        )
        await t.wait_started(8)
        assert t.running == {"a": 6, "b": 2}
        assert scheduler.admission.state().group_shares == {"a": 6, "b": 2}
        t.release.set()
        await scheduler.wait_idle()
    assert len(t.started) == 52


async def test_a_paused_groups_share_goes_to_the_others() -> None:
    """With group b paused, group a gets every slot; b's tasks wait, then run on resume."""
    t = Tracker(Domain("d"))
    async with Scheduler(":memory:", domains=[t.domain], max_concurrency=4,
                         fairness=Fairness()) as scheduler:  # fmt: skip
        await scheduler.pause_group("b")
        handle = scheduler.domain(t.domain)
        await handle.submit_many([Submission(Job(f"b-{i}"), group="b") for i in range(4)])
        await handle.submit_many([Submission(Job(f"a-{i}"), group="a") for i in range(8)])
        await t.wait_started(4)
        assert t.running == {"a": 4}
        await scheduler.resume_group("b")
        t.release.set()
        await scheduler.wait_idle()
    assert sorted(t.started) == sorted([f"a-{i}" for i in range(8)] + [f"b-{i}" for i in range(4)])
