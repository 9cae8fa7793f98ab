"""Commits submissions and tells the running scheduler what each outcome means.

A stored task may be ready at once (the dispatcher wakes), due later or expiring (timers),
urgent (the preemptor makes room for it), or it may replace a running attempt (superseded:
that attempt is stopped and subscribers hear of it). Validation happens before, in
:mod:`taskmill.scheduler.submission`.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskmill.clock import Clock
from taskmill.model.events import Replaced
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome, Superseded, Upgraded
from taskmill.model.records import TaskHeader
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.preemption import Preemptor
from taskmill.scheduler.runner import Interrupt, Runner
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Changes, NewSchedule, NewTask, Store


class Intake:
    """Stores new tasks and schedules, then updates the run state for them."""

    def __init__(
        self,
        *,
        store: Store,
        state: RunState,
        clock: Clock,
        bus: EventBus,
        runner: Runner,
        preemptor: Preemptor,
        preempt_priority: int,
    ) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._bus = bus
        self._runner = runner
        self._preemptor = preemptor
        self._preempt_priority = preempt_priority

    async def submit(self, tasks: Sequence[NewTask]) -> list[SubmitOutcome]:
        """Store ``tasks`` (validated) and act on what the store did with each."""
        state = self._state
        now = self._clock.now()
        outcomes = await self._store.submit(tasks, now)
        urgent: list[tuple[int, int]] = []
        stored: list[str] = []  # types of the new tasks, for metrics
        threshold = self._preempt_priority
        for task, outcome in zip(tasks, outcomes, strict=True):
            if type(outcome) is Upgraded:
                # The stored task may be delayed or paused: the queue will say (check_ready).
                state.urgent_hint = state.urgent_hint or outcome.priority <= threshold
                continue
            if type(outcome) is Superseded:
                self._superseded(task, outcome, now)  # then it is a new task like any other
            elif type(outcome) is not Inserted:
                continue
            stored.append(task.type)
            if task.not_before is not None:
                state.note_due(task.not_before)
            elif task.depends_on:  # blocked, or ready if they all completed: the queue says
                state.urgent_hint = state.urgent_hint or task.priority <= threshold
            elif task.priority <= threshold and not state.pauses.covers(task.type, task.group):
                urgent.append((outcome.id, task.priority))
            if task.ttl is not None and not task.ttl_from_start:
                state.note_expiry(now + task.ttl)
        self._bus.metrics.submitted(stored)
        if any(type(o) is not Duplicate for o in outcomes):
            state.mark_ready()
        if urgent:
            self._preemptor.make_room(urgent)
        return outcomes

    def _superseded(self, task: NewTask, outcome: Superseded, now: float) -> None:
        """Stop the replaced attempt if it runs here, and tell subscribers."""
        running = self._state.running.get(outcome.replaced)
        was_running = outcome.id != outcome.replaced
        if running is not None and was_running:
            self._runner.interrupt(running, Interrupt.SUPERSEDED)
        if was_running:  # the replaced task went to history as superseded
            self._bus.metrics.ended(task.type, "superseded")
        if self._bus.active:
            header = TaskHeader(
                outcome.id, task.type, task.key, task.label, task.priority, task.priority
            )
            self._bus.publish(Replaced(now, header, outcome.replaced, was_running))

    async def add_schedule(self, schedule: NewSchedule) -> SubmitOutcome:
        """Store a recurring schedule; a new one arms the timer of its first occurrence."""
        outcome = await self._store.add_schedule(schedule, self._clock.now())
        if isinstance(outcome, Inserted):
            self._state.apply(Changes(fire=schedule.first_at))
        return outcome
