"""Commits finished attempts in batches, then tells the rest of the scheduler.

Attempts that end while a commit is in flight accumulate and go out together in the next
one, so under load one transaction settles many tasks. Events are emitted only after the
commit: a subscriber never hears of a state the database does not hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable

from taskmill.model.errors import StoreError
from taskmill.model.events import (
    Cancelled,
    Completed,
    DeadLettered,
    Event,
    Failed,
    Preempted,
    Waiting,
)
from taskmill.model.io import NO_IO
from taskmill.scheduler.estimates import Durations
from taskmill.scheduler.events import EventBus, change_events, count_changes
from taskmill.scheduler.gate import AdmissionControl
from taskmill.scheduler.runner import Running
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import FINAL_KINDS, Changes, SettleKind, Settlement, Store

logger = logging.getLogger("taskmill")


class Completer:
    """Batches settlements into store commits and publishes what they mean."""

    def __init__(
        self,
        *,
        store: Store,
        state: RunState,
        bus: EventBus,
        gate: AdmissionControl,
        durations: Durations,
    ) -> None:
        self._store = store
        self._durations = durations
        self._state = state
        self._bus = bus
        self._gate = gate
        self._batch: list[tuple[Settlement, Running]] = []  # not yet sent to the store
        self._sent: deque[tuple[list[tuple[Settlement, Running]], Awaitable[Changes]]] = deque()
        self._flush_task: asyncio.Task[None] | None = None

    def add(self, settlement: Settlement, running: Running) -> None:
        """Queue ``settlement`` for the next commit (the caller counted it in ``settling``).

        A settlement that ends a task other than by completing goes to the store at once,
        with everything queued before it: it may cancel the task's children or siblings,
        and a claim the dispatcher makes after this call must not find them still ready.
        """
        self._batch.append((settlement, running))
        if settlement.kind in _CASCADES:
            self._send()
        if self._flush_task is None:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def drain(self) -> None:
        """Wait until every queued settlement is committed (or failed to commit)."""
        while self._flush_task is not None:
            await asyncio.shield(self._flush_task)

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        try:
            commit = self._store.settle([settlement for settlement, _ in batch])
        except StoreError as exc:  # the store is closed: fail this batch like a failed commit
            commit = asyncio.get_running_loop().create_future()
            commit.set_exception(exc)
        self._sent.append((batch, commit))

    async def _flush(self) -> None:
        state, sent = self._state, self._sent
        try:
            while self._batch or sent:
                if not sent:
                    self._send()  # what ended while the previous commit was in flight
                batch, commit = sent.popleft()
                try:
                    changes = await commit
                except StoreError:
                    # The tasks stay 'running' in the database; the next start requeues them.
                    logger.exception("taskmill could not record %d finished tasks", len(batch))
                    state.settling -= len(batch)
                    continue
                state.settling -= len(batch)
                try:
                    self._committed(batch, changes)
                except Exception:  # a bug here must not stop later settlements
                    logger.exception("taskmill failed to follow up %d settlements", len(batch))
        finally:
            self._flush_task = None
            state.changed()

    def _committed(self, batch: list[tuple[Settlement, Running]], changes: Changes) -> None:
        state, metrics = self._state, self._bus.metrics
        # A commit's events go out together, in order, after the state they describe.
        events: list[Event] | None = [] if self._bus.active else None
        learn = self._gate.io.learn if self._gate.io.enabled else None
        learn_duration = self._durations.learn
        waiting = set(changes.waiting)
        for settlement, running in batch:
            kind = settlement.kind
            task_type = running.claimed.type
            if kind is SettleKind.COMPLETED:
                duration = max(0.0, settlement.at - running.started_at)
                learn_duration(task_type, duration)
                if running.claimed.id not in waiting:  # a waiting parent has not ended
                    metrics.completed(task_type, duration, settlement.actual_io)
            elif kind in _ATTEMPT_FAILED:
                metrics.failed(task_type, will_retry=kind is SettleKind.RETRY)
                if kind is not SettleKind.RETRY:
                    metrics.ended(task_type, kind.value)
            elif kind is SettleKind.CANCELLED:
                metrics.ended(task_type, "cancelled")
            elif kind is SettleKind.PREEMPTED:
                metrics.preempted(task_type)
            # A task that records no IO teaches nothing about its type.
            if (
                learn is not None
                and kind is SettleKind.COMPLETED
                and settlement.actual_io is not NO_IO
            ):
                learn(running.claimed.type, settlement.actual_io)
            if kind in _BACK_IN_QUEUE:
                state.note_expiry(running.claimed.expires_at)
                if kind is SettleKind.PREEMPTED:
                    pass  # released by the dispatcher when no urgent work remains
                elif settlement.not_before is not None:
                    state.note_due(settlement.not_before)
                else:
                    state.mark_ready()
                    state.urgent_hint = True
            if events is not None:
                if running.last_progress is not None:  # the last values reported, first
                    events.append(running.last_progress)
                if kind is SettleKind.COMPLETED and running.claimed.id in waiting:
                    events.append(Waiting(settlement.at, running.header()))  # children run
                else:
                    events.extend(_events(settlement, running))
        count_changes(metrics, changes)
        if events is not None:
            if batch:
                events.extend(change_events(changes, batch[-1][0].at))
            self._bus.publish_all(events)
        state.apply(changes)  # also wakes the dispatcher, which may release preempted work


_ATTEMPT_FAILED = frozenset({SettleKind.RETRY, SettleKind.FAILED, SettleKind.DEAD_LETTER})
# Ends that cancel other queued tasks (children, fail-fast siblings) in the same commit.
_CASCADES = FINAL_KINDS - {SettleKind.COMPLETED}
_BACK_IN_QUEUE = frozenset({SettleKind.RETRY, SettleKind.REQUEUE, SettleKind.PREEMPTED})


def _events(settlement: Settlement, running: Running) -> list[Event]:
    kind, at = settlement.kind, settlement.at
    header = running.header()
    attempt = running.context.attempt
    error = settlement.error or ""
    if kind is SettleKind.COMPLETED:
        duration = max(0.0, at - running.started_at)
        return [Completed(at, header, attempt, duration, settlement.actual_io)]
    if kind is SettleKind.RETRY:
        # Rounded to the microsecond: epoch floats cannot subtract to an exact 0.1.
        after = 0.0 if settlement.not_before is None else round(settlement.not_before - at, 6)
        return [Failed(at, header, attempt, error, True, after)]
    if kind is SettleKind.FAILED:
        return [Failed(at, header, attempt, error, False, None)]
    if kind is SettleKind.DEAD_LETTER:
        return [
            Failed(at, header, attempt, error, False, None, dead_letter=True),
            DeadLettered(at, header, attempt, error),
        ]
    if kind is SettleKind.PREEMPTED:
        return [Preempted(at, header, running.preempted_by or 0)]
    if kind is SettleKind.CANCELLED:
        return [Cancelled(at, header, True)]
    return []
