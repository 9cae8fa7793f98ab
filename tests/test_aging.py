"""Aging: tasks that waited long enough overtake fresher, more important ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    Aging,
    ConfigurationError,
    Domain,
    Fairness,
    Priority,
    Scheduler,
    TaskmillError,
)
from taskmill.testing import FakeClock

# Default aging: 300 s grace, then one level per 60 s. IDLE (255) is more urgent than
# NORMAL (128) once it has gained 128 levels: after 300 + 128 * 60 = 7980 s.
OVERTAKES_NORMAL = 7980.0


@dataclass
class Job:
    name: str


def make_domain(ran: list[str]) -> Domain:
    domain = Domain("d")

    @domain.task("job")
    async def job(payload: Job) -> None:
        ran.append(payload.name)

    return domain


async def run_order(
    waited: float,
    *,
    aging: Aging | None = Aging(),  # noqa: B008 - frozen
    fresh: int = Priority.NORMAL,
    fairness: Fairness | None = None,
) -> list[str]:
    """Submit an IDLE task, let ``waited`` seconds pass, submit a fresh one; return run order."""
    ran: list[str] = []
    domain = make_domain(ran)
    clock = FakeClock()
    scheduler = Scheduler(":memory:", domains=[domain], max_concurrency=1, clock=clock,
                          aging=aging, fairness=fairness)  # fmt: skip
    await scheduler.open()
    handle = scheduler.domain(domain)
    await handle.submit(Job("old"), priority=Priority.IDLE)
    clock.advance(waited)
    await handle.submit(Job("fresh"), priority=fresh)
    async with scheduler:
        await scheduler.wait_idle()
    return ran


@pytest.mark.parametrize(
    ("waited", "order"),
    [
        (0.0, ["fresh", "old"]),
        (OVERTAKES_NORMAL - 61, ["fresh", "old"]),  # effective 129: still behind NORMAL
        (OVERTAKES_NORMAL - 60, ["old", "fresh"]),  # effective 128: a tie, the older first
        (OVERTAKES_NORMAL, ["old", "fresh"]),
    ],
)
async def test_an_aged_idle_task_overtakes_a_fresh_normal_one(
    waited: float, order: list[str]
) -> None:
    """After the grace period an IDLE task gains a level a minute until it passes NORMAL."""
    assert await run_order(waited) == order


@pytest.mark.parametrize(
    ("waited", "order"), [(7919.0, ["fresh", "old"]), (7980.0, ["old", "fresh"])]
)
async def test_aging_orders_candidates_under_fair_scheduling(
    waited: float, order: list[str]
) -> None:
    """With fair scheduling on as well, the per-group candidates are read by effective priority."""
    assert await run_order(waited, fairness=Fairness()) == order


async def test_without_aging_priority_alone_decides() -> None:
    """Aging is opt-in: without it, an IDLE task waits behind NORMAL work however old."""
    assert await run_order(10 * OVERTAKES_NORMAL, aging=None) == ["fresh", "old"]


async def test_aging_stops_at_the_ceiling() -> None:
    """With ceiling NORMAL an old IDLE task never passes a fresh HIGH one."""
    aging = Aging(ceiling=Priority.NORMAL)
    assert await run_order(100 * OVERTAKES_NORMAL, aging=aging, fresh=Priority.HIGH) == [
        "fresh",
        "old",
    ]
    assert await run_order(OVERTAKES_NORMAL, aging=aging, fresh=Priority.NORMAL) == [
        "old",
        "fresh",
    ]


@pytest.mark.parametrize(
    ("after_resume", "order"),
    [
        (OVERTAKES_NORMAL - 1000 - 61, ["fresh", "old"]),  # 1000 s + this: one level short
        (OVERTAKES_NORMAL - 1000, ["old", "fresh"]),  # the 1000 s before the pause count
    ],
)
async def test_paused_time_does_not_age_a_task(after_resume: float, order: list[str]) -> None:
    """Time spent paused is left out: only the waiting before and after the pause counts."""
    ran: list[str] = []
    domain = make_domain(ran)
    clock = FakeClock()
    scheduler = Scheduler(":memory:", domains=[domain], max_concurrency=1, clock=clock,
                          aging=Aging())  # fmt: skip
    await scheduler.open()
    handle = scheduler.domain(domain)
    await handle.submit(Job("old"), priority=Priority.IDLE, group="g")
    clock.advance(1000)
    await scheduler.pause_group("g")
    clock.advance(50_000)  # would make the task HIGH if it counted
    await scheduler.resume_group("g")
    clock.advance(after_resume)
    await handle.submit(Job("fresh"), priority=Priority.NORMAL)
    async with scheduler:
        await scheduler.wait_idle()
    assert ran == order


async def test_the_stored_priority_never_changes(tmp_path: Path) -> None:
    """Aging is computed at dispatch: the task keeps its priority, also across a restart."""
    ran: list[str] = []
    domain = make_domain(ran)
    clock = FakeClock()
    path = tmp_path / "tasks.db"
    scheduler = Scheduler(path, domains=[domain], clock=clock, aging=Aging())
    await scheduler.open()
    outcome = await scheduler.domain(domain).submit(Job("old"), priority=255)
    await scheduler.close()

    clock.advance(OVERTAKES_NORMAL)
    again = Scheduler(path, domains=[domain], max_concurrency=1, clock=clock, aging=Aging())
    await again.open()
    record = await again.get_task(outcome.id)
    assert record is not None
    assert record.priority == 255
    await again.domain(domain).submit(Job("fresh"), priority=Priority.NORMAL)
    async with again:
        await again.wait_idle()
    assert ran == ["old", "fresh"]


def test_effective_priority() -> None:
    """Levels gained: none within the grace period, then one per interval, up to the ceiling."""
    aging = Aging(grace=10, interval=5, ceiling=Priority.HIGH)
    assert [aging.effective(200, w) for w in (0, 10, 14.9, 15, 20, 10_000)] == [
        200, 200, 200, 199, 198, 64
    ]  # fmt: skip
    assert aging.effective(10, 10_000) == 10  # already more urgent than the ceiling


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grace": -1}, "grace"),
        ({"interval": 0}, "interval"),
        ({"interval": float("inf")}, "interval"),
        ({"ceiling": 256}, "ceiling"),
    ],
)
def test_bad_aging_settings_are_refused(options: dict[str, float], message: str) -> None:
    """Each bad setting raises a TaskmillError naming it."""
    with pytest.raises(TaskmillError, match=message):
        Aging(**options)  # type: ignore[arg-type]


def test_aging_must_be_an_aging() -> None:
    """Passing something else than Aging is refused with a pointer to the right type."""
    with pytest.raises(ConfigurationError, match=r"taskmill\.Aging"):
        Scheduler(":memory:", aging=300)  # type: ignore[arg-type]
