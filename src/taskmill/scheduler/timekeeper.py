"""Work that falls due with time: lifted pauses, expired tasks, occurrences, delayed tasks.

The dispatcher calls :meth:`Timekeeper.run_due` before each claim, so nothing expired is ever
dispatched and every occurrence that is due exists before the next claim.
"""

from __future__ import annotations

from taskmill.model.events import GroupResumed
from taskmill.scheduler.events import EventBus, publish_changes
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Store


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and deadline <= now


class Timekeeper:
    """Runs every store operation whose deadline has come, and publishes what it did."""

    def __init__(self, *, store: Store, state: RunState, bus: EventBus) -> None:
        self._store = store
        self._state = state
        self._bus = bus

    async def run_due(self, now: float) -> None:
        """Act on every deadline at or before ``now``."""
        state, store = self._state, self._store
        if _due(state.next_unpause, now):
            groups, changes = await store.resume_expired_pauses(now)
            state.next_unpause, changes.unpause = changes.unpause, None
            for group in groups:
                state.pauses.groups.pop(group, None)
                if self._bus.active:
                    self._bus.publish(GroupResumed(now, group))
            state.apply(changes)
        if _due(state.next_expiry, now):
            changes = await store.expire_due(now)
            state.next_expiry, changes.expiry = changes.expiry, None
            publish_changes(self._bus, changes, now)
            state.apply(changes)
        if _due(state.next_fire, now):
            changes = await store.fire_schedules(now)
            state.next_fire, changes.fire = changes.fire, None
            publish_changes(self._bus, changes, now)
            state.apply(changes)
        if _due(state.next_due, now):
            state.next_due = await store.promote_due(now)
            state.mark_ready()
            state.urgent_hint = True  # a delayed urgent task may be among them
