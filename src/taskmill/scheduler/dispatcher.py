"""The dispatch loop: wake up, act on due deadlines, claim what fits, start it, sleep.

The loop never polls: it sleeps on :attr:`RunState.wake_event`, set by submissions, finished
attempts and a single clock timer armed for the next delayed task. Claims are SQL in
priority-then-FIFO order, so the queue itself is never loaded into memory.
"""

from __future__ import annotations

import asyncio
import logging

from taskmill.admission.policy import select
from taskmill.clock import Clock, TimerHandle
from taskmill.model.errors import StoreError
from taskmill.model.priority import MAX_PRIORITY
from taskmill.scheduler.gate import AdmissionControl
from taskmill.scheduler.preemption import Preemptor
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Runner
from taskmill.scheduler.state import RunState
from taskmill.scheduler.timekeeper import Timekeeper
from taskmill.store.protocol import ClaimedTask, Store

logger = logging.getLogger("taskmill")


def state_due(deadline: float | None, now: float) -> bool:
    """Whether a deadline has come."""
    return deadline is not None and deadline <= now


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
        gate: AdmissionControl,
        pressure_poll: float = 1.0,
    ) -> None:
        self._store = store
        self._registry = registry
        self._timekeeper = timekeeper
        self._preemptor = preemptor
        self._state = state
        self._runner = runner
        self._clock = clock
        self._gate = gate
        self.pressure_poll = pressure_poll
        self._stopping = False
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._retry_at: float | None = None

    def stop(self) -> None:
        """Make :meth:`run` return after the current step (any thread, signal handlers too)."""
        self._stopping = True
        self._state.wake_soon()

    async def run(self) -> None:
        """Dispatch until :meth:`stop` is called."""
        wake = self._state.wake_event
        try:
            while True:
                wake.clear()
                started = await self.dispatch_once()  # claims nothing once stopping
                if self._stopping:
                    break
                if wake.is_set() and not started:
                    # Event.wait() on a set event returns without suspending: a step that
                    # starts nothing yet wakes itself (a timer due at once, a policy
                    # promising an instant already past) must still let the loop run.
                    await asyncio.sleep(0)
                else:
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
        if state_due(self._state.next_admission, now):
            self._state.next_admission = None
        started = await self._claim(now)
        # After the claim's tasks started, so that urgent ones just claimed count as running.
        await self._preemptor.check_ready()
        await self._preemptor.release_if_clear()
        self._gate.after_step(self._state.ready)
        return started

    async def _claim(self, now: float) -> int:
        state = self._state
        free = state.max_concurrency - len(state.running)
        if free <= 0 or not state.ready or self._stopping:
            return 0
        types = self._claimable_types()
        generation = state.ready_generation
        state.claiming = True
        claimed: list[ClaimedTask] = []
        try:
            if not types:
                exhausted = True
            elif self._gate.engaged:
                claimed, exhausted = await self._admit(free, now, types)
                if not claimed and not exhausted:
                    state.hold(generation)  # for wait_idle: nothing can start before a deadline
            else:  # nothing but the global cap: one query claims in dispatch order
                claimed = await self._store.claim(free, now, types)
                exhausted = len(claimed) < free
        finally:
            state.claiming = False
        if exhausted and state.ready_generation == generation:
            state.ready = False
            self._preemptor.nothing_ready()
        if claimed:
            self._runner.start(claimed, now)
            started = self._preemptor.started
            for task in claimed:
                started(task.id)
        return len(claimed)

    async def _admit(
        self, free: int, now: float, types: tuple[str, ...]
    ) -> tuple[list[ClaimedTask], bool]:
        """Choose with the admission policy, then claim what it admitted.

        Returns the claimed tasks and whether no ready task was left behind.
        """
        gate, store, state = self._gate, self._store, self._state
        inputs = gate.inputs(now)
        skip = gate.prefilter(inputs, types)
        # Fair sharing needs the best few of every group, not just the best overall.
        per_group = None if gate.fairness is None else free + 4
        limit = max(4 * free, 32) if per_group is None else 1024
        rows = []
        if skip.types and skip.least_urgent >= 0:
            rows = await store.candidates(
                types=skip.types,
                least_urgent=skip.least_urgent,
                excluded_groups=skip.excluded_groups,
                limit=limit,
                aging=gate.aging,
                now=now,
                per_group=per_group,
            )
        selection = select(gate.io.with_learned(rows), inputs, slots=free)
        admitted = [c.id for c in selection.admitted]
        claimed = await store.claim_ids(admitted, now) if admitted else []
        if gate.aging is not None:  # events show the priority dispatch used
            effective = {c.id: c.priority for c in selection.admitted}
            for task in claimed:
                task.effective_priority = effective.get(task.id)
        gate.commit(selection)
        # Held-back work passes with time (a token) or as pressure eases: look again then.
        # While the disk is watched, pressure is looked at as often as the disk is read.
        throttled = skip.least_urgent < MAX_PRIORITY
        poll = self.pressure_poll
        if gate.io_control.watching:
            poll = min(poll, gate.pacer.interval)
        looks = [selection.retry_at, skip.refill_at, now + poll if throttled else None]
        state.next_admission = min((t for t in looks if t is not None), default=None)
        held_back = (
            bool(selection.deferred)
            or throttled
            or skip.types != types
            or bool(skip.excluded_groups)
        )
        return claimed, len(rows) < limit and not held_back

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
