"""The workload of the crash tests, run in a child process that the test kills with SIGKILL.

Usage: python crash_workload.py DATABASE

It prints ``started <id> <attempt>`` when an executor starts and ``completed <id>`` once a
completion is committed, so the parent knows what state the database holds when it kills.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from taskmill import Completed, Domain, Retry, RetryPolicy, Scheduler, TaskContext

CONCURRENCY = 4


@dataclass
class Work:
    n: int
    block: bool = False


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

    return domain


async def main(database: str) -> None:
    """Run the workload until killed."""
    async with (
        Scheduler(
            database, domains=[make_domain(block_forever=True)], max_concurrency=CONCURRENCY
        ) as scheduler,
        scheduler.events() as events,
    ):
        print("ready", flush=True)
        async for event in events:
            if isinstance(event, Completed):
                print(f"completed {event.task.id}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
