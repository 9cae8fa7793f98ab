"""A store that keeps everything in process memory: for tests and throwaway queues.

It honours the same contract as the SQLite store (``tests/test_store_contract.py`` runs
against both) but nothing survives the process.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import msgspec

from taskmill.model.config import Retention
from taskmill.model.errors import StoreClosedError, TaskNotFoundError
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome, Upgraded
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.status import TaskStatus
from taskmill.store.protocol import (
    FINAL_KINDS,
    ClaimedTask,
    NewTask,
    RecoveryReport,
    SettleKind,
    Settlement,
    not_dead_lettered,
)


@dataclass(slots=True)
class _Row:
    id: int
    task: NewTask
    priority: int
    status: TaskStatus
    created_at: float
    retry_count: int = 0
    started_at: float | None = None
    not_before: float | None = None
    last_error: str | None = None


class MemoryStore:
    """Tasks in memory, lost when the process ends.

    Args:
        retention: How much history to keep.
    """

    def __init__(self, *, retention: Retention = Retention()) -> None:  # noqa: B008
        self.retention = retention
        self._open = False
        self._last_id = 0
        self._last_seq = 0
        self._tasks: dict[int, _Row] = {}
        self._by_key: dict[tuple[str, str], int] = {}
        self._ready: list[tuple[int, int]] = []  # (priority, id); stale entries skipped
        self._history: dict[int, HistoryRecord] = {}  # by seq, insertion-ordered
        self._history_tasks: dict[int, NewTask] = {}  # by seq: the stored bytes, for retries
        self._since_prune = 0

    def __repr__(self) -> str:
        return f"MemoryStore(tasks={len(self._tasks)}, history={len(self._history)})"

    async def open(self) -> None:
        """Make the store usable."""
        self._open = True

    async def close(self) -> None:
        """Refuse further use; the data stays readable by nobody."""
        self._open = False

    def _check(self) -> None:
        if not self._open:
            raise StoreClosedError(f"{self!r} is not open")

    # --- writes --------------------------------------------------------------------------

    async def recover(self, now: float) -> RecoveryReport:
        """Requeue running tasks and release due delayed tasks."""
        self._check()
        requeued = 0
        for row in self._tasks.values():
            if row.status is TaskStatus.RUNNING:
                row.status = TaskStatus.PENDING
                self._push_ready(row)
                requeued += 1
        return RecoveryReport(requeued=requeued, next_due=self._promote(now))

    async def submit(self, tasks: Sequence[NewTask], now: float) -> list[SubmitOutcome]:
        """Store ``tasks`` with dedup by ``(type, key)``."""
        self._check()
        last_of_key = {(t.type, t.key): index for index, t in enumerate(tasks)}
        inserted: dict[tuple[str, str], int] = {}
        for key, index in sorted(last_of_key.items(), key=lambda item: item[1]):
            if key not in self._by_key:
                task = tasks[index]
                self._last_id += 1
                row = _Row(self._last_id, task, task.priority, TaskStatus.PENDING, now)
                row.not_before = task.not_before
                self._by_key[key] = row.id
                self._tasks[row.id] = row
                self._push_ready(row)
                inserted[key] = row.id
        outcomes: list[SubmitOutcome] = []
        for index, task in enumerate(tasks):
            key = (task.type, task.key)
            if key in inserted:
                task_id = inserted[key]
                outcomes.append(
                    Inserted(task_id) if last_of_key[key] == index else Duplicate(task_id)
                )
                continue
            row = self._tasks[self._by_key[key]]
            if task.priority < row.priority and row.status is not TaskStatus.RUNNING:
                previous, row.priority = row.priority, task.priority
                self._push_ready(row)
                outcomes.append(Upgraded(row.id, previous, task.priority))
            else:
                outcomes.append(Duplicate(row.id))
        return outcomes

    async def claim(self, limit: int, now: float, types: Collection[str]) -> list[ClaimedTask]:
        """Mark up to ``limit`` ready tasks of ``types`` running, in priority then id order."""
        self._check()
        claimed: list[ClaimedTask] = []
        skipped: list[tuple[int, int]] = []
        ready = self._ready
        while ready and len(claimed) < limit:
            priority, task_id = heapq.heappop(ready)
            row = self._tasks.get(task_id)
            if row is None or not self._is_ready(row) or row.priority != priority:
                continue  # stale entry: settled, claimed, delayed or re-prioritised
            if row.task.type not in types:
                skipped.append((priority, task_id))
                continue
            row.status = TaskStatus.RUNNING
            row.started_at = now
            task = row.task
            claimed.append(
                ClaimedTask(
                    row.id,
                    task.type,
                    task.key,
                    task.label,
                    row.priority,
                    task.payload,
                    row.retry_count,
                    task.retry_policy,
                    row.created_at,
                    task.expected_io,
                )
            )
        for entry in skipped:
            heapq.heappush(ready, entry)
        return claimed

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Apply finished attempts."""
        self._check()
        finals = 0
        for s in settlements:
            row = self._tasks.get(s.id)
            if row is None:
                continue
            if s.kind in FINAL_KINDS:
                finals += 1
                self._to_history(row, TaskStatus(str(s.kind)), s.at, s.error, s.actual_io)
            elif s.kind is SettleKind.RETRY:
                row.status = TaskStatus.PENDING
                row.retry_count += 1
                row.not_before = s.not_before
                row.last_error = s.error
                self._push_ready(row)
            elif row.status is TaskStatus.RUNNING:
                row.status = TaskStatus.PENDING
                self._push_ready(row)
        self._since_prune += finals
        if finals and self._since_prune >= self.retention.prune_every:
            self._since_prune = 0
            self._prune(max(s.at for s in settlements))

    async def promote_due(self, now: float) -> float | None:
        """Release delayed tasks whose time came; return the next release time."""
        self._check()
        return self._promote(now)

    async def retry_dead_letter(self, task_id: int, now: float) -> SubmitOutcome:
        """Submit a dead-lettered task again under a new id."""
        self._check()
        records = [r for r in self._history.values() if r.id == task_id]
        if not records:
            row = self._tasks.get(task_id)
            if row is None:
                raise TaskNotFoundError(f"no task or history record has id {task_id}")
            raise not_dead_lettered(task_id, row.status, None)
        record = records[-1]
        if record.status is not TaskStatus.DEAD_LETTER or record.retried_as is not None:
            raise not_dead_lettered(task_id, record.status, record.retried_as)
        stored = self._history_tasks[record.seq]
        task = NewTask(
            type=stored.type,
            key=stored.key,
            label=stored.label,
            priority=record.priority,
            payload=stored.payload,
            retry_policy=stored.retry_policy,
            expected_io=stored.expected_io,
        )
        outcome = (await self.submit([task], now))[0]
        if isinstance(outcome, Inserted):
            self._history[record.seq] = replace(record, retried_as=outcome.id)
        return outcome

    async def prune_history(self, now: float) -> int:
        """Apply the retention policy now."""
        self._check()
        return self._prune(now)

    # --- reads ---------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> TaskRecord | None:
        """Return the active task ``task_id``, or ``None``."""
        self._check()
        row = self._tasks.get(task_id)
        return None if row is None else self._record(row)

    async def get_history(self, task_id: int) -> list[HistoryRecord]:
        """Return the history records of ``task_id``, oldest first."""
        self._check()
        return [r for r in self._history.values() if r.id == task_id]

    async def list_tasks(
        self, *, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Return active tasks in dispatch order."""
        self._check()
        rows = sorted(
            (r for r in self._tasks.values() if status is None or r.status == status),
            key=lambda r: (r.priority, r.id),
        )
        return [self._record(r) for r in rows[:limit]]

    async def list_history(
        self, *, status: TaskStatus | None = None, limit: int = 100, before: int | None = None
    ) -> list[HistoryRecord]:
        """Return history records newest first."""
        self._check()
        found: list[HistoryRecord] = []
        for record in reversed(self._history.values()):
            if len(found) == limit:
                break
            if (status is None or record.status == status) and (
                before is None or record.seq < before
            ):
                found.append(record)
        return found

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return how many active tasks are in each status."""
        self._check()
        counts: dict[TaskStatus, int] = {}
        for row in self._tasks.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _is_ready(row: _Row) -> bool:
        return row.status is TaskStatus.PENDING and row.not_before is None

    def _push_ready(self, row: _Row) -> None:
        if self._is_ready(row):
            heapq.heappush(self._ready, (row.priority, row.id))

    def _promote(self, now: float) -> float | None:
        next_due: float | None = None
        for row in self._tasks.values():
            if row.status is not TaskStatus.PENDING or row.not_before is None:
                continue
            if row.not_before <= now:
                row.not_before = None
                self._push_ready(row)
            elif next_due is None or row.not_before < next_due:
                next_due = row.not_before
        return next_due

    def _to_history(
        self, row: _Row, status: TaskStatus, at: float, error: str | None, io: IoBudget
    ) -> None:
        del self._tasks[row.id]
        del self._by_key[(row.task.type, row.task.key)]
        self._last_seq += 1
        task = row.task
        self._history[self._last_seq] = HistoryRecord(
            seq=self._last_seq,
            id=row.id,
            type=task.type,
            key=task.key,
            label=task.label,
            priority=row.priority,
            status=status,
            payload=msgspec.json.decode(task.payload),
            retry_count=row.retry_count,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=at,
            duration=None if row.started_at is None else max(0.0, at - row.started_at),
            last_error=error if error is not None else row.last_error,
            expected_io=task.expected_io,
            actual_io=io,
        )
        self._history_tasks[self._last_seq] = task

    def _prune(self, now: float) -> int:
        doomed: list[int] = []
        max_records, max_age = self.retention.max_records, self.retention.max_age_seconds
        excess = 0 if max_records is None else max(0, len(self._history) - max_records)
        for seq, record in self._history.items():
            if excess > 0:
                excess -= 1
            elif max_age is None or record.finished_at >= now - max_age:
                break
            doomed.append(seq)
        for seq in doomed:
            del self._history[seq]
            del self._history_tasks[seq]
        return len(doomed)

    def _record(self, row: _Row) -> TaskRecord:
        task = row.task
        return TaskRecord(
            id=row.id,
            type=task.type,
            key=task.key,
            label=task.label,
            priority=row.priority,
            status=row.status,
            payload=msgspec.json.decode(task.payload),
            retry_count=row.retry_count,
            created_at=row.created_at,
            started_at=row.started_at,
            not_before=row.not_before,
            last_error=row.last_error,
            expected_io=task.expected_io,
        )
