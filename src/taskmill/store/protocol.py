"""The narrow interface between the scheduler and a task store, and the rows it passes.

A store keeps two collections: the *queue* of active tasks and the *history* of terminal
ones. The scheduler never sees SQL; it calls these methods, each of which is one atomic
change (or one consistent read). Every implementation passes ``tests/test_store_contract.py``.

Semantics every store must honour:

- Ids are assigned in submission order and never reused, even after a task moved to history.
- A task's ``(type, key)`` is unique among active tasks (the dedup key).
- :meth:`Store.claim` returns ready tasks (``pending``, not held back by ``not_before``) of
  the given types in priority order, then id order, and marks them ``running``.
- :meth:`Store.settle` moves finished attempts to history or back to ``pending``.
- :meth:`Store.recover` turns ``running`` tasks back into ``pending`` without charging a
  retry: a crash is not a failure of the task.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from taskmill.model.errors import NotDeadLetteredError
from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.outcomes import SubmitOutcome
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.status import TaskStatus


@dataclass(slots=True)
class NewTask:
    """A validated, encoded task ready to be stored."""

    type: str
    key: str
    label: str
    priority: int
    payload: bytes
    retry_policy: bytes | None = None
    expected_io: IoBudget = NO_IO
    not_before: float | None = None


@dataclass(slots=True)
class ClaimedTask:
    """A task the store just marked ``running`` for this scheduler."""

    id: int
    type: str
    key: str
    label: str
    priority: int
    payload: bytes
    retry_count: int
    retry_policy: bytes | None
    created_at: float
    expected_io: IoBudget


class SettleKind(StrEnum):
    """What to do with a finished attempt."""

    COMPLETED = "completed"
    """To history as ``completed``."""
    FAILED = "failed"
    """To history as ``failed`` (a permanent error)."""
    DEAD_LETTER = "dead_letter"
    """To history as ``dead_letter`` (retries exhausted)."""
    RETRY = "retry"
    """Back to ``pending`` with ``retry_count + 1``, held until ``not_before``."""
    REQUEUE = "requeue"
    """Back to ``pending`` unchanged: the attempt was interrupted, not failed."""


FINAL_KINDS = frozenset({SettleKind.COMPLETED, SettleKind.FAILED, SettleKind.DEAD_LETTER})


@dataclass(slots=True)
class Settlement:
    """The end of one attempt of a running task."""

    id: int
    kind: SettleKind
    at: float
    error: str | None = None
    not_before: float | None = None
    actual_io: IoBudget = NO_IO


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`Store.recover` found and repaired.

    Attributes:
        requeued: Tasks found ``running`` (their process died) and made ``pending``.
        next_due: The earliest ``not_before`` still in the future, if any.
    """

    requeued: int
    next_due: float | None


def not_dead_lettered(task_id: int, status: str, retried_as: int | None) -> NotDeadLetteredError:
    """The error for ``retry_dead_letter`` on a task that cannot be retried."""
    if retried_as is not None:
        return NotDeadLetteredError(
            f"dead letter {task_id} was already retried as task {retried_as}; retry that "
            f"task if it failed again"
        )
    return NotDeadLetteredError(
        f"task {task_id} is {status}, not dead_letter; only dead-lettered tasks can be "
        f"retried with retry_dead_letter()"
    )


class Store(Protocol):
    """Persistent storage of the task queue and its history."""

    async def open(self) -> None:
        """Create or migrate the storage; raise a :class:`~taskmill.StoreError` if unusable."""

    async def close(self) -> None:
        """Flush every pending write and release all resources. Idempotent."""

    async def recover(self, now: float) -> RecoveryReport:
        """Requeue tasks left ``running`` and release delayed tasks whose time passed."""

    async def submit(self, tasks: Sequence[NewTask], now: float) -> list[SubmitOutcome]:
        """Store ``tasks`` atomically, deduplicating by ``(type, key)``; one outcome each.

        Within the batch the last task with a given key is the one stored; earlier ones
        report a :class:`~taskmill.Duplicate` of it. A key already active reports
        ``Duplicate`` or, when the new priority is higher and the task is not running,
        ``Upgraded``.
        """

    async def claim(self, limit: int, now: float, types: Collection[str]) -> list[ClaimedTask]:
        """Mark up to ``limit`` ready tasks ``running`` and return them in dispatch order.

        Only tasks whose type is in ``types`` (those this scheduler can run) are claimed;
        others stay pending, skipped without blocking the tasks behind them.
        """

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Apply the outcome of finished attempts, atomically."""

    async def promote_due(self, now: float) -> float | None:
        """Make tasks whose ``not_before <= now`` ready; return the next ``not_before``."""

    async def retry_dead_letter(self, task_id: int, now: float) -> SubmitOutcome:
        """Submit a dead-lettered task again under a new id, with its retries reset.

        When a new task is inserted, the dead letter records it in ``retried_as`` and
        cannot be retried again.
        """

    async def get_task(self, task_id: int) -> TaskRecord | None:
        """Return the active task with this id, or ``None``."""

    async def get_history(self, task_id: int) -> list[HistoryRecord]:
        """Return the history records of this task id, oldest first."""

    async def list_tasks(
        self, *, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Return active tasks (optionally of one status) in dispatch order."""

    async def list_history(
        self, *, status: TaskStatus | None = None, limit: int = 100, before: int | None = None
    ) -> list[HistoryRecord]:
        """Return history records, newest first; ``before`` pages by ``seq``."""

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return the number of active tasks in each status (zero counts omitted)."""

    async def prune_history(self, now: float) -> int:
        """Apply the retention policy now; return the number of records removed."""
