"""Test doubles shipped with taskmill: a clock you move by hand, and a helper to drain.

::

    clock = FakeClock()
    async with Scheduler(":memory:", domains=[media], clock=clock) as scheduler:
        await scheduler.domain(media).submit(job)
        await run_until_idle(scheduler, clock)   # retries and delays complete instantly
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import replace

from taskmill.model.errors import ConfigurationError
from taskmill.resources.congestion import Congestion, Reading
from taskmill.resources.sampler import Sample
from taskmill.scheduler.scheduler import Scheduler

__all__ = ["FakeClock", "FakeSampler", "FixedPressure", "run_until", "run_until_idle"]

DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class _FakeTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that stands still until :meth:`advance` moves it.

    Timers armed with :meth:`call_at` fire, in order, when time is moved past them; their
    callbacks run synchronously inside ``advance``.

    Args:
        start: The initial time, in seconds since the epoch.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"

    def now(self) -> float:
        """Return the current fake time."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> _FakeTimer:
        """Run ``callback`` once the clock is advanced to ``when`` or beyond."""
        timer = _FakeTimer(callback)
        if when <= self._now:
            callback()
            return timer
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and fire the timers that came due."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ConfigurationError(f"advance() takes seconds >= 0, got {seconds!r}")
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (never backwards) and fire due timers."""
        target = max(self._now, float(when))
        timers = self._timers
        while timers and timers[0][0] <= target:
            due, _, timer = heapq.heappop(timers)
            self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    @property
    def next_timer(self) -> float | None:
        """When the earliest armed timer fires, or ``None``."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None


class FixedPressure:
    """A pressure source that says whatever the test sets (0.0 .. 1.0).

    The scheduler reads it at every dispatch step, and every ``pressure_poll`` seconds while
    it holds work back.
    """

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"FixedPressure({self.value})"

    def pressure(self) -> float:
        """Return the value set."""
        return self.value


class FakeSampler:
    """A resource sampler that reports whatever the test sets: throughput and congestion.

    The keyword arguments set both the current rate and the peak of each axis (bytes per
    second), as if the device had been seen doing that much; :meth:`set` changes any field of
    the :class:`~taskmill.resources.Sample` afterwards. With the defaults the IO budget on an
    axis is ``io_budget * io_window * rate`` bytes (0.8 * 2 s * rate).

    It also stands in for the disk's congestion monitor: :meth:`congest` hands the scheduler
    one reading, as the real monitor does every ``IoControl.interval`` while tasks with disk
    IO run or wait, and :attr:`watching` says whether the scheduler asks for readings now.
    Until a reading arrives the adaptive IO limit stays where it starts (``Aimd.start``).

    ::

        sampler = FakeSampler(disk_write=100_000_000)  # a 100 MB/s disk
        Scheduler(..., sampler=sampler)
        sampler.congest(2.0)  # the disk is congested: the IO limit halves
    """

    def __init__(
        self,
        *,
        disk_read: float = 0.0,
        disk_write: float = 0.0,
        net_rx: float = 0.0,
        net_tx: float = 0.0,
        cpu: float = 0.0,
    ) -> None:
        self.sample = Sample(
            disk_read=disk_read,
            disk_write=disk_write,
            net_rx=net_rx,
            net_tx=net_tx,
            cpu=cpu,
            peak_disk_read=disk_read,
            peak_disk_write=disk_write,
            peak_net_rx=net_rx,
            peak_net_tx=net_tx,
        )
        """What :meth:`latest` returns."""
        self.running = False
        """Whether the scheduler has started (and not stopped) the sampler."""
        self.watching = False
        """Whether the scheduler asks for congestion readings now."""
        self.watches = 0
        """How many times the scheduler started asking for readings."""
        self.latest_congestion: Congestion | None = None
        """The latest reading given with :meth:`congest`."""
        self._listener: Callable[[Congestion], None] | None = None

    def __repr__(self) -> str:
        return f"FakeSampler({self.sample!r})"

    def set(self, **fields: float) -> None:
        """Replace fields of the sample, e.g. ``set(disk_write=5e6, peak_disk_write=5e7)``."""
        self.sample = replace(self.sample, **fields)

    def latest(self) -> Sample:
        """Return the sample set."""
        return self.sample

    def start(self) -> None:
        """Note that sampling started."""
        self.running = True

    def stop(self) -> None:
        """Note that sampling stopped."""
        self.running = False

    def listen(self, listener: Callable[[Congestion], None]) -> None:
        """Note who takes the congestion readings (the scheduler, when it opens)."""
        self._listener = listener

    def watch(self, active: bool) -> None:
        """Note whether the scheduler wants congestion readings."""
        if active and not self.watching:
            self.watches += 1
        self.watching = active

    def close(self) -> None:
        """Note that the scheduler no longer takes readings."""
        self._listener = None
        self.watching = False

    def congest(self, level: float = 2.0, *, source: str = "fake disk") -> None:
        """Give the scheduler one congestion reading at ``level`` (1.0 and above: congested).

        The reading is a latency of ``level`` ms against a target of 1 ms.

        The reading applies at once, on the scheduler's clock (move a
        :class:`FakeClock` between readings to script time).

        Raises:
            RuntimeError: no open scheduler takes readings from this sampler.
        """
        if self._listener is None:
            raise RuntimeError("no open scheduler takes congestion readings from this sampler")
        reading = Reading(source, float(level), 1.0)
        self.latest_congestion = Congestion.of([reading])
        self._listener(self.latest_congestion)


async def run_until_idle(
    scheduler: Scheduler, clock: FakeClock, *, max_steps: int = 10_000
) -> None:
    """Run ``scheduler`` until nothing is left to do, jumping ``clock`` from deadline to deadline.

    Deadlines are delayed tasks (``run_after``, retry backoff), expiries and the ends of
    group pauses. Recurring schedules never end by themselves, so their occurrences are not
    waited for: move through them with :func:`run_until`.

    Raises:
        RuntimeError: still not idle after ``max_steps`` clock jumps (a task that retries
            forever, say).
    """
    for _ in range(max_steps):
        await scheduler.wait_idle(include_delayed=False)
        state = scheduler._require_open("run_until_idle")
        candidates = (state.next_due, state.next_expiry, state.next_unpause)
        deadlines = [d for d in candidates if d is not None]
        if not deadlines:
            return
        clock.advance_to(min(deadlines))
    raise RuntimeError(f"scheduler not idle after {max_steps} clock jumps")


async def run_until(scheduler: Scheduler, clock: FakeClock, when: float) -> None:
    """Move ``clock`` to ``when``, stopping at every deadline on the way, schedules included.

    At each stop the scheduler runs until nothing more can happen before the clock moves,
    as it would have with real time.
    """
    while True:
        await scheduler.wait_idle(include_delayed=False)
        deadline = scheduler._require_open("run_until").next_deadline()
        if deadline is None or deadline > when:
            break
        clock.advance_to(deadline)
    clock.advance_to(when)
    await scheduler.wait_idle(include_delayed=False)
