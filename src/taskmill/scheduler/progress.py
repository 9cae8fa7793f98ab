"""Progress events: what executors report, passed on to subscribers without flooding them.

Each running task gets at most one :class:`~taskmill.Progress` event per ``interval``
seconds: a report inside the interval is held and sent when it ends (only the latest value),
and whatever is still held when the attempt ends is sent before the attempt's own events.
Reports may come from executor threads; they are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from taskmill.clock import Clock, TimerHandle
from taskmill.model.events import Progress
from taskmill.model.records import TaskHeader
from taskmill.scheduler.context import ProgressReporter
from taskmill.scheduler.events import EventBus


@dataclass(slots=True)
class _Throttle:
    header: Callable[[], TaskHeader]
    reporter: ProgressReporter
    sent_at: float | None = None
    held: bool = False
    timer: TimerHandle | None = field(default=None, repr=False)


class ProgressEvents:
    """Turns progress reports of running tasks into throttled events."""

    def __init__(self, *, bus: EventBus, clock: Clock, interval: float) -> None:
        self._bus = bus
        self._clock = clock
        self.interval = interval
        self._tasks: dict[int, _Throttle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def attach(
        self, task_id: int, header: Callable[[], TaskHeader], reporter: ProgressReporter
    ) -> None:
        """Start passing on the reports of a task that just started."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        throttle = _Throttle(header, reporter)
        self._tasks[task_id] = throttle
        reporter.listener = lambda: self._reported(task_id)

    def detach(self, task_id: int) -> None:
        """The attempt ended: send what is held, then stop."""
        throttle = self._tasks.pop(task_id, None)
        if throttle is None:
            return
        throttle.reporter.listener = None
        if throttle.timer is not None:
            throttle.timer.cancel()
        if throttle.held:
            self._send(throttle)

    def _reported(self, task_id: int) -> None:
        if threading.get_ident() != self._loop_thread:  # an executor thread
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._on_loop, task_id)
        else:
            self._on_loop(task_id)

    def _on_loop(self, task_id: int) -> None:
        throttle = self._tasks.get(task_id)
        if throttle is None or not self._bus.active:
            return
        now = self._clock.now()
        if throttle.sent_at is None or now - throttle.sent_at >= self.interval:
            self._send(throttle)
            return
        throttle.held = True
        if throttle.timer is None:
            throttle.timer = self._clock.call_at(
                throttle.sent_at + self.interval, lambda: self._release(task_id)
            )

    def _release(self, task_id: int) -> None:
        throttle = self._tasks.get(task_id)
        if throttle is None:
            return
        throttle.timer = None
        if throttle.held:
            self._send(throttle)

    def _send(self, throttle: _Throttle) -> None:
        reporter = throttle.reporter
        now = self._clock.now()
        throttle.sent_at = now
        throttle.held = False
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
