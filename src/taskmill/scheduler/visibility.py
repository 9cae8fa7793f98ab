"""What a UI reads and watches: the :class:`~taskmill.Scheduler` calls that observe.

Records, lists, key lookups, statistics, throughput, the snapshot, counts, schedules and
event subscriptions: the half of the facade that changes nothing (``prune_history`` aside,
which applies retention on demand). :class:`~taskmill.Scheduler` inherits them from
:class:`Visibility`; they delegate to the store's read connections,
:class:`~taskmill.scheduler.queries.Queries` and the event bus. All of them work on a
read-only scheduler too (see :mod:`taskmill.scheduler.read_only`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from taskmill.clock import Clock
from taskmill.domain import Domain, TaskType
from taskmill.model.errors import ConfigurationError, ScheduleNotFoundError
from taskmill.model.events import Event
from taskmill.model.records import HistoryRecord, PauseState, ScheduleRecord, TaskRecord
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
from taskmill.model.status import TaskStatus
from taskmill.scheduler import read_only
from taskmill.scheduler.events import (
    DEFAULT_BUFFER,
    EventBus,
    EventCallback,
    EventFilter,
    Subscription,
    feed,
)
from taskmill.scheduler.queries import (
    Queries,
    StatusFilter,
    TagFilter,
    TypeFilter,
    tag_text,
    type_name,
)
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.snapshot import Snapshot
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Store


class Visibility:
    """The observing half of :class:`~taskmill.Scheduler` (see the module docstring)."""

    _store: Store
    _queries: Queries
    _clock: Clock
    _bus: EventBus
    _registry: Registry

    def _require_readable(self) -> RunState | None:
        """The run state of the open scheduler (``None`` if read-only); raises if not open."""
        raise NotImplementedError  # the scheduler's own

    def _require_open(self, call: str) -> RunState:
        """The run state of the open scheduler; raises if it is not open, or read-only."""
        raise NotImplementedError  # the scheduler's own

    def _check_caller(self) -> None:
        """Raise :class:`~taskmill.WrongThreadError` off the open scheduler's loop."""
        raise NotImplementedError  # the scheduler's own

    async def get_schedule(self, schedule_id: int) -> ScheduleRecord:
        """Return the schedule ``schedule_id`` (the id its recurring submission returned).

        Raises:
            ScheduleNotFoundError: no schedule has this id.
        """
        self._require_readable()
        record = await self._store.get_schedule(schedule_id)
        if record is None:
            raise ScheduleNotFoundError(f"no schedule has id {schedule_id}")
        return record

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return the active and paused schedules, oldest first."""
        self._require_readable()
        return await self._store.list_schedules()

    def events(
        self,
        *,
        domain: Domain | str | None = None,
        task_type: TaskType[Any] | str | None = None,
        kinds: Iterable[type[Event]] | None = None,
        maxsize: int = DEFAULT_BUFFER,
    ) -> Subscription:
        """Subscribe to events from now on; iterate the result with ``async for``.

        Args:
            domain: Only the events of this domain (see :class:`EventFilter`).
            task_type: Only the events of this task type (object or ``"domain::name"``).
            kinds: Only events of these classes, e.g. ``[Completed, Failed]``.
            maxsize: Events buffered at most; a subscriber that falls further behind loses
                the oldest and reads a :class:`~taskmill.Missed` event saying how many.
        """
        self._check_caller()
        return self._bus.subscribe(
            maxsize=maxsize, accepts=self._event_filter(domain, task_type, kinds)
        )

    def subscribe(
        self,
        callback: EventCallback,
        *,
        domain: Domain | str | None = None,
        task_type: TaskType[Any] | str | None = None,
        kinds: Iterable[type[Event]] | None = None,
        maxsize: int = DEFAULT_BUFFER,
    ) -> Subscription:
        """Call ``callback`` (a function or coroutine function) with each event from now on.

        Takes the filters of :meth:`events`. Callbacks run in order on a task of their own,
        so a slow one never delays the scheduler or other subscribers; one that raises is
        logged. Call ``close()`` on the returned subscription to stop.

        Raises:
            SchedulerStateError: the scheduler is not open (callbacks need its event loop).
        """
        self._require_readable()
        if not callable(callback):
            raise ConfigurationError(f"subscribe() takes a function, got {callback!r}")
        subscription = self.events(domain=domain, task_type=task_type, kinds=kinds, maxsize=maxsize)
        feed(subscription, callback)
        return subscription

    def _event_filter(
        self,
        domain: Domain | str | None,
        task_type: TaskType[Any] | str | None,
        kinds: Iterable[type[Event]] | None,
    ) -> EventFilter | None:
        if domain is None and task_type is None and kinds is None:
            return None
        name = None if domain is None else self._registry.domain(domain).name
        chosen = None
        if kinds is not None:
            chosen = tuple(kinds)
            if not all(isinstance(k, type) and issubclass(k, Event) for k in chosen):
                raise ConfigurationError(f"kinds must be event classes, got {chosen!r}")
        return EventFilter(name, type_name(task_type), chosen)

    async def get_task(self, task_id: int) -> TaskRecord | None:
        """Return the active task ``task_id``, or ``None`` if it is not in the queue."""
        self._require_readable()
        return await self._store.get_task(task_id)

    async def get_history(self, task_id: int) -> list[HistoryRecord]:
        """Return the history records of task ``task_id``, oldest first."""
        self._require_readable()
        return await self._store.get_history(task_id)

    async def list_tasks(
        self,
        *,
        status: StatusFilter = None,
        task_type: TypeFilter = None,
        key: str | None = None,
        tags: TagFilter | None = None,
        limit: int = 100,
        domain: Domain | str | None = None,
        group: str | None = None,
        after: tuple[int, int] | None = None,
        parent: int | None = None,
    ) -> list[TaskRecord]:
        """Return active tasks in dispatch order (priority, then id).

        Only those matching every filter given: ``status`` (one status or several),
        ``task_type`` (object or ``"domain::name"``), dedup ``key``, every tag in ``tags``
        (a value of ``None`` matches any value of its key), ``domain`` (object or name),
        ``group`` and ``parent`` (the id of the task that spawned them). ``limit`` caps how
        many are returned; page with keyset ``after``: pass ``(record.priority, record.id)``
        of the last record of a page to get the next one. Names given as strings need not
        be registered with this scheduler.
        """
        self._require_readable()
        return await self._queries.list_tasks(
            status=status,
            task_type=task_type,
            key=key,
            tags=tags,
            limit=limit,
            domain=domain,
            group=group,
            after=after,
            parent=parent,
        )

    async def list_history(
        self,
        *,
        status: StatusFilter = None,
        task_type: TypeFilter = None,
        key: str | None = None,
        tags: TagFilter | None = None,
        before: int | None = None,
        limit: int = 100,
        parent: int | None = None,
    ) -> list[HistoryRecord]:
        """Return history records newest first, matching every filter given.

        Filters are ``status``, ``task_type``, ``key``, ``tags`` and ``parent`` as in
        :meth:`list_tasks`; ``status=["failed", "dead_letter"]`` lists failures. Page with
        keyset ``before``: pass the ``seq`` of the last record of a page to get the next one
        (stable while tasks keep ending).
        """
        self._require_readable()
        return await self._queries.list_history(
            status=status,
            task_type=task_type,
            key=key,
            tags=tags,
            before=before,
            limit=limit,
            parent=parent,
        )

    async def lookup(
        self, task_type: TaskType[Any] | str, key: str, *, history_limit: int = 20
    ) -> KeyLookup:
        """Return what is known about a dedup key: its active task and its history.

        History records are newest first, at most ``history_limit`` of them. Lookups in
        history read the type's records newest first, so a key that ended long ago in a
        large history costs a longer scan (retention bounds it).
        """
        self._require_readable()
        return await self._queries.lookup(task_type, key, history_limit)

    async def type_stats(
        self,
        task_type: TaskType[Any] | str | None = None,
        *,
        sample: int = 1000,
        since: float | timedelta | None = None,
    ) -> list[TypeStats]:
        """Return statistics of recent history per task type, sorted by type.

        Each covers the newest ``sample`` records of its type, only those finished within
        ``since`` (seconds or a timedelta before now) if given: count and outcomes, failure
        rate, mean and p95 duration, mean recorded IO. Types without such records are left
        out; ``task_type`` restricts the result to one type.
        """
        self._require_readable()
        return await self._queries.type_stats(task_type, sample, since)

    async def throughput(self, window: float | timedelta = 60.0) -> Throughput:
        """Return how many tasks ended in the last ``window`` (seconds), and completions/s."""
        self._require_readable()
        return await self._queries.throughput(window)

    async def snapshot(self) -> Snapshot:
        """Return everything a dashboard shows, at one instant.

        Running attempts with their progress (reported or extrapolated from their type's
        recent mean duration), active tasks by status, admission state (pressure and its
        breakdown, caps, rate-limit tokens, IO budgets, group shares), pause state and
        recurring schedules. Frozen; ``to_dict()`` gives JSON.

        A read-only scheduler reads it from the database: the tasks stored ``running``
        without progress, ``admission`` ``None`` (see :class:`~taskmill.Snapshot`).
        """
        state = self._require_readable()
        if state is None:
            return await read_only.snapshot(self._store, self._clock.now())
        return await self._queries.snapshot(state)

    async def pause_state(self) -> PauseState:
        """What is paused: everything, which domains, which groups (with deadlines)."""
        state = self._require_readable()
        return await self._store.pause_state() if state is None else state.pauses.snapshot()

    async def count_by_tag(self, key: str) -> dict[str, int]:
        """Return how many active tasks carry each value of tag ``key``."""
        self._require_readable()
        return await self._store.count_by_tag(tag_text(key, "tag key"))

    async def tag_values(self, key: str) -> list[str]:
        """Return the distinct values of tag ``key`` among active tasks, sorted."""
        self._require_readable()
        return await self._store.tag_values(tag_text(key, "tag key"))

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return the number of active tasks in each status."""
        self._require_readable()
        return await self._store.count_by_status()

    async def prune_history(self) -> int:
        """Apply the retention policy now; return how many history records were removed."""
        self._require_open("prune_history")
        return await self._store.prune_history(self._clock.now())
