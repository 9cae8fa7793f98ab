"""The public face of taskmill.

:class:`Scheduler` is a thin facade: the store persists, the intake stores submissions, the
dispatcher claims, the runner executes, the completer commits outcomes, control pauses and
cancels, and the event bus tells subscribers. The parts are built in
:mod:`taskmill.scheduler.parts`. This module holds the calls that act (lifecycle, submitting,
pausing, cancelling, waiting); the calls that observe (queries, snapshot, subscriptions) are
inherited from :class:`~taskmill.scheduler.visibility.Visibility`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, NoReturn

from taskmill.admission.aging import Aging
from taskmill.admission.fair import Fairness
from taskmill.admission.io_limit import IoControl
from taskmill.admission.throttle import ThrottlePolicy
from taskmill.admission.tokens import RateLimit
from taskmill.clock import Clock, SystemClock
from taskmill.domain import Domain, TaskType
from taskmill.metrics.collector import GaugeSource, Metrics, Sampled
from taskmill.model.config import DURABILITIES, Durability, Retention, SchedulerConfig
from taskmill.model.errors import ConfigurationError, SchedulerStateError
from taskmill.model.outcomes import Inserted, SubmitOutcome, Upgraded
from taskmill.model.priority import Priority, check_priority
from taskmill.model.records import TaskRecord
from taskmill.model.timing import seconds
from taskmill.resources.sampler import PsutilSampler, Sampler
from taskmill.scheduler.estimates import Durations
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.gate import AdmissionControl, PressureLike
from taskmill.scheduler.io_control import monitor_for
from taskmill.scheduler.parts import Parts, assemble, learn_from_history
from taskmill.scheduler.queries import Queries, qualified_type, tag_text, tag_value
from taskmill.scheduler.read_only import check_options, refused
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Interrupt
from taskmill.scheduler.state import RunState
from taskmill.scheduler.submission import DomainHandle, Limits, Spawning, Submitter
from taskmill.scheduler.visibility import Visibility
from taskmill.store import make_store
from taskmill.store.protocol import NewSchedule, NewTask, Store, TagSelector

logger = logging.getLogger("taskmill")

DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
ABANDON_AFTER = 5.0
"""Seconds close() waits for cancelled executors to end before it closes without them."""

_Phase = Literal["new", "open", "closing", "closed"]


class Scheduler(Visibility):
    """A persistent, priority-aware task scheduler on one database file.

    ::

        async with Scheduler("tasks.db", domains=[media], max_concurrency=8) as scheduler:
            await scheduler.domain(media).submit(Thumbnail("/photos/a.jpg", 256))
            await scheduler.wait_idle()

    ``Scheduler("tasks.db", read_only=True)`` inspects a database that a running app holds:
    every query works (type names as strings, no domains needed); see ``read_only``.

    Args:
        database: Path of the SQLite file (created if missing), ``":memory:"`` for a queue
            that lives only in this process, or a :class:`~taskmill.store.Store`.
        read_only: Only read the database: no lock (so it opens while another scheduler
            holds the file), connections that open the file read-only, no recovery, no
            migration, no dispatching. The file must exist (else
            :class:`~taskmill.DatabaseNotFoundError`) with this taskmill's schema (else
            :class:`~taskmill.SchemaVersionError`). Calls that would change tasks raise
            :class:`~taskmill.ReadOnlyError`, and so do ``run()``, ``wait_idle()`` and
            ``next_due()``; no events arrive. A store passed as an object must itself be
            read-only (``SqliteStore(path, read_only=True)``); ``":memory:"`` cannot be.
        domains: The domains whose tasks this scheduler runs.
        max_concurrency: Attempts that may run at the same time.
        durability: ``"normal"`` (survives process crashes) or ``"full"`` (also power loss).
        clock: Source of time; :class:`taskmill.testing.FakeClock` in tests.
        max_payload_bytes: Largest encoded payload accepted by ``submit``.
        retention: How much history to keep.
        sync_workers: Threads for plain-function executors (default ``max_concurrency``).
        shutdown_timeout: Seconds running tasks may take to finish when the scheduler
            closes gracefully; afterwards they are cancelled and run again at the next start.
            An executor that ignores cancellation is abandoned 5 s later, so that closing
            always ends.
        preempt_priority: A task this urgent or more (a priority number this low or lower)
            that arrives while every slot is busy preempts the least important running task
            (default ``Priority.REALTIME``).
        default_ttl: Time to live of tasks whose submission, type and domain set none.
        group_limits: Concurrency caps by group.
        default_group_limit: Cap of every group without its own (``None``: no cap).
        group_rate_limits: Rate limits by group (``RateLimit(per_second=...)``).
        pressure_sources: Named pressure sources, each a callable (or an object with a
            ``pressure()`` method) returning 0.0..1.0; the highest one is the pressure.
        throttle: Which priorities wait at which pressure (default: BACKGROUND and below
            above 0.5, NORMAL above 0.75, HIGH and REALTIME never).
        pressure_poll: While pressure holds work back, how often to look again (seconds).
        progress_interval: Least time between two progress events of one task (seconds,
            > 0): reports are taken once per interval, the latest values of each task that
            reported since the last time; the last values of an attempt are always sent.
        resource_monitoring: Watch the disk and hold background IO back when it congests:
            sample disk and network throughput (psutil, every second) for IO budgets, and,
            while tasks with disk IO run or wait, read how congested the disk holding the
            database is (every ``io_control.interval``) to move an adaptive limit on
            background IO tasks and pace their ``ctx.io`` files.
        sampler: Where throughput comes from instead of psutil (e.g.
            :class:`~taskmill.resources.CgroupSampler` in a container, or
            :class:`~taskmill.testing.FakeSampler`, which also scripts congestion); giving
            one turns monitoring on.
        io_budget: Fraction of the observed throughput that running tasks' expected IO may
            fill, on each axis.
        io_window: Seconds of observed throughput that make up the IO budget.
        aging: Let waiting raise a task's effective priority (``Aging()``: one level per
            minute after five minutes, up to HIGH); ``None`` (the default) turns aging off.
        fairness: Share the slots between groups by weight (:class:`~taskmill.Fairness`);
            ``None`` (the default) dispatches strictly by priority.
        io_control: How monitoring keeps background IO from congesting the disk
            (:class:`~taskmill.IoControl`: which priorities are exempt, the control law,
            the chunk of ``ctx.io`` files); ``None`` turns the adaptive limit off.
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | Store,
        *,
        domains: Iterable[Domain] = (),
        max_concurrency: int = 4,
        durability: Durability = "normal",
        clock: Clock | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        retention: Retention = Retention(),  # noqa: B008 - frozen, shared safely
        sync_workers: int | None = None,
        shutdown_timeout: float = 30.0,
        preempt_priority: int = Priority.REALTIME,
        default_ttl: float | timedelta | None = None,
        group_limits: Mapping[str, int] | None = None,
        default_group_limit: int | None = None,
        group_rate_limits: Mapping[str, RateLimit] | None = None,
        pressure_sources: Mapping[str, PressureLike] | None = None,
        throttle: ThrottlePolicy | None = None,
        pressure_poll: float = 1.0,
        progress_interval: float = 0.1,
        resource_monitoring: bool = False,
        sampler: Sampler | None = None,
        io_budget: float = 0.8,
        io_window: float = 2.0,
        aging: Aging | None = None,
        fairness: Fairness | None = None,
        io_control: IoControl | None = IoControl(),  # noqa: B008 - frozen, shared safely
        read_only: bool = False,
    ) -> None:
        if durability not in DURABILITIES:
            raise ConfigurationError(
                f"durability must be one of {DURABILITIES}, got {durability!r}"
            )
        if not isinstance(retention, Retention):
            raise ConfigurationError(f"retention must be a taskmill.Retention, got {retention!r}")
        check_options(read_only=read_only, resource_monitoring=resource_monitoring, sampler=sampler)
        self._read_only = read_only
        self.config = SchedulerConfig(
            max_concurrency=max_concurrency,
            max_payload_bytes=max_payload_bytes,
            sync_workers=sync_workers,
            shutdown_timeout=shutdown_timeout,
            preempt_priority=check_priority(preempt_priority, what="preempt_priority"),
            default_ttl=None
            if default_ttl is None
            else seconds(default_ttl, "default_ttl", allow_zero=False),
            pressure_poll=pressure_poll,
            progress_interval=progress_interval,
        )
        """The validated options."""
        self._registry = Registry(domains)
        self._store = make_store(database, durability, retention, read_only=read_only)
        if sampler is None and resource_monitoring:
            sampler = PsutilSampler()
        self.admission = AdmissionControl(
            registry=self._registry,
            max_concurrency=max_concurrency,
            group_limits=group_limits,
            default_group_limit=default_group_limit,
            group_rate_limits=group_rate_limits,
            throttle=throttle,
            pressure_sources=pressure_sources,
            sampler=sampler,
            io_budget=io_budget,
            io_window=io_window,
            aging=aging,
            fairness=fairness,
            io_control=io_control,
            monitor=None if sampler is None else monitor_for(sampler, self._store, io_control),
        )
        """Live admission settings: caps, pressure, rate limits, IO budgets, aging, fairness."""
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.metrics = Metrics()
        """Counters, gauges and histograms: ``scheduler.metrics.snapshot()`` (any thread)."""
        self._bus = EventBus(self.metrics)
        self._durations = Durations()
        self._queries = Queries(
            store=self._store,
            now=self._clock.now,
            admission=self.admission,
            durations=self._durations,
        )
        self._submitter = Submitter(
            self._registry,
            Limits(self.config.max_payload_bytes, self.config.default_ttl),
            self._clock.now,
            self._submit,
            self._add_schedule,
        )
        self._phase: _Phase = "new"
        self._parts: Parts | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._immediate = False
        self._stop_requested = False

    def __repr__(self) -> str:
        return f"<Scheduler {self._store!r} {self._phase}>"

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> NoReturn:
        raise SchedulerStateError(
            "Scheduler is asynchronous: use 'async with Scheduler(...)' in async code, or "
            "taskmill.sync.Scheduler (the same calls, blocking) in synchronous code"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached: :meth:`__enter__` refuses a plain ``with``."""

    async def __aenter__(self) -> Scheduler:
        if self._phase == "new":
            await self.open()
        if self._require_readable() is not None and self._dispatch_task is None:
            self._start_dispatching()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store and recover: tasks left running by a dead process become pending.

        An open scheduler accepts submissions and queries but does not dispatch until
        :meth:`run` is called or it is entered with ``async with``. A read-only one only
        opens the store.

        Raises:
            StoreError: the database cannot be used (see the message for the fix).
        """
        if self._phase != "new":
            raise SchedulerStateError(f"open() called on a scheduler that is {self._phase}")
        await self._store.open()
        if self._read_only:
            self._phase = "open"
            return
        try:
            report = await self._store.recover(self._clock.now())
            await learn_from_history(self._store, self._durations, self.admission)
            waiting = await self._queries.find_unregistered(self._registry.names)
        except BaseException:
            await self._store.close()
            raise
        if waiting:
            logger.warning(
                "taskmill: %s wait for a process that registers their types (no domain of "
                "this scheduler does); cancel_type() ends them if none ever will",
                ", ".join(f"{n} tasks of {name}" for name, n in waiting.items()),
            )
        if report.requeued or report.resumed:
            logger.info(
                "taskmill recovered %d interrupted and %d preempted tasks",
                report.requeued,
                report.resumed,
            )
        self._parts = assemble(
            store=self._store,
            registry=self._registry,
            bus=self._bus,
            clock=self._clock,
            config=self.config,
            gate=self.admission,
            durations=self._durations,
            recovered=report,
        )
        self._parts.runner.spawner = Spawning(self._registry, self._submitter)
        self.metrics.bind(
            GaugeSource(
                loop=asyncio.get_running_loop(),
                now=self._clock.now,
                sample=self._sample_gauges,
                live=self._live_gauges,
            )
        )
        await self.metrics.sample()
        if self.admission.io.sampler is not None:
            self.admission.io.sampler.start()
        self._phase = "open"

    async def _sample_gauges(self) -> Sampled:
        counts = await self._store.count_by_status()
        pressure, sources = self.admission.pressure()
        io = self.admission.io_control
        latest = io.latest
        return Sampled(
            {str(status): n for status, n in sorted(counts.items())},
            pressure,
            sources,
            io.limit,
            None if latest is None else latest.level,
            self.admission.waiting_by(),
        )

    def _live_gauges(self) -> tuple[int, int, bool]:
        parts = self._parts
        if parts is None or self._phase != "open":
            return (0, self.admission.max_concurrency, False)
        state = parts.state
        return (len(state.running), self.admission.max_concurrency, state.pauses.everything)

    async def run(self) -> None:
        """Dispatch tasks in the foreground until :meth:`stop`, then close.

        Opens the scheduler first if it is not open yet.
        """
        if self._read_only:
            raise refused("run")
        if self._phase == "new":
            await self.open()
        self._require_open("run")
        if self._dispatch_task is not None:
            raise SchedulerStateError("the scheduler is already running")
        task = self._start_dispatching()
        try:
            await asyncio.shield(task)
        finally:
            await self.close(immediate=self._immediate)

    def stop(self, *, immediate: bool = False) -> None:
        """Ask the dispatch loop to stop; :meth:`run` then closes the scheduler and returns.

        Safe from any thread and from a signal handler; called before :meth:`run` has
        started, it makes ``run()`` close as soon as it has opened.

        Args:
            immediate: Close without letting running tasks finish (see :meth:`close`).
        """
        self._immediate = immediate
        self._stop_requested = True  # seen by a run() that has not started dispatching yet
        if self._parts is not None:
            self._parts.dispatcher.stop()

    async def close(self, *, immediate: bool = False) -> None:
        """Stop dispatching, settle running tasks, commit everything and close the store.

        Gracefully (the default) running tasks may finish within ``shutdown_timeout``; with
        ``immediate=True`` they are cancelled at once. Either way, tasks cancelled by the
        shutdown are stored pending, to run again at the next start (no retry charged),
        pending writes are committed and the WAL is checkpointed. Idempotent.
        """
        if self._phase == "new":
            self._phase = "closed"
        if self._phase == "closed":
            return
        self._check_caller()
        if self._phase == "closing":
            await self._closed.wait()
            return
        self._phase = "closing"
        try:
            if self._parts is not None:  # None: read-only, nothing runs
                await self._shutdown(immediate)
        finally:
            self._phase = "closed"
            self._bus.close()
            self.metrics.unbind()
            self.admission.detach()
            if self.admission.io.sampler is not None:
                self.admission.io.sampler.stop()
            if self._parts is not None:
                self._parts.runner.progress.close()
                self._parts.threads.shutdown(wait=False, cancel_futures=True)
            try:
                await self._store.close()
            finally:
                self._closed.set()

    def _start_dispatching(self) -> asyncio.Task[None]:
        parts = self._require_parts()
        dispatcher, state = parts.dispatcher, parts.state
        if self._stop_requested:  # stop() came from another thread while this one opened
            dispatcher.stop()

        async def dispatch() -> None:
            try:
                await dispatcher.run()
            except Exception as exc:
                logger.exception("taskmill dispatch loop crashed")
                state.fail(exc)
                raise

        self._dispatch_task = asyncio.get_running_loop().create_task(
            dispatch(), name="taskmill:dispatch"
        )
        return self._dispatch_task

    async def _shutdown(self, immediate: bool) -> None:
        parts = self._require_parts()
        parts.dispatcher.stop()
        if self._dispatch_task is not None:
            await asyncio.gather(self._dispatch_task, return_exceptions=True)
        running = [r.task for r in parts.state.running.values() if r.task is not None]
        if running:
            timeout = 0 if immediate else self.config.shutdown_timeout
            _, still_running = await asyncio.wait(running, timeout=timeout)
            if still_running:
                logger.info("taskmill cancelled %d running tasks at shutdown", len(still_running))
                parts.runner.interrupt_all(Interrupt.SHUTDOWN)
                _, stuck = await asyncio.wait(still_running, timeout=ABANDON_AFTER)
                if stuck:  # their executors swallow CancelledError: close without them
                    logger.warning(
                        "taskmill closed with %d tasks whose executors ignored cancellation; "
                        "they stay stored as running and run again at the next start",
                        len(stuck),
                    )
        await parts.completer.drain()

    # --- submitting ----------------------------------------------------------------------

    def domain(self, domain: Domain | str) -> DomainHandle:
        """Return the handle that submits tasks of ``domain``.

        Raises:
            UnknownTaskTypeError: the domain was not passed to this scheduler.
        """
        return DomainHandle(self._registry.domain(domain), self._submitter)

    async def _submit(self, tasks: Sequence[NewTask]) -> list[SubmitOutcome]:
        self._require_open("submit")
        return await self._require_parts().intake.submit(tasks)

    async def _add_schedule(self, schedule: NewSchedule) -> SubmitOutcome:
        self._require_open("submit")
        return await self._require_parts().intake.add_schedule(schedule)

    async def retry_dead_letter(self, task_id: int) -> SubmitOutcome:
        """Submit the dead-lettered task ``task_id`` again, under a new id, retries reset.

        Returns :class:`~taskmill.Inserted` with the new id; or, when an active task already
        holds the same key, :class:`~taskmill.Duplicate` (or :class:`~taskmill.Upgraded` if
        the dead letter had the higher priority).

        Raises:
            TaskNotFoundError: no task or history record has this id.
            NotDeadLetteredError: the task is not dead-lettered, or was already retried.
        """
        state = self._require_open("retry_dead_letter")
        outcome = await self._store.retry_dead_letter(task_id, self._clock.now())
        if isinstance(outcome, Inserted | Upgraded):
            state.mark_ready()
            state.urgent_hint = True
        return outcome

    # --- pause, resume, cancel -----------------------------------------------------------

    async def pause(self, domain: Domain | str | None = None) -> bool:
        """Pause everything, or only ``domain``; return whether it was running before.

        Dispatch stops for the scope, its running tasks are interrupted and stored
        ``paused`` (no retry charged), and tasks submitted into it arrive paused. A task
        paused for several reasons (say its domain and its group) runs again only once all
        are lifted. Pause state is stored and survives a restart.
        """
        self._require_open("pause")
        return await self._require_parts().control.pause(domain)

    async def resume(self, domain: Domain | str | None = None) -> bool:
        """Lift :meth:`pause` of everything, or of ``domain``; return whether it was paused."""
        self._require_open("resume")
        return await self._require_parts().control.resume(domain)

    async def pause_group(
        self, group: str, *, until: datetime | timedelta | float | None = None
    ) -> bool:
        """Pause a group, optionally until an instant (aware datetime) or for a duration.

        Returns whether the group was not paused before (a second call moves the deadline).
        """
        self._require_open("pause_group")
        return await self._require_parts().control.pause_group(group, until)

    async def resume_group(self, group: str) -> bool:
        """Lift the pause of a group; return whether it was paused."""
        self._require_open("resume_group")
        return await self._require_parts().control.resume_group(group)

    async def cancel(self, task_id: int) -> bool:
        """Cancel a task; return ``False`` if it had already finished.

        A task not running goes to history as ``cancelled`` at once. A running one gets its
        cancel signal (token, then asyncio cancellation); its type's ``on_cancel`` hook
        runs, then it goes to history as ``cancelled``.

        Raises:
            TaskNotFoundError: no task or history record has this id.
        """
        self._require_open("cancel")
        return await self._require_parts().control.cancel(task_id)

    async def cancel_domain(self, domain: Domain | str) -> int:
        """Cancel every active task of ``domain``; return how many."""
        self._require_open("cancel_domain")
        return await self._require_parts().control.cancel_domain(domain)

    async def cancel_type(self, task_type: TaskType[Any] | str) -> int:
        """Cancel every active task of a type; return how many.

        Takes the type object or its qualified name ``"domain::name"``, also of a type no
        domain here registers: the tasks another process would run (see
        :attr:`Snapshot.unregistered <taskmill.Snapshot.unregistered>`).
        """
        self._require_open("cancel_type")
        return await self._require_parts().control.cancel_type(qualified_type(task_type))

    async def cancel_tagged(
        self, key: str, value: str | None = None, *, prefix: bool = False
    ) -> int:
        """Cancel every active task with tag ``key`` (of ``value``, if given); return how many.

        With ``prefix=True``, ``key`` is the start of tag keys: ``cancel_tagged("upload.",
        prefix=True)`` cancels tasks with ``upload.user``, ``upload.batch``, ... Characters
        such as ``%`` and ``_`` in the prefix match only themselves.
        """
        self._require_open("cancel_tagged")
        selector = TagSelector(tag_text(key, "tag key"), tag_value(value), bool(prefix))
        return await self._require_parts().control.cancel_tagged(selector)

    async def cancel_where(self, predicate: Callable[[TaskRecord], bool]) -> int:
        """Cancel every active task for which ``predicate(record)`` is true; return how many."""
        self._require_open("cancel_where")
        return await self._require_parts().control.cancel_where(predicate)

    # --- recurring schedules -------------------------------------------------------------

    async def pause_schedule(self, schedule_id: int) -> None:
        """Stop making occurrences of a schedule.

        A running occurrence finishes, and the schedule stays paused after it.
        """
        self._require_open("pause_schedule")
        await self._require_parts().control.set_schedule(schedule_id, "paused")

    async def resume_schedule(self, schedule_id: int) -> None:
        """Make occurrences again; a tick missed while paused runs at once."""
        self._require_open("resume_schedule")
        await self._require_parts().control.set_schedule(schedule_id, "active")

    async def cancel_schedule(self, schedule_id: int) -> None:
        """End a schedule; its occurrence is cancelled if it has not started yet."""
        self._require_open("cancel_schedule")
        await self._require_parts().control.set_schedule(schedule_id, "cancelled")

    # --- waiting and watching ------------------------------------------------------------

    async def wait_idle(self, *, include_delayed: bool = True) -> None:
        """Return when no task is pending or running and every result is committed.

        Paused tasks and the future occurrences of recurring schedules are not waited for.

        Args:
            include_delayed: Also wait for delayed tasks (``run_after``, retry backoff).
                With ``False``, return as soon as nothing can run before the clock moves on
                (what tests with a :class:`~taskmill.testing.FakeClock` want).

        Raises:
            SchedulerStateError: the scheduler is not dispatching (not entered with
                ``async with`` nor running :meth:`run`), or its dispatch loop died.
        """
        state = self._require_open("wait_idle")
        if self._dispatch_task is None:
            await asyncio.sleep(0)  # let a run() task created just before this call start
        if self._dispatch_task is None:
            raise SchedulerStateError(
                "wait_idle() on a scheduler that is open but not dispatching would wait "
                "forever; enter it with 'async with scheduler:' or start scheduler.run()"
            )
        await state.wait_idle(include_delayed=include_delayed)

    @property
    def max_concurrency(self) -> int:
        """How many attempts may run at once (change it with ``admission``)."""
        return self.admission.max_concurrency

    @property
    def running_count(self) -> int:
        """How many attempts run right now."""
        return 0 if self._parts is None else len(self._parts.state.running)

    async def next_due(self) -> float | None:
        """When the earliest delayed task becomes ready (clock seconds), or ``None``."""
        return self._require_open("next_due").next_due

    # --- internals -----------------------------------------------------------------------

    def _require_readable(self) -> RunState | None:
        if self._phase != "open":
            raise SchedulerStateError(
                f"the scheduler is {self._phase}; use 'async with Scheduler(...)' or "
                f"await scheduler.open() first"
            )
        if self._parts is None:  # read-only: nothing runs here, any loop may read
            return None
        state = self._parts.state
        state.check_caller()
        return state

    def _check_caller(self) -> None:
        if self._parts is not None:
            self._parts.state.check_caller()

    def _require_open(self, call: str) -> RunState:
        state = self._require_readable()
        if state is None:
            raise refused(call)
        return state

    def _require_parts(self) -> Parts:
        if self._parts is None:
            raise SchedulerStateError("the scheduler is not open")
        return self._parts
