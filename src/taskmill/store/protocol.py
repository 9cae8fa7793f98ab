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

from collections.abc import Awaitable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from taskmill.admission.aging import Aging
from taskmill.admission.policy import Candidate
from taskmill.model.dependencies import OnDependencyFailure
from taskmill.model.errors import NotDeadLetteredError
from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.outcomes import OnDuplicate, SubmitOutcome
from taskmill.model.records import HistoryRecord, PauseState, ScheduleRecord, TaskRecord
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
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
    group: str | None = None
    ttl: float | None = None
    ttl_from_start: bool = False
    schedule_id: int | None = None
    tags: bytes | None = None  # a JSON object, sorted keys; None: no tags
    on_duplicate: OnDuplicate = "skip"
    depends_on: tuple[int, ...] = ()
    on_dependency_failure: OnDependencyFailure = "cancel"
    parent_id: int | None = None
    fail_fast: bool = True  # as a parent: the first failed child fails it


@dataclass(frozen=True, slots=True)
class TagSelector:
    """Which tagged tasks an operation applies to.

    ``key`` is a tag key, or with ``prefix`` the start of tag keys; ``value`` (if set) must
    match exactly.
    """

    key: str
    value: str | None = None
    prefix: bool = False


@dataclass(slots=True)
class NewSchedule:
    """A recurring schedule ready to be stored: a task template and when it recurs.

    Exactly one of ``every`` and ``cron`` is set. The template's key is the schedule's key.
    """

    task: NewTask
    first_at: float
    every: float | None = None
    fixed_rate: bool = False
    cron: str | None = None
    tz: str | None = None
    max_occurrences: int | None = None


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
    group: str | None = None
    expires_at: float | None = None
    schedule_id: int | None = None
    tags: bytes | None = None
    parent_id: int | None = None
    phase: str | None = None  # "finalize": run the type's finalize step, not its executor
    memo: bytes | None = None
    effective_priority: int | None = None  # set by dispatch when aging raised it


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
    """Back to ``pending`` (or ``paused``, if paused) unchanged: interrupted, not failed."""
    PREEMPTED = "preempted"
    """To ``paused`` for reason *preempted*, retries unchanged."""
    CANCELLED = "cancelled"
    """To history as ``cancelled``."""
    SUPERSEDED = "superseded"
    """Nothing to store: the task went to history as ``superseded`` when it was replaced."""


FINAL_KINDS = frozenset(
    {SettleKind.COMPLETED, SettleKind.FAILED, SettleKind.DEAD_LETTER, SettleKind.CANCELLED}
)


@dataclass(slots=True)
class Settlement:
    """The end of one attempt of a running task."""

    id: int
    kind: SettleKind
    at: float
    error: str | None = None
    not_before: float | None = None
    actual_io: IoBudget = NO_IO
    schedule_id: int | None = None
    memo: bytes | None = None  # COMPLETED: what the executor saved for its finalize step
    finalize: bool = False  # COMPLETED: the type has a finalize step to run after children


@dataclass(slots=True)
class Ended:
    """A task that a store operation moved to history (for events)."""

    id: int
    type: str
    key: str
    label: str
    priority: int
    status: TaskStatus
    tags: dict[str, str] = field(default_factory=dict)
    cause: int | None = None  # with status DEPENDENCY_FAILED: the dependency that failed
    error: str | None = None  # with status FAILED: why


@dataclass(slots=True)
class Skipped:
    """An occurrence a schedule did not create because its predecessor had not started."""

    schedule_id: int
    type: str
    due_at: float
    waiting_task: int


@dataclass(slots=True)
class ScheduleEnded:
    """A schedule that made its last occurrence, which has now ended."""

    schedule_id: int
    type: str
    occurrences: int


@dataclass(slots=True)
class Changes:
    """What a write did that the scheduler must know: readiness, deadlines, events.

    The deadlines are the earliest ones the operation created (``None``: it created none);
    the scheduler keeps the minimum of what it knows.
    """

    ready: bool = False
    due: float | None = None
    fire: float | None = None
    expiry: float | None = None
    unpause: float | None = None
    ended: list[Ended] = field(default_factory=list)
    unblocked: list[Ended] = field(default_factory=list)  # status: the one they have now
    waiting: list[int] = field(default_factory=list)  # parents now waiting for children
    interrupt: list[int] = field(default_factory=list)  # running tasks to cancel (fail-fast)
    fail_running: dict[int, str] = field(default_factory=dict)  # running parents to fail
    skipped: list[Skipped] = field(default_factory=list)
    schedules_ended: list[ScheduleEnded] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`Store.recover` found and repaired, and the deadlines that stand.

    Attributes:
        requeued: Tasks found ``running`` (their process died) and made pending again.
        resumed: Preempted tasks released (no preemptor survives a restart).
        next_due: The earliest ``not_before`` of a delayed task.
        next_fire: The earliest ``next_at`` of an active schedule.
        next_expiry: The earliest ``expires_at`` of a task that is not running.
        pauses: What is paused.
    """

    requeued: int
    next_due: float | None
    resumed: int = 0
    next_fire: float | None = None
    next_expiry: float | None = None
    pauses: PauseState = field(default_factory=PauseState)


Scope = Literal["global", "domain", "group"]
"""What a pause applies to: everything, one domain, or one group."""


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What :meth:`Store.cancel` did.

    Attributes:
        running: Ids of running tasks that matched; the caller interrupts them.
        changes: The tasks that were not running (now in history as ``cancelled``, in
            ``changes.ended``) and the consequences for their schedules.
    """

    running: list[int]
    changes: Changes


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

    async def candidates(
        self,
        *,
        types: Collection[str],
        least_urgent: int,
        excluded_groups: Collection[str],
        limit: int,
        aging: Aging | None = None,
        now: float = 0.0,
        per_group: int | None = None,
    ) -> list[Candidate]:
        """Return ready tasks in dispatch order, as admission candidates.

        Only tasks of ``types``, with priority ``<= least_urgent`` and not in
        ``excluded_groups``, and at most ``limit`` of them: the candidates admission chooses
        from. With ``aging``, priorities are the effective ones at ``now`` (paused time not
        counted), and both the filter and the order use them. With ``per_group``, at most that
        many of each group (ungrouped tasks count as one group), for fair sharing. Nothing is
        changed.
        """

    async def recent_means(
        self, per_type: int = 20
    ) -> dict[str, tuple[float | None, IoBudget | None]]:
        """Return the mean duration and recorded IO of the latest completed tasks of each type.

        IO is averaged over the tasks that recorded some (``None``: none did).
        """

    async def claim_ids(self, ids: Sequence[int], now: float) -> list[ClaimedTask]:
        """Mark the tasks ``ids`` running if they are still ready.

        Returns those it marked, in dispatch order.
        """

    def settle(self, settlements: Sequence[Settlement]) -> Awaitable[Changes]:
        """Apply the outcome of finished attempts, atomically.

        The request is ordered when this is *called*, not when it is awaited: a store call
        made after it sees its effects. The completer relies on this so that a claim never
        overtakes a failure that cancels the tasks it would claim.
        """

    async def promote_due(self, now: float) -> float | None:
        """Make tasks whose ``not_before <= now`` ready; return the next ``not_before``."""

    async def expire_due(self, now: float) -> Changes:
        """Expire tasks whose ``expires_at <= now`` that are not running.

        They go to history as ``expired`` (``changes.ended``); ``changes.expiry`` is the
        next ``expires_at`` of any task.
        """

    async def add_schedule(self, schedule: NewSchedule, now: float) -> SubmitOutcome:
        """Store a recurring schedule; a live schedule with the same key is a Duplicate."""

    async def fire_schedules(self, now: float) -> Changes:
        """Create the occurrences due by ``now`` and arm the schedules' next ones.

        An occurrence whose predecessor has not started is skipped instead.
        """

    async def set_schedule_status(self, schedule_id: int, status: str, now: float) -> Changes:
        """Pause (``"paused"``), resume (``"active"``) or cancel (``"cancelled"``) a schedule."""

    async def pause(self, scope: Scope, name: str, until: float | None, now: float) -> bool:
        """Pause a scope and its tasks; return whether it was not paused before."""

    async def resume(self, scope: Scope, name: str, now: float) -> Changes | None:
        """Lift a pause at ``now``; return what became ready, or ``None`` if it was not paused.

        Its tasks with no other pause reason are pending again; the time they spent paused
        does not count towards their aging.
        """

    async def resume_expired_pauses(self, now: float) -> tuple[list[str], Changes]:
        """Lift group pauses whose deadline passed.

        Returns those groups and what changed (``unpause`` is the next deadline).
        """

    async def resume_preempted(self, threshold: int, types: Collection[str]) -> int | None:
        """Clear the *preempted* reason of every task; return how many were preempted.

        Returns ``None``, changing nothing, while a task of one of ``types`` with priority
        ``<= threshold`` is ready to run: preempted work waits until urgent work has run.
        """

    async def ready_urgent(
        self, threshold: int, types: Collection[str], limit: int
    ) -> list[tuple[int, int]]:
        """Return ``(id, priority)`` of the most urgent ready tasks.

        Up to ``limit`` tasks of ``types`` with priority ``<= threshold``, most urgent first.
        """

    async def cancel(
        self,
        now: float,
        *,
        ids: Sequence[int] = (),
        domain: str | None = None,
        tagged: TagSelector | None = None,
        task_type: str | None = None,
    ) -> Cancellation:
        """Cancel the active tasks with these ids, of this domain or type, or with this tag.

        Tasks not running go to history at once; running ones are returned for the caller
        to interrupt.
        """

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
        self,
        *,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        task_type: str | None = None,
        key: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        limit: int = 100,
        domain: str | None = None,
        group: str | None = None,
        after: tuple[int, int] | None = None,
        parent: int | None = None,
    ) -> list[TaskRecord]:
        """Return active tasks matching every filter given, in dispatch order.

        ``tags`` values of ``None`` match any value of the key; ``domain`` matches the
        types ``"<domain>::..."``; ``parent`` the children of that task; ``after`` is the
        ``(priority, id)`` of the last task of the previous page.
        """

    async def list_history(
        self,
        *,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        task_type: str | None = None,
        key: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        before: int | None = None,
        limit: int = 100,
        parent: int | None = None,
    ) -> list[HistoryRecord]:
        """Return history records matching every filter, newest first; ``before`` pages by seq."""

    async def lookup(self, task_type: str, key: str, history_limit: int = 20) -> KeyLookup:
        """Return the active task holding a key and the key's newest history records."""

    async def type_stats(
        self,
        task_types: Sequence[str] | None = None,
        *,
        sample: int = 1000,
        since: float | None = None,
    ) -> list[TypeStats]:
        """Return statistics of the newest ``sample`` history records of each type."""

    async def throughput(self, since: float, until: float) -> Throughput:
        """Return how many tasks ended from ``since`` on, by outcome."""

    async def count_by_tag(self, key: str) -> dict[str, int]:
        """Return how many active tasks carry each value of tag ``key``."""

    async def tag_values(self, key: str) -> list[str]:
        """Return the distinct values of tag ``key`` among active tasks, sorted."""

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return the number of active tasks in each status (zero counts omitted)."""

    async def count_by_type(self, types: Collection[str] | None = None) -> dict[str, int]:
        """Return the number of active tasks of each type (of ``types`` if given), sorted.

        Without ``types`` this may read every active task: call it at open, not per step.
        """

    async def get_schedule(self, schedule_id: int) -> ScheduleRecord | None:
        """Return the schedule with this id, or ``None``."""

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule that is active or paused, oldest first."""

    async def pause_state(self) -> PauseState:
        """Return what is paused."""

    async def scan_tasks(self, *, after: int = 0, limit: int = 1000) -> list[TaskRecord]:
        """Return active tasks by id order, starting after ``after`` (for full scans)."""

    async def prune_history(self, now: float) -> int:
        """Apply the retention policy now; return the number of records removed."""
