"""What the scheduler's parts share while it runs: a cache, rebuildable from the database.

It holds the running tasks, whether the database may hold ready work, the deadlines the
dispatch loop must wake up for, what is paused, and the wake-up signal of the loop. Whoever
changes one of these calls :meth:`RunState.changed`, which re-checks idle waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskmill.model.errors import SchedulerStateError, WrongThreadError
from taskmill.model.records import PauseState
from taskmill.store.protocol import Changes

if TYPE_CHECKING:
    from taskmill.scheduler.runner import Running


@dataclass(slots=True)
class Pauses:
    """What is paused, as the dispatcher and submitters see it (the database is the truth)."""

    everything: bool = False
    domains: set[str] = field(default_factory=set)
    groups: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def of(cls, state: PauseState) -> Pauses:
        """Build the cache from a stored pause state."""
        return cls(state.everything, set(state.domains), dict(state.groups))

    def snapshot(self) -> PauseState:
        """A frozen copy."""
        return PauseState(self.everything, tuple(sorted(self.domains)), dict(self.groups))

    def covers(self, task_type: str, group: str | None) -> bool:
        """Whether a task of this type and group is in a paused scope."""
        return (
            self.everything
            or task_type.partition("::")[0] in self.domains
            or (group is not None and group in self.groups)
        )


def _earliest(current: float | None, candidate: float) -> float:
    return candidate if current is None or candidate < current else current


class RunState:
    """Mutable run-time state shared by dispatcher, runner, completer and control."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.stop_attempts: Callable[[list[int], dict[int, str]], None] | None = None
        """Cancels running attempts, or fails them with a reason (set by the runner)."""
        self._now = now
        self.now = now
        """The scheduler's clock."""
        self.running: dict[int, Running] = {}
        self.ready = True  # the database may hold claimable tasks
        self.ready_generation = 0  # bumped by mark_ready, so a claim can tell it raced
        self.next_due: float | None = None  # earliest not_before of a delayed task
        self.next_fire: float | None = None  # earliest next occurrence of a schedule
        self.next_expiry: float | None = None  # earliest expires_at of a task not running
        self.next_unpause: float | None = None  # earliest deadline of a group pause
        self.next_admission: float | None = None  # when held-back work may pass (token, pressure)
        self.held_generation: int | None = None  # ready_generation when admission held all back
        self.max_concurrency = 1  # the global cap (set by AdmissionControl)
        self.pauses = Pauses()
        self.urgent_running = 0  # running tasks at or above the preemption threshold
        self.awaiting_urgent: set[tuple[int, int]] = set()  # (id, priority) ready, not started
        self.urgent_hint = False  # urgent work may have become ready other than by submit
        self.preempted = 0  # preemptions made and not yet released
        self.claiming = False
        self.settling = 0  # settlements handed to the completer and not yet committed
        self.wake_event = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the scheduler runs on (set when it opens)."""
        self._loop_thread: int | None = None
        self.failure: BaseException | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Belong to ``loop``, which runs on the calling thread."""
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def check_caller(self) -> None:
        """Raise :class:`WrongThreadError` unless called on the scheduler's own event loop."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop or self.loop is None:
            return
        where = (
            "another event loop"
            if running is not None
            else f"thread {threading.current_thread().name!r}, where no event loop runs"
        )
        raise WrongThreadError(
            f"this scheduler runs on the event loop it was opened on, and this call came from "
            f"{where}; nothing was done. From other threads use taskmill.sync.Scheduler "
            f"(blocking calls), or asyncio.run_coroutine_threadsafe(coroutine, loop) with the "
            f"scheduler's loop"
        )

    # --- signals -------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake the dispatch loop."""
        self.wake_event.set()

    def wake_soon(self) -> None:
        """Wake the dispatch loop through its self-pipe: safe from a signal handler too.

        A signal handler runs between two bytecodes of whatever the loop thread was doing,
        and the loop may be blocked in ``select()``; only ``call_soon_threadsafe`` both
        queues the wake-up safely and interrupts the wait.
        """
        loop = self.loop
        if loop is None:
            self.wake_event.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits on it
            loop.call_soon_threadsafe(self.wake_event.set)

    def wake_from_any_thread(self) -> None:
        """Wake the dispatch loop from any thread; a loop already closed needs no waking."""
        loop = self.loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self.wake_event.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits on it
            loop.call_soon_threadsafe(self.wake_event.set)

    def mark_ready(self) -> None:
        """Note that claimable tasks may exist, and wake the dispatcher."""
        self.ready = True
        self.ready_generation += 1
        self.wake_event.set()

    def hold(self, generation: int) -> None:
        """Note that admission held back every ready task it saw at ``generation``."""
        self.held_generation = generation

    def note_due(self, when: float) -> None:
        """Note a delayed task that becomes ready at ``when``, and wake the dispatcher."""
        self.next_due = _earliest(self.next_due, when)
        self.wake_event.set()

    def apply(self, changes: Changes) -> None:
        """Take in what a store operation reports, and wake the dispatcher."""
        if changes.ready:
            self.mark_ready()
            self.urgent_hint = True
        if changes.due is not None:
            self.next_due = _earliest(self.next_due, changes.due)
        if changes.fire is not None:
            self.next_fire = _earliest(self.next_fire, changes.fire)
        if changes.expiry is not None:
            self.next_expiry = _earliest(self.next_expiry, changes.expiry)
        if changes.unpause is not None:
            self.next_unpause = _earliest(self.next_unpause, changes.unpause)
        if (changes.interrupt or changes.fail_running) and self.stop_attempts is not None:
            self.stop_attempts(changes.interrupt, changes.fail_running)
        self.wake_event.set()

    def note_expiry(self, when: float | None) -> None:
        """Note a task that expires at ``when`` unless it starts first."""
        if when is not None:
            self.next_expiry = _earliest(self.next_expiry, when)
            self.wake_event.set()

    def next_deadline(self) -> float | None:
        """The earliest instant the dispatch loop has something to do."""
        deadlines = [
            d
            for d in (
                self.next_due,
                self.next_fire,
                self.next_expiry,
                self.next_unpause,
                self.next_admission,
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

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
        """Whether nothing runs, nothing can start now and nothing waits to be committed.

        Paused tasks do not count (they wait for a resume), nor do the future occurrences of
        recurring schedules. With ``include_delayed``, delayed tasks and tasks admission holds
        back (rate limits, pressure, caps) count until they ran.
        """
        if self.running or self.claiming or self.settling:
            return False
        if self.ready and self.held_generation != self.ready_generation:
            return False  # ready work the dispatcher has not looked at yet
        if self.preempted and not self.urgent_running:
            return False  # the dispatcher is about to release preempted work
        now = self._now()
        held = self.next_admission if self.ready else None  # work admission holds back
        deadlines = (self.next_due, self.next_fire, self.next_expiry, self.next_unpause, held)
        if any(deadline is not None and deadline <= now for deadline in deadlines):
            return False  # the dispatch loop has work right now
        return not (include_delayed and (self.next_due is not None or self.ready))

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
