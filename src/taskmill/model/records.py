"""Read-only records of tasks in the queue and in history.

Times are seconds since the Unix epoch, as given by the scheduler's clock. Every record is a
frozen dataclass whose ``to_dict()`` returns JSON-serializable builtins, so it crosses to a
web page or an IPC bridge unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from taskmill.model.io import IoBudget
from taskmill.model.jsonable import json_dict
from taskmill.model.status import TaskStatus


class _Record:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a dict of JSON-serializable builtins."""
        return json_dict(self)


@dataclass(frozen=True, slots=True)
class TaskRecord(_Record):
    """A task in the queue (any active status).

    Attributes:
        id: The task's id; never reused, also after the task moved to history.
        type: Qualified task type, ``"domain::name"``.
        key: Deduplication key (explicit, or a hash of type and payload).
        label: Human-readable label for UIs.
        priority: Base priority, 0 (first) .. 255 (last).
        status: One of the active statuses.
        payload: The decoded JSON payload, as builtins.
        retry_count: Retries already made (the running attempt is ``retry_count + 1``).
        created_at: When the task was submitted.
        started_at: When its latest attempt started, if any.
        not_before: If set, the task is held back until this instant (a retry backoff).
        last_error: The error of the latest failed attempt.
        expected_io: The IO budget the task declared.
        group: The task's group, if any.
        paused_for: Why the task is paused: any of ``"preempted"``, ``"global"``,
            ``"domain"``, ``"group"`` (empty unless paused).
        expires_at: When the task expires unless it has started by then.
        schedule_id: The recurring schedule this task is an occurrence of.
        tags: The task's tags (key to value).
        depends_on: Ids of the tasks it still waits for (while ``blocked``).
        parent_id: The task that spawned it, if any.
    """

    id: int
    type: str
    key: str
    label: str
    priority: int
    status: TaskStatus
    payload: Any
    retry_count: int
    created_at: float
    started_at: float | None
    not_before: float | None
    last_error: str | None
    expected_io: IoBudget
    group: str | None = None
    paused_for: tuple[str, ...] = ()
    expires_at: float | None = None
    schedule_id: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[int, ...] = ()
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryRecord(_Record):
    """A task that reached a terminal status.

    Attributes:
        seq: Position in history; later records have larger values.
        id: The task's id (the same id it had in the queue).
        type: Qualified task type.
        key: Deduplication key.
        label: Human-readable label.
        priority: Base priority.
        status: The terminal status.
        payload: The decoded JSON payload.
        retry_count: Retries made before the task ended.
        created_at: When the task was submitted.
        started_at: When its last attempt started (``None`` if it never ran).
        finished_at: When it reached its terminal status.
        duration: Seconds the final attempt ran; ``None`` if the task ended while not
            running (expired, or cancelled while waiting).
        last_error: The error it ended with, if any.
        expected_io: The IO budget it declared.
        actual_io: The IO its executor recorded.
        retried_as: For a dead letter retried with ``retry_dead_letter``, the new task's id.
        group: The task's group, if any.
        schedule_id: The recurring schedule the task was an occurrence of.
        tags: The task's tags.
        parent_id: The task that spawned it, if any.
    """

    seq: int
    id: int
    type: str
    key: str
    label: str
    priority: int
    status: TaskStatus
    payload: Any
    retry_count: int
    created_at: float
    started_at: float | None
    finished_at: float
    duration: float | None
    last_error: str | None
    expected_io: IoBudget
    actual_io: IoBudget
    retried_as: int | None = None
    group: str | None = None
    schedule_id: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRecord(_Record):
    """A recurring schedule.

    Attributes:
        id: The schedule's id (never the id of a task).
        type: Qualified task type of its occurrences.
        key: Dedup key of the schedule; occurrence ``n`` has key ``f"{key}@{id}#{n}"``.
        label: Label of its occurrences.
        priority: Priority of its occurrences.
        group: Group of its occurrences.
        every: The interval in seconds, for an ``Every`` schedule.
        fixed_rate: Whether an ``Every`` schedule ticks at a fixed rate.
        cron: The cron expression, for a ``Cron`` schedule.
        tz: The cron expression's time zone.
        max_occurrences: How many occurrences the schedule makes at most.
        occurrences: How many it made so far.
        next_at: When the next occurrence is due (``None``: waiting for the current one).
        current_task: Id of the latest occurrence.
        status: ``"active"``, ``"paused"``, ``"completed"`` or ``"cancelled"``.
        created_at: When the schedule was submitted.
        tags: Tags of its occurrences.
    """

    id: int
    type: str
    key: str
    label: str
    priority: int
    group: str | None
    every: float | None
    fixed_rate: bool
    cron: str | None
    tz: str | None
    max_occurrences: int | None
    occurrences: int
    next_at: float | None
    current_task: int | None
    status: str
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PauseState(_Record):
    """What is paused.

    Attributes:
        everything: Whether the whole scheduler is paused.
        domains: The paused domains.
        groups: The paused groups, each with the instant its pause lifts (``None``: never).
    """

    everything: bool = False
    domains: tuple[str, ...] = ()
    groups: dict[str, float | None] = field(default_factory=dict)


class TaskHeader(msgspec.Struct, frozen=True, gc=False):
    """What every task event says about its task.

    Attributes:
        id: The task id.
        type: Qualified task type.
        key: Deduplication key.
        label: Human-readable label.
        priority: Base priority.
        effective_priority: The priority dispatch used (equal to ``priority`` unless aged).
        tags: The task's tags.
    """

    id: int
    type: str
    key: str
    label: str
    priority: int
    effective_priority: int
    tags: dict[str, str] = msgspec.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the header as a dict of JSON-serializable builtins."""
        return json_dict(self)
