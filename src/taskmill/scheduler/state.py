"""What the scheduler's parts share while it runs: a cache, rebuildable from the database.

It holds the running tasks, whether the database may hold ready work, when the next delayed
task becomes ready, and the wake-up signal of the dispatch loop. Whoever changes one of
these calls :meth:`RunState.changed`, which wakes the dispatcher and re-checks idle waiters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskmill.model.errors import SchedulerStateError

if TYPE_CHECKING:
    from taskmill.scheduler.runner import Running


class RunState:
    """Mutable run-time state shared by dispatcher, runner and completer."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.running: dict[int, Running] = {}
        self.ready = True  # the database may hold claimable tasks
        self.ready_generation = 0  # bumped by mark_ready, so a claim can tell it raced
        self.next_due: float | None = None  # earliest not_before of a delayed task
        self.claiming = False
        self.settling = 0  # settlements handed to the completer and not yet committed
        self.wake_event = asyncio.Event()
        self.failure: BaseException | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []

    # --- signals -------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake the dispatch loop."""
        self.wake_event.set()

    def mark_ready(self) -> None:
        """Note that claimable tasks may exist, and wake the dispatcher."""
        self.ready = True
        self.ready_generation += 1
        self.wake_event.set()

    def note_due(self, when: float) -> None:
        """Note a delayed task that becomes ready at ``when``, and wake the dispatcher."""
        if self.next_due is None or when < self.next_due:
            self.next_due = when
        self.wake_event.set()

    def changed(self) -> None:
        """Re-check idle waiters after a change of state."""
        if self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)  # the waiter re-checks is_idle() itself

    def fail(self, error: BaseException) -> None:
        """Record that the dispatch loop died, and release every waiter with the error."""
        self.failure = error
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(_loop_died(error))

    # --- idleness ------------------------------------------------------------------------

    def is_idle(self, *, include_delayed: bool) -> bool:
        """Whether nothing runs, nothing is ready and nothing waits to be committed."""
        if self.running or self.ready or self.claiming or self.settling:
            return False
        if self.next_due is None:
            return True
        return not include_delayed and self.next_due > self._now()

    async def wait_idle(self, *, include_delayed: bool) -> None:
        """Return once :meth:`is_idle` holds."""
        while True:
            if self.failure is not None:
                raise _loop_died(self.failure)
            if self.is_idle(include_delayed=include_delayed):
                return
            waiter = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            await waiter


def _loop_died(error: BaseException) -> SchedulerStateError:
    failure = SchedulerStateError(f"the scheduler's dispatch loop stopped with an error: {error!r}")
    failure.__cause__ = error
    return failure
