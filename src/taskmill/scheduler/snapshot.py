"""One call that tells a UI everything the scheduler knows right now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from taskmill.model.jsonable import json_dict
from taskmill.model.records import PauseState, ScheduleRecord, TaskHeader
from taskmill.scheduler.admission_state import AdmissionState
from taskmill.scheduler.estimates import Durations, estimate
from taskmill.scheduler.runner import Running


@dataclass(frozen=True, slots=True)
class RunningTask:
    """A task attempt in progress, as a progress bar needs it.

    Attributes:
        task: Id, type, key, label, tags and priorities of the task.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        started_at: When the attempt started.
        elapsed: Seconds it has run.
        progress: The estimated fraction done: what the task reported, carried forward by
            the expected pace, or for a task that reports nothing, elapsed time over its
            type's recent mean duration; below 1.0 until the task itself reports 1.0
            (``None``: nothing reported and no mean known yet).
        extrapolated: Whether ``progress`` is an estimate rather than the task's own report.
        reported: The latest fraction the task reported, if any.
        message: The latest progress message, if any.
        bytes_done: Bytes counted with ``add_bytes``.
        bytes_total: The total given with ``set_bytes_total``, if any.
        rate: Smoothed bytes per second, if bytes were counted.
        eta: Seconds left at that rate, if known.
        expected_duration: The recent mean duration of the task's type, if known.
    """

    task: TaskHeader
    attempt: int
    started_at: float
    elapsed: float
    progress: float | None
    extrapolated: bool
    reported: float | None = None
    message: str | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    rate: float | None = None
    eta: float | None = None
    expected_duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-serializable builtins."""
        return json_dict(self)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The scheduler at one instant (see :meth:`Scheduler.snapshot`).

    Attributes:
        at: When it was taken (the clock's now).
        running: The running attempts, ordered by task id. From a read-only scheduler, the tasks
            stored ``running``, without progress (``progress``, ``reported``, ``rate`` ...
            ``None``: live progress lives in the process that runs them).
        counts: Active tasks by status (``pending``, ``paused``, ``blocked``, ``waiting``,
            ``running``; zero counts omitted), from the database.
        admission: Pressure and its breakdown, concurrency caps, rate-limit tokens, IO
            budgets and group shares; ``None`` from a read-only scheduler, which admits
            nothing and cannot see the admission of the process that runs the tasks.
        pauses: What is paused: everything, domains, groups with their deadlines.
        schedules: The recurring schedules that are active or paused.
        unregistered: Active tasks of types that no domain of this scheduler registers, by
            type. They wait for a process that registers them (or for ``cancel_type``);
            empty from a read-only scheduler, which registers nothing.
    """

    at: float
    running: tuple[RunningTask, ...]
    counts: dict[str, int]
    admission: AdmissionState | None
    pauses: PauseState
    schedules: tuple[ScheduleRecord, ...] = field(default_factory=tuple)
    unregistered: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-serializable builtins."""
        return json_dict(self)


def running_tasks(
    running: Iterable[Running], durations: Durations, now: float
) -> list[RunningTask]:
    """Describe the running attempts at ``now``, by task id."""
    described = []
    for attempt in sorted(running, key=lambda r: r.claimed.id):
        progress = attempt.context.progress
        elapsed = max(0.0, now - attempt.started_at)
        reported = progress.fraction
        reported_after = (
            None if progress.reported_at is None else progress.reported_at - attempt.started_at
        )
        mean = durations.mean(attempt.claimed.type)
        estimated = estimate(elapsed, reported, reported_after, mean)
        described.append(
            RunningTask(
                task=attempt.header(),
                attempt=attempt.context.attempt,
                started_at=attempt.started_at,
                elapsed=elapsed,
                progress=estimated,
                extrapolated=estimated is not None and estimated != reported,
                reported=reported,
                message=progress.message,
                bytes_done=progress.bytes_done,
                bytes_total=progress.bytes_total,
                rate=progress.rate,
                eta=progress.eta,
                expected_duration=mean,
            )
        )
    return described
