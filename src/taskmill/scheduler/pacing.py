"""Pacing inside running tasks: how ``ctx.io`` chunks wait their turn on a busy disk.

Admission can only decide which tasks *start*; a task that already runs keeps writing at
full speed however congested the disk becomes. So every chunk a ``ctx.io`` file moves
first takes a grant from the scheduler's :class:`Pacer`:

- at most ``limit`` chunks of background tasks are in flight at once, ``limit`` being the
  adaptive IO limit (so lowering the limit also slows the tasks that already run);
- while the disk is congested, grants are byte tokens, spaced evenly at a rate that halves
  with every congested reading (starting from what was granted in the period before),
  down to ``limit`` chunks per sampling interval; so a background task slows down within a
  few readings instead of stalling everybody, and runs free again at the first clean one.

Tasks at least as urgent as the exempt priority never wait. Waiting happens on the
executor's thread (``ctx.io`` files are used from plain-function executors, or from async
ones through their ``*_async`` helpers), never on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Cancellable(Protocol):
    """What a waiting grant checks: the task's cancel token."""

    def raise_if_cancelled(self) -> None:
        """Raise if the task was asked to stop."""


class Pacer:
    """Grants ``ctx.io`` chunks: the IO limit's share of the disk, tokens while congested.

    Args:
        chunk: Bytes per grant while congested (the tokens a chunk costs).
        interval: The congestion signal's sampling period, in seconds.
        exempt: Tasks this urgent or more (a priority number this low or lower) never wait.
        monotonic: The clock of the token spacing (a test may give its own).
    """

    def __init__(
        self,
        *,
        chunk: int,
        interval: float,
        exempt: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chunk = chunk
        self.interval = interval
        self.exempt = exempt
        self._monotonic = monotonic
        self._cond = threading.Condition(threading.Lock())
        self._limit: int | None = None  # None: no IO control, grants are free
        self._busy = 0  # grants held by background chunks in flight
        self._rate: float | None = None  # bytes per second while congested (None: free)
        self._next_at = 0.0  # the earliest instant of the next grant while congested
        self._granted = 0  # bytes granted since the latest reading
        self._since = monotonic()
        self.waiting = 0
        """Chunks waiting for a grant now (for tests and the snapshot)."""

    @property
    def limit(self) -> int | None:
        """Background chunks that may be in flight at once (``None``: no limit)."""
        return self._limit

    @property
    def rate(self) -> float | None:
        """Bytes per second granted while the disk is congested (``None``: no pacing now)."""
        return self._rate

    def update(self, limit: int | None, congested: bool) -> None:
        """Take the controller's latest limit and reading (from any thread)."""
        with self._cond:
            now = self._monotonic()
            self._limit = limit
            if congested and limit is not None:
                floor = limit * self.chunk / self.interval
                if self._rate is None:  # halve what went through in the period just read
                    self._rate = self._granted / max(now - self._since, 1e-3)
                    self._next_at = now
                self._rate = max(floor, self._rate / 2)
            else:
                self._rate = None
            self._granted = 0
            self._since = now
            self._cond.notify_all()

    @contextmanager
    def grant(self, nbytes: int, priority: int, cancel: Cancellable) -> Iterator[None]:
        """Hold a grant for one chunk of ``nbytes`` (blocks the calling thread until given).

        Raises:
            asyncio.CancelledError: the task was cancelled while it waited.
        """
        if self._limit is None or priority <= self.exempt:
            yield
            return
        with self._cond:
            self.waiting += 1
            try:
                while (wait := self._wait(nbytes)) is not None:
                    cancel.raise_if_cancelled()
                    self._cond.wait(wait)
            finally:
                self.waiting -= 1
            self._busy += 1
            self._granted += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify()

    def _wait(self, nbytes: int) -> float | None:
        """Seconds to wait before looking again, or ``None`` to go (holding the lock)."""
        limit = self._limit
        if limit is None:
            return None
        if self._busy >= limit:
            return self.interval  # until a chunk ends (notify), or the next reading
        rate = self._rate
        if rate is None:
            return None
        now = self._monotonic()
        if self._next_at > now:
            return min(self._next_at - now, self.interval)
        self._next_at = max(self._next_at, now) + nbytes / rate
        return None
