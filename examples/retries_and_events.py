"""Retries with backoff, a dead letter, and the events that tell a UI about them.

Run it with ``python examples/retries_and_events.py``.
"""

import asyncio
import tempfile
from pathlib import Path

from taskmill import Domain, Retry, RetryPolicy, Scheduler, TaskContext

net = Domain("net", retry=RetryPolicy.exponential(0.05, factor=2, max_delay=1.0, jitter=0))


@net.task("fetch", payload=str, label=lambda url: f"fetch {url}")
async def fetch(url: str, ctx: TaskContext) -> None:
    if "flaky" in url and ctx.attempt < 3:
        raise ConnectionError("connection reset")
    if "down" in url:
        raise Retry("server unavailable", after=0.05)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scheduler = Scheduler(Path(tmp) / "tasks.db", domains=[net])
        events = scheduler.events()
        async with scheduler:
            handle = scheduler.domain(net)
            await handle.submit("https://example.com/flaky")
            dead = await handle.submit(
                "https://example.com/down", retry=RetryPolicy.fixed(0.05, max_retries=1)
            )
            await scheduler.wait_idle()
            [record] = await scheduler.get_history(dead.id)
            print(f"{record.label}: {record.status} after {record.retry_count} retries")
        async for event in events:  # ends once the scheduler has closed
            print(event.to_dict()["event"], event.task.label, getattr(event, "attempt", ""))


if __name__ == "__main__":
    asyncio.run(main())
