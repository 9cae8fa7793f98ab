"""Control: pause and resume scopes, cancel tasks, steer recurring schedules.

Every change is committed first; then the running tasks it concerns are interrupted and the
events are published. Pausing interrupts the running tasks of the scope (they go back to the
queue as ``paused``, without a retry charged); cancelling interrupts them for good, after
their type's ``on_cancel`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from taskmill.clock import Clock
from taskmill.domain import Domain, check_group
from taskmill.model.errors import ConfigurationError, TaskNotFoundError
from taskmill.model.events import GroupPaused, GroupResumed, Paused, Resumed
from taskmill.model.records import TaskRecord
from taskmill.model.timing import instant, seconds
from taskmill.scheduler.events import EventBus, publish_changes
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Interrupt, Runner, Running
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Cancellation, Changes, Store, TagSelector

_SCAN_PAGE = 1000


class Control:
    """Pauses, cancellations and schedule commands, on behalf of the scheduler."""

    def __init__(
        self,
        *,
        store: Store,
        state: RunState,
        runner: Runner,
        bus: EventBus,
        clock: Clock,
        registry: Registry,
    ) -> None:
        self._store = store
        self._state = state
        self._runner = runner
        self._bus = bus
        self._clock = clock
        self._registry = registry

    # --- pause and resume ----------------------------------------------------------------

    async def pause(self, domain: Domain | str | None) -> bool:
        """Pause everything (``domain=None``) or one domain; return whether it changed."""
        name = None if domain is None else self._registry.domain(domain).name
        changed = await self._store.pause(
            "global" if name is None else "domain", name or "", None, self._clock.now()
        )
        pauses = self._state.pauses
        if name is None:
            pauses.everything = True
        else:
            pauses.domains.add(name)
        self._interrupt(lambda r: name is None or r.domain == name, Interrupt.PAUSED)
        if changed and self._bus.active:
            self._bus.publish(Paused(self._clock.now(), name))
        return changed

    async def resume(self, domain: Domain | str | None) -> bool:
        """Resume everything (``domain=None``) or one domain; return whether it was paused."""
        name = None if domain is None else self._registry.domain(domain).name
        changes = await self._store.resume(
            "global" if name is None else "domain", name or "", self._clock.now()
        )
        pauses = self._state.pauses
        if name is None:
            pauses.everything = False
        else:
            pauses.domains.discard(name)
        if changes is None:
            return False
        self._state.apply(changes)
        if self._bus.active:
            self._bus.publish(Resumed(self._clock.now(), name))
        return True

    async def pause_group(self, group: str, until: datetime | timedelta | float | None) -> bool:
        """Pause a group, until ``until`` if given; return whether it was not paused."""
        check_group(group)
        now = self._clock.now()
        deadline = _deadline(until, now)
        groups = self._state.pauses.groups
        moved = group in groups and groups[group] != deadline
        changed = await self._store.pause("group", group, deadline, now)
        groups[group] = deadline
        if deadline is not None:
            self._state.apply(Changes(unpause=deadline))
        self._interrupt(lambda r: r.claimed.group == group, Interrupt.PAUSED)
        if (changed or moved) and self._bus.active:
            self._bus.publish(GroupPaused(now, group, deadline))
        return changed

    async def resume_group(self, group: str) -> bool:
        """Resume a group; return whether it was paused."""
        changes = await self._store.resume("group", group, self._clock.now())
        self._state.pauses.groups.pop(group, None)
        if changes is None:
            return False
        self._state.apply(changes)
        if self._bus.active:
            self._bus.publish(GroupResumed(self._clock.now(), group))
        return True

    # --- cancel --------------------------------------------------------------------------

    async def cancel(self, task_id: int) -> bool:
        """Cancel one task; return ``False`` if it had already finished.

        Raises:
            TaskNotFoundError: no task or history record has this id.
        """
        cancellation = await self._store.cancel(self._clock.now(), ids=[task_id])
        if not cancellation.running and not cancellation.changes.ended:
            if await self._store.get_history(task_id):
                return False
            raise TaskNotFoundError(
                f"cannot cancel task {task_id}: no task or history record has this id"
            )
        self._apply(cancellation)
        return True

    async def cancel_domain(self, domain: Domain | str) -> int:
        """Cancel every active task of a domain; return how many."""
        name = self._registry.domain(domain).name
        return self._apply(await self._store.cancel(self._clock.now(), domain=name))

    async def cancel_type(self, task_type: str) -> int:
        """Cancel every active task of a type (registered or not); return how many."""
        return self._apply(await self._store.cancel(self._clock.now(), task_type=task_type))

    async def cancel_tagged(self, selector: TagSelector) -> int:
        """Cancel every active task carrying a tag; return how many."""
        return self._apply(await self._store.cancel(self._clock.now(), tagged=selector))

    async def cancel_where(self, predicate: Callable[[TaskRecord], bool]) -> int:
        """Cancel every active task for which ``predicate(record)`` is true; return how many.

        The queue is read page by page (never all at once); tasks submitted while it is
        being read may or may not be seen.
        """
        if not callable(predicate):
            raise ConfigurationError(f"cancel_where takes a function, got {predicate!r}")
        chosen: list[int] = []
        after = 0
        while page := await self._store.scan_tasks(after=after, limit=_SCAN_PAGE):
            chosen.extend(record.id for record in page if predicate(record))
            after = page[-1].id
        return await self._cancel_ids(chosen)

    async def _cancel_ids(self, ids: Sequence[int]) -> int:
        total = 0
        for start in range(0, len(ids), _SCAN_PAGE):
            chunk = ids[start : start + _SCAN_PAGE]
            total += self._apply(await self._store.cancel(self._clock.now(), ids=chunk))
        return total

    def _apply(self, cancellation: Cancellation) -> int:
        changes = cancellation.changes
        publish_changes(self._bus, changes, self._clock.now())
        self._state.apply(changes)
        running = self._state.running
        for task_id in cancellation.running:
            if task_id in running:
                self._runner.interrupt(running[task_id], Interrupt.CANCELLED)
        return len(changes.ended) + len(cancellation.running)

    # --- schedules -----------------------------------------------------------------------

    async def set_schedule(self, schedule_id: int, status: str) -> None:
        """Pause, resume or cancel a schedule (see ``Store.set_schedule_status``)."""
        now = self._clock.now()
        changes = await self._store.set_schedule_status(schedule_id, status, now)
        publish_changes(self._bus, changes, now)
        self._state.apply(changes)

    # --- helpers -------------------------------------------------------------------------

    def _interrupt(self, matches: Callable[[Running], bool], reason: Interrupt) -> None:
        for running in list(self._state.running.values()):
            if matches(running):
                self._runner.interrupt(running, reason)


def _deadline(until: datetime | timedelta | float | None, now: float) -> float | None:
    if until is None:
        return None
    if isinstance(until, datetime):
        return instant(until, "until")
    return now + seconds(until, "until", allow_zero=False)
