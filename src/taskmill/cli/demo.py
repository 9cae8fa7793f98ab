"""``taskmill demo``: a photo-library workload that shows what the scheduler does.

Three acts on one database file: priorities and deduplication; retries and dead letters;
a worker process killed with SIGKILL whose interrupted tasks are recovered on reopen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from taskmill import (
    Completed,
    DeadLettered,
    Dispatched,
    Domain,
    Event,
    Failed,
    IoBudget,
    PermanentError,
    Preempted,
    Priority,
    Retry,
    RetryPolicy,
    Scheduler,
    SubmitOutcome,
    Subscription,
    TaskContext,
    TaskEvent,
)

# --- the workload ----------------------------------------------------------------------------


@dataclass
class Thumbnail:
    """Make a thumbnail of one photo."""

    path: str
    size: int = 256


@dataclass
class Upload:
    """Upload a file; the first `flaky` attempts fail; `missing` files fail for good."""

    path: str
    flaky: int = 0
    missing: bool = False


network = {"up": True}  # flipped by act two to make uploads fail until "the network is back"


@dataclass
class Preview:
    """Render a full-size preview: the user is looking at the screen, waiting."""

    path: str


@dataclass
class Transcode:
    """Transcode a video: long enough to be interrupted by a crash."""

    path: str


photos = Domain("photos", priority=Priority.BACKGROUND)
cloud = Domain("cloud", retry=RetryPolicy.exponential(0.1, factor=2, max_delay=1.0, jitter=0))


@photos.task(
    "thumbnail",
    key=lambda t: t.path,
    label=lambda t: f"thumbnail {Path(t.path).name}",
    expected_io=IoBudget.disk(read=4 << 20, write=64 << 10),
)
def make_thumbnail(job: Thumbnail, ctx: TaskContext) -> None:
    """A plain function: it runs in a worker thread, never on the event loop."""
    ctx.cancel_token.wait(0.04)  # stands in for decoding and resizing
    ctx.record_read_bytes(4 << 20)
    ctx.record_write_bytes(64 << 10)


@cloud.task("upload", key=lambda u: u.path, label=lambda u: f"upload {Path(u.path).name}")
async def upload(job: Upload, ctx: TaskContext) -> None:
    """An async executor that reports progress and fails the way networks do."""
    if job.missing:
        raise PermanentError(f"{job.path} does not exist")
    if not network["up"] or ctx.attempt <= job.flaky:
        raise Retry("connection reset by peer")
    for step in range(1, 5):
        await asyncio.sleep(0.01)
        ctx.progress.report_fraction(step, 4, "uploading")
    ctx.record_net_tx_bytes(1 << 20)


@photos.task("preview", priority=Priority.REALTIME, label=lambda p: f"preview {Path(p.path).name}")
def render_preview(job: Preview, ctx: TaskContext) -> None:
    """Urgent work: it preempts a background task when every slot is busy."""
    ctx.cancel_token.wait(0.02)


@photos.task("transcode", key=lambda t: t.path, label=lambda t: f"transcode {Path(t.path).name}")
async def transcode(job: Transcode, ctx: TaskContext) -> None:
    """Long-running work: in the doomed worker process it never ends."""
    if os.environ.get("TASKMILL_DEMO_WORKER"):
        print(f"worker: transcoding {job.path} (task {ctx.id})", flush=True)
        await asyncio.Event().wait()
    await asyncio.sleep(0.2)


DOMAINS = [photos, cloud]


# --- output ----------------------------------------------------------------------------------


class Narrator:
    """Prints what happens, with the time since the demo started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def say(self, text: str) -> None:
        """Print one line, stamped with the elapsed time."""
        print(f"[{time.perf_counter() - self.start:6.2f}s] {text}", flush=True)

    def act(self, title: str) -> None:
        """Print the heading of an act."""
        print(f"\n== {title} ==", flush=True)

    def submitted(self, what: str, outcome: SubmitOutcome) -> None:
        """Report what a submission did."""
        self.say(f"submit {what:<34} -> {outcome.kind} #{outcome.id}")

    async def follow(self, events: Subscription) -> None:
        """Print the events of a subscription until it ends."""
        async for event in events:
            line = describe(event)
            if line:
                self.say(line)


def describe(event: Event) -> str | None:
    """One line about an event, or None for events the demo does not show."""
    if not isinstance(event, TaskEvent):
        return None
    task = f"{event.task.label} #{event.task.id}"
    if isinstance(event, Dispatched):
        return f"  start    {task} (priority {event.task.priority}, attempt {event.attempt})"
    if isinstance(event, Completed):
        return f"  done     {task} in {event.duration * 1000:.0f} ms"
    if isinstance(event, Failed):
        after = f", retry in {event.retry_after:.2f}s" if event.will_retry else ""
        return f"  failed   {task}: {event.error}{after}"
    if isinstance(event, DeadLettered):
        return f"  dead     {task} after {event.attempts} attempts"
    if isinstance(event, Preempted):
        return f"  paused   {task}: preempted by #{event.by}, no retry charged"
    return None


# --- the acts --------------------------------------------------------------------------------


async def act_priorities(scheduler: Scheduler, narrator: Narrator) -> None:
    """Act one: HIGH work overtakes the queue, REALTIME work preempts, duplicates are caught."""
    narrator.act("1. Priorities, preemption and deduplication")
    narrator.say("8 thumbnails queue at BACKGROUND priority; 2 run at a time")
    handle = scheduler.domain(photos)
    for n in range(1, 9):
        path = f"/photos/img_{n:03}.jpg"
        narrator.submitted(f"thumbnail {path}", await handle.submit(Thumbnail(path)))
    again = await handle.submit(Thumbnail("/photos/img_005.jpg"))
    narrator.submitted("thumbnail /photos/img_005.jpg again", again)
    urgent = await scheduler.domain(cloud).submit(
        Upload("/docs/report.pdf"), priority=Priority.HIGH
    )
    narrator.submitted("upload report.pdf at HIGH priority", urgent)
    narrator.say("the user opens a photo: its preview is REALTIME and every slot is busy")
    preview = await handle.submit(Preview("/photos/img_042.jpg"))
    narrator.submitted("preview img_042.jpg at REALTIME", preview)
    await scheduler.wait_idle()
    narrator.say("the preview preempted a thumbnail; the HIGH upload took the next free slot")


async def act_retries(scheduler: Scheduler, narrator: Narrator) -> None:
    """Act two: retries with backoff, a permanent failure, a dead letter retried."""
    narrator.act("2. Retries, failures and dead letters")
    handle = scheduler.domain(cloud)
    holiday = await handle.submit(Upload("/v/holiday.mov", flaky=2))
    narrator.submitted("upload holiday.mov (fails twice)", holiday)
    narrator.submitted(
        "upload gone.txt (missing file)", await handle.submit(Upload("/gone.txt", missing=True))
    )
    await scheduler.wait_idle()
    narrator.say("the network goes down")
    network["up"] = False
    huge = await handle.submit(Upload("/v/huge.mov"), retry=RetryPolicy.fixed(0.1, max_retries=2))
    narrator.submitted("upload huge.mov (2 retries)", huge)
    await scheduler.wait_idle()
    narrator.say("the network is back: retry the dead letter")
    network["up"] = True
    narrator.submitted("retry_dead_letter(huge.mov)", await scheduler.retry_dead_letter(huge.id))
    await scheduler.wait_idle()


async def act_crash(db: Path, narrator: Narrator) -> None:
    """Act three: kill a worker process mid-task and recover its work on reopen."""
    narrator.act("3. Crash recovery")
    narrator.say("a worker process starts 3 long transcodes; we kill it with SIGKILL")
    code = f"from taskmill.cli.demo import worker; worker({str(db)!r})"
    worker_process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "TASKMILL_DEMO_WORKER": "1"},
    )
    assert worker_process.stdout is not None
    started = 0
    while started < 3:
        line = (await worker_process.stdout.readline()).decode().strip()
        if not line:
            raise RuntimeError(f"the demo worker exited early ({await worker_process.wait()})")
        narrator.say(line)
        started += line.startswith("worker: transcoding")
    worker_process.kill()  # SIGKILL on POSIX: no cleanup, no goodbye
    status = await worker_process.wait()
    narrator.say(f"worker killed (exit status {status}); reopening the database")
    scheduler = Scheduler(db, domains=DOMAINS, max_concurrency=4)
    await scheduler.open()
    for record in await scheduler.list_tasks():
        narrator.say(
            f"recovered {record.label} #{record.id}: {record.status}, retries {record.retry_count}"
        )
    events = scheduler.events()
    follower = asyncio.create_task(narrator.follow(events))
    async with scheduler:
        await scheduler.wait_idle()
    await follower  # the subscription ends when the scheduler closes


def worker(db: str) -> None:
    """The process killed in act three."""

    async def run() -> None:
        async with Scheduler(db, domains=DOMAINS, max_concurrency=4) as scheduler:
            handle = scheduler.domain(photos)
            await handle.submit_many([Transcode(f"/videos/clip_{n}.mp4") for n in range(1, 4)])
            await asyncio.Event().wait()

    asyncio.run(run())


async def run_demo(*, db: str | None = None, crash: bool = True) -> int:
    """Run the demo; return the process exit status."""
    with tempfile.TemporaryDirectory(prefix="taskmill-demo-") as tmp:
        path = Path(db) if db else Path(tmp) / "tasks.db"
        narrator = Narrator()
        print(f"taskmill demo: tasks are stored in {path}")
        scheduler = Scheduler(path, domains=DOMAINS, max_concurrency=2)
        follower = asyncio.create_task(narrator.follow(scheduler.events()))
        async with scheduler:
            await act_priorities(scheduler, narrator)
            await act_retries(scheduler, narrator)
        await follower
        if crash:
            await act_crash(path, narrator)
        async with Scheduler(path, domains=DOMAINS) as scheduler:
            history = await scheduler.list_history(limit=10_000)
        counts = Counter(str(record.status) for record in history)
        narrator.act("Summary")
        print("history: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        print(
            "every task is in the database, finished or recoverable; nothing lived only in memory"
        )
    return 0
