"""The scenario: six acts on one database, told to a :class:`~taskmill.cli.demo.stage.Stage`.

1. Priorities and preemption: a REALTIME preview preempts the least important running scan.
2. Deduplication: submitting the same photo again gives ``Duplicate``, ``Upgraded`` and
   ``Requeued`` instead of new tasks.
3. Retries: backoff, a permanent failure, a dead letter retried once the network is back.
4. IO-aware throttling: another process floods the disk with fsynced writes while
   BACKGROUND exports write through ``ctx.io``; the IO limit falls, then recovers.
5. A group cap: at most two uploads of one album run at once; other work passes them.
6. Crash recovery: a worker process killed with SIGKILL; its tasks recovered on reopen.

Acts wait on events and on the scheduler's state, never on fixed sleeps, except where the
act itself is about time (the flood's length, how long the IO limit is watched).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from taskmill import (
    Cancelled,
    Completed,
    Dispatched,
    Event,
    Failed,
    IoBudget,
    IoLimitState,
    Preempted,
    Priority,
    RetryPolicy,
    Scheduler,
    Submission,
    SubmitOutcome,
    Subscription,
    TaskEvent,
    TaskmillError,
    TaskStatus,
)
from taskmill.cli.demo.flood import MIB, Flood
from taskmill.cli.demo.stage import Stage, describe
from taskmill.cli.demo.workload import (
    DOMAINS,
    WORKER_ENV,
    Export,
    Network,
    Preview,
    Scan,
    Thumbnail,
    Upload,
    cloud,
    photos,
)

TITLES = (
    "Priorities and preemption",
    "Deduplication",
    "Retries, backoff and a dead letter",
    "IO-aware throttling under a disk flood",
    "A group cap",
    "Crash recovery",
)
SLOTS = 4
ALBUM = "album:holiday"


@dataclass(frozen=True)
class Timing:
    """How long things take: ``--fast`` shortens the show for tests.

    Attributes:
        scale: Factor applied to task durations and backoff delays.
        fast: Whether the show is shortened (smaller flood, shorter watch of the IO limit).
    """

    scale: float = 1.0
    fast: bool = False

    def __call__(self, seconds: float) -> float:
        """``seconds`` scaled."""
        return seconds * self.scale


NORMAL = Timing()
FAST = Timing(scale=0.2, fast=True)


async def wait_for(
    events: Subscription, kind: type[Event], count: int = 1, match: Callable[[Event], bool] = bool
) -> list[Event]:
    """The next ``count`` events of ``kind`` (that ``match``) from a subscription."""
    found: list[Event] = []
    async for event in events:
        if isinstance(event, kind) and match(event):
            found.append(event)
            if len(found) == count:
                break
    return found


def submitted(what: str, outcome: SubmitOutcome) -> str:
    """One line about a submission and its outcome."""
    return f"submit   {what} -> {type(outcome).__name__} #{outcome.id}"


class Show:
    """Runs the acts on ``db`` and tells ``stage`` what happens.

    Args:
        db: The database file (kept afterwards).
        stage: Where to tell it.
        timing: How long things take.
        io: Whether to run the disk flood act.
        crash: Whether to run the crash act (it starts and kills a worker process).
    """

    def __init__(
        self,
        db: Path,
        stage: Stage,
        *,
        timing: Timing = NORMAL,
        io: bool = True,
        crash: bool = True,
    ) -> None:
        self.db = db
        self.stage = stage
        self.t = timing
        self.io = io
        self.crash = crash

    def scheduler(self) -> Scheduler:
        """A scheduler on the demo's database, with IO monitoring on."""
        return Scheduler(
            self.db,
            domains=DOMAINS,
            max_concurrency=SLOTS,
            resource_monitoring=True,
            shutdown_timeout=1.0,
        )

    @contextlib.asynccontextmanager
    async def running(self, scheduler: Scheduler) -> AsyncIterator[Scheduler]:
        """Run ``scheduler``, watched by the stage and logged through its events."""
        async with scheduler:
            subscription = scheduler.subscribe(self._log)
            self.stage.watch(scheduler)
            try:
                yield scheduler
            finally:
                self.stage.watch(None)
                subscription.close()

    def _log(self, event: Event) -> None:
        line = describe(event)
        if line is not None:
            self.stage.say(line)

    async def run(self) -> Counter[str]:
        """Run every act; return the history of the database by status."""
        async with self.running(self.scheduler()) as scheduler:
            await self.priorities(scheduler)
            await self.deduplication(scheduler)
            await self.retries(scheduler)
            await self.throttling(scheduler)
            await self.group_cap(scheduler)
        await self.recovery()
        async with Scheduler(self.db, read_only=True) as view:
            history = await view.list_history(limit=100_000)
        return Counter(str(record.status) for record in history)

    def act(self, number: int, blurb: str) -> None:
        """Begin act ``number``."""
        self.stage.act(number, TITLES[number - 1], blurb)

    # --- 1 --------------------------------------------------------------------------------

    async def priorities(self, scheduler: Scheduler) -> None:
        """Act one: dispatch by priority, then a REALTIME task preempts."""
        self.act(1, "four slots, seven folder scans; then the user opens a photo")
        t, say = self.t, self.stage.say
        folders = [
            ("Camera", Priority.HIGH),
            ("Family", Priority.NORMAL),
            ("Travel", Priority.NORMAL),
            ("Archive 2019", Priority.BACKGROUND),
            ("Archive 2020", Priority.BACKGROUND),
            ("Archive 2021", Priority.BACKGROUND),
            ("Screenshots", Priority.IDLE),
        ]
        handle = scheduler.domain(photos)
        async with scheduler.events(kinds=[Dispatched]) as events:
            await handle.submit_many(
                [Submission(Scan(name, t(2.5)), priority=level) for name, level in folders]
            )
            say("submit   7 scans in one batch: 1 HIGH, 2 NORMAL, 3 BACKGROUND, 1 IDLE")
            await wait_for(events, Dispatched, SLOTS)
        say("every slot is busy; the user opens a photo: its preview is REALTIME")
        async with scheduler.events(kinds=[Preempted]) as events:
            outcome = await handle.submit(Preview("/photos/IMG_0042.jpg", t(1.2)))
            say(submitted("preview IMG_0042.jpg (REALTIME)", outcome))
            [event] = await wait_for(events, Preempted)
        assert isinstance(event, Preempted)
        say(
            f"preempted #{event.task.id} ({event.task.label}), the least important running "
            f"task, for #{event.by}"
        )
        await scheduler.wait_idle()
        say("the preempted scan started over once no urgent task was left; no retry charged")

    # --- 2 --------------------------------------------------------------------------------

    async def deduplication(self, scheduler: Scheduler) -> None:
        """Act two: duplicates of queued and running tasks coalesce."""
        self.act(2, "eight thumbnails keyed by path; the same photos are submitted again")
        t, say = self.t, self.stage.say
        handle = scheduler.domain(photos)
        paths = [f"/photos/IMG_{n:04}.jpg" for n in range(1, 9)]
        async with scheduler.events(kinds=[Dispatched]) as events:
            await handle.submit_many([Thumbnail(path, t(1.2)) for path in paths])
            say("submit   8 thumbnails (BACKGROUND): 4 run, 4 wait")
            await wait_for(events, Dispatched, SLOTS)
        again = await handle.submit(Thumbnail(paths[5], t(1.2)))
        say(submitted("thumbnail IMG_0006.jpg again (queued)", again))
        sooner = await handle.submit(Thumbnail(paths[7], t(1.2)), priority=Priority.HIGH)
        say(submitted("thumbnail IMG_0008.jpg again at HIGH", sooner))
        rerun = await handle.submit(Thumbnail(paths[0], t(1.2)))
        say(submitted("thumbnail IMG_0001.jpg again (running)", rerun))
        say("11 submissions, still 8 tasks: IMG_0008 now runs at HIGH, IMG_0001 runs twice")
        await scheduler.wait_idle()

    # --- 3 --------------------------------------------------------------------------------

    async def retries(self, scheduler: Scheduler) -> None:
        """Act three: backoff, a permanent failure, a dead letter retried."""
        self.act(3, "uploads fail the way networks do")
        t, say = self.t, self.stage.say
        handle = scheduler.domain(cloud)
        backoff = RetryPolicy.exponential(t(0.6), factor=2, max_delay=t(4.0), jitter=0)
        flaky = await handle.submit(Upload("/videos/holiday.mov", t(1.0), flaky=2), retry=backoff)
        say(submitted("upload holiday.mov (fails twice, exponential backoff)", flaky))
        gone = await handle.submit(Upload("/docs/gone.txt", t(0.5), missing=True))
        say(submitted("upload gone.txt (a missing file: PermanentError)", gone))
        await scheduler.wait_idle()
        say("the network goes down")
        Network.up = False
        try:
            huge = await handle.submit(
                Upload("/videos/huge.mov", t(1.0)), retry=RetryPolicy.fixed(t(0.6), max_retries=2)
            )
            say(submitted("upload huge.mov (2 retries)", huge))
            await scheduler.wait_idle()
        finally:
            Network.up = True
        say("the network is back")
        retried = await scheduler.retry_dead_letter(huge.id)
        say(f"dead letter #{huge.id} retried as #{retried.id}")
        await scheduler.wait_idle()

    # --- 4 --------------------------------------------------------------------------------

    async def throttling(self, scheduler: Scheduler) -> None:
        """Act four: a real disk flood from another process; the IO limit falls and recovers."""
        if not self.io:
            self.act(4, "skipped (--no-io)")
            return
        self.act(4, "BACKGROUND exports write through ctx.io; another process floods the disk")
        directory = Path(tempfile.mkdtemp(prefix=".taskmill-demo-io-", dir=self.db.parent))
        try:
            await Throttling(scheduler, self.stage, self.t, directory).run()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    # --- 5 --------------------------------------------------------------------------------

    async def group_cap(self, scheduler: Scheduler) -> None:
        """Act five: a group limited to two tasks at once; other work is not held behind it."""
        self.act(5, f"six uploads to the group {ALBUM!r}, capped at 2; two thumbnails beside")
        t, say = self.t, self.stage.say
        scheduler.admission.set_group_limit(ALBUM, 2)
        say(f"set_group_limit({ALBUM!r}, 2)")
        uploads = [
            Submission(
                Upload(f"/album/holiday_{n}.jpg", t(1.0)), group=ALBUM, tags={"album": ALBUM}
            )
            for n in range(1, 7)
        ]
        running: set[int] = set()
        peak = 0

        def count(event: Event) -> None:
            nonlocal peak
            if not isinstance(event, TaskEvent) or event.task.tags.get("album") != ALBUM:
                return
            if isinstance(event, Dispatched):
                running.add(event.task.id)
                peak = max(peak, len(running))
            elif isinstance(event, Completed | Failed | Preempted | Cancelled):
                running.discard(event.task.id)

        counter = scheduler.subscribe(count)
        await scheduler.domain(cloud).submit_many(uploads)
        extra = [Thumbnail(f"/album/cover_{n}.jpg", t(0.8)) for n in (1, 2)]
        await scheduler.domain(photos).submit_many(extra)
        say(f"submit   6 uploads to {ALBUM} and 2 thumbnails")
        for _ in range(40):  # how admission explains the wait, as soon as a step has run
            snapshot = await scheduler.snapshot()
            if snapshot.admission is not None and (
                snapshot.admission.waiting_by or snapshot.admission.holds
            ):
                say(f"waiting: {snapshot.admission.summary()}")
                break
            await asyncio.sleep(0.025)
        await scheduler.wait_idle()
        counter.close()
        await counter.wait_closed()
        say(f"group {ALBUM}: at most {peak} of its 6 uploads ran at once; the thumbnails passed")
        scheduler.admission.set_group_limit(ALBUM, None)

    # --- 6 --------------------------------------------------------------------------------

    async def recovery(self) -> None:
        """Act six: kill a worker process mid-task; its tasks are recovered on reopen."""
        if not self.crash:
            self.act(6, "skipped (--no-crash)")
            return
        self.act(6, "a worker process starts 3 transcodes and is killed with SIGKILL")
        t, say = self.t, self.stage.say
        code = f"from taskmill.cli.demo.workload import worker; worker({str(self.db)!r}, {t(1.5)})"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, WORKER_ENV: "1"},
            start_new_session=True,  # Ctrl-C on the terminal is the demo's to handle
        )
        try:
            assert process.stdout is not None
            async with Scheduler(self.db, read_only=True) as view:  # what another process sees
                self.stage.watch(view)
                started = 0
                while started < 3:
                    line = (await process.stdout.readline()).decode().strip()
                    if not line:
                        raise RuntimeError(f"the demo worker exited early ({await process.wait()})")
                    say(line)
                    started += line.startswith("worker: transcoding")
                self.stage.watch(None)
            process.kill()  # SIGKILL: no cleanup, no goodbye
            status = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        say(f"worker killed (exit status {status}); reopening the database")
        async with self.running(self.scheduler()) as scheduler:
            recovered = await scheduler.list_tasks()
            say(
                f"recovered {len(recovered)} tasks: "
                + ", ".join(f"#{r.id} {r.status} (retries {r.retry_count})" for r in recovered)
            )
            await scheduler.wait_idle()


class Throttling:
    """Act four's parts: exports kept queued, the flood, and a watch on the IO limit."""

    def __init__(self, scheduler: Scheduler, stage: Stage, timing: Timing, directory: Path):
        self.scheduler = scheduler
        self.stage = stage
        self.t = timing
        self.directory = directory
        self.io: IoLimitState | None = None
        self.waiting = 0
        self.phase = "before"
        self.low = 0
        self.congested = 0
        self.peak = 0.0
        self.peak_source: str | None = None
        self.most_waiting = 0

    async def run(self) -> None:
        """Warm up, flood, recover, then let the exports finish."""
        say, fast = self.stage.say, self.t.fast
        say(f"exports of {4 if fast else 8} MiB each write into {self.directory}")
        say("the IO limit starts at 1 and grows while the disk is clear")
        feeder = asyncio.create_task(self._feed())
        watcher = asyncio.create_task(self._watch())
        try:
            await self._until(lambda io: io.limit == io.cap, 2.0 if fast else 3.0)
            before = self.io.limit if self.io is not None else 0
            self.phase, self.low = "flood", before
            budget = (256 if fast else 512) * MIB
            seconds = 2.5 if fast else 4.0
            flood = Flood(self.directory / "flood", budget, seconds)
            say(
                f"flood: another process writes up to {budget // MIB} MiB with fsyncs "
                f"for {seconds:g} s"
            )
            await flood.start()
            try:
                while flood.running:
                    self.stage.aside(
                        f"disk flood: {flood.written // MIB} of {budget // MIB} MiB written"
                    )
                    await asyncio.sleep(0.1)
                await flood.wait()
            finally:
                await flood.stop()
                self.stage.aside(None)
            say(f"flood over: {flood.written // MIB} MiB written, fsynced and deleted")
            self.phase = "after"
            target = (lambda io: io.limit > self.low) if fast else (lambda io: io.limit >= before)
            await self._until(target, 4.0 if fast else 6.0)
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            await self.scheduler.wait_idle()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        after = self.io.limit if self.io is not None else 0
        cap = self.io.cap if self.io is not None else 0
        say(
            f"IO limit: {before} of {cap} before the flood, lowest {self.low} during it, "
            f"{after} after; {self.congested} congested readings, peak level "
            f"{self.peak:.1f} ({self.peak_source or 'no source'}); up to {self.most_waiting} "
            f"exports waited for the IO limit"
        )

    async def _until(self, done: Callable[[IoLimitState], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.io is not None and done(self.io):
                return
            await asyncio.sleep(0.05)

    async def _feed(self) -> None:
        """Keep exports queued, so that the IO limit, not the work, decides how many run."""
        handle = self.scheduler.domain(photos)
        mib = 4 if self.t.fast else 8
        number = 0
        while True:
            counts = await self.scheduler.count_by_status()
            if counts.get(TaskStatus.PENDING, 0) < SLOTS:
                jobs = [
                    Submission(
                        Export(str(self.directory / f"album-{number + n:03}.bin"), mib, 0.02),
                        expected_io=IoBudget.disk(write=mib * MIB),
                    )
                    for n in range(SLOTS)
                ]
                await handle.submit_many(jobs)
                number += SLOTS
            await asyncio.sleep(0.1)

    async def _watch(self) -> None:
        """Read the snapshot every 100 ms; tell each change of the IO limit."""
        last: int | None = None
        reasons: set[str] = set()
        while True:
            try:
                snapshot = await self.scheduler.snapshot()
            except TaskmillError:
                return
            admission = snapshot.admission
            io = None if admission is None else admission.io_limit
            if admission is not None and io is not None:
                self.io = io
                waiting = admission.waiting_by.get("io limit", 0)
                if self.phase == "flood":
                    self.low = min(self.low, io.limit)
                    self.congested += io.congested
                    if io.level > self.peak:
                        self.peak, self.peak_source = io.level, io.source
                    self.most_waiting = max(self.most_waiting, waiting)
                if last is not None and io.limit != last:
                    held = f"; {waiting} exports wait for the IO limit" if waiting else ""
                    self.stage.say(f"IO limit {last} -> {io.limit} of {io.cap}: {io.reason}{held}")
                last = io.limit
                if admission.waiting_by and set(admission.waiting_by) != reasons:
                    self.stage.say(f"waiting: {admission.summary()}")
                reasons = set(admission.waiting_by)
            await asyncio.sleep(0.1)
