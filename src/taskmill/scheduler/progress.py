"""Progress events: what executors report, passed on to subscribers without flooding them.

Each running task gets at most one :class:`~taskmill.Progress` event per ``interval``
seconds: a report is held for one interval, and the latest values are sent when it ends;
values not sent yet when the attempt ends are sent before the attempt's own events.
Reports may come from executor threads; they are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

from taskmill.clock import Clock, TimerHandle
from taskmill.model.events import Progress
from taskmill.model.records import TaskHeader
from taskmill.scheduler.context import ProgressReporter
from taskmill.scheduler.events import EventBus

_NOTHING: tuple[object, ...] = (None, None, 0, None)  # the values of a fresh reporter


class _Throttle:
    """One running task's reporter; called by it (as its listener) to say it reported."""

    __slots__ = ("attached", "events", "header", "reporter", "sent")

    def __init__(
        self, events: ProgressEvents, header: Callable[[], TaskHeader], reporter: ProgressReporter
    ) -> None:
        self.events = events
        self.header = header
        self.reporter = reporter
        self.sent = _NOTHING  # the values of the last event
        self.attached = True

    def __call__(self) -> None:
        events = self.events
        if threading.get_ident() == events._loop_thread:
            events._hold(self)
        else:  # an executor thread
            events._loop.call_soon_threadsafe(events._hold, self)


class ProgressEvents:
    """Turns progress reports of running tasks into throttled events.

    A reporter notifies once, then only stores values until the scheduler *takes* them, one
    interval later; so a burst of reports costs one notification and one event per
    interval, and a report is delivered at most one interval after it was made. All held
    reports wait in one queue (their due times grow in the order they arrive) behind a
    single timer. Without subscribers the same rhythm runs without publishing, so reporting
    stays cheap and a subscriber that arrives later gets progress within one interval.
    """

    def __init__(self, *, bus: EventBus, clock: Clock, interval: float) -> None:
        self._bus = bus
        self._clock = clock
        self.interval = interval
        self._tasks: dict[int, _Throttle] = {}
        self._held: deque[tuple[float, _Throttle]] = deque()
        self._timer: TimerHandle | None = None
        self._loop = asyncio.get_running_loop()  # made by an opening scheduler, on its loop
        self._loop_thread = threading.get_ident()

    def attach(
        self, task_id: int, header: Callable[[], TaskHeader], reporter: ProgressReporter
    ) -> None:
        """Start passing on the reports of a task that just started."""
        throttle = _Throttle(self, header, reporter)
        self._tasks[task_id] = throttle
        reporter.listener = throttle

    def detach(self, task_id: int) -> None:
        """The attempt ended: send the latest values if they were not sent, then stop."""
        throttle = self._tasks.pop(task_id, None)
        if throttle is None:
            return
        throttle.attached = False  # its place in the queue, if any, is skipped
        reporter = throttle.reporter
        reporter.listener = None
        if _values(reporter) != throttle.sent:
            self._send(throttle, self._clock.now())

    def _hold(self, throttle: _Throttle) -> None:
        if not throttle.attached:
            return
        reported_at = throttle.reporter.reported_at  # the report's time, on our clock
        due = (self._clock.now() if reported_at is None else reported_at) + self.interval
        self._held.append((due, throttle))
        if self._timer is None:
            self._timer = self._clock.call_at(due, self._release)

    def _release(self) -> None:
        self._timer = None
        held, now = self._held, self._clock.now()
        while held and held[0][0] <= now:
            _, throttle = held.popleft()
            if throttle.attached:
                self._send(throttle, now)
        if held:
            self._timer = self._clock.call_at(held[0][0], self._release)

    def _send(self, throttle: _Throttle, now: float) -> None:
        reporter = throttle.reporter
        reporter.taken(now)
        throttle.sent = _values(reporter)
        if self._bus.active:
            self._bus.publish(
                Progress(
                    now,
                    throttle.header(),
                    reporter.fraction,
                    reporter.message,
                    reporter.bytes_done,
                    reporter.bytes_total,
                    reporter.rate,
                    reporter.eta,
                )
            )


def _values(reporter: ProgressReporter) -> tuple[object, ...]:
    return (reporter.fraction, reporter.message, reporter.bytes_done, reporter.bytes_total)
