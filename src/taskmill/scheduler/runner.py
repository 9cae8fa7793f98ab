"""Runs claimed tasks: decodes the payload, calls the executor, judges the outcome.

Async executors run as asyncio tasks; plain functions run in a bounded thread pool so they
never block the loop. Each attempt ends in exactly one :class:`Settlement`, handed to the
completer, which commits it and then emits the events.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from taskmill.clock import Clock
from taskmill.domain import TaskType
from taskmill.model.errors import InvalidRetryPolicyError
from taskmill.model.events import Dispatched, Progress
from taskmill.model.records import TaskHeader
from taskmill.model.retry import Retry, RetryPolicy
from taskmill.scheduler.context import Spawner, TaskContext
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.pacing import Pacer
from taskmill.scheduler.progress import ProgressEvents
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import ClaimedTask, SettleKind, Settlement

logger = logging.getLogger("taskmill")

_decode_policy = msgspec.json.Decoder(RetryPolicy).decode


class Interrupt(StrEnum):
    """Why the scheduler stopped a running attempt."""

    SHUTDOWN = "shutdown"
    PAUSED = "paused"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    CHILD_FAILED = "child failed"


class Running:
    """A task attempt in progress."""

    __slots__ = (
        "_header",
        "began",
        "claimed",
        "context",
        "entered",
        "failure",
        "interrupt",
        "last_progress",
        "preempted_by",
        "started_at",
        "task",
        "task_type",
        "urgent",
    )

    def __init__(
        self,
        claimed: ClaimedTask,
        task_type: TaskType[Any] | None,
        context: TaskContext,
        started_at: float,
    ) -> None:
        self.claimed = claimed
        self.task_type = task_type
        self.context = context
        self.started_at = started_at
        self.task: asyncio.Task[None] | None = None
        self.interrupt: Interrupt | None = None
        self.failure: str | None = None  # why a failed child made this attempt fail
        self._header: TaskHeader | None = None
        self.preempted_by: int | None = None
        self.last_progress: Progress | None = None  # values reported but not sent at the end
        self.urgent = False
        self.began = False  # its asyncio task has taken its first step
        self.entered = False  # its executor was called

    @property
    def domain(self) -> str:
        """The domain of the task."""
        return self.claimed.type.partition("::")[0]

    def header(self) -> TaskHeader:
        """The event header of this task (built once per attempt)."""
        header = self._header
        if header is None:
            c = self.claimed
            effective = c.priority if c.effective_priority is None else c.effective_priority
            tags = {} if c.tags is None else dict(self.context.tags)
            header = self._header = TaskHeader(
                c.id, c.type, c.key, c.label, c.priority, effective, tags
            )
        return header


class SettlementSink(Protocol):
    """Where finished attempts go (the completer)."""

    def add(self, settlement: Settlement, running: Running) -> None:
        """Take the settlement of ``running`` for commit."""


class Runner:
    """Starts executors for claimed tasks and turns their ends into settlements."""

    def __init__(
        self,
        *,
        registry: Registry,
        state: RunState,
        completer: SettlementSink,
        bus: EventBus,
        clock: Clock,
        threads: ThreadPoolExecutor,
        preempt_priority: int,
        progress_interval: float = 0.1,
    ) -> None:
        self.registry = registry
        self.preempt_priority = preempt_priority
        self._state = state
        self._completer = completer
        self._bus = bus
        self._clock = clock
        self._threads = threads
        self._policies: dict[bytes, RetryPolicy] = {}
        state.stop_attempts = self.stop_attempts
        self.spawner: Spawner | None = None
        """Stores the children that executors spawn (set by the scheduler)."""
        self.pacer: Pacer | None = None
        """Grants the ``ctx.io`` chunks of running tasks (set by the scheduler)."""
        self.progress = ProgressEvents(bus=bus, clock=clock, interval=progress_interval)

    def stop_attempts(self, cancel: list[int], fail: dict[int, str]) -> None:
        """Cancel these running attempts, and fail these (a child of theirs failed)."""
        running = self._state.running
        for task_id in cancel:
            if (attempt := running.get(task_id)) is not None:
                self.interrupt(attempt, Interrupt.CANCELLED)
        for task_id, reason in fail.items():
            if (attempt := running.get(task_id)) is not None:
                attempt.failure = reason
                self.interrupt(attempt, Interrupt.CHILD_FAILED)

    def start(self, claimed: list[ClaimedTask], now: float) -> None:
        """Begin attempts of the ``claimed`` tasks, which the store just marked running."""
        begin = self._begin
        attempts = [begin(task, now) for task in claimed]
        if self._bus.active:  # before any of them runs: they start on the loop's next turn
            self._bus.publish_all(
                [Dispatched(now, r.header(), r.context.attempt) for r in attempts]
            )

    def _begin(self, claimed: ClaimedTask, now: float) -> Running:
        task_type = self.registry.by_name.get(claimed.type)
        context = TaskContext(
            id=claimed.id,
            type=claimed.type,
            key=claimed.key,
            label=claimed.label,
            priority=claimed.priority,
            attempt=claimed.retry_count + 1,
            tags_json=claimed.tags,
            parent_id=claimed.parent_id,
            expires_at=claimed.expires_at,
            memo=None if claimed.memo is None else _decode_memo(claimed.memo),
            finalizing=claimed.phase == "finalize",
            spawner=self.spawner,
            clock=self._clock.now,
            pacer=self.pacer,
        )
        running = Running(claimed, task_type, context, now)
        self._state.running[claimed.id] = running
        self._bus.metrics.started(claimed.type)
        self.progress.attach(claimed.id, running.header, context.progress)
        if claimed.priority <= self.preempt_priority:
            running.urgent = True
            self._state.urgent_running += 1
        running.task = asyncio.get_running_loop().create_task(
            self._attempt(running), name=f"taskmill:{claimed.type}#{claimed.id}"
        )
        return running

    def interrupt(self, running: Running, reason: Interrupt) -> None:
        """Stop an attempt: its cancel token first, then asyncio cancellation.

        A sync executor cannot be interrupted: it keeps its thread until it checks the
        token, but its slot is released at once.
        """
        if running.interrupt is not None:
            return
        running.interrupt = reason
        running.context.cancel_token.cancel(str(reason))
        # A task cancelled before its first step would never run its handler; one that has
        # not begun sees the interrupt when it does.
        if running.began and running.task is not None:
            running.task.cancel(str(reason))

    def interrupt_all(self, reason: Interrupt) -> list[asyncio.Task[None]]:
        """Stop every running attempt; return their asyncio tasks."""
        for running in list(self._state.running.values()):
            self.interrupt(running, reason)
        return [r.task for r in self._state.running.values() if r.task is not None]

    async def _attempt(self, running: Running) -> None:
        settlement: Settlement
        claimed = running.claimed
        running.began = True
        try:
            if running.interrupt is not None:
                raise asyncio.CancelledError  # interrupted before it could start
            await self._call(running)
        except asyncio.CancelledError as exc:
            if running.interrupt is not None:
                settlement = await self._interrupted(running)
            elif _cancelling():  # cancelled from outside (the loop is closing): not a failure
                settlement = self._settlement(running, SettleKind.REQUEUE)
            else:  # the executor's own CancelledError (a cancelled inner await) is a failure
                settlement = self._judge_failure(running, exc)
        except Exception as exc:
            try:
                settlement = self._judge_failure(running, exc)
            except Exception:  # a broken retry policy must not leave the task running
                logger.exception("taskmill could not judge the failure of %s", running.claimed.id)
                error = f"{type(exc).__name__}: {exc}"
                settlement = self._settlement(running, SettleKind.FAILED, error=error)
        else:
            settlement = self._settlement(running, SettleKind.COMPLETED)
        state = self._state
        del state.running[claimed.id]
        running.last_progress = self.progress.detach(claimed.id)  # sent with its end
        if running.urgent:
            state.urgent_running -= 1
        state.settling += 1
        self._completer.add(settlement, running)
        state.wake()

    def _settlement(
        self,
        running: Running,
        kind: SettleKind,
        *,
        error: str | None = None,
        not_before: float | None = None,
    ) -> Settlement:
        claimed = running.claimed
        if running.interrupt is Interrupt.SUPERSEDED:
            # However the attempt ended, the replaced task is already in history.
            kind = SettleKind.SUPERSEDED
        if kind is SettleKind.COMPLETED and not running.context.finalizing:
            task_type, memo = running.task_type, running.context.memo
            return Settlement(
                claimed.id,
                kind,
                self._clock.now(),
                actual_io=running.context.actual_io,
                schedule_id=claimed.schedule_id,
                memo=None if memo is None else _encode_memo(memo, claimed.type),
                finalize=task_type is not None and task_type.finalize is not None,
            )
        return Settlement(
            claimed.id,
            kind,
            self._clock.now(),
            error=error,
            not_before=not_before,
            actual_io=running.context.actual_io,
            schedule_id=claimed.schedule_id,
        )

    async def _interrupted(self, running: Running) -> Settlement:
        reason = running.interrupt
        if reason is Interrupt.PREEMPTED:
            return self._settlement(running, SettleKind.PREEMPTED)
        if reason is Interrupt.SHUTDOWN or reason is Interrupt.PAUSED:  # back to the queue
            return self._settlement(running, SettleKind.REQUEUE)
        if reason is Interrupt.CHILD_FAILED:  # fail-fast: a failed child fails its parent
            return self._settlement(running, SettleKind.FAILED, error=running.failure)
        task_type = running.task_type
        if running.entered and task_type is not None and task_type.on_cancel is not None:
            await self._on_cancel(running, task_type)
        return self._settlement(running, SettleKind.CANCELLED, error="cancelled while running")

    async def _on_cancel(self, running: Running, task_type: TaskType[Any]) -> None:
        """Run the type's on_cancel hook, cut off after its timeout (by the clock)."""
        hook = task_type.on_cancel
        assert hook is not None
        claimed = running.claimed
        loop = asyncio.get_running_loop()
        try:
            payload = task_type.codec.decode(claimed.payload)
            args = (payload, running.context) if task_type.on_cancel_takes_context else (payload,)
            if inspect.iscoroutinefunction(hook):
                call: Awaitable[Any] = hook(*args)
            else:
                call = loop.run_in_executor(self._threads, functools.partial(hook, *args))
            hook_task = asyncio.ensure_future(call)
        except Exception:
            logger.exception("on_cancel of %s#%d failed", claimed.type, claimed.id)
            return
        deadline = self._clock.now() + task_type.on_cancel_timeout
        timer = self._clock.call_at(deadline, hook_task.cancel)
        try:
            await hook_task
        except asyncio.CancelledError:
            if not hook_task.cancelled():
                raise  # this attempt itself is being cancelled
            logger.warning(
                "on_cancel of %s#%d did not finish within %gs",
                claimed.type,
                claimed.id,
                task_type.on_cancel_timeout,
            )
        except Exception:
            logger.exception("on_cancel of %s#%d failed", claimed.type, claimed.id)
        finally:
            timer.cancel()

    async def _call(self, running: Running) -> None:
        task_type = running.task_type
        claimed = running.claimed
        if task_type is None:
            raise _Unrunnable(
                f"no executor is registered for task type {claimed.type!r} in this process; "
                f"register its domain with the Scheduler"
            )
        try:
            payload = task_type.codec.decode(claimed.payload)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise _Unrunnable(
                f"the stored payload no longer matches {task_type.qualified_name}'s payload "
                f"type: {exc}"
            ) from exc
        context = running.context
        if context.finalizing:  # the executor ran; its children ended: the last step
            step, is_async, takes_context = (
                task_type.finalize,
                task_type.finalize_is_async,
                task_type.finalize_takes_context,
            )
            if step is None:
                return  # nothing to do but complete
        else:
            step, is_async = task_type.executor, task_type.is_async
            takes_context = task_type.takes_context
        running.entered = True
        if is_async:
            if takes_context:
                await step(payload, context)
            else:
                await step(payload)
        else:
            args = (payload, context) if takes_context else (payload,)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._threads, functools.partial(step, *args))

    def _judge_failure(self, running: Running, exc: BaseException) -> Settlement:
        claimed, task_type = running.claimed, running.task_type
        now = self._clock.now()
        if isinstance(exc, _Unrunnable):
            return self._settlement(running, SettleKind.FAILED, error=str(exc))
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if task_type is None or isinstance(exc, task_type.permanent_errors):
            return self._settlement(running, SettleKind.FAILED, error=error)
        if isinstance(exc, InvalidRetryPolicyError):  # a malformed Retry(after=...): a bug
            return self._settlement(running, SettleKind.FAILED, error=error)
        policy = self._policy(claimed, task_type)
        if claimed.retry_count >= policy.max_retries:
            return self._settlement(running, SettleKind.DEAD_LETTER, error=error)
        if isinstance(exc, Retry) and exc.after is not None:
            delay = exc.after
        else:
            delay = policy.delay_for(claimed.retry_count + 1)
        logger.debug("task %s#%d: %s; retrying in %.3fs", claimed.type, claimed.id, error, delay)
        not_before = now + delay if delay > 0 else None
        return self._settlement(running, SettleKind.RETRY, error=error, not_before=not_before)

    def _policy(self, claimed: ClaimedTask, task_type: TaskType[Any]) -> RetryPolicy:
        data = claimed.retry_policy
        if data is None:
            return task_type.retry
        policy = self._policies.get(data)
        if policy is None:
            policy = self._policies[data] = _decode_policy(data)
        return policy


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Unrunnable(Exception):
    """The task cannot run in this process at all: fail it without retrying."""


_decode_memo = msgspec.json.decode


def _encode_memo(memo: Any, task: str) -> bytes:
    try:
        return msgspec.json.encode(memo)
    except (TypeError, msgspec.EncodeError) as exc:
        logger.error("taskmill could not store the memo of %s (%s); it is dropped", task, exc)
        return b"null"
