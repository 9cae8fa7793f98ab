"""Progress: reports, byte counts with rate and ETA, and throttled Progress events."""

from __future__ import annotations

import asyncio

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


async def test_a_held_report_goes_out_when_the_interval_ends() -> None:
    """A report is held for one interval, merged with later ones, and sent when it ends."""
    domain = Domain("d")
    steps = [asyncio.Event() for _ in range(3)]
    reported = asyncio.Event()

    @domain.task("steps")
    async def work(job: str, ctx: TaskContext) -> None:
        for n, step in enumerate(steps, 1):
            await step.wait()
            ctx.progress.report(n / 10)
            reported.set()

    clock = FakeClock()
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         progress_interval=1.0) as scheduler:  # fmt: skip
        events = scheduler.events()
        await scheduler.domain(domain).submit("go")
        fractions: list[float | None] = []

        async def step(n: int) -> None:
            reported.clear()
            steps[n].set()
            await reported.wait()

        async def drain() -> None:
            while (event := events.get_nowait()) is not None:
                if isinstance(event, Progress):
                    fractions.append(event.fraction)

        await step(0)
        await drain()
        assert fractions == []  # held for the interval
        clock.advance(1.0)
        await drain()
        assert fractions == [0.1]
        clock.advance(0.4)
        await step(1)
        await drain()
        assert fractions == [0.1]
        clock.advance(0.6)  # 0.6 s after the report: still held
        await drain()
        assert fractions == [0.1]
        clock.advance(0.4)  # one interval after the report
        await drain()
        assert fractions == [0.1, 0.2]
        await step(2)  # the task ends at once: its last report goes out before Completed
        await scheduler.wait_idle()
        await drain()
        assert fractions == [0.1, 0.2, 0.3]


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


def test_bad_progress_interval_is_refused() -> None:
    """progress_interval must be a number of seconds >= 0."""
    with pytest.raises(ConfigurationError, match="progress_interval"):
        Scheduler(":memory:", progress_interval=-1)
