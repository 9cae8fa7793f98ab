"""The README's first example: one domain, one typed task, submit and wait.

Run it with ``python examples/quickstart.py``; it creates ``tasks.db`` in the current
directory.
"""

import asyncio
from dataclasses import dataclass

from taskmill import Domain, IoBudget, Scheduler, TaskContext

media = Domain("media")


@dataclass
class Thumbnail:
    path: str
    size: int


@media.task("thumbnail", expected_io=IoBudget.disk(read=4096, write=1024), key=lambda t: t.path)
async def make_thumbnail(thumb: Thumbnail, ctx: TaskContext) -> None:
    ctx.progress.report(0.5, "resizing")
    ctx.record_read_bytes(4096)
    ctx.record_write_bytes(1024)


async def main() -> None:
    async with Scheduler(
        "tasks.db", domains=[media], max_concurrency=8, resource_monitoring=True
    ) as scheduler:
        outcome = await scheduler.domain(media).submit(Thumbnail("/photos/img.jpg", 256))
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
        print(f"task {record.id} {record.status}: read {record.actual_io.disk_read} bytes")


if __name__ == "__main__":
    asyncio.run(main())
