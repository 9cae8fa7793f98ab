"""Type-checked usage of the public API (run by mypy --strict in CI, not by pytest).

If a change makes ordinary use of taskmill fail to type-check, mypy fails on this file.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta

import msgspec

from taskmill import (
    AdmissionState,
    Aimd,
    Completed,
    DatabaseNotFoundError,
    Domain,
    DomainHandle,
    Duplicate,
    Event,
    HistoryRecord,
    Inserted,
    IoBudget,
    IoControl,
    IoLimitState,
    Priority,
    ReadOnlyError,
    Retention,
    Retry,
    RetryPolicy,
    Scheduler,
    SchemaVersionError,
    Submission,
    SubmitOutcome,
    Subscription,
    TaskContext,
    TaskRecord,
    TaskStatus,
    Upgraded,
)
from taskmill.testing import FakeClock, FakeSampler, run_until_idle

media = Domain("media", priority=Priority.BACKGROUND, retry=RetryPolicy.fixed(1.0))


@dataclass
class Thumbnail:
    path: str
    size: int


class Upload(msgspec.Struct):
    url: str


class Export(msgspec.Struct):
    path: str


class Archive(msgspec.Struct):
    path: str


@media.task("thumbnail", key=lambda t: t.path, expected_io=IoBudget.disk(read=4096))
async def thumbnail(job: Thumbnail, ctx: TaskContext) -> None:
    ctx.progress.report(0.5, "half")
    ctx.record_read_bytes(4096)
    if ctx.cancelled:
        return
    if ctx.attempt < 2:
        raise Retry("later", after=timedelta(seconds=1))


@media.task("upload", retry=RetryPolicy.exponential(0.5, max_delay=60))
def upload(job: Upload, ctx: TaskContext) -> None:
    ctx.cancel_token.wait(0.01)
    ctx.record_net_tx_bytes(10)


async def use() -> None:
    clock = FakeClock()
    scheduler = Scheduler(
        "tasks.db",
        domains=[media],
        max_concurrency=4,
        durability="full",
        clock=clock,
        retention=Retention(max_records=100, max_age=timedelta(days=7)),
    )
    events: Subscription = scheduler.events(maxsize=100)
    async with scheduler:
        handle: DomainHandle = scheduler.domain(media)
        outcome: SubmitOutcome = await handle.submit(Thumbnail("/a.jpg", 1), priority=Priority.HIGH)
        match outcome:
            case Inserted(id=task_id) | Duplicate(id=task_id):
                print(task_id)
            case Upgraded(id=task_id, priority=priority):
                print(task_id, priority)
        many: list[SubmitOutcome] = await handle.submit_many(
            [Upload("https://x"), Submission(Upload("https://y"), priority=10)]
        )
        print(len(many))
        await run_until_idle(scheduler, clock)
        await scheduler.wait_idle(include_delayed=False)
        record: TaskRecord | None = await scheduler.get_task(outcome.id)
        history: list[HistoryRecord] = await scheduler.list_history(status=TaskStatus.COMPLETED)
        counts: dict[TaskStatus, int] = await scheduler.count_by_status()
        print(record, history, counts)
    async for event in events:
        typed: Event = event
        if isinstance(event, Completed):
            print(event.task.id, event.duration, event.actual_io.disk_read, typed.to_dict())


@media.task("export", expected_io=IoBudget.disk(write=64 << 20))
def export(job: Export, ctx: TaskContext) -> None:
    with ctx.io.open(job.path, "wb") as f:
        written: int = f.write(b"data")
        f.flush()
        os.fsync(f.fileno())
    with ctx.io.open(job.path, encoding="utf-8") as text:
        line: str = text.readline()
    copied: int = ctx.io.copy(job.path, job.path + ".bak")
    print(written, line, copied)


@media.task("archive")
async def archive(job: Archive, ctx: TaskContext) -> None:
    async with ctx.io.open_async(job.path, "wb") as f:
        await f.write(b"data")
    copied: int = await ctx.io.copy_async(job.path, job.path + ".bak", progress=False)
    print(copied)


async def use_io_control() -> None:
    sampler = FakeSampler(disk_write=100_000_000)
    scheduler = Scheduler(
        "tasks.db",
        domains=[media],
        sampler=sampler,
        io_control=IoControl(exempt=Priority.NORMAL, aimd=Aimd(start=2), chunk=1 << 20),
    )
    async with scheduler:
        sampler.congest(3.0)
        state: AdmissionState = scheduler.admission.state()
        limit: IoLimitState | None = state.io_limit
        if limit is not None:
            print(
                limit.limit, limit.congested, limit.reason, [r.describe() for r in limit.readings]
            )
        reasons: dict[int, str] = state.waiting
        print(reasons, state.summary())
    Scheduler("tasks.db", resource_monitoring=True, io_control=None)


async def use_read_only() -> None:
    try:
        async with Scheduler(os.path.join("data", "tasks.db"), read_only=True) as view:
            counts: dict[TaskStatus, int] = await view.count_by_status()
            page: list[TaskRecord] = await view.list_tasks(
                domain="media", group="s3", tags={"user": None}, limit=50
            )
            if page:
                last = page[-1]
                page = await view.list_tasks(after=(last.priority, last.id))
            snapshot = await view.snapshot()
            admission: AdmissionState | None = snapshot.admission
            print(counts, page, admission, await view.pause_state())
            await view.pause()
    except ReadOnlyError as exc:
        print(exc)
    except (DatabaseNotFoundError, SchemaVersionError) as exc:
        print(exc)


if __name__ == "__main__":
    asyncio.run(use())


def desktop_app() -> None:
    """The synchronous facade: same calls, blocking, typed like the asyncio ones."""
    from taskmill import sync

    with sync.Scheduler("tasks.db", domains=[media], max_concurrency=2) as scheduler:
        outcome: SubmitOutcome = scheduler.domain(media).submit(Thumbnail("/a.jpg", 128))
        outcomes: list[SubmitOutcome] = scheduler.domain(media).submit_many(
            [Thumbnail("/b.jpg", 64)]
        )
        if isinstance(outcome, Inserted):
            cancelled: bool = scheduler.cancel(outcome.id)
            record: TaskRecord | None = scheduler.get_task(outcome.id)
            print(cancelled, record, outcomes)
        paused: bool = scheduler.pause(media)
        history: list[HistoryRecord] = scheduler.list_history(limit=10)

        def on_event(event: Event) -> None:
            print(event)

        subscription: sync.CallbackSubscription = scheduler.subscribe(on_event, kinds=[Completed])
        scheduler.admission.set_max_concurrency(4)
        scheduler.wait_idle(timeout=5.0)
        subscription.close()
        print(paused, history, subscription.missed)
