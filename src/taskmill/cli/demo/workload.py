"""The demo's workload: a photo library's task types, and the worker process that is killed.

Two domains. ``photos`` (``BACKGROUND`` by default): folder scans, an urgent preview,
thumbnails, exports that write real files through ``ctx.io``, and long transcodes. ``cloud``:
uploads that fail the way networks do, retried with exponential backoff. Every duration is
part of the payload, so that ``--fast`` shortens the show without another code path.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from taskmill import (
    Domain,
    IoBudget,
    PermanentError,
    Priority,
    Retry,
    RetryPolicy,
    Scheduler,
    TaskContext,
)

MIB = 1 << 20
EXPORT_CHUNK = 256 << 10
WORKER_ENV = "TASKMILL_DEMO_WORKER"
"""Set in the worker process of act six: its transcodes never end, until it is killed."""


@dataclass
class Scan:
    """Index the photos of one folder."""

    folder: str
    seconds: float


@dataclass
class Preview:
    """Render a full-size preview: the user is looking at the screen, waiting."""

    path: str
    seconds: float


@dataclass
class Thumbnail:
    """Make a thumbnail of one photo."""

    path: str
    seconds: float


@dataclass
class Upload:
    """Upload a file; the first ``flaky`` attempts fail; a ``missing`` file fails for good."""

    path: str
    seconds: float
    flaky: int = 0
    missing: bool = False


@dataclass
class Export:
    """Write an exported album of ``mib`` MiB to ``path`` (deleted once written)."""

    path: str
    mib: int
    chunk_seconds: float


@dataclass
class Transcode:
    """Transcode a video: long enough to be interrupted by a crash."""

    path: str
    seconds: float


class Network:
    """The demo's pretend network: act three takes it down and brings it back."""

    up = True


photos = Domain("photos", priority=Priority.BACKGROUND)
cloud = Domain("cloud", retry=RetryPolicy.exponential(0.4, factor=2, max_delay=2.0, jitter=0))
DOMAINS = [photos, cloud]


async def _steps(ctx: TaskContext, seconds: float, message: str, steps: int = 20) -> None:
    """Spend ``seconds`` in ``steps``, reporting progress after each."""
    for step in range(1, steps + 1):
        await asyncio.sleep(seconds / steps)
        ctx.progress.report_fraction(step, steps, message)


@photos.task("scan", label=lambda s: f"scan {s.folder}")
async def scan(job: Scan, ctx: TaskContext) -> None:
    """A long async task: preemption cancels it at its next ``await``."""
    await _steps(ctx, job.seconds, "indexing")


@photos.task("preview", priority=Priority.REALTIME, label=lambda p: f"preview {Path(p.path).name}")
async def preview(job: Preview, ctx: TaskContext) -> None:
    """Urgent work: it preempts the least important running task when every slot is busy."""
    await _steps(ctx, job.seconds, "rendering", steps=10)


@photos.task("thumbnail", key=lambda t: t.path, label=lambda t: f"thumbnail {Path(t.path).name}")
async def thumbnail(job: Thumbnail, ctx: TaskContext) -> None:
    """Deduplicated by path: submitting the same photo again joins the queued task."""
    await _steps(ctx, job.seconds, "resizing", steps=10)


@cloud.task("upload", key=lambda u: u.path, label=lambda u: f"upload {Path(u.path).name}")
async def upload(job: Upload, ctx: TaskContext) -> None:
    """Fails the way networks do: ``Retry`` is retried with backoff, a missing file is not."""
    if job.missing:
        raise PermanentError(f"{job.path} does not exist")
    if not Network.up or ctx.attempt <= job.flaky:
        await asyncio.sleep(job.seconds / 4)
        raise Retry("connection reset by peer")
    await _steps(ctx, job.seconds, "uploading", steps=10)


@photos.task(
    "export",
    label=lambda e: f"export {Path(e.path).name}",
    expected_io=IoBudget.disk(write=8 * MIB),
)
def export(job: Export, ctx: TaskContext) -> None:
    """A plain function writing a real file through ``ctx.io``: flushed in chunks, paced.

    It runs in a worker thread. While the disk is congested the scheduler starts fewer of
    these, and the chunks of those running wait for grants.
    """
    block = b"\0" * EXPORT_CHUNK
    total = job.mib * MIB
    ctx.progress.set_bytes_total(total)
    try:
        with ctx.io.open(job.path, "wb") as f:
            for _ in range(total // EXPORT_CHUNK):
                f.write(block)
                ctx.progress.add_bytes(EXPORT_CHUNK, "writing")
                ctx.cancel_token.wait(job.chunk_seconds)  # the album's pages take time to render
    finally:
        Path(job.path).unlink(missing_ok=True)


@photos.task("transcode", key=lambda t: t.path, label=lambda t: f"transcode {Path(t.path).name}")
async def transcode(job: Transcode, ctx: TaskContext) -> None:
    """Long-running work: in the doomed worker process it never ends."""
    if os.environ.get(WORKER_ENV):
        print(f"worker: transcoding {job.path} (task {ctx.id})", flush=True)
        await asyncio.Event().wait()
    await _steps(ctx, job.seconds, "transcoding")


def worker(db: str, seconds: float) -> None:
    """The process killed in act six: it starts three transcodes and waits forever."""

    async def run() -> None:
        async with Scheduler(db, domains=DOMAINS, max_concurrency=4) as scheduler:
            clips = [Transcode(f"/videos/clip_{n}.mp4", seconds) for n in range(1, 4)]
            await scheduler.domain(photos).submit_many(clips)
            await asyncio.Event().wait()

    asyncio.run(run())
