"""Lifecycle events, emitted only after the state change they report is committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from taskmill.model.io import IoBudget
from taskmill.model.jsonable import json_dict
from taskmill.model.records import TaskHeader


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event.

    Attributes:
        at: When the event happened (clock seconds since the epoch).
    """

    kind: ClassVar[str] = "event"
    at: float

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-serializable builtins, its class name under ``"event"``."""
        data: dict[str, Any] = {"event": self.kind}
        data.update(json_dict(self))
        return data


@dataclass(frozen=True, slots=True)
class TaskEvent(Event):
    """An event about one task.

    Attributes:
        task: Id, type, key, label and priorities of the task.
    """

    task: TaskHeader


@dataclass(frozen=True, slots=True)
class Missed(Event):
    """This subscription fell behind and lost ``count`` events (the oldest ones).

    Delivered in place of what was lost, just before the oldest event still buffered.
    """

    kind: ClassVar[str] = "missed"
    count: int


@dataclass(frozen=True, slots=True)
class Dispatched(TaskEvent):
    """An attempt of the task started.

    Attributes:
        attempt: 1 for the first attempt, 2 for the first retry, ...
    """

    kind: ClassVar[str] = "dispatched"
    attempt: int


@dataclass(frozen=True, slots=True)
class Progress(TaskEvent):
    """A running task reported progress.

    At most one event per task per ``progress_interval``; the last report always arrives,
    before the attempt's end.

    Attributes:
        fraction: 0.0 .. 1.0, or ``None`` if only bytes were counted without a total.
        message: The latest message, if any.
        bytes_done: Bytes counted with ``add_bytes``.
        bytes_total: The total given with ``set_bytes_total``, if any.
        rate: Smoothed bytes per second, if bytes were counted.
        eta: Seconds left at that rate, if known.
    """

    kind: ClassVar[str] = "progress"
    fraction: float | None
    message: str | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    rate: float | None = None
    eta: float | None = None


@dataclass(frozen=True, slots=True)
class Completed(TaskEvent):
    """The task's executor returned; the task is in history as ``completed``.

    Attributes:
        attempt: The attempt that succeeded.
        duration: Seconds the attempt ran.
        actual_io: The IO the executor recorded.
    """

    kind: ClassVar[str] = "completed"
    attempt: int
    duration: float
    actual_io: IoBudget


@dataclass(frozen=True, slots=True)
class Failed(TaskEvent):
    """An attempt failed.

    Attributes:
        attempt: The attempt that failed.
        error: The error, as ``"ExceptionType: message"``.
        will_retry: Whether the task will be tried again.
        retry_after: Seconds until the retry, when ``will_retry``.
        dead_letter: Whether the task ends as a dead letter (retries exhausted; a
            :class:`DeadLettered` event follows) rather than ``failed``.
    """

    kind: ClassVar[str] = "failed"
    attempt: int
    error: str
    will_retry: bool
    retry_after: float | None
    dead_letter: bool = False


@dataclass(frozen=True, slots=True)
class DeadLettered(TaskEvent):
    """The task exhausted its retries and is in history as ``dead_letter``.

    Attributes:
        attempts: How many attempts were made.
        error: The error of the last attempt.
    """

    kind: ClassVar[str] = "dead_lettered"
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class Preempted(TaskEvent):
    """A running task was interrupted for an urgent one; it is ``paused`` until resumed.

    Attributes:
        by: Id of the urgent task that took its slot.
    """

    kind: ClassVar[str] = "preempted"
    by: int


@dataclass(frozen=True, slots=True)
class Cancelled(TaskEvent):
    """The task was cancelled; it is in history as ``cancelled``.

    Attributes:
        was_running: Whether it was running (and so was interrupted).
    """

    kind: ClassVar[str] = "cancelled"
    was_running: bool


@dataclass(frozen=True, slots=True)
class Replaced(TaskEvent):
    """A submission with ``on_duplicate="supersede"`` replaced an active task.

    ``task`` is the replacement; the replaced version is in history as ``superseded``. A task
    that was not running is replaced in place (``replaced == task.id``); a running one is
    interrupted and the replacement gets a new id.

    Attributes:
        replaced: Id of the replaced task.
        was_running: Whether the replaced task was running.
    """

    kind: ClassVar[str] = "replaced"
    replaced: int
    was_running: bool


@dataclass(frozen=True, slots=True)
class Waiting(TaskEvent):
    """The executor returned while children it spawned are active: the task is ``waiting``.

    Once the children ended, its finalize step runs (or it completes).
    """

    kind: ClassVar[str] = "waiting"


@dataclass(frozen=True, slots=True)
class Unblocked(TaskEvent):
    """Every dependency of the task completed (or was ignored): it can run now."""

    kind: ClassVar[str] = "unblocked"


@dataclass(frozen=True, slots=True)
class DependencyFailed(TaskEvent):
    """A dependency of the task failed; it is in history as ``dependency_failed``.

    Attributes:
        dependency: The id of the dependency whose failure ended it.
    """

    kind: ClassVar[str] = "dependency_failed"
    dependency: int


@dataclass(frozen=True, slots=True)
class Expired(TaskEvent):
    """The task's time to live ran out before it started; it is in history as ``expired``."""

    kind: ClassVar[str] = "expired"


@dataclass(frozen=True, slots=True)
class RecurringSkipped(Event):
    """An occurrence was not created because the previous one has not started yet.

    Attributes:
        schedule_id: The schedule.
        type: Qualified task type of its occurrences.
        due_at: When the skipped occurrence was due.
        waiting_task: Id of the occurrence that has not started.
    """

    kind: ClassVar[str] = "recurring_skipped"
    schedule_id: int
    type: str
    due_at: float
    waiting_task: int


@dataclass(frozen=True, slots=True)
class RecurringCompleted(Event):
    """A schedule made its last occurrence (``max_occurrences``) and that occurrence ended.

    Attributes:
        schedule_id: The schedule.
        type: Qualified task type of its occurrences.
        occurrences: How many occurrences it made.
    """

    kind: ClassVar[str] = "recurring_completed"
    schedule_id: int
    type: str
    occurrences: int


@dataclass(frozen=True, slots=True)
class Paused(Event):
    """The scheduler (``domain is None``) or one domain was paused.

    Attributes:
        domain: The paused domain, or ``None`` for everything.
    """

    kind: ClassVar[str] = "paused"
    domain: str | None


@dataclass(frozen=True, slots=True)
class Resumed(Event):
    """The scheduler (``domain is None``) or one domain was resumed.

    Attributes:
        domain: The resumed domain, or ``None`` for everything.
    """

    kind: ClassVar[str] = "resumed"
    domain: str | None


@dataclass(frozen=True, slots=True)
class GroupPaused(Event):
    """A group was paused.

    Attributes:
        group: The group.
        until: When the pause lifts by itself (``None``: on resume only).
    """

    kind: ClassVar[str] = "group_paused"
    group: str
    until: float | None


@dataclass(frozen=True, slots=True)
class GroupResumed(Event):
    """A group was resumed (by a call, or because its pause deadline passed).

    Attributes:
        group: The group.
    """

    kind: ClassVar[str] = "group_resumed"
    group: str
