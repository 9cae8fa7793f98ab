"""Progress events: what executors report, passed on to subscribers without flooding them.

One ticker serves every running task. It ticks once per ``interval`` while reports keep
arriving, and each tick sends one :class:`~taskmill.Progress` event per task that reported
since the previous tick, with its latest values; so a task gets at most one event per
interval, every report is delivered within one interval, and a burst of reports costs a
clock read and one event. A tick that finds nothing stops the ticker; the next report starts
it again, one interval ahead (reports may come from executor threads). Values not sent yet
when an attempt ends go out with the attempt's own events, just before them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from taskmill.clock import Clock, TimerHandle
from taskmill.model.events import Progress
from taskmill.model.records import TaskHeader
from taskmill.scheduler.context import ProgressReporter
from taskmill.scheduler.events import EventBus


class ProgressEvents:
    """Turns progress reports of running tasks into throttled events.

    Implements :class:`~taskmill.scheduler.context.ProgressWatcher` for the reporters of
    running attempts. Without subscribers it ticks all the same (publishing nothing), so that
    a subscriber that arrives later gets progress within one interval.
    """

    def __init__(self, *, bus: EventBus, clock: Clock, interval: float) -> None:
        self._bus = bus
        self._clock = clock
        self.interval = interval
        self._tasks: dict[int, tuple[Callable[[], TaskHeader], ProgressReporter]] = {}
        self._timer: TimerHandle | None = None
        self._loop = asyncio.get_running_loop()  # made by an opening scheduler, on its loop
        self._loop_thread = threading.get_ident()

    @property
    def ticking(self) -> bool:
        """Whether a tick is armed (read by reporters, possibly from executor threads)."""
        return self._timer is not None

    def attach(
        self, task_id: int, header: Callable[[], TaskHeader], reporter: ProgressReporter
    ) -> None:
        """Start passing on the reports of a task that just started."""
        self._tasks[task_id] = (header, reporter)
        reporter.watcher = self

    def detach(self, task_id: int) -> Progress | None:
        """The attempt ended: stop watching it.

        Returns the event of the values not sent yet, if any (and if anyone listens), for
        the caller to publish just before the attempt's own events.
        """
        entry = self._tasks.pop(task_id, None)
        if entry is None:
            return None
        header, reporter = entry
        reporter.watcher = None
        if not reporter.pending:
            return None
        now = self._clock.now()
        reporter.taken(now)
        return self._event(header, reporter, now) if self._bus.active else None

    def wake(self) -> None:
        """A report arrived while the ticker was stopped: tick one interval from now."""
        if threading.get_ident() == self._loop_thread:
            self._start()
        else:  # an executor thread, which may outlive the loop
            with contextlib.suppress(RuntimeError):  # closed: nobody listens any more
                self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self._timer is None:
            self._timer = self._clock.call_at(self._clock.now() + self.interval, self._tick)

    def _tick(self) -> None:
        # Disarmed while it looks: a thread that reports now wakes the ticker itself, so no
        # report can slip in after its reporter was looked at and be left waiting.
        self._timer = None
        now, send = self._clock.now(), self._send
        sent = False
        for header, reporter in self._tasks.values():
            if reporter.pending:
                send(header, reporter, now)
                sent = True
        if sent and self._timer is None:  # reports keep coming: tick on
            self._timer = self._clock.call_at(now + self.interval, self._tick)

    def close(self) -> None:
        """Stop ticking (the scheduler closed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(
        self, header: Callable[[], TaskHeader], reporter: ProgressReporter, now: float
    ) -> None:
        reporter.taken(now)
        if self._bus.active:
            self._bus.publish(self._event(header, reporter, now))

    @staticmethod
    def _event(
        header: Callable[[], TaskHeader], reporter: ProgressReporter, now: float
    ) -> Progress:
        return Progress(
            now,
            header(),
            reporter.fraction,
            reporter.message,
            reporter.bytes_done,
            reporter.bytes_total,
            reporter.rate,
            reporter.eta,
        )
