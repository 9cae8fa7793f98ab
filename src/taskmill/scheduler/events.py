"""The event bus: fan-out of committed events to subscribers with bounded buffers.

A slow subscriber never slows the scheduler: its buffer keeps the newest ``maxsize`` events,
drops the oldest, and counts what it dropped in :attr:`Subscription.missed`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from taskmill.model.errors import ConfigurationError
from taskmill.model.events import (
    Cancelled,
    DependencyFailed,
    Event,
    Expired,
    Failed,
    RecurringCompleted,
    RecurringSkipped,
    Unblocked,
)
from taskmill.model.records import TaskHeader
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import Changes

DEFAULT_BUFFER = 10_000


class Subscription:
    """An async iterator over events, from the moment it was created.

    Iteration ends when the scheduler closes or :meth:`close` is called. Use it as an
    async context manager to unsubscribe deterministically::

        async with scheduler.events() as events:
            async for event in events:
                ...
    """

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._buffer: deque[Event] = deque(maxlen=maxsize)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.missed = 0
        """Events dropped because the buffer was full."""

    def _push(self, event: Event) -> None:
        buffer = self._buffer
        if len(buffer) == buffer.maxlen:
            self.missed += 1
        buffer.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Unsubscribe; iteration ends once the buffered events are consumed."""
        self._bus._unsubscribe(self)
        self._end()

    def get_nowait(self) -> Event | None:
        """Return the oldest buffered event, or ``None`` if there is none."""
        return self._buffer.popleft() if self._buffer else None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._buffer.popleft()

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
    """Delivers each published event to every current subscription."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._closed = False

    @property
    def active(self) -> bool:
        """Whether anyone listens; publishers skip building events when nobody does."""
        return bool(self._subscriptions)

    def subscribe(self, *, maxsize: int = DEFAULT_BUFFER) -> Subscription:
        """Return a new subscription that buffers at most ``maxsize`` events."""
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(f"event buffer maxsize must be an int >= 1, got {maxsize!r}")
        subscription = Subscription(self, maxsize)
        if self._closed:
            subscription._end()  # nothing will ever be published: iteration ends at once
        else:
            self._subscriptions.append(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every subscription."""
        for subscription in self._subscriptions:
            subscription._push(event)

    def close(self) -> None:
        """End every subscription's iteration, and those made from now on."""
        self._closed = True
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription._end()

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)


def publish_changes(bus: EventBus, changes: Changes, at: float) -> None:
    """Publish the events of a committed store operation.

    That is: the tasks it ended, the occurrences it skipped, the schedules it completed.
    """
    if not bus.active:
        return
    for task in changes.ended:
        header = TaskHeader(task.id, task.type, task.key, task.label, task.priority, task.priority)
        if task.status is TaskStatus.EXPIRED:
            bus.publish(Expired(at, header))
        elif task.status is TaskStatus.DEPENDENCY_FAILED:
            bus.publish(DependencyFailed(at, header, task.cause or 0))
        elif task.status is TaskStatus.FAILED:  # a waiting parent whose child failed
            bus.publish(Failed(at, header, 0, task.error or "", False, None))
        else:
            bus.publish(Cancelled(at, header, False))
    for task in changes.unblocked:
        header = TaskHeader(task.id, task.type, task.key, task.label, task.priority, task.priority)
        bus.publish(Unblocked(at, header))
    for skip in changes.skipped:
        bus.publish(
            RecurringSkipped(at, skip.schedule_id, skip.type, skip.due_at, skip.waiting_task)
        )
    for done in changes.schedules_ended:
        bus.publish(RecurringCompleted(at, done.schedule_id, done.type, done.occurrences))
