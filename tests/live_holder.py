"""A running app for read-only tests: holds a database with a known, steady state.

Run as ``python live_holder.py DB``. It runs three quick tasks and a failing one to the end,
starts a task that blocks, queues two more behind it (one slot), pauses the group
``uploads``, prints ``ready <id of the blocking task>`` and keeps running until its standard
input closes.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from taskmill import Domain, PermanentError, Priority, RetryPolicy, Scheduler, TaskContext

live = Domain("live", retry=RetryPolicy.never())
started = asyncio.Event()


@dataclass
class Job:
    name: str


@live.task("quick", key=lambda job: job.name)
async def quick(job: Job, ctx: TaskContext) -> None:
    """End at once."""


@live.task("boom")
async def boom(job: Job, ctx: TaskContext) -> None:
    """Fail for good."""
    raise PermanentError(f"{job.name}: disk on fire")


@live.task("hold")
async def hold(job: Job, ctx: TaskContext) -> None:
    """Run until the process ends."""
    started.set()
    await asyncio.Event().wait()


async def main(database: str) -> None:
    """Build the state, say so, and hold it until stdin closes."""
    async with Scheduler(database, domains=[live], max_concurrency=1) as scheduler:
        handle = scheduler.domain(live)
        for name in ("q1", "q2", "q3"):
            tags = {"user": "ann"} if name == "q1" else {}
            await handle.submit(Job(name), task="quick", tags=tags)
        await handle.submit(Job("b1"), task="boom")
        await scheduler.wait_idle()
        held = await handle.submit(Job("h1"), task="hold", priority=Priority.HIGH)
        await started.wait()
        await handle.submit(Job("p1"), task="quick", tags={"batch": "b1"}, group="uploads")
        await handle.submit(
            Job("p2"), task="quick", tags={"batch": "b2"}, priority=Priority.BACKGROUND
        )
        await scheduler.pause_group("uploads")
        print(f"ready {held.id}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await scheduler.close(immediate=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
