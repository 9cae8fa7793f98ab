"""Progress: reports, byte counts with rate and ETA, and throttled Progress events."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskmill import (
    Completed,
    ConfigurationError,
    Dispatched,
    Domain,
    Progress,
    ProgressReporter,
    Scheduler,
    TaskContext,
)
from taskmill.clock import SystemClock
from taskmill.model.records import TaskHeader
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.progress import ProgressEvents
from taskmill.testing import FakeClock


async def test_ten_thousand_reports_make_one_event() -> None:
    """A chatty executor cannot flood subscribers: reports are held, the last one arrives."""
    domain = Domain("d")

    @domain.task("chatty")
    async def chatty(job: str, ctx: TaskContext) -> None:
        for i in range(1, 10_001):
            ctx.progress.report(i / 10_000, f"step {i}")

    clock = FakeClock()  # time stands still: the interval never ends before the task does
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit("go")
        await scheduler.wait_idle()
        events.close()
        seen = [e async for e in events]
    progress = [(e.fraction, e.message) for e in seen if isinstance(e, Progress)]
    assert progress == [(1.0, "step 10000")]
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["Dispatched", "Progress", "Completed"]


async def test_reports_go_out_at_the_next_tick_and_a_quiet_tick_stops_the_ticker() -> None:
    """Reports go out once per interval, the latest values, never more often.

    The first report is held one interval; while reports keep coming, each tick (one interval
    apart) sends the latest values; a tick with nothing to send stops the ticker, so the next
    report is held one interval again. The last values precede Completed.
    """
    domain = Domain("d")
    batches: asyncio.Queue[list[float] | None] = asyncio.Queue()
    reported = asyncio.Event()

    @domain.task("steps")
    async def work(job: str, ctx: TaskContext) -> None:
        while (batch := await batches.get()) is not None:
            for fraction in batch:
                ctx.progress.report(fraction)
            reported.set()

    clock = FakeClock()
    start = clock.now()
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         progress_interval=1.0) as scheduler:  # fmt: skip
        events = scheduler.events()
        await scheduler.domain(domain).submit("go")
        fractions: list[float | None] = []

        async def report(*batch: float) -> None:
            reported.clear()
            await batches.put(list(batch))
            await reported.wait()

        async def advance(seconds: float) -> list[float | None]:
            clock.advance(seconds)
            while (event := events.get_nowait()) is not None:
                if isinstance(event, Progress):
                    fractions.append(event.fraction)
            return fractions

        await report(0.1)  # at 0: the ticker starts, first tick at 1.0
        assert await advance(0.9) == []
        assert await advance(0.1) == [0.1]
        await advance(0.4)
        await report(0.2, 0.25)  # at 1.4: taken by the tick at 2.0, merged
        assert await advance(0.5) == [0.1]
        assert await advance(0.1) == [0.1, 0.25]
        assert await advance(1.0) == [0.1, 0.25]  # at 3.0 nothing new: the ticker stops
        await advance(0.5)
        await report(0.3)  # at 3.5: held one interval again, not sent at the old tick 4.0
        assert await advance(0.9) == [0.1, 0.25]
        assert await advance(0.1) == [0.1, 0.25, 0.3]
        await report(0.4)
        await batches.put(None)  # the task ends at once: its last report goes out first
        await scheduler.wait_idle()
        events.close()
        rest = [e async for e in events]
        assert clock.next_timer == start + 5.5  # the ticker runs on: it sent at 4.5
    assert [(type(e).__name__, getattr(e, "fraction", None)) for e in rest] == [
        ("Progress", 0.4),
        ("Completed", None),
    ]
    assert clock.next_timer is None  # closing stopped it


async def test_reports_from_a_thread_arrive() -> None:
    """A plain-function executor reports from its worker thread; the last value arrives."""
    domain = Domain("d")

    @domain.task("sync")
    def work(job: str, ctx: TaskContext) -> None:
        for done in range(1, 101):
            ctx.progress.report_fraction(done, 100)

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        events = scheduler.events()
        await scheduler.domain(domain).submit("go")
        await scheduler.wait_idle()
        events.close()
        seen = [e async for e in events]
    progress = [e.fraction for e in seen if isinstance(e, Progress)]
    assert progress[-1] == 1.0
    assert 1 <= len(progress) <= 100
    assert isinstance(seen[0], Dispatched)
    assert isinstance(seen[-1], Completed)


def test_byte_progress_gives_fraction_rate_and_eta() -> None:
    """Bytes against a total give the fraction; their pace a smoothed rate and an ETA."""
    now = [0.0]
    reporter = ProgressReporter(clock=lambda: now[0])
    reporter.set_bytes_total(1000)
    reporter.add_bytes(100)  # no rate from a single reading
    assert (reporter.fraction, reporter.rate, reporter.eta) == (0.1, None, None)
    now[0] = 1.0
    reporter.add_bytes(100, "copying")
    assert (reporter.fraction, reporter.rate, reporter.message) == (0.2, 100.0, "copying")
    assert reporter.eta == 8.0
    now[0] = 1.5
    reporter.add_bytes(100)  # 200 B/s now: EWMA 0.3 * 200 + 0.7 * 100
    assert reporter.rate == pytest.approx(130.0)
    assert reporter.bytes_done == 300


def test_bytes_without_a_total_keep_the_fraction_unknown() -> None:
    """Counting bytes with no total reports the count and rate, not a fraction."""
    reporter = ProgressReporter(clock=lambda: 0.0)
    reporter.add_bytes(5)
    assert (reporter.fraction, reporter.bytes_done) == (None, 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.report(1.5), "fraction"),
        (lambda r: r.report(True), "fraction"),
        (lambda r: r.report_fraction(1, 0), "total"),
        (lambda r: r.set_bytes_total(0), "bytes total"),
        (lambda r: r.add_bytes(-1), "bytes done"),
    ],
)
def test_bad_progress_is_refused(call: object, message: str) -> None:
    """Out-of-range reports raise ConfigurationError naming the value."""
    with pytest.raises(ConfigurationError, match=message):
        call(ProgressReporter())  # type: ignore[operator]


@pytest.mark.parametrize("interval", [-1, 0, float("inf"), "0.1"])
def test_bad_progress_interval_is_refused(interval: object) -> None:
    """progress_interval must be a finite number of seconds > 0."""
    with pytest.raises(
        ConfigurationError, match=r"progress_interval must be a number of seconds > 0"
    ):
        Scheduler(":memory:", progress_interval=interval)  # type: ignore[arg-type]


def test_a_thread_reporting_after_the_loop_closed_is_not_disturbed() -> None:
    """A plain-function executor may outlive its scheduler's loop: its reports still work."""
    loop = asyncio.new_event_loop()

    async def ticker() -> ProgressEvents:
        return ProgressEvents(bus=EventBus(), clock=SystemClock(), interval=0.1)

    events = loop.run_until_complete(ticker())
    reporter = ProgressReporter()
    header = TaskHeader(1, "d::sync", "k", "", 128, 128)
    events.attach(1, lambda: header, reporter)
    loop.close()
    with ThreadPoolExecutor(1) as thread:
        thread.submit(reporter.report, 0.5, "after the end").result()
    assert (reporter.fraction, reporter.message, reporter.pending) == (0.5, "after the end", True)
