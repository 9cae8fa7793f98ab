"""Task statuses: the active ones live in the queue, the terminal ones in history."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its life.

    Active statuses (the task is in the queue): ``PENDING``, ``RUNNING``, ``PAUSED``,
    ``WAITING`` (a parent waiting for its children) and ``BLOCKED`` (unmet dependencies).
    Terminal statuses (the task has moved to history): ``COMPLETED``, ``FAILED`` (a permanent
    error), ``DEAD_LETTER`` (retries exhausted), ``CANCELLED``, ``SUPERSEDED``, ``EXPIRED``
    and ``DEPENDENCY_FAILED``.
    """

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD_LETTER = "dead_letter"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    DEPENDENCY_FAILED = "dependency_failed"

    @property
    def is_terminal(self) -> bool:
        """Whether a task with this status has left the queue for history."""
        return self not in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.RUNNING,
        TaskStatus.PAUSED,
        TaskStatus.WAITING,
        TaskStatus.BLOCKED,
    }
)
TERMINAL_STATUSES = frozenset(set(TaskStatus) - ACTIVE_STATUSES)
