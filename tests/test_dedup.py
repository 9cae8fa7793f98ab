"""Deduplication through the scheduler: where keys come from and what submit returns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from taskmill import (
    Domain,
    Duplicate,
    Inserted,
    Priority,
    Requeued,
    Scheduler,
    Submission,
    TaskStatus,
    Upgraded,
)


@dataclass
class Fetch:
    url: str
    attempt_note: str = ""


def domain_with_gate() -> tuple[Domain, asyncio.Event, list[str]]:
    domain = Domain("net")
    gate = asyncio.Event()
    ran: list[str] = []

    @domain.task("fetch", key=lambda f: f.url)
    async def fetch(job: Fetch) -> None:
        ran.append(job.url)
        await gate.wait()

    @domain.task("ping", payload=dict)
    async def ping(job: dict[str, str]) -> None:
        ran.append(f"ping {job}")

    return domain, gate, ran


async def test_key_function_dedups_different_payloads() -> None:
    """Payloads mapping to the same key are duplicates even if they differ elsewhere."""
    domain, gate, _ran = domain_with_gate()
    gate.set()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    first = await handle.submit(Fetch("https://a", "one"))
    second = await handle.submit(Fetch("https://a", "two"))
    upgraded = await handle.submit(Fetch("https://a", "three"), priority=Priority.HIGH)
    other = await handle.submit(Fetch("https://b"))
    assert isinstance(first, Inserted)
    assert second == Duplicate(first.id)
    assert upgraded == Upgraded(first.id, Priority.NORMAL, Priority.HIGH)
    assert isinstance(other, Inserted)
    assert other.id > first.id
    record = await scheduler.get_task(first.id)
    assert record is not None
    assert (record.priority, record.payload["attempt_note"]) == (Priority.HIGH, "one")
    await scheduler.close()


async def test_default_key_is_a_hash_of_type_and_payload() -> None:
    """Without a key, equal payloads are duplicates and different payloads are not."""
    domain, _, _ = domain_with_gate()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit({"host": "x"}, task="ping")
    b = await handle.submit({"host": "x"}, task="ping")
    c = await handle.submit({"host": "y"}, task="ping")
    assert isinstance(a, Inserted)
    assert b == Duplicate(a.id)
    assert isinstance(c, Inserted)
    record = await scheduler.get_task(a.id)
    assert record is not None
    assert len(record.key) == 32
    await scheduler.close()


async def test_explicit_key_overrides_the_type_key() -> None:
    """key= on submit replaces the task type's key function."""
    domain, _, _ = domain_with_gate()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    a = await handle.submit(Fetch("https://a"), key="shared")
    b = await handle.submit(Fetch("https://b"), key="shared")
    assert b == Duplicate(a.id)
    await scheduler.close()


async def test_duplicate_of_a_running_task_runs_it_once_more() -> None:
    """A duplicate of a running task is Requeued: it runs once more, then the key is free."""
    domain, gate, ran = domain_with_gate()
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        events = scheduler.events()
        handle = scheduler.domain(domain)
        first = await handle.submit(Fetch("https://a"))
        await events.__anext__()  # Dispatched: it is running now
        assert await handle.submit(Fetch("https://a"), priority=0) == Requeued(first.id)
        assert await handle.submit(Fetch("https://a")) == Requeued(first.id)
        gate.set()
        await scheduler.wait_idle()
        history = await scheduler.get_history(first.id)
        again = await handle.submit(Fetch("https://a"))
        await scheduler.wait_idle()
    assert ran == ["https://a", "https://a", "https://a"]
    assert [(r.status, r.priority) for r in history] == [
        (TaskStatus.COMPLETED, Priority.NORMAL),
        (TaskStatus.COMPLETED, 0),
    ]
    assert isinstance(again, Inserted)
    assert again.id != first.id


async def test_batch_outcomes_in_order() -> None:
    """A batch returns one outcome per item; the last of a key is the one stored."""
    domain, _, _ = domain_with_gate()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    existing = await scheduler.domain(domain).submit(Fetch("https://old"))
    outcomes = await scheduler.domain(domain).submit_many(
        [
            Submission(Fetch("https://k"), priority=Priority.NORMAL),
            Submission(Fetch("https://k"), priority=Priority.HIGH),
            Submission(Fetch("https://old"), priority=Priority.HIGH),
            Fetch("https://new"),
        ]
    )
    assert isinstance(outcomes[1], Inserted)
    assert outcomes[0] == Duplicate(outcomes[1].id)
    assert outcomes[2] == Upgraded(existing.id, Priority.NORMAL, Priority.HIGH)
    assert isinstance(outcomes[3], Inserted)
    stored = await scheduler.get_task(outcomes[1].id)
    assert stored is not None
    assert stored.priority == Priority.HIGH
    assert await scheduler.domain(domain).submit_many([]) == []
    await scheduler.close()


async def test_a_batch_mixing_bare_tasks_and_options_stores_each_as_given() -> None:
    """Tasks without options are stored by a narrower insert; every field reads back."""
    from taskmill import IoBudget, RetryPolicy
    from taskmill.testing import FakeClock

    domain = Domain("d")

    @domain.task("job")
    async def job(n: int) -> None:
        return None

    clock = FakeClock()
    now = clock.now()
    io = IoBudget(disk_read=1, disk_write=2, net_rx=3, net_tx=4)
    scheduler = Scheduler(":memory:", domains=[domain], clock=clock)
    await scheduler.open()  # not dispatching: the tasks stay as stored
    try:
        handle = scheduler.domain(domain)
        await scheduler.pause_group("g")
        outcomes = await handle.submit_many(
            [
                Submission(1),
                Submission(2, tags={"user": "ann"}),
                Submission(3, group="g"),
                Submission(4, run_after=30, ttl=60),
                Submission(5, retry=RetryPolicy.never(), expected_io=IoBudget.disk(read=7)),
                Submission(6, label="six", priority=Priority.HIGH, expected_io=io),
            ]
        )
        ids = [o.id for o in outcomes if isinstance(o, Inserted)]
        records = [await scheduler.get_task(i) for i in ids]
    finally:
        await scheduler.close()
    assert len(ids) == 6
    assert ids == sorted(ids)
    got = [
        (r.payload, r.status, r.tags, r.group, r.not_before, r.expires_at, r.label, r.priority,
         r.expected_io, r.paused_for)
        for r in records if r is not None
    ]  # fmt: skip
    assert got == [
        (1, TaskStatus.PENDING, {}, None, None, None, "d::job", 128, IoBudget(), ()),
        (2, TaskStatus.PENDING, {"user": "ann"}, None, None, None, "d::job", 128, IoBudget(), ()),
        (3, TaskStatus.PAUSED, {}, "g", None, None, "d::job", 128, IoBudget(), ("group",)),
        (4, TaskStatus.PENDING, {}, None, now + 30, now + 60, "d::job", 128, IoBudget(), ()),
        (5, TaskStatus.PENDING, {}, None, None, None, "d::job", 128, IoBudget.disk(read=7), ()),
        (6, TaskStatus.PENDING, {}, None, None, None, "six", 64, io, ()),
    ]
