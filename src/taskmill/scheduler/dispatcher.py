"""The dispatch loop: wake up, act on due deadlines, claim what fits, start it, sleep.

The loop never polls: it sleeps on :attr:`RunState.wake_event`, set by submissions, finished
attempts and a single clock timer armed for the next delayed task. Claims are SQL in
priority-then-FIFO order, so the queue itself is never loaded into memory.
"""

from __future__ import annotations

import logging

from taskmill.clock import Clock, TimerHandle
from taskmill.model.errors import StoreError
from taskmill.scheduler.preemption import Preemptor
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Runner
from taskmill.scheduler.state import RunState
from taskmill.scheduler.timekeeper import Timekeeper
from taskmill.store.protocol import Store

logger = logging.getLogger("taskmill")

STORE_ERROR_BACKOFF = 1.0  # seconds before retrying a claim the store refused


class Dispatcher:
    """Claims ready tasks into free slots and hands them to the runner."""

    def __init__(
        self,
        *,
        store: Store,
        state: RunState,
        runner: Runner,
        clock: Clock,
        registry: Registry,
        timekeeper: Timekeeper,
        preemptor: Preemptor,
        max_concurrency: int,
    ) -> None:
        self._store = store
        self._registry = registry
        self._timekeeper = timekeeper
        self._preemptor = preemptor
        self._state = state
        self._runner = runner
        self._clock = clock
        self.max_concurrency = max_concurrency
        self._stopping = False
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._retry_at: float | None = None

    def stop(self) -> None:
        """Make :meth:`run` return after the current step."""
        self._stopping = True
        self._state.wake()

    async def run(self) -> None:
        """Dispatch until :meth:`stop` is called."""
        wake = self._state.wake_event
        try:
            while True:
                wake.clear()
                await self.dispatch_once()  # claims nothing once stopping
                if self._stopping:
                    break
                await wake.wait()
        finally:
            self._disarm()

    async def dispatch_once(self) -> int:
        """Run one dispatch step; return how many tasks it started."""
        state, clock = self._state, self._clock
        started = 0
        if self._retry_at is None or clock.now() >= self._retry_at:
            self._retry_at = None
            try:
                started = await self._step()
            except StoreError:
                logger.exception("taskmill dispatch failed; retrying in %gs", STORE_ERROR_BACKOFF)
                self._retry_at = clock.now() + STORE_ERROR_BACKOFF
        self._arm(self._retry_at if self._retry_at is not None else state.next_deadline())
        state.changed()
        return started

    async def _step(self) -> int:
        now = self._clock.now()
        await self._timekeeper.run_due(now)
        started = await self._claim(now)
        # After the claim's tasks started, so that urgent ones just claimed count as running.
        await self._preemptor.check_ready()
        await self._preemptor.release_if_clear()
        return started

    async def _claim(self, now: float) -> int:
        state, store = self._state, self._store
        free = self.max_concurrency - len(state.running)
        if free <= 0 or not state.ready or self._stopping:
            return 0
        types = self._claimable_types()
        generation = state.ready_generation
        state.claiming = True
        try:
            claimed = await store.claim(free, now, types) if types else []
        finally:
            state.claiming = False
        if len(claimed) < free and state.ready_generation == generation:
            state.ready = False
            self._preemptor.nothing_ready()
        start, started = self._runner.start, self._preemptor.started
        for task in claimed:
            start(task, now)
            started(task.id)
        return len(claimed)

    def _claimable_types(self) -> tuple[str, ...]:
        """The registered types, less those of paused domains.

        Paused tasks are not claimable anyway; this keeps a domain pause airtight at
        dispatch, whatever a task's stored state says.
        """
        pauses = self._state.pauses
        names = self._registry.names
        if pauses.everything:
            return ()
        if not pauses.domains:
            return names
        return tuple(n for n in names if n.partition("::")[0] not in pauses.domains)

    def _arm(self, when: float | None) -> None:
        if when == self._timer_at:
            return
        self._disarm()
        if when is not None:
            self._timer_at = when
            handle = self._clock.call_at(when, self._on_timer)
            if self._timer_at == when:  # a clock may fire a past-due timer at once
                self._timer = handle

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._state.wake()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None
