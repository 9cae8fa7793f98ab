"""Event callbacks of the synchronous facade, called in order on one thread of their own.

The scheduler's loop only appends ``(subscription, event)`` to a queue; a single dispatch
thread takes them out and calls the callbacks. One thread for every subscription keeps the
order of events across subscriptions, and a slow callback never holds up the loop (it
only delays later callbacks, as with the asyncio API's ``subscribe``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from taskmill import Event, Subscription

logger = logging.getLogger("taskmill")

_END = None  # queued by close(): the thread ends once everything before it was delivered


class CallbackSubscription:
    """A callback subscribed with :meth:`taskmill.sync.Scheduler.subscribe`.

    Events arrive on the scheduler's callback thread, in the order they happened. After
    :meth:`close` returns, the callback is not called again.
    """

    def __init__(self, callback: Callable[[Event], object], close: Callable[[], None]) -> None:
        self.callback = callback
        self.closed = False
        self._close = close
        self.subscription: Subscription | None = None
        """The asyncio subscription that feeds this one (set once subscribed)."""

    @property
    def missed(self) -> int:
        """Events dropped because the callback fell more than the buffer behind."""
        return 0 if self.subscription is None else self.subscription.missed

    def close(self) -> None:
        """Stop calling the callback (idempotent; callable from any thread)."""
        if not self.closed:
            self.closed = True
            self._close()


class CallbackThread:
    """The one thread that calls every subscription's callback, in order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[CallbackSubscription, Event] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def deliver(self, subscription: CallbackSubscription, event: Event) -> None:
        """Queue one event for ``subscription`` (called on the scheduler's loop; never blocks)."""
        self._queue.put((subscription, event))

    def in_thread(self) -> bool:
        """Whether the calling thread is the callback thread."""
        return self._thread.ident == threading.get_ident()

    def close(self) -> None:
        """Deliver what is queued, then end the thread (waits, unless called from it)."""
        self._queue.put(_END)
        if not self.in_thread():
            self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            subscription, event = item
            if subscription.closed:
                continue
            try:
                subscription.callback(event)
            except Exception:
                logger.exception("taskmill event callback %r raised", subscription.callback)
