"""Preemption: urgent work takes the slots of the least important running tasks.

A task at or above ``preempt_priority`` (numerically at or below it) that arrives while every
slot is busy interrupts the lowest-priority running task below it, one per urgent task. The
interrupted task is stored ``paused`` for reason *preempted*, without a retry charged, and
is released only when no urgent task runs any more: urgent work cannot be overtaken by what
it preempted, and preempted work does not bounce in and out while urgent work continues.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Interrupt, Runner
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Store


class Preemptor:
    """Chooses victims for urgent tasks and releases them when the urgency is over."""

    def __init__(
        self,
        *,
        store: Store,
        state: RunState,
        runner: Runner,
        registry: Registry,
    ) -> None:
        self._store = store
        self._state = state
        self._runner = runner
        self._registry = registry

    @property
    def threshold(self) -> int:
        """Tasks of this priority or more urgent (lower numbers) preempt."""
        return self._runner.preempt_priority

    def make_room(self, urgent: Sequence[tuple[int, int]]) -> int:
        """Interrupt running tasks for the urgent ``(id, priority)`` just made ready.

        Urgent tasks made ready earlier and not started yet still count: each needs its
        own slot. Returns how many tasks were interrupted now.
        """
        state = self._state
        waiting = state.awaiting_urgent
        waiting.update((i, p) for i, p in urgent if p <= self.threshold)
        leaving = sum(1 for r in state.running.values() if r.interrupt is not None)
        free = state.max_concurrency - len(state.running) + leaving
        short = len(waiting) - free
        if short <= 0:
            return 0
        victims = sorted(
            (r for r in state.running.values() if not r.urgent and r.interrupt is None),
            key=lambda r: (r.claimed.priority, r.started_at),
            reverse=True,  # the least important first, and of those the newest
        )
        # The least urgent waiting tasks are the ones the free slots do not cover.
        uncovered = sorted(waiting, key=lambda t: (t[1], t[0]))[-short:]
        taken = 0
        for (task_id, priority), victim in zip(uncovered, victims, strict=False):
            if victim.claimed.priority <= priority:
                break  # only tasks below the urgent one give way
            victim.preempted_by = task_id
            self._runner.interrupt(victim, Interrupt.PREEMPTED)
            taken += 1
        state.preempted += taken
        return taken

    def started(self, task_id: int) -> None:
        """Note that a task started (an urgent one no longer waits for a slot)."""
        waiting = self._state.awaiting_urgent
        if waiting:
            self._state.awaiting_urgent = {t for t in waiting if t[0] != task_id}

    def nothing_ready(self) -> None:
        """Note that no task is ready.

        Urgent tasks still recorded as waiting are not ready any more: they were paused,
        cancelled or expired before they started.
        """
        self._state.awaiting_urgent.clear()

    async def check_ready(self) -> None:
        """Make room for urgent tasks that became ready other than by a submission.

        A delay ending, a retry, a resume or an upgrade can make urgent work ready; those
        set :attr:`RunState.urgent_hint`, and the stored queue says which tasks they are.
        """
        state = self._state
        if not state.urgent_hint:
            return
        state.urgent_hint = False
        if len(state.running) < state.max_concurrency:
            return  # a free slot: the claim takes the urgent task without preempting
        ready = await self._store.ready_urgent(
            self.threshold, self._registry.names, state.max_concurrency
        )
        if ready:
            self.make_room(ready)

    async def release_if_clear(self) -> None:
        """Resume the preempted tasks once no urgent task runs or waits to run.

        Waits, too, until every preempted task has been stored as such (no victim still
        unwinding, no settlement uncommitted), so that none is left behind.
        """
        state = self._state
        if not state.preempted or state.urgent_running or state.settling:
            return
        if any(r.interrupt is Interrupt.PREEMPTED for r in state.running.values()):
            return
        seen = state.preempted
        resumed = await self._store.resume_preempted(self.threshold, self._registry.names)
        if resumed is not None:
            state.preempted -= seen  # preemptions made meanwhile wait for the next release
            if resumed:
                state.mark_ready()
