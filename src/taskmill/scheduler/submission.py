"""Turning payloads into stored tasks: validation, encoding, keys, and the domain handle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from taskmill.domain import Domain, TaskType
from taskmill.model.errors import (
    ConfigurationError,
    PayloadTooLargeError,
    PayloadValidationError,
)
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import SubmitOutcome
from taskmill.model.priority import check_priority
from taskmill.model.retry import RetryPolicy
from taskmill.payload import default_key
from taskmill.scheduler.registry import Registry
from taskmill.store.protocol import NewTask

MAX_KEY_BYTES = 1024
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Submission:
    """One item of :meth:`DomainHandle.submit_many` with its own overrides.

    Every field but ``payload`` defaults to the task type's setting.
    """

    payload: Any
    task: TaskType[Any] | str | None = None
    priority: int | None = None
    key: str | None = None
    label: str | None = None
    retry: RetryPolicy | None = None
    expected_io: IoBudget | None = None


def prepare(task_type: TaskType[Any], item: Submission, max_payload_bytes: int) -> NewTask:
    """Validate and encode one submission; raise a SubmitError subclass if it is unusable."""
    name = task_type.qualified_name
    payload = item.payload
    data = task_type.codec.encode(payload, task=name)
    if len(data) > max_payload_bytes:
        raise PayloadTooLargeError(
            f"the payload for {name} is {_size(len(data))} encoded, over max_payload_bytes "
            f"({_size(max_payload_bytes)}); store large data in a file and pass its path, or "
            f"raise Scheduler(max_payload_bytes=...)"
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
    return NewTask(
        type=name,
        key=key,
        label=_call(task_type.label_for, payload, "label", name)
        if item.label is None
        else str(item.label),
        priority=task_type.priority if item.priority is None else check_priority(item.priority),
        payload=data,
        retry_policy=None if item.retry is None else _encode(item.retry),
        expected_io=task_type.expected_io if item.expected_io is None else item.expected_io,
    )


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


class DomainHandle:
    """Submits tasks of one domain: ``scheduler.domain(media).submit(Thumbnail(...))``.

    A payload whose task type belongs to another domain, or to none, is refused here,
    before anything is stored.
    """

    def __init__(
        self, domain: Domain, registry: Registry, submit: SubmitFn, max_payload_bytes: int
    ) -> None:
        self.domain = domain
        self._registry = registry
        self._submit = submit
        self._max_payload_bytes = max_payload_bytes

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

        Returns:
            :class:`~taskmill.Inserted`, :class:`~taskmill.Duplicate` or
            :class:`~taskmill.Upgraded`.

        Raises:
            SubmitError: the payload or its task type is unusable (nothing stored).
            ConfigurationError: an option is invalid, e.g. a priority outside 0..255.
        """
        item = Submission(payload, task, priority, key, label, retry, expected_io)
        new = prepare(
            self._registry.resolve(self.domain, payload, task), item, self._max_payload_bytes
        )
        return (await self._submit([new]))[0]

    async def submit_many(
        self, items: Iterable[Any], *, task: TaskType[Any] | str | None = None
    ) -> list[SubmitOutcome]:
        """Store many tasks in one transaction; one outcome per item, in order.

        Each item is a payload or a :class:`Submission` carrying its own overrides. Every
        item is validated before anything is written: one bad item refuses the batch.
        Within the batch, the last item with a given key is the one stored.
        """
        resolve, domain, limit = self._registry.resolve, self.domain, self._max_payload_bytes
        resolved: dict[tuple[type, object], TaskType[Any]] = {}  # one lookup per payload class
        tasks: list[NewTask] = []
        for item in items:
            entry = item if isinstance(item, Submission) else Submission(item, task)
            chosen = entry.task or task
            cache_key = (type(entry.payload), chosen)
            task_type = resolved.get(cache_key)
            if task_type is None:
                task_type = resolved[cache_key] = resolve(domain, entry.payload, chosen)
            tasks.append(prepare(task_type, entry, limit))
        if not tasks:
            return []
        return await self._submit(tasks)
