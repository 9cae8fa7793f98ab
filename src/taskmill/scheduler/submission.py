"""Turning payloads into stored tasks: validation, encoding, keys, and the domain handle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from taskmill.domain import Domain, TaskType, check_group
from taskmill.model.dependencies import (
    OnDependencyFailure,
    check_depends_on,
    check_on_dependency_failure,
)
from taskmill.model.errors import (
    ConfigurationError,
    InvalidTimeError,
    PayloadTooLargeError,
    PayloadValidationError,
)
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import OnDuplicate, SubmitOutcome, check_on_duplicate
from taskmill.model.priority import check_priority
from taskmill.model.recurring import Cron, Every, Recurrence, first_occurrence
from taskmill.model.retry import RetryPolicy
from taskmill.model.tags import Tags, check_tags, encode_tags, merge_tags
from taskmill.model.timing import TtlFrom, check_ttl_from, instant, seconds
from taskmill.payload import default_key
from taskmill.scheduler.context import TaskContext
from taskmill.scheduler.registry import Registry
from taskmill.store.protocol import NewSchedule, NewTask

MAX_KEY_BYTES = 1024
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Submission:
    """One item of :meth:`DomainHandle.submit_many` with its own overrides.

    Every field but ``payload`` defaults to the task type's setting; see
    :meth:`DomainHandle.submit` for their meaning.
    """

    payload: Any
    task: TaskType[Any] | str | None = None
    priority: int | None = None
    key: str | None = None
    label: str | None = None
    retry: RetryPolicy | None = None
    expected_io: IoBudget | None = None
    group: str | None = None
    run_after: float | timedelta | None = None
    run_at: datetime | None = None
    ttl: float | timedelta | None = None
    ttl_from: TtlFrom | None = None
    tags: Tags | None = None
    on_duplicate: OnDuplicate | None = None
    depends_on: Iterable[int] | None = None
    on_dependency_failure: OnDependencyFailure = "cancel"


@dataclass(frozen=True, slots=True)
class Limits:
    """Scheduler-wide settings that shape every submission."""

    max_payload_bytes: int
    default_ttl: float | None = None


@dataclass(frozen=True, slots=True)
class Parent:
    """The task a spawned task is a child of, and when its time to live runs out."""

    id: int
    expires_at: float | None = None


def prepare(
    task_type: TaskType[Any],
    item: Submission,
    limits: Limits,
    now: float,
    parent: Parent | None = None,
) -> NewTask:
    """Validate and encode one submission; raise a SubmitError subclass if it is unusable."""
    name = task_type.qualified_name
    payload = item.payload
    data = task_type.codec.encode(payload, task=name)
    if len(data) > limits.max_payload_bytes:
        raise PayloadTooLargeError(
            f"the payload for {name} is {_size(len(data))} encoded, over max_payload_bytes "
            f"({_size(limits.max_payload_bytes)}); store large data in a file and pass its "
            f"path, or raise Scheduler(max_payload_bytes=...)"
        )
    if item.key is not None:
        key = _check_key(item.key, name)
    elif task_type.key is not None:
        key = _check_key(_call(task_type.key, payload, "key", name), name)
    else:
        key = default_key(name, data)
    if item.retry is not None and not isinstance(item.retry, RetryPolicy):
        raise ConfigurationError(f"retry must be a taskmill.RetryPolicy, got {item.retry!r}")
    if item.expected_io is not None and not isinstance(item.expected_io, IoBudget):
        raise ConfigurationError(
            f"expected_io must be a taskmill.IoBudget, got {item.expected_io!r}"
        )
    ttl = _ttl(item, task_type, limits)
    ttl_from = item.ttl_from or task_type.ttl_from or "submission"
    if parent is not None and parent.expires_at is not None:  # what is left of the parent's
        left = max(parent.expires_at - now, 1e-6)
        ttl, ttl_from = (left, "submission") if ttl is None or left < ttl else (ttl, ttl_from)
    task = NewTask(
        type=name,
        key=key,
        label=_call(task_type.label_for, payload, "label", name)
        if item.label is None
        else str(item.label),
        priority=task_type.priority if item.priority is None else check_priority(item.priority),
        payload=data,
        retry_policy=None if item.retry is None else _encode(item.retry),
        expected_io=task_type.expected_io if item.expected_io is None else item.expected_io,
        not_before=_not_before(item, now),
        group=task_type.group if item.group is None else check_group(item.group),
        ttl=ttl,
        ttl_from_start=ttl is not None and check_ttl_from(ttl_from) == "first_attempt",
    )
    # The rarer settings are set only when they differ from the defaults: this runs once per
    # task of every batch, and keyword arguments are not free.
    defaults = task_type.domain.tags
    if defaults or item.tags is not None:
        tags = defaults if item.tags is None else merge_tags(defaults, check_tags(item.tags))
        task.tags = encode_tags(tags)
    on_duplicate = task_type.on_duplicate if item.on_duplicate is None else item.on_duplicate
    if on_duplicate != "skip":
        task.on_duplicate = check_on_duplicate(on_duplicate)
    if item.depends_on is not None:
        task.depends_on = check_depends_on(item.depends_on)
    if item.on_dependency_failure != "cancel":
        task.on_dependency_failure = check_on_dependency_failure(item.on_dependency_failure)
    if parent is not None:
        task.parent_id = parent.id
    if not task_type.fail_fast:
        task.fail_fast = False
    return task


def _ttl(item: Submission, task_type: TaskType[Any], limits: Limits) -> float | None:
    """Time to live: the submission's, else the type's, the domain's, the scheduler's."""
    if item.ttl is not None:
        return seconds(item.ttl, "ttl", allow_zero=False)
    return task_type.ttl if task_type.ttl is not None else limits.default_ttl


def _not_before(item: Submission, now: float) -> float | None:
    if item.run_after is not None and item.run_at is not None:
        raise InvalidTimeError("pass run_after or run_at, not both")
    if item.run_after is not None:
        delay = seconds(item.run_after, "run_after")
        return now + delay if delay > 0 else None
    if item.run_at is not None:
        at = instant(item.run_at, "run_at")
        return at if at > now else None
    return None


def _call(function: Callable[[Any], Any], payload: Any, what: str, task: str) -> Any:
    try:
        return function(payload)
    except Exception as exc:
        raise PayloadValidationError(
            f"the {what} function of {task} failed on this payload "
            f"({type(exc).__name__}: {exc}); check the payload's type, or pass {what}= "
            f"to submit()"
        ) from exc


def _check_key(key: object, task: str) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigurationError(
            f"the dedup key of a {task} task must be a non-empty str, got {key!r}"
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ConfigurationError(
            f"the dedup key of a {task} task is longer than {MAX_KEY_BYTES} bytes; use a "
            f"shorter key (a hash of the long one, say)"
        )
    return key


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} bytes"


SubmitFn = Callable[[Sequence[NewTask]], Awaitable[list[SubmitOutcome]]]
ScheduleFn = Callable[[NewSchedule], Awaitable[SubmitOutcome]]


class Submitter:
    """Resolves task types, prepares submissions and hands them to the scheduler."""

    def __init__(
        self,
        registry: Registry,
        limits: Limits,
        now: Callable[[], float],
        submit: SubmitFn,
        add_schedule: ScheduleFn,
    ) -> None:
        self._registry = registry
        self.limits = limits
        self._now = now
        self._submit = submit
        self._add_schedule = add_schedule

    async def one(
        self,
        domain: Domain,
        item: Submission,
        recurring: Recurrence | None = None,
        parent: Parent | None = None,
    ) -> SubmitOutcome:
        """Store one task (or, with ``recurring``, one schedule; or a child of ``parent``)."""
        task_type = self._registry.resolve(domain, item.payload, item.task)
        now = self._now()
        if recurring is None:
            return (await self._submit([prepare(task_type, item, self.limits, now, parent)]))[0]
        if not isinstance(recurring, Every | Cron):
            raise ConfigurationError(
                f"recurring must be taskmill.Every(...) or taskmill.Cron(...), got {recurring!r}"
            )
        if item.run_after is not None or item.run_at is not None:
            raise InvalidTimeError(
                "a recurring submission takes no run_after/run_at; give Every(...) or "
                "Cron(...) an initial_delay instead"
            )
        template = prepare(task_type, item, self.limits, now)
        return await self._add_schedule(
            NewSchedule(
                task=template,
                first_at=first_occurrence(recurring, now),
                every=recurring.seconds if isinstance(recurring, Every) else None,
                fixed_rate=isinstance(recurring, Every) and recurring.fixed_rate,
                cron=recurring.expression if isinstance(recurring, Cron) else None,
                tz=recurring.tz if isinstance(recurring, Cron) else None,
                max_occurrences=recurring.max_occurrences,
            )
        )

    async def many(
        self,
        domain: Domain,
        items: Iterable[Any],
        task: TaskType[Any] | str | None,
        parent: Parent | None = None,
    ) -> list[SubmitOutcome]:
        """Store many tasks in one transaction (children of ``parent``, if given)."""
        resolve, limits, now = self._registry.resolve, self.limits, self._now()
        resolved: dict[tuple[type, object], TaskType[Any]] = {}  # one lookup per payload class
        tasks: list[NewTask] = []
        for item in items:
            entry = item if isinstance(item, Submission) else Submission(item, task)
            chosen = entry.task or task
            cache_key = (type(entry.payload), chosen)
            task_type = resolved.get(cache_key)
            if task_type is None:
                task_type = resolved[cache_key] = resolve(domain, entry.payload, chosen)
            tasks.append(prepare(task_type, entry, limits, now, parent))
        if not tasks:
            return []
        return await self._submit(tasks)


class Spawning:
    """Stores the children that running tasks spawn (``ctx.spawn``, ``ctx.spawn_many``)."""

    def __init__(self, registry: Registry, submitter: Submitter) -> None:
        self._registry = registry
        self._submitter = submitter

    async def spawn(
        self, ctx: TaskContext, payload: Any, *, sibling: bool, options: dict[str, Any]
    ) -> SubmitOutcome:
        """Store one child of ``ctx`` (with ``sibling``, of its parent)."""
        domain = self._domain(ctx, options.pop("domain", None))
        if "recurring" in options:
            raise ConfigurationError("a spawned task cannot be recurring")
        try:
            item = Submission(payload, **options)
        except TypeError:
            raise ConfigurationError(
                f"spawn() takes the options of submit(); got {sorted(options)}"
            ) from None
        parent_id = ctx.parent_id if sibling else ctx.id
        assert parent_id is not None
        return await self._submitter.one(domain, item, parent=Parent(parent_id, ctx.expires_at))

    async def spawn_many(
        self, ctx: TaskContext, items: list[Any], *, task: Any, domain: Any
    ) -> list[SubmitOutcome]:
        """Store many children of ``ctx`` in one transaction."""
        return await self._submitter.many(
            self._domain(ctx, domain), items, task, Parent(ctx.id, ctx.expires_at)
        )

    def _domain(self, ctx: TaskContext, domain: Domain | str | None) -> Domain:
        return self._registry.domain(ctx.type.partition("::")[0] if domain is None else domain)


class DomainHandle:
    """Submits tasks of one domain: ``scheduler.domain(media).submit(Thumbnail(...))``.

    A payload whose task type belongs to another domain, or to none, is refused here,
    before anything is stored.
    """

    def __init__(self, domain: Domain, submitter: Submitter) -> None:
        self.domain = domain
        self._submitter = submitter

    def __repr__(self) -> str:
        return f"<DomainHandle {self.domain.name!r}>"

    async def submit(
        self,
        payload: Any,
        *,
        task: TaskType[Any] | str | None = None,
        priority: int | None = None,
        key: str | None = None,
        label: str | None = None,
        retry: RetryPolicy | None = None,
        expected_io: IoBudget | None = None,
        group: str | None = None,
        run_after: float | timedelta | None = None,
        run_at: datetime | None = None,
        ttl: float | timedelta | None = None,
        ttl_from: TtlFrom | None = None,
        recurring: Recurrence | None = None,
        tags: Tags | None = None,
        on_duplicate: OnDuplicate | None = None,
        depends_on: Iterable[int] | None = None,
        on_dependency_failure: OnDependencyFailure = "cancel",
    ) -> SubmitOutcome:
        """Store one task; return once it is committed.

        Args:
            payload: The task's input; its type selects the task type.
            task: The task type (object or name), needed when the payload's type is
                ambiguous (plain dicts, TypedDicts, JSON values).
            priority: 0..255, lower first; default the task type's.
            key: Dedup key; default the task type's key function, else a payload hash.
            label: Label for UIs.
            retry: Retry policy for this task only.
            expected_io: IO budget for this task only.
            group: The group whose pause state the task shares; default the type's.
            run_after: Do not start before this delay (seconds or timedelta) has passed.
            run_at: Do not start before this instant (a timezone-aware datetime).
            ttl: Expire the task if it has not started within this time; default the
                type's, the domain's, then the scheduler's ``default_ttl``.
            ttl_from: Count the TTL from ``"submission"`` (default) or ``"first_attempt"``.
            recurring: ``Every(...)`` or ``Cron(...)``: store a schedule whose
                occurrences are tasks like this one; the outcome's id is the schedule's.
            tags: Key/value labels (str to str, at most 32) to find, count and cancel
                tasks by; merged over the domain's default tags.
            on_duplicate: What to do if an active task holds the key: ``"skip"``,
                ``"supersede"`` or ``"reject"``; default the task type's (``"skip"``).
            depends_on: Ids of tasks (of any domain) that must complete first; the task is
                ``blocked`` until then.
            on_dependency_failure: If a dependency ends without completing: ``"cancel"``
                (this task and the tasks after it end as ``dependency_failed``), ``"fail"``
                (only this one) or ``"ignore"`` (it no longer counts).

        Returns:
            :class:`~taskmill.Inserted`, or for a duplicate :class:`~taskmill.Duplicate`,
            :class:`~taskmill.Upgraded`, :class:`~taskmill.Requeued`,
            :class:`~taskmill.Superseded` or :class:`~taskmill.Rejected`.

        Raises:
            SubmitError: the payload or its task type is unusable (nothing stored).
            ConfigurationError: an option is invalid, e.g. a priority outside 0..255, a
                naive ``run_at`` (:class:`~taskmill.InvalidTimeError`).
        """
        item = Submission(
            payload, task, priority, key, label, retry, expected_io, group, run_after, run_at,
            ttl, ttl_from, tags, on_duplicate, depends_on, on_dependency_failure,
        )  # fmt: skip
        return await self._submitter.one(self.domain, item, recurring)

    async def submit_many(
        self, items: Iterable[Any], *, task: TaskType[Any] | str | None = None
    ) -> list[SubmitOutcome]:
        """Store many tasks in one transaction; one outcome per item, in order.

        Each item is a payload or a :class:`Submission` carrying its own overrides. Every
        item is validated before anything is written: one bad item refuses the batch.
        Within the batch, the last item with a given key is the one stored.
        """
        return await self._submitter.many(self.domain, items, task)
