"""The read-only mode of :class:`~taskmill.Scheduler`: what it refuses, what it reads.

A scheduler opened with ``read_only=True`` inspects a database that another process may be
running: its store opens the file read-only, and nothing runs here (no recovery, no
dispatching, no sampler). Calls that observe read the file; calls that would change it raise
:class:`~taskmill.ReadOnlyError`. What only the process that runs the tasks knows (live
progress, admission, pressure) is left empty in a snapshot.
"""

from __future__ import annotations

from taskmill.model.errors import ConfigurationError, ReadOnlyError
from taskmill.model.records import TaskHeader
from taskmill.model.status import TaskStatus
from taskmill.resources.sampler import Sampler
from taskmill.scheduler.snapshot import RunningTask, Snapshot
from taskmill.store.protocol import Store

MAX_RUNNING = 10_000
"""Running tasks a read-only snapshot lists at most (far more than any scheduler runs)."""


def refused(call: str) -> ReadOnlyError:
    """The error of a call that would change the database of a read-only scheduler."""
    return ReadOnlyError(
        f"{call}() changes tasks, but this scheduler was opened with read_only=True and only "
        f"reads the database; make the call on the scheduler that runs the database, or open "
        f"one without read_only=True once that one is closed"
    )


def check_options(*, read_only: bool, resource_monitoring: bool, sampler: Sampler | None) -> None:
    """Refuse options that a read-only scheduler, which runs nothing, would never use."""
    if not isinstance(read_only, bool):
        raise ConfigurationError(f"read_only must be a bool, got {read_only!r}")
    if read_only and (resource_monitoring or sampler is not None):
        raise ConfigurationError(
            "a read-only scheduler runs no tasks, so it has no use for resource_monitoring "
            "or a sampler; drop them, or open the scheduler without read_only=True"
        )


async def snapshot(store: Store, now: float) -> Snapshot:
    """What the database says at ``now``: a snapshot without live state.

    The running tasks are those stored ``running``, with no progress (it lives in the
    process that runs them); ``admission`` is ``None``; pauses come from the database.
    """
    counts = await store.count_by_status()
    records = await store.list_tasks(status=TaskStatus.RUNNING, limit=MAX_RUNNING)
    running = [
        RunningTask(
            task=TaskHeader(r.id, r.type, r.key, r.label, r.priority, r.priority, dict(r.tags)),
            attempt=r.retry_count + 1,
            started_at=r.started_at if r.started_at is not None else now,
            elapsed=0.0 if r.started_at is None else max(0.0, now - r.started_at),
            progress=None,
            extrapolated=False,
        )
        for r in sorted(records, key=lambda r: r.id)
    ]
    return Snapshot(
        at=now,
        running=tuple(running),
        counts={str(status): count for status, count in sorted(counts.items())},
        admission=None,
        pauses=await store.pause_state(),
        schedules=tuple(await store.list_schedules()),
    )
