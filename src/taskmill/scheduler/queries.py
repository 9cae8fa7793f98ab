"""Queries behind the scheduler's read API: argument checks, then one store read each.

Store reads run on read connections (threads), never behind the writer, so a UI polling
them does not slow dispatch. The snapshot adds what only memory knows: the running attempts
and their progress, admission and pause state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import timedelta
from typing import Any

from taskmill.domain import Domain, TaskType
from taskmill.model.errors import ConfigurationError, InvalidTagError
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
from taskmill.model.status import TaskStatus
from taskmill.model.tags import check_tags
from taskmill.model.timing import seconds
from taskmill.scheduler.estimates import Durations
from taskmill.scheduler.gate import AdmissionControl
from taskmill.scheduler.snapshot import Snapshot, running_tasks
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Store

StatusFilter = TaskStatus | str | Iterable[TaskStatus | str] | None
"""One status, several (any of them), or ``None`` for all."""

TypeFilter = TaskType[Any] | str | None
"""A task type object or its qualified name ``"domain::name"``."""

TagFilter = Mapping[str, str | None]
"""Tags a task must carry: key to value, or to ``None`` for any value of the key."""


class Queries:
    """Checked reads of the store, and the snapshot."""

    def __init__(
        self,
        *,
        store: Store,
        now: Callable[[], float],
        admission: AdmissionControl,
        durations: Durations,
    ) -> None:
        self._store = store
        self._now = now
        self._admission = admission
        self._durations = durations
        self._unregistered: frozenset[str] = frozenset()

    async def find_unregistered(self, registered: Collection[str]) -> dict[str, int]:
        """Count the active tasks of types not in ``registered``; remember those types.

        They wait for a process that registers them (several processes may share a queue,
        each running its own domains). Read once, at open: the snapshot counts only these
        types later (this process can add no task of a type it does not know).
        """
        counts = await self._store.count_by_type()
        found = {name: n for name, n in counts.items() if name not in registered}
        self._unregistered = frozenset(found)
        return found

    async def list_tasks(
        self, *, status: StatusFilter, task_type: TypeFilter, key: str | None,
        tags: TagFilter | None, limit: int, domain: Domain | str | None = None,
        group: str | None = None, after: tuple[int, int] | None = None,
        parent: int | None = None,
    ) -> list[TaskRecord]:  # fmt: skip
        """Active tasks matching every filter, in dispatch order."""
        return await self._store.list_tasks(
            status=statuses(status),
            task_type=type_name(task_type),
            key=_key(key),
            tags=tag_filter(tags),
            limit=check_limit(limit),
            domain=_domain(domain),
            group=_text(group, "group"),
            after=_cursor(after),
            parent=_id(parent, "parent"),
        )

    async def list_history(
        self, *, status: StatusFilter, task_type: TypeFilter, key: str | None,
        tags: TagFilter | None, before: int | None, limit: int, parent: int | None = None,
    ) -> list[HistoryRecord]:  # fmt: skip
        """History records matching every filter, newest first."""
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise ConfigurationError(f"before must be a history seq (an int), got {before!r}")
        return await self._store.list_history(
            status=statuses(status),
            task_type=type_name(task_type),
            key=_key(key),
            tags=tag_filter(tags),
            before=before,
            limit=check_limit(limit),
            parent=_id(parent, "parent"),
        )

    async def lookup(self, task_type: TypeFilter, key: str, history_limit: int) -> KeyLookup:
        """The active task holding ``key`` and the key's history."""
        name = type_name(task_type)
        if name is None:
            raise ConfigurationError("lookup() needs the task type: keys are unique per type")
        checked = _key(key)
        assert checked is not None
        return await self._store.lookup(name, checked, check_limit(history_limit))

    async def type_stats(
        self,
        task_type: TypeFilter,
        sample: int,
        since: float | timedelta | None,
    ) -> list[TypeStats]:
        """Per-type statistics of recent history."""
        name = type_name(task_type)
        start = None if since is None else self._now() - seconds(since, "since", allow_zero=False)
        return await self._store.type_stats(
            None if name is None else [name], sample=check_limit(sample, "sample"), since=start
        )

    async def throughput(self, window: float | timedelta) -> Throughput:
        """Tasks that ended in the last ``window``."""
        now = self._now()
        return await self._store.throughput(now - seconds(window, "window", allow_zero=False), now)

    async def snapshot(self, state: RunState) -> Snapshot:
        """Everything at once (see :meth:`Scheduler.snapshot`)."""
        now = self._now()
        running = running_tasks(state.running.values(), self._durations, now)
        counts, schedules, unregistered = await asyncio.gather(
            self._store.count_by_status(),
            self._store.list_schedules(),
            self._store.count_by_type(self._unregistered),
        )
        return Snapshot(
            at=now,
            running=tuple(running),
            counts={str(status): count for status, count in sorted(counts.items())},
            admission=self._admission.state(now),
            pauses=state.pauses.snapshot(),
            schedules=tuple(schedules),
            unregistered=unregistered,
        )


def statuses(status: StatusFilter) -> tuple[TaskStatus, ...] | None:
    """The statuses to filter by (``None``: any), checked."""
    if status is None:
        return None
    chosen = [status] if isinstance(status, str) else list(status)
    if not chosen:
        raise ConfigurationError("status filter is empty; pass None for any status")
    return tuple(_status(one) for one in chosen)


def _status(status: TaskStatus | str) -> TaskStatus:
    if isinstance(status, TaskStatus):
        return status
    try:
        return TaskStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in TaskStatus)
        raise ConfigurationError(f"unknown status {status!r}; use one of: {valid}") from None


def qualified_type(task_type: TaskType[Any] | str) -> str:
    """The ``domain::name`` of a task type given as an object or a string, checked."""
    name = type_name(task_type)
    domain, _, short = (name or "").partition("::")
    if not (domain and short):
        raise ConfigurationError(
            f"a task type is a TaskType or its qualified name 'domain::name', got {task_type!r}"
        )
    assert name is not None
    return name


def type_name(task_type: TypeFilter) -> str | None:
    """The qualified name of a task type given as an object or a string."""
    if task_type is None or isinstance(task_type, str):
        return task_type
    if isinstance(task_type, TaskType):
        return task_type.qualified_name
    raise ConfigurationError(f"task_type must be a TaskType or a str, got {task_type!r}")


def _key(key: object) -> str | None:
    if key is not None and (not isinstance(key, str) or not key):
        raise ConfigurationError(f"key must be a non-empty str, got {key!r}")
    return key


def check_limit(limit: int, what: str = "limit") -> int:
    """``limit`` if it is an int >= 1."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(f"{what} must be an int >= 1, got {limit!r}")
    return limit


def _domain(domain: Domain | str | None) -> str | None:
    """A domain's name; a string is taken as is (the domain need not be registered)."""
    return domain.name if isinstance(domain, Domain) else _text(domain, "domain")


def _text(text: object, what: str) -> str | None:
    if text is not None and (not isinstance(text, str) or not text):
        raise ConfigurationError(f"{what} must be a non-empty str, got {text!r}")
    return text


def _id(task_id: object, what: str) -> int | None:
    if task_id is not None and (isinstance(task_id, bool) or not isinstance(task_id, int)):
        raise ConfigurationError(f"{what} must be a task id (an int), got {task_id!r}")
    return task_id


def _cursor(after: object) -> tuple[int, int] | None:
    if after is None:
        return None
    if (
        isinstance(after, tuple)
        and len(after) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in after)
    ):
        return (after[0], after[1])
    raise ConfigurationError(
        f"after must be the (priority, id) of the last task of the previous page, got {after!r}"
    )


def tag_filter(tags: TagFilter | None) -> dict[str, str | None] | None:
    """A checked tag filter (``None`` values: any value of the key)."""
    if tags is None:
        return None
    if not isinstance(tags, Mapping):
        raise InvalidTagError(f"tag filter must be a mapping of str to str, got {tags!r}")
    any_value = [tag_text(key, "tag filter key") for key, value in tags.items() if value is None]
    valued = {key: value for key, value in tags.items() if value is not None}
    checked: dict[str, str | None] = dict(check_tags(valued, what="tag filter"))
    checked.update(dict.fromkeys(any_value))
    return checked


def tag_text(text: object, what: str) -> str:
    """``text`` if it is a non-empty string."""
    if not isinstance(text, str) or not text:
        raise InvalidTagError(f"{what} must be a non-empty str, got {text!r}")
    return text


def tag_value(value: object) -> str | None:
    """``value`` if it is a tag value (a str) or ``None`` (any value)."""
    if value is not None and not isinstance(value, str):
        raise InvalidTagError(f"a tag value must be a str (or None for any), got {value!r}")
    return value
