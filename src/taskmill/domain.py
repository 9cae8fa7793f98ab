"""Domains and their task types.

A :class:`Domain` is a namespace of task types with shared defaults. A library can ship one;
an application composes several into a :class:`~taskmill.Scheduler`::

    media = Domain("media")

    @media.task("thumbnail", key=lambda t: t.path)
    async def thumbnail(job: Thumbnail, ctx: TaskContext) -> None: ...

Task types are stored qualified by their domain: ``"media::thumbnail"``.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from taskmill.admission.tokens import RateLimit
from taskmill.model.errors import ConfigurationError, DuplicateTaskTypeError, InvalidNameError
from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.outcomes import OnDuplicate, check_on_duplicate
from taskmill.model.priority import Priority, check_priority
from taskmill.model.retry import PermanentError, RetryPolicy
from taskmill.model.tags import Tags, check_tags
from taskmill.model.timing import TtlFrom, check_ttl_from, seconds
from taskmill.payload import PayloadCodec

P = TypeVar("P")

SEPARATOR = "::"
DEFAULT_ON_CANCEL_TIMEOUT = 30.0
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")

Executor = Callable[..., Any]
"""``async def f(payload, ctx)`` or ``def f(payload, ctx)``; the ``ctx`` parameter is optional."""


def check_group(group: object) -> str | None:
    """Return ``group`` if it is ``None`` or a usable group name, else raise."""
    if group is not None and (not isinstance(group, str) or not group or len(group) > 256):
        raise ConfigurationError(
            f"group must be a non-empty str of <= 256 characters, got {group!r}"
        )
    return group


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid domain or task name, else raise InvalidNameError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidNameError(
            f"{what} name must start with a letter or '_' and contain only letters, digits, "
            f"'_', '.' and '-' (at most 100 characters), got {name!r}"
        )
    return name


class TaskType(Generic[P]):
    """A registered kind of work: an executor and its configuration.

    Returned by :meth:`Domain.task`; calling it calls the executor directly (handy in tests).
    """

    def __init__(
        self,
        domain: Domain,
        name: str,
        executor: Executor,
        *,
        payload_type: Any,
        key: Callable[[P], str] | None,
        priority: int | None,
        retry: RetryPolicy | None,
        expected_io: IoBudget,
        label: str | Callable[[P], str] | None,
        permanent_errors: tuple[type[BaseException], ...],
        group: str | None = None,
        ttl: float | None = None,
        ttl_from: TtlFrom | None = None,
        on_cancel: Callable[..., Any] | None = None,
        on_cancel_timeout: float = DEFAULT_ON_CANCEL_TIMEOUT,
        rate_limit: RateLimit | None = None,
        on_duplicate: OnDuplicate = "skip",
        finalize: Callable[..., Any] | None = None,
        fail_fast: bool = True,
    ) -> None:
        self.domain = domain
        self.name = name
        self.qualified_name = f"{domain.name}{SEPARATOR}{name}"
        self.executor = executor
        self.payload_type = payload_type
        self.codec = PayloadCodec(payload_type)
        self.key = key
        self._priority = priority
        self._retry = retry
        self.expected_io = expected_io
        self.label = label
        self.permanent_errors: tuple[type[BaseException], ...] = (
            PermanentError,
            *permanent_errors,
        )
        self._group = group
        self._ttl = ttl
        self._ttl_from = ttl_from
        self.on_cancel = on_cancel
        self.on_cancel_timeout = on_cancel_timeout
        self.rate_limit = rate_limit
        self.on_duplicate: OnDuplicate = on_duplicate
        self.finalize = finalize
        self.finalize_is_async = inspect.iscoroutinefunction(finalize)
        self.finalize_takes_context = finalize is not None and _positional_arity(finalize) >= 2
        self.fail_fast = fail_fast
        self.on_cancel_takes_context = on_cancel is not None and _positional_arity(on_cancel) >= 2
        self.is_async = inspect.iscoroutinefunction(executor)
        self.takes_context = _positional_arity(executor) >= 2
        self.__doc__ = getattr(executor, "__doc__", None)
        self.__wrapped__ = executor

    @property
    def priority(self) -> int:
        """The default priority of this type's tasks (the type's, else the domain's)."""
        return self.domain.priority if self._priority is None else self._priority

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of this type's tasks (the type's, else the domain's)."""
        return self.domain.retry if self._retry is None else self._retry

    @property
    def group(self) -> str | None:
        """The default group of this type's tasks (the type's, else the domain's)."""
        return self.domain.group if self._group is None else self._group

    @property
    def ttl(self) -> float | None:
        """The default time to live of this type's tasks (the type's, else the domain's)."""
        return self.domain.ttl if self._ttl is None else self._ttl

    @property
    def ttl_from(self) -> TtlFrom | None:
        """When the TTL of this type's tasks starts counting (type's, else domain's)."""
        return self.domain.ttl_from if self._ttl_from is None else self._ttl_from

    def label_for(self, payload: P) -> str:
        """The label of a task of this type carrying ``payload``."""
        if self.label is None:
            return self.qualified_name
        if callable(self.label):
            return str(self.label(payload))
        return self.label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the executor directly, bypassing the scheduler."""
        return self.executor(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<TaskType {self.qualified_name}>"


class Domain:
    """A namespace of task types with shared defaults.

    Args:
        name: The domain's name, the prefix of its qualified task types.
        priority: Default priority of its tasks.
        retry: Default retry policy of its tasks.
        group: Default group of its tasks.
        ttl: Default time to live of its tasks (seconds or timedelta).
        ttl_from: When their TTL starts: ``"submission"`` or ``"first_attempt"``.
        max_concurrency: How many of its tasks may run at once (``None``: no cap of its own).
        tags: Default tags of its tasks; a submission's own tags win on a shared key.
    """

    registrations: ClassVar[int] = 0
    """Task types registered on any domain so far: lets registries notice new ones cheaply."""

    def __init__(
        self,
        name: str,
        *,
        priority: int = Priority.NORMAL,
        retry: RetryPolicy | None = None,
        group: str | None = None,
        ttl: float | timedelta | None = None,
        ttl_from: TtlFrom | None = None,
        max_concurrency: int | None = None,
        tags: Tags | None = None,
    ) -> None:
        self.name = check_name(name, "domain")
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                f"domain {name!r} max_concurrency must be an int >= 1 or None, got "
                f"{max_concurrency!r}"
            )
        self.max_concurrency = max_concurrency
        self.priority = check_priority(priority, what=f"domain {name!r} priority")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a taskmill.RetryPolicy, got {retry!r}")
        self.retry = retry if retry is not None else RetryPolicy()
        self.group = check_group(group)
        self.ttl = None if ttl is None else seconds(ttl, "ttl", allow_zero=False)
        self.ttl_from = None if ttl_from is None else check_ttl_from(ttl_from)
        self.tags = check_tags(tags or {}, what=f"domain {name!r} tags")
        self._tasks: dict[str, TaskType[Any]] = {}
        self.version = 0
        """Bumped by each registration, so registries know to refresh."""

    def __repr__(self) -> str:
        return f"Domain({self.name!r}, tasks={sorted(self._tasks)})"

    @property
    def tasks(self) -> Mapping[str, TaskType[Any]]:
        """The registered task types, by unqualified name."""
        return MappingProxyType(self._tasks)

    def task(
        self,
        name: str,
        *,
        payload: Any = None,
        key: Callable[[Any], str] | None = None,
        priority: int | None = None,
        retry: RetryPolicy | None = None,
        expected_io: IoBudget | None = None,
        label: str | Callable[[Any], str] | None = None,
        permanent_errors: tuple[type[BaseException], ...] = (),
        group: str | None = None,
        ttl: float | timedelta | None = None,
        ttl_from: TtlFrom | None = None,
        on_cancel: Callable[..., Any] | None = None,
        on_cancel_timeout: float | timedelta = DEFAULT_ON_CANCEL_TIMEOUT,
        rate_limit: RateLimit | None = None,
        on_duplicate: OnDuplicate = "skip",
        finalize: Callable[..., Any] | None = None,
        fail_fast: bool = True,
    ) -> Callable[[Executor], TaskType[Any]]:
        """Register the decorated function as the executor of task type ``name``.

        Args:
            name: The task type's name within this domain.
            payload: The payload type; by default the annotation of the first parameter.
            key: Computes the dedup key from a payload; by default a hash of the payload.
            priority: Default priority (else the domain's).
            retry: Retry policy (else the domain's).
            expected_io: The IO a task of this type is expected to move.
            label: A label for UIs, or a function of the payload returning one.
            permanent_errors: Exception types that fail the task without retrying
                (:class:`~taskmill.PermanentError` always does).
            group: Default group (else the domain's).
            ttl: Default time to live, seconds or timedelta (else the domain's).
            ttl_from: When the TTL starts: ``"submission"`` or ``"first_attempt"``.
            on_cancel: ``hook(payload, ctx)`` (async or plain) run after a *running* task
                of this type was cancelled, to clean up what it left half done.
            on_cancel_timeout: How long ``on_cancel`` may take (default 30 s).
            rate_limit: How many tasks of this type may start per second or minute.
            on_duplicate: What a submission does when an active task holds its key:
                ``"skip"`` (default), ``"supersede"`` or ``"reject"`` (see
                :mod:`taskmill.model.outcomes`).
            finalize: ``step(payload, ctx)`` (async or plain), run once after every child
                the executor spawned has ended; ``ctx.memo`` holds what the executor saved.
            fail_fast: Whether the first child that fails cancels its siblings and fails
                this task (default); otherwise children's failures do not stop the finalize.

        Raises:
            InvalidNameError: ``name`` is malformed.
            DuplicateTaskTypeError: ``name`` is already registered in this domain.
            ConfigurationError: the executor's payload type cannot be determined.
        """
        check_name(name, "task")
        if priority is not None:
            check_priority(priority, what=f"task {name!r} priority")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a taskmill.RetryPolicy, got {retry!r}")
        if expected_io is not None and not isinstance(expected_io, IoBudget):
            raise ConfigurationError(
                f"expected_io must be a taskmill.IoBudget, got {expected_io!r}"
            )
        if key is not None and not callable(key):
            raise ConfigurationError(
                f"key must be a function of the payload returning a str, got {key!r}; pass "
                f"key= to submit() for a fixed key"
            )
        group = check_group(group)
        ttl_seconds = None if ttl is None else seconds(ttl, "ttl", allow_zero=False)
        if ttl_from is not None:
            check_ttl_from(ttl_from)
        if on_cancel is not None and not callable(on_cancel):
            raise ConfigurationError(f"on_cancel must be a function, got {on_cancel!r}")
        cancel_timeout = seconds(on_cancel_timeout, "on_cancel_timeout", allow_zero=False)
        check_on_duplicate(on_duplicate)
        if finalize is not None and not callable(finalize):
            raise ConfigurationError(f"finalize must be a function, got {finalize!r}")
        if not isinstance(fail_fast, bool):
            raise ConfigurationError(f"fail_fast must be True or False, got {fail_fast!r}")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError(f"rate_limit must be a taskmill.RateLimit, got {rate_limit!r}")
        for error in permanent_errors:
            if not (isinstance(error, type) and issubclass(error, BaseException)):
                raise ConfigurationError(
                    f"permanent_errors must hold exception classes, got {error!r}"
                )

        def register(executor: Executor) -> TaskType[Any]:
            if name in self._tasks:
                raise DuplicateTaskTypeError(
                    f"task {name!r} is already registered in domain {self.name!r}; task "
                    f"names must be unique within a domain"
                )
            if not callable(executor):
                raise ConfigurationError(f"@task decorates a function, got {executor!r}")
            payload_type = payload if payload is not None else _payload_annotation(executor)
            task_type: TaskType[Any] = TaskType(
                self,
                name,
                executor,
                payload_type=payload_type,
                key=key,
                priority=priority,
                retry=retry,
                expected_io=expected_io or NO_IO,
                label=label,
                permanent_errors=permanent_errors,
                group=group,
                ttl=ttl_seconds,
                ttl_from=ttl_from,
                on_cancel=on_cancel,
                on_cancel_timeout=cancel_timeout,
                rate_limit=rate_limit,
                on_duplicate=on_duplicate,
                finalize=finalize,
                fail_fast=fail_fast,
            )
            self._tasks[name] = task_type
            self.version += 1
            Domain.registrations += 1
            return task_type

        return register


def _positional_arity(fn: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _payload_annotation(executor: Executor) -> Any:
    name = getattr(executor, "__qualname__", repr(executor))
    try:
        parameters = list(inspect.signature(executor).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the signature of {name}; pass payload=<type> to @task"
        ) from exc
    if not parameters:
        raise ConfigurationError(
            f"executor {name} takes no parameters; it must accept the payload (and optionally "
            f"a TaskContext): async def {name}(payload: MyPayload, ctx: TaskContext)"
        )
    first = parameters[0]
    if first.annotation is inspect.Parameter.empty:
        raise ConfigurationError(
            f"the payload parameter {first.name!r} of {name} has no type annotation; annotate "
            f"it (e.g. '{first.name}: Thumbnail') or pass payload=<type> to @task"
        )
    try:
        hints = typing.get_type_hints(executor)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot resolve the annotation of {first.name!r} in {name} ({exc}); pass "
            f"payload=<type> to @task"
        ) from exc
    return hints.get(first.name, Any)
