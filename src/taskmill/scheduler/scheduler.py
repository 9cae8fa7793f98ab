"""The public face of taskmill.

:class:`Scheduler` is a thin facade: the store persists, the dispatcher claims, the runner
executes, the completer commits outcomes and the event bus tells subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Literal

from taskmill.clock import Clock, SystemClock
from taskmill.domain import Domain
from taskmill.model.config import DURABILITIES, Durability, Retention
from taskmill.model.errors import ConfigurationError, SchedulerStateError
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome, Upgraded
from taskmill.model.records import HistoryRecord, TaskRecord
from taskmill.model.status import TaskStatus
from taskmill.scheduler.completer import Completer
from taskmill.scheduler.dispatcher import Dispatcher
from taskmill.scheduler.events import DEFAULT_BUFFER, EventBus, Subscription
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Runner
from taskmill.scheduler.state import RunState
from taskmill.scheduler.submission import DomainHandle
from taskmill.store.memory import MemoryStore
from taskmill.store.protocol import NewTask, Store
from taskmill.store.sqlite import SqliteStore

logger = logging.getLogger("taskmill")

DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20

_Phase = Literal["new", "open", "closing", "closed"]


class Scheduler:
    """A persistent, priority-aware task scheduler on one database file.

    ::

        async with Scheduler("tasks.db", domains=[media], max_concurrency=8) as scheduler:
            await scheduler.domain(media).submit(Thumbnail("/photos/a.jpg", 256))
            await scheduler.wait_idle()

    Args:
        database: Path of the SQLite file (created if missing), ``":memory:"`` for a queue
            that lives only in this process, or a :class:`~taskmill.store.Store`.
        domains: The domains whose tasks this scheduler runs.
        max_concurrency: Attempts that may run at the same time.
        durability: ``"normal"`` (survives process crashes) or ``"full"`` (also power loss).
        clock: Source of time; :class:`taskmill.testing.FakeClock` in tests.
        max_payload_bytes: Largest encoded payload accepted by ``submit``.
        retention: How much history to keep.
        sync_workers: Threads for plain-function executors (default ``max_concurrency``).
        shutdown_timeout: Seconds running tasks may take to finish when the scheduler
            stops; afterwards they are cancelled and run again at the next start.
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
    ) -> None:
        _check_positive_int(max_concurrency, "max_concurrency")
        _check_positive_int(max_payload_bytes, "max_payload_bytes")
        if sync_workers is not None:
            _check_positive_int(sync_workers, "sync_workers")
        if not (isinstance(shutdown_timeout, int | float) and shutdown_timeout >= 0):
            raise ConfigurationError(
                f"shutdown_timeout must be a number of seconds >= 0, got {shutdown_timeout!r}"
            )
        if durability not in DURABILITIES:
            raise ConfigurationError(
                f"durability must be one of {DURABILITIES}, got {durability!r}"
            )
        if not isinstance(retention, Retention):
            raise ConfigurationError(f"retention must be a taskmill.Retention, got {retention!r}")
        self._registry = Registry(domains)
        self._store = _make_store(database, durability, retention)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._max_concurrency = max_concurrency
        self._max_payload_bytes = max_payload_bytes
        self._sync_workers = sync_workers or max_concurrency
        self._shutdown_timeout = float(shutdown_timeout)
        self._bus = EventBus()
        self._phase: _Phase = "new"
        self._state: RunState | None = None
        self._dispatcher: Dispatcher | None = None
        self._runner: Runner | None = None
        self._completer: Completer | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._handles: dict[str, DomainHandle] = {}

    def __repr__(self) -> str:
        return f"<Scheduler {self._store!r} {self._phase}>"

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Scheduler:
        if self._phase == "new":
            await self.open()
        self._require_open()
        if self._dispatch_task is None:
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
        :meth:`run` is called or it is entered with ``async with``.

        Raises:
            StoreError: the database cannot be used (see the message for the fix).
        """
        if self._phase != "new":
            raise SchedulerStateError(f"open() called on a scheduler that is {self._phase}")
        await self._store.open()
        try:
            report = await self._store.recover(self._clock.now())
        except BaseException:
            await self._store.close()
            raise
        if report.requeued:
            logger.info("taskmill recovered %d interrupted tasks", report.requeued)
        state = RunState(self._clock.now)
        state.next_due = report.next_due
        self._threads = ThreadPoolExecutor(self._sync_workers, thread_name_prefix="taskmill-sync")
        self._completer = Completer(store=self._store, state=state, bus=self._bus)
        self._runner = Runner(
            registry=self._registry,
            state=state,
            completer=self._completer,
            bus=self._bus,
            clock=self._clock,
            threads=self._threads,
        )
        self._dispatcher = Dispatcher(
            store=self._store,
            state=state,
            runner=self._runner,
            clock=self._clock,
            registry=self._registry,
            max_concurrency=self._max_concurrency,
        )
        self._state = state
        self._phase = "open"

    async def run(self) -> None:
        """Dispatch tasks in the foreground until :meth:`stop`, then close.

        Opens the scheduler first if it is not open yet.
        """
        if self._phase == "new":
            await self.open()
        self._require_open()
        if self._dispatch_task is not None:
            raise SchedulerStateError("the scheduler is already running")
        task = self._start_dispatching()
        try:
            await asyncio.shield(task)
        finally:
            await self.close()

    def stop(self) -> None:
        """Ask the dispatch loop to stop; :meth:`run` then closes the scheduler and returns."""
        if self._dispatcher is not None:
            self._dispatcher.stop()

    async def close(self) -> None:
        """Stop dispatching, let running tasks finish within ``shutdown_timeout``, and close.

        Tasks still running after the timeout are cancelled and stored as pending, to run
        again at the next start (a retry is not charged). Pending writes are committed and
        the WAL is checkpointed. Idempotent.
        """
        if self._phase == "new":
            self._phase = "closed"
        if self._phase == "closed":
            return
        if self._phase == "closing":
            await self._closed.wait()
            return
        self._phase = "closing"
        try:
            await self._shutdown()
        finally:
            self._phase = "closed"
            self._bus.close()
            if self._threads is not None:
                self._threads.shutdown(wait=False, cancel_futures=True)
            try:
                await self._store.close()
            finally:
                self._closed.set()

    def _start_dispatching(self) -> asyncio.Task[None]:
        assert self._dispatcher is not None
        assert self._state is not None
        dispatcher, state = self._dispatcher, self._state

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

    async def _shutdown(self) -> None:
        assert self._dispatcher is not None
        assert self._state is not None
        assert self._runner is not None
        assert self._completer is not None
        self._dispatcher.stop()
        if self._dispatch_task is not None:
            await asyncio.gather(self._dispatch_task, return_exceptions=True)
        running = [r.task for r in self._state.running.values() if r.task is not None]
        if running:
            _, still_running = await asyncio.wait(running, timeout=self._shutdown_timeout)
            if still_running:
                logger.warning("taskmill cancelled %d tasks at shutdown", len(still_running))
                self._runner.cancel_all("shutdown")
                await asyncio.wait(still_running)
        await self._completer.drain()

    # --- submitting ----------------------------------------------------------------------

    def domain(self, domain: Domain | str) -> DomainHandle:
        """Return the handle that submits tasks of ``domain``.

        Raises:
            UnknownTaskTypeError: the domain was not passed to this scheduler.
        """
        found = self._registry.domain(domain)
        handle = self._handles.get(found.name)
        if handle is None:
            handle = self._handles[found.name] = DomainHandle(
                found, self._registry, self._submit, self._max_payload_bytes
            )
        return handle

    async def _submit(self, tasks: Sequence[NewTask]) -> list[SubmitOutcome]:
        state = self._require_open()
        outcomes = await self._store.submit(tasks, self._clock.now())
        if any(type(o) is not Duplicate for o in outcomes):
            state.mark_ready()
        return outcomes

    async def retry_dead_letter(self, task_id: int) -> SubmitOutcome:
        """Submit the dead-lettered task ``task_id`` again, under a new id, retries reset.

        Returns :class:`~taskmill.Inserted` with the new id; or, when an active task already
        holds the same key, :class:`~taskmill.Duplicate` (or :class:`~taskmill.Upgraded` if
        the dead letter had the higher priority).

        Raises:
            TaskNotFoundError: no task or history record has this id.
            NotDeadLetteredError: the task is not dead-lettered, or was already retried.
        """
        state = self._require_open()
        outcome = await self._store.retry_dead_letter(task_id, self._clock.now())
        if isinstance(outcome, Inserted | Upgraded):
            state.mark_ready()
        return outcome

    # --- waiting and watching ------------------------------------------------------------

    async def wait_idle(self, *, include_delayed: bool = True) -> None:
        """Return when no task is pending or running and every result is committed.

        Args:
            include_delayed: Also wait for tasks held back by a retry backoff. With
                ``False``, return as soon as nothing can run before the clock moves on
                (what tests with a :class:`~taskmill.testing.FakeClock` want).

        Raises:
            SchedulerStateError: the scheduler is not dispatching (not entered with
                ``async with`` nor running :meth:`run`), or its dispatch loop died.
        """
        state = self._require_open()
        if self._dispatch_task is None:
            await asyncio.sleep(0)  # let a run() task created just before this call start
        if self._dispatch_task is None:
            raise SchedulerStateError(
                "wait_idle() on a scheduler that is open but not dispatching would wait "
                "forever; enter it with 'async with scheduler:' or start scheduler.run()"
            )
        await state.wait_idle(include_delayed=include_delayed)

    def events(self, *, maxsize: int = DEFAULT_BUFFER) -> Subscription:
        """Subscribe to events from now on; iterate the result with ``async for``.

        A subscriber that falls more than ``maxsize`` events behind loses the oldest and
        can read how many in :attr:`Subscription.missed`.
        """
        return self._bus.subscribe(maxsize=maxsize)

    @property
    def max_concurrency(self) -> int:
        """How many attempts may run at once."""
        return self._max_concurrency

    @property
    def running_count(self) -> int:
        """How many attempts run right now."""
        return 0 if self._state is None else len(self._state.running)

    async def next_due(self) -> float | None:
        """When the earliest delayed task becomes ready (clock seconds), or ``None``."""
        return self._require_open().next_due

    # --- queries -------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> TaskRecord | None:
        """Return the active task ``task_id``, or ``None`` if it is not in the queue."""
        self._require_open()
        return await self._store.get_task(task_id)

    async def get_history(self, task_id: int) -> list[HistoryRecord]:
        """Return the history records of task ``task_id``, oldest first."""
        self._require_open()
        return await self._store.get_history(task_id)

    async def list_tasks(
        self, *, status: TaskStatus | str | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Return active tasks in dispatch order, optionally only those of ``status``."""
        self._require_open()
        return await self._store.list_tasks(status=_status(status), limit=_limit(limit))

    async def list_history(
        self,
        *,
        status: TaskStatus | str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[HistoryRecord]:
        """Return history records newest first; pass the last ``seq`` as ``before`` to page."""
        self._require_open()
        return await self._store.list_history(
            status=_status(status), limit=_limit(limit), before=before
        )

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Return the number of active tasks in each status."""
        self._require_open()
        return await self._store.count_by_status()

    async def prune_history(self) -> int:
        """Apply the retention policy now; return how many history records were removed."""
        self._require_open()
        return await self._store.prune_history(self._clock.now())

    # --- internals -----------------------------------------------------------------------

    def _require_open(self) -> RunState:
        if self._phase != "open" or self._state is None:
            raise SchedulerStateError(
                f"the scheduler is {self._phase}; use 'async with Scheduler(...)' or "
                f"await scheduler.open() first"
            )
        return self._state


def _make_store(database: Any, durability: Durability, retention: Retention) -> Store:
    if isinstance(database, str | os.PathLike):
        if os.fspath(database) == ":memory:":
            return MemoryStore(retention=retention)
        return SqliteStore(database, durability=durability, retention=retention)
    if all(hasattr(database, name) for name in ("open", "claim", "settle", "submit")):
        return database  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"database must be a path, ':memory:' or a taskmill Store, got {database!r}"
    )


def _status(status: TaskStatus | str | None) -> TaskStatus | None:
    if status is None or isinstance(status, TaskStatus):
        return status
    try:
        return TaskStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in TaskStatus)
        raise ConfigurationError(f"unknown status {status!r}; use one of: {valid}") from None


def _limit(limit: int) -> int:
    _check_positive_int(limit, "limit")
    return limit


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
