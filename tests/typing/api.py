"""Type-checked usage of the public API (run by mypy --strict in CI, not by pytest).

If a change makes ordinary use of taskmill fail to type-check, mypy fails on this file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import msgspec

from taskmill import (
    Completed,
    Domain,
    DomainHandle,
    Duplicate,
    Event,
    HistoryRecord,
    Inserted,
    IoBudget,
    Priority,
    Retention,
    Retry,
    RetryPolicy,
    Scheduler,
    Submission,
    SubmitOutcome,
    Subscription,
    TaskContext,
    TaskRecord,
    TaskStatus,
    Upgraded,
)
from taskmill.testing import FakeClock, run_until_idle

media = Domain("media", priority=Priority.BACKGROUND, retry=RetryPolicy.fixed(1.0))


@dataclass
class Thumbnail:
    path: str
    size: int


class Upload(msgspec.Struct):
    url: str


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


if __name__ == "__main__":
    asyncio.run(use())
