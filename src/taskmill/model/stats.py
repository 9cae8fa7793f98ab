"""Read-only results of the history queries: per-type statistics, throughput, key lookups."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskmill.model.io import IoBudget
from taskmill.model.records import HistoryRecord, TaskRecord, _Record


@dataclass(frozen=True, slots=True)
class TypeStats(_Record):
    """How the recent tasks of one type ended (see :meth:`Scheduler.type_stats`).

    Computed over the newest ``sample`` history records of the type (and only those finished
    since ``since``, when given), so it describes recent behaviour and stays cheap at any
    history depth.

    Attributes:
        type: Qualified task type.
        count: History records in the sample.
        by_status: How many of them ended in each terminal status (zero counts omitted).
        failure_rate: ``failed + dead_letter`` over those plus ``completed``; ``None`` if the
            sample holds none of them.
        mean_duration: Mean seconds the completed tasks' final attempts ran, if any.
        p95_duration: 95th percentile of the same durations (nearest rank), if any.
        mean_io: Mean IO the completed tasks recorded.
        oldest: When the oldest record of the sample finished.
        newest: When the newest record of the sample finished.
    """

    type: str
    count: int
    by_status: dict[str, int]
    failure_rate: float | None
    mean_duration: float | None
    p95_duration: float | None
    mean_io: IoBudget
    oldest: float
    newest: float


@dataclass(frozen=True, slots=True)
class Throughput(_Record):
    """Tasks that ended in a window of time (see :meth:`Scheduler.throughput`).

    Attributes:
        since: Start of the window.
        until: End of the window (the clock's now when the query ran).
        completed: Tasks completed in the window.
        failed: Tasks that ended ``failed`` or ``dead_letter`` in the window.
        other: Tasks that ended otherwise (cancelled, expired, superseded, ...).
        per_second: ``completed`` divided by the window's length.
    """

    since: float
    until: float
    completed: int
    failed: int
    other: int
    per_second: float


@dataclass(frozen=True, slots=True)
class KeyLookup(_Record):
    """Everything known about one deduplication key (see :meth:`Scheduler.lookup`).

    Attributes:
        type: Qualified task type.
        key: The key.
        active: The task holding the key in the queue, if any.
        history: History records of the key, newest first.
    """

    type: str
    key: str
    active: TaskRecord | None
    history: tuple[HistoryRecord, ...] = field(default_factory=tuple)
