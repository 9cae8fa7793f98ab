"""Pause and resume: everything, a domain, a group (with a deadline); reasons stack."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from taskmill import (
    Dispatched,
    Domain,
    GroupPaused,
    GroupResumed,
    Paused,
    Resumed,
    Scheduler,
    TaskContext,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until_idle


@dataclass
class Job:
    name: str


def domains() -> tuple[Domain, Domain, list[str]]:
    """Two domains whose task records the names it ran."""
    ran: list[str] = []
    media, sync = Domain("media"), Domain("sync")

    @media.task("job")
    async def media_job(payload: Job) -> None:
        ran.append(f"media {payload.name}")

    @sync.task("job")
    async def sync_job(payload: Job) -> None:
        ran.append(f"sync {payload.name}")

    return media, sync, ran


async def statuses(scheduler: Scheduler) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {r.payload["name"]: (str(r.status), r.paused_for) for r in await scheduler.list_tasks()}


async def test_global_pause_holds_everything_and_resume_runs_it(db_path: Path) -> None:
    """While paused nothing starts and new work arrives paused; resume runs it all."""
    media, sync, ran = domains()
    async with Scheduler(db_path, domains=[media, sync]) as scheduler:
        events = scheduler.events()
        assert await scheduler.pause() is True
        assert await scheduler.pause() is False
        await scheduler.domain(media).submit(Job("a"))
        await scheduler.domain(sync).submit(Job("b"))
        await scheduler.wait_idle()
        assert ran == []
        assert await statuses(scheduler) == {
            "a": ("paused", ("global",)),
            "b": ("paused", ("global",)),
        }
        assert (await scheduler.pause_state()).everything
        assert await scheduler.resume() is True
        await scheduler.wait_idle()
        events.close()
        kinds = [type(e).__name__ for e in [e async for e in events]]
    assert sorted(ran) == ["media a", "sync b"]
    assert kinds[:2] == ["Paused", "Resumed"]


async def test_domain_pause_leaves_other_domains_running(db_path: Path) -> None:
    """Pausing one domain holds only its tasks; the others run."""
    media, sync, ran = domains()
    async with Scheduler(db_path, domains=[media, sync], max_concurrency=1) as scheduler:
        await scheduler.pause(media)
        await scheduler.domain(media).submit_many([Job("1"), Job("2")])
        await scheduler.domain(sync).submit(Job("3"))
        await scheduler.wait_idle()
        assert ran == ["sync 3"]
        assert await statuses(scheduler) == {
            "1": ("paused", ("domain",)),
            "2": ("paused", ("domain",)),
        }
        await scheduler.resume("media")
        await scheduler.wait_idle()
    assert ran == ["sync 3", "media 1", "media 2"]


async def test_pausing_interrupts_running_tasks_without_charging_a_retry(db_path: Path) -> None:
    """Running tasks of a paused scope stop and wait, paused, with retry_count unchanged."""
    domain = Domain("work")
    started = asyncio.Event()
    attempts: list[int] = []

    @domain.task("long")
    async def long(payload: Job, ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)
        if len(attempts) == 1:
            started.set()
            await asyncio.Event().wait()  # runs until interrupted

    async with Scheduler(db_path, domains=[domain]) as scheduler:
        outcome = await scheduler.domain(domain).submit(Job("a"))
        await started.wait()
        await scheduler.pause(domain)
        await scheduler.wait_idle()
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert (record.status, record.retry_count, record.paused_for) == (
            TaskStatus.PAUSED,
            0,
            ("domain",),
        )
        await scheduler.resume(domain)
        await scheduler.wait_idle()
        [history] = await scheduler.get_history(outcome.id)
    assert attempts == [1, 1]  # the second run is still attempt 1
    assert history.status is TaskStatus.COMPLETED


async def test_stacked_reasons_need_every_resume(db_path: Path) -> None:
    """Paused by its domain and its group, a task waits until both are resumed."""
    media, _, ran = domains()
    async with Scheduler(db_path, domains=[media]) as scheduler:
        await scheduler.pause(media)
        await scheduler.pause_group("bucket-1")
        outcome = await scheduler.domain(media).submit(Job("a"), group="bucket-1")
        await scheduler.domain(media).submit(Job("b"), group="bucket-2")
        assert await statuses(scheduler) == {
            "a": ("paused", ("domain", "group")),
            "b": ("paused", ("domain",)),
        }
        await scheduler.resume(media)
        await scheduler.wait_idle()
        assert ran == ["media b"]
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert (record.status, record.paused_for) == (TaskStatus.PAUSED, ("group",))
        await scheduler.resume_group("bucket-1")
        await scheduler.wait_idle()
    assert ran == ["media b", "media a"]


async def test_submit_into_a_paused_group_arrives_paused(db_path: Path) -> None:
    """A task submitted into a paused group is stored paused and does not run."""
    media, _, ran = domains()
    async with Scheduler(db_path, domains=[media]) as scheduler:
        events = scheduler.events()
        await scheduler.pause_group("uploads")
        outcome = await scheduler.domain(media).submit(Job("a"), group="uploads")
        await scheduler.wait_idle()
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert (record.status, record.group, record.paused_for) == (
            TaskStatus.PAUSED,
            "uploads",
            ("group",),
        )
        events.close()
        received = [e async for e in events]
    assert ran == []
    assert not any(isinstance(e, Dispatched) for e in received)
    assert [type(e) for e in received] == [GroupPaused]


async def test_group_pause_lifts_at_its_deadline(clock: FakeClock) -> None:
    """A group paused until a deadline resumes by itself then, with an event."""
    media, _, ran = domains()
    t0 = clock.now()
    async with Scheduler(":memory:", domains=[media], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.pause_group("g", until=timedelta(minutes=5))
        assert (await scheduler.pause_state()).groups == {"g": t0 + 300}
        await scheduler.domain(media).submit(Job("a"), group="g")
        clock.advance(299)
        await scheduler.wait_idle(include_delayed=False)
        assert ran == []
        await run_until_idle(scheduler, clock)
        assert (await scheduler.pause_state()).groups == {}
        events.close()
        received = [e async for e in events if isinstance(e, GroupPaused | GroupResumed)]
    assert ran == ["media a"]
    assert [(type(e).__name__, e.at) for e in received] == [
        ("GroupPaused", t0),
        ("GroupResumed", t0 + 300),
    ]


async def test_pause_state_survives_restart(db_path: Path) -> None:
    """Pauses are stored: after a restart the same scopes are paused and their tasks wait."""
    media, sync, ran = domains()
    async with Scheduler(db_path, domains=[media, sync]) as scheduler:
        await scheduler.pause(sync)
        await scheduler.pause_group("g")
        await scheduler.domain(sync).submit(Job("held"))
    async with Scheduler(db_path, domains=[media, sync]) as scheduler:
        state = await scheduler.pause_state()
        assert (state.everything, state.domains, state.groups) == (False, ("sync",), {"g": None})
        await scheduler.domain(media).submit(Job("in group"), group="g")
        await scheduler.domain(media).submit(Job("free"))
        await scheduler.wait_idle()
        assert ran == ["media free"]
        await scheduler.resume(sync)
        await scheduler.resume_group("g")
        await scheduler.wait_idle()
    assert sorted(ran) == ["media free", "media in group", "sync held"]


async def test_pause_events(db_path: Path) -> None:
    """Pause and resume of everything and of a domain are announced once each."""
    media, _, _ = domains()
    async with Scheduler(db_path, domains=[media]) as scheduler:
        events = scheduler.events()
        await scheduler.pause(media)
        await scheduler.pause(media)  # already paused: no second event
        await scheduler.resume(media)
        await scheduler.resume(media)  # not paused: no event
        await scheduler.pause()
        await scheduler.resume()
        events.close()
        received = [e async for e in events]
    assert [(type(e), getattr(e, "domain", "?")) for e in received] == [
        (Paused, "media"),
        (Resumed, "media"),
        (Paused, None),
        (Resumed, None),
    ]


async def test_unknown_domain_cannot_be_paused(db_path: Path) -> None:
    """Pausing a domain the scheduler does not run is an error, not a silent no-op."""
    media, _, _ = domains()
    async with Scheduler(db_path, domains=[media]) as scheduler:
        with pytest.raises(LookupError, match="not registered"):
            await scheduler.pause("nope")
