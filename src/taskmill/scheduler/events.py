"""The event bus: fan-out of committed events to subscribers with bounded buffers.

A slow subscriber never slows the scheduler: its buffer keeps the newest ``maxsize`` events,
drops the oldest, and says so with a :class:`~taskmill.Missed` event (and in
:attr:`Subscription.missed`). Subscriptions may keep only the events of a domain, a task type
or some kinds (:class:`EventFilter`); callback subscriptions are fed by a task of their own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from taskmill.metrics.collector import Metrics
from taskmill.model.errors import ConfigurationError
from taskmill.model.events import (
    Cancelled,
    DependencyFailed,
    Event,
    Expired,
    Failed,
    Missed,
    Paused,
    RecurringCompleted,
    RecurringSkipped,
    Resumed,
    TaskEvent,
    Unblocked,
)
from taskmill.model.records import TaskHeader
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import Changes, Ended

DEFAULT_BUFFER = 10_000

logger = logging.getLogger("taskmill")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscription receives (every field ``None``: all of them).

    ``domain`` and ``task_type`` keep the events of that domain's tasks or that task type
    (``"domain::name"``), the pauses of that domain or of everything, and the recurring
    events of its types; events of other scopes (groups) are left out. ``kinds`` keeps
    events of these classes.
    """

    domain: str | None = None
    task_type: str | None = None
    kinds: tuple[type[Event], ...] | None = None

    def __call__(self, event: Event) -> bool:
        """Whether ``event`` passes the filter."""
        if self.kinds is not None and not isinstance(event, self.kinds):
            return False
        if self.domain is None and self.task_type is None:
            return True
        if isinstance(event, TaskEvent):
            return self._type_matches(event.task.type)
        if isinstance(event, Paused | Resumed):
            return event.domain is None or (self.domain is not None and event.domain == self.domain)
        if isinstance(event, RecurringSkipped | RecurringCompleted):
            return self._type_matches(event.type)
        return False

    def _type_matches(self, task_type: str) -> bool:
        if self.task_type is not None:
            return task_type == self.task_type
        return task_type.partition("::")[0] == self.domain


class Subscription:
    """An async iterator over events, from the moment it was created.

    Iteration ends when the scheduler closes or :meth:`close` is called. Use it as an
    async context manager to unsubscribe deterministically::

        async with scheduler.events() as events:
            async for event in events:
                ...

    A subscriber that falls more than ``maxsize`` events behind loses the oldest; it then
    reads a :class:`~taskmill.Missed` event saying how many, and :attr:`missed` counts them.
    """

    def __init__(
        self, bus: EventBus, maxsize: int, accepts: Callable[[Event], bool] | None = None
    ) -> None:
        self._bus = bus
        self._buffer: deque[Event] = deque(maxlen=maxsize)
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._accepts = accepts
        self._unreported = 0
        self._feeder: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self.missed = 0
        """Events dropped because the buffer was full."""

    def _push(self, event: Event) -> None:
        # The hottest path of a subscribed scheduler (every event x every subscription).
        if self._accepts is not None and not self._accepts(event):
            return
        buffer = self._buffer
        if len(buffer) == self._maxsize:
            self.missed += 1
            self._unreported += 1
            self._bus.metrics.events_missed += 1
        buffer.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None  # woken once; the reader makes a new one when it waits again
            if not waiter.done():
                waiter.set_result(None)

    def _push_all(self, events: list[Event]) -> None:
        # A burst (a commit's worth of events) in one C-level extend and one wake-up.
        accepts = self._accepts
        if accepts is not None:
            events = [event for event in events if accepts(event)]
        buffer = self._buffer
        overflow = len(buffer) + len(events) - self._maxsize
        if overflow > 0:
            self.missed += overflow
            self._unreported += overflow
            self._bus.metrics.events_missed += overflow
        buffer.extend(events)
        waiter = self._waiter
        if waiter is not None and events:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _end(self) -> None:
        self._closed = True
        self._ended.set()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Unsubscribe; iteration ends once the buffered events are consumed."""
        self._bus._unsubscribe(self)
        self._end()

    async def wait_closed(self) -> None:
        """Wait until the subscription is closed and its callback, if any, saw every event.

        The subscription closes when :meth:`close` is called or the scheduler closes. For a
        callback subscription (:meth:`Scheduler.subscribe`) this returns after the callback
        has been called with each event buffered before that.
        """
        if self._feeder is not None:
            await asyncio.shield(self._feeder)
            return
        await self._ended.wait()

    def get_nowait(self) -> Event | None:
        """Return the oldest buffered event (or a Missed notice), or ``None`` if none."""
        if not self._buffer:
            return None
        if self._unreported:
            count, self._unreported = self._unreported, 0
            return Missed(self._buffer[0].at, count)
        return self._buffer.popleft()

    async def wait_event(self) -> bool:
        """Wait until an event is buffered; ``False`` if none will come (closed and empty)."""
        while not self._buffer:
            if self._closed:
                return False
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return True

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        buffer = self._buffer
        if buffer and not self._unreported:  # the common case, inlined: one per event
            return buffer.popleft()
        event = self.get_nowait()
        if event is None:
            if not await self.wait_event():
                raise StopAsyncIteration
            event = self.get_nowait()
            assert event is not None
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """Delivers each published event to every current subscription.

    It also carries the scheduler's :class:`~taskmill.metrics.Metrics`: the parts that
    publish committed changes count them there, whether or not anyone subscribed.
    """

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._subscriptions: list[Subscription] = []
        self._closed = False
        self.metrics = metrics if metrics is not None else Metrics()
        self.active = False
        """Whether anyone listens; publishers skip building events when nobody does."""

    def subscribe(
        self,
        *,
        maxsize: int = DEFAULT_BUFFER,
        accepts: Callable[[Event], bool] | None = None,
    ) -> Subscription:
        """Return a new subscription that buffers at most ``maxsize`` events it ``accepts``."""
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(f"event buffer maxsize must be an int >= 1, got {maxsize!r}")
        subscription = Subscription(self, maxsize, accepts)
        if self._closed:
            subscription._end()  # nothing will ever be published: iteration ends at once
        else:
            self._subscriptions.append(subscription)
            self.active = True
        return subscription

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every subscription."""
        for subscription in self._subscriptions:
            subscription._push(event)

    def publish_all(self, events: list[Event]) -> None:
        """Hand ``events``, in order, to every subscription."""
        if len(events) == 1:
            self.publish(events[0])
        elif events:
            for subscription in self._subscriptions:
                subscription._push_all(events)

    def close(self) -> None:
        """End every subscription's iteration, and those made from now on."""
        self._closed = True
        subscriptions, self._subscriptions = self._subscriptions, []
        self.active = False
        for subscription in subscriptions:
            subscription._end()

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self.active = bool(self._subscriptions)


def publish_changes(bus: EventBus, changes: Changes, at: float) -> None:
    """Count and publish the events of a committed store operation.

    That is: the tasks it ended, the occurrences it skipped, the schedules it completed.
    """
    count_changes(bus.metrics, changes)
    if bus.active:
        bus.publish_all(change_events(changes, at))


def count_changes(metrics: Metrics, changes: Changes) -> None:
    """Count the tasks a committed store operation ended."""
    for task in changes.ended:
        metrics.ended(task.type, task.status.value)


def change_events(changes: Changes, at: float) -> list[Event]:
    """The events of a committed store operation, in order."""
    events: list[Event] = []
    for task in changes.ended:
        header = _header(task)
        if task.status is TaskStatus.EXPIRED:
            events.append(Expired(at, header))
        elif task.status is TaskStatus.DEPENDENCY_FAILED:
            events.append(DependencyFailed(at, header, task.cause or 0))
        elif task.status is TaskStatus.FAILED:  # a waiting parent whose child failed
            events.append(Failed(at, header, 0, task.error or "", False, None))
        else:
            events.append(Cancelled(at, header, False))
    events.extend(Unblocked(at, _header(task)) for task in changes.unblocked)
    events.extend(
        RecurringSkipped(at, skip.schedule_id, skip.type, skip.due_at, skip.waiting_task)
        for skip in changes.skipped
    )
    events.extend(
        RecurringCompleted(at, done.schedule_id, done.type, done.occurrences)
        for done in changes.schedules_ended
    )
    return events


def _header(task: Ended) -> TaskHeader:
    return TaskHeader(
        task.id, task.type, task.key, task.label, task.priority, task.priority, task.tags
    )


EventCallback = Callable[[Event], Awaitable[None] | None]
"""A function (or coroutine function) called with each event."""


def feed(subscription: Subscription, callback: EventCallback) -> asyncio.Task[None]:
    """Call ``callback`` with every event of ``subscription``, in order, on a task of its own.

    A callback that raises is logged and called again with the next event; a slow one only
    delays itself (its subscription drops the oldest events, as any other).
    """

    async def run() -> None:
        while await subscription.wait_event():
            # Everything buffered is handed over at once: no await between sync callbacks.
            while (event := subscription.get_nowait()) is not None:
                try:
                    result = callback(event)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("taskmill event callback %r failed on %r", callback, event)

    task = asyncio.get_running_loop().create_task(run(), name="taskmill:event-callback")
    subscription._feeder = task
    return task
