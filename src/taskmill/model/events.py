"""Lifecycle events, emitted only after the state change they report is committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from taskmill.model.io import IoBudget
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
        data.update(msgspec.to_builtins(self))
        return data


@dataclass(frozen=True, slots=True)
class TaskEvent(Event):
    """An event about one task.

    Attributes:
        task: Id, type, key, label and priorities of the task.
    """

    task: TaskHeader


@dataclass(frozen=True, slots=True)
class Dispatched(TaskEvent):
    """An attempt of the task started.

    Attributes:
        attempt: 1 for the first attempt, 2 for the first retry, ...
    """

    kind: ClassVar[str] = "dispatched"
    attempt: int


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
    """

    kind: ClassVar[str] = "failed"
    attempt: int
    error: str
    will_retry: bool
    retry_after: float | None


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
