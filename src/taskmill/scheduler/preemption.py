"""Preemption: urgent work takes the slots of the least important running tasks.

A task at or above ``preempt_priority`` (numerically at or below it) that arrives while every
slot is busy interrupts the lowest-priority running task below it, one per urgent task. The
interrupted task is stored ``paused`` for reason *preempted*, without a retry charged, and
is released only when no urgent task runs any more: urgent work cannot be overtaken by what
it preempted, and preempted work does not bounce in and out while urgent work continues.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskmill.scheduler.runner import Interrupt, Runner
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Store


class Preemptor:
    """Chooses victims for urgent tasks and releases them when the urgency is over."""

    def __init__(
        self, *, store: Store, state: RunState, runner: Runner, max_concurrency: int
    ) -> None:
        self._store = store
        self._state = state
        self._runner = runner
        self.max_concurrency = max_concurrency

    @property
    def threshold(self) -> int:
        """Tasks of this priority or more urgent (lower numbers) preempt."""
        return self._runner.preempt_priority

    def make_room(self, urgent: Sequence[tuple[int, int]]) -> int:
        """Interrupt running tasks for the urgent ``(id, priority)`` just made ready.

        Returns how many tasks were interrupted.
        """
        state = self._state
        free = self.max_concurrency - len(state.running)
        needed = [task for task in urgent if task[1] <= self.threshold][max(0, free) :]
        if not needed:
            return 0
        victims = sorted(
            (r for r in state.running.values() if not r.urgent and r.interrupt is None),
            key=lambda r: (r.claimed.priority, r.started_at),
            reverse=True,  # the least important first, and of those the newest
        )
        taken = 0
        for (task_id, priority), victim in zip(
            sorted(needed, key=lambda t: t[1]), victims, strict=False
        ):
            if victim.claimed.priority <= priority:
                break  # only tasks below the urgent one give way
            victim.preempted_by = task_id
            self._runner.interrupt(victim, Interrupt.PREEMPTED)
            taken += 1
        return taken

    async def release_if_clear(self) -> None:
        """Resume the preempted tasks once no urgent task runs."""
        state = self._state
        if state.preempted and not state.urgent_running:
            state.preempted = 0
            if await self._store.resume_preempted():
                state.mark_ready()
