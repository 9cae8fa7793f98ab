"""Lifecycle events, emitted only after the state change they report is committed.

Events are frozen msgspec Structs, not dataclasses: a subscriber-heavy scheduler builds
several per task, and Structs are ~5x cheaper to build and, with ``gc=False``, never tracked
by the garbage collector (they hold no reference cycles).
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from taskmill.model.io import IoBudget
from taskmill.model.jsonable import json_dict
from taskmill.model.records import TaskHeader


class Event(msgspec.Struct, frozen=True, gc=False):
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


class TaskEvent(Event, frozen=True, gc=False):
    """An event about one task.

    Attributes:
        task: Id, type, key, label and priorities of the task.
    """

    task: TaskHeader


class Missed(Event, frozen=True, gc=False):
    """This subscription fell behind and lost ``count`` events (the oldest ones).

    Delivered in place of what was lost, just before the oldest event still buffered.
    """

    kind: ClassVar[str] = "missed"
    count: int


class Dispatched(TaskEvent, frozen=True, gc=False):
    """An attempt of the task started.

    Attributes:
        attempt: 1 for the first attempt, 2 for the first retry, ...
    """

    kind: ClassVar[str] = "dispatched"
    attempt: int


class Progress(TaskEvent, frozen=True, gc=False):
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


class Completed(TaskEvent, frozen=True, gc=False):
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


class Failed(TaskEvent, frozen=True, gc=False):
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


class DeadLettered(TaskEvent, frozen=True, gc=False):
    """The task exhausted its retries and is in history as ``dead_letter``.

    Attributes:
        attempts: How many attempts were made.
        error: The error of the last attempt.
    """

    kind: ClassVar[str] = "dead_lettered"
    attempts: int
    error: str


class Preempted(TaskEvent, frozen=True, gc=False):
    """A running task was interrupted for an urgent one; it is ``paused`` until resumed.

    Attributes:
        by: Id of the urgent task that took its slot.
    """

    kind: ClassVar[str] = "preempted"
    by: int


class Cancelled(TaskEvent, frozen=True, gc=False):
    """The task was cancelled; it is in history as ``cancelled``.

    Attributes:
        was_running: Whether it was running (and so was interrupted).
    """

    kind: ClassVar[str] = "cancelled"
    was_running: bool


class Replaced(TaskEvent, frozen=True, gc=False):
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


class Waiting(TaskEvent, frozen=True, gc=False):
    """The executor returned while children it spawned are active: the task is ``waiting``.

    Once the children ended, its finalize step runs (or it completes).
    """

    kind: ClassVar[str] = "waiting"


class Unblocked(TaskEvent, frozen=True, gc=False):
    """Every dependency of the task completed (or was ignored): it can run now."""

    kind: ClassVar[str] = "unblocked"


class DependencyFailed(TaskEvent, frozen=True, gc=False):
    """A dependency of the task failed; it is in history as ``dependency_failed``.

    Attributes:
        dependency: The id of the dependency whose failure ended it.
    """

    kind: ClassVar[str] = "dependency_failed"
    dependency: int


class Expired(TaskEvent, frozen=True, gc=False):
    """The task's time to live ran out before it started; it is in history as ``expired``."""

    kind: ClassVar[str] = "expired"


class RecurringSkipped(Event, frozen=True, gc=False):
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


class RecurringCompleted(Event, frozen=True, gc=False):
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


class Paused(Event, frozen=True, gc=False):
    """The scheduler (``domain is None``) or one domain was paused.

    Attributes:
        domain: The paused domain, or ``None`` for everything.
    """

    kind: ClassVar[str] = "paused"
    domain: str | None


class Resumed(Event, frozen=True, gc=False):
    """The scheduler (``domain is None``) or one domain was resumed.

    Attributes:
        domain: The resumed domain, or ``None`` for everything.
    """

    kind: ClassVar[str] = "resumed"
    domain: str | None


class GroupPaused(Event, frozen=True, gc=False):
    """A group was paused.

    Attributes:
        group: The group.
        until: When the pause lifts by itself (``None``: on resume only).
    """

    kind: ClassVar[str] = "group_paused"
    group: str
    until: float | None


class GroupResumed(Event, frozen=True, gc=False):
    """A group was resumed (by a call, or because its pause deadline passed).

    Attributes:
        group: The group.
    """

    kind: ClassVar[str] = "group_resumed"
    group: str
