"""The workload of the crash tests, run in a child process that the test kills with SIGKILL.

Usage: python crash_workload.py DATABASE [basic|recurring|preemption|requeue|fanout]

It prints ``started <id> <attempt>`` when an executor starts, ``completed <id>`` once a
completion is committed and ``preempted <id>`` once a preemption is, so the parent knows
what state the database holds when it kills.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from taskmill import (
    Completed,
    Dispatched,
    Domain,
    Every,
    Preempted,
    Priority,
    Retry,
    RetryPolicy,
    Scheduler,
    TaskContext,
    Waiting,
)

CONCURRENCY = 4


@dataclass
class Work:
    n: int
    block: bool = False


@dataclass
class Beat:
    name: str


@dataclass
class Urgent:
    n: int


@dataclass
class Hold:
    version: str


@dataclass
class Fan:
    width: int


@dataclass
class Leaf:
    n: int


def make_domain(block_forever: bool) -> Domain:
    """The crash domain; with block_forever, 'block' tasks retry once then hang."""
    domain = Domain("crash", retry=RetryPolicy.fixed(0.0, max_retries=5))

    @domain.task("work")
    async def work(job: Work, ctx: TaskContext) -> None:
        print(f"started {ctx.id} {ctx.attempt}", flush=True)
        if job.block and block_forever:
            if ctx.attempt == 1:
                raise Retry("first attempt of a blocking task retries", after=0)
            await asyncio.Event().wait()  # hangs until the process is killed

    @domain.task("beat")
    async def beat(job: Beat, ctx: TaskContext) -> None:
        print(f"started {ctx.id} {ctx.attempt}", flush=True)

    @domain.task("urgent")
    async def urgent(job: Urgent, ctx: TaskContext) -> None:
        print(f"started {ctx.id} {ctx.attempt}", flush=True)
        if block_forever:
            await asyncio.Event().wait()

    async def finalize(job: Fan, ctx: TaskContext) -> None:
        print(f"finalized {ctx.id} {ctx.memo}", flush=True)

    @domain.task("fan", finalize=finalize)
    async def fan(job: Fan, ctx: TaskContext) -> None:
        for n in range(job.width):
            await ctx.spawn(Leaf(n))
        ctx.memo = job.width

    @domain.task("leaf")
    async def leaf(job: Leaf, ctx: TaskContext) -> None:
        print(f"started {ctx.id} {ctx.attempt}", flush=True)
        if block_forever and job.n >= 15:  # the last ones never end: the parent keeps waiting
            await asyncio.Event().wait()

    @domain.task("hold", key=lambda job: "held")
    async def hold(job: Hold, ctx: TaskContext) -> None:
        print(f"started {ctx.id} {ctx.attempt} {job.version}", flush=True)
        if block_forever:
            await asyncio.Event().wait()

    return domain


async def main(database: str, mode: str) -> None:
    """Run the workload until killed."""
    async with (
        Scheduler(
            database, domains=[make_domain(block_forever=True)], max_concurrency=CONCURRENCY
        ) as scheduler,
        scheduler.events() as events,
    ):
        handle = scheduler.domain("crash")
        if mode == "recurring":
            await handle.submit(Beat("heartbeat"), recurring=Every(0.005, fixed_rate=True))
        elif mode == "preemption":
            await handle.submit_many([Work(1000 + n, block=True) for n in range(CONCURRENCY)])
        elif mode == "requeue":
            await handle.submit(Hold("v1"))
        elif mode == "fanout":
            await handle.submit(Fan(20))
        print("ready", flush=True)
        blocking = 0
        async for event in events:
            if isinstance(event, Completed):
                print(f"completed {event.task.id}", flush=True)
            elif isinstance(event, Waiting):
                print(f"waiting {event.task.id}", flush=True)
            elif isinstance(event, Preempted):
                print(f"preempted {event.task.id} by {event.by}", flush=True)
            elif mode == "requeue" and isinstance(event, Dispatched):
                outcome = await handle.submit(Hold("v2"))  # a duplicate of the running task
                print(f"{outcome.kind} {outcome.id}", flush=True)
            elif isinstance(event, Dispatched) and event.attempt == 2:
                blocking += 1  # every slot now holds a task that never ends
                if mode == "preemption" and blocking == CONCURRENCY:
                    await handle.submit(Urgent(1), priority=Priority.REALTIME)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "basic"))
