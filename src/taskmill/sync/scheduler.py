"""The synchronous scheduler: the asyncio one on a loop thread, reached by blocking calls."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal

import taskmill
from taskmill import (
    AdmissionControl,
    ConfigurationError,
    Domain,
    Event,
    SchedulerConfig,
    SchedulerStateError,
    TaskType,
)
from taskmill.metrics import Metrics
from taskmill.sync.callbacks import CallbackSubscription, CallbackThread
from taskmill.sync.portal import Blocking, LoopThread, blocking, takes_arguments_of

_AsyncScheduler = taskmill.Scheduler
_AsyncHandle = taskmill.DomainHandle
_DEFAULT_BUFFER = 10_000


class DomainHandle(Blocking):
    """Submits tasks of one domain, blocking until they are committed.

    The synchronous twin of :class:`taskmill.DomainHandle`; get it from
    :meth:`Scheduler.domain`.
    """

    def __init__(self, handle: taskmill.DomainHandle, portal: LoopThread) -> None:
        self._target = handle
        self._portal = portal

    def __repr__(self) -> str:
        return f"<taskmill.sync.DomainHandle {self._target.domain.name!r}>"

    submit = blocking(_AsyncHandle.submit)
    submit_many = blocking(_AsyncHandle.submit_many)


class Scheduler(Blocking):
    """A taskmill scheduler for synchronous code: Qt or Tk apps, scripts, WSGI servers.

    It takes the arguments of :class:`taskmill.Scheduler` and runs that scheduler on an
    event loop of its own, on a thread of its own. Every call blocks until the asyncio call
    it stands for is done, and returns its result or raises its error::

        with taskmill.sync.Scheduler("tasks.db", domains=[media]) as scheduler:
            scheduler.domain(media).submit(Thumbnail("/photos/a.jpg", 256))
            scheduler.wait_idle(timeout=60)

    Calls may come from any thread, several at once. Event callbacks (:meth:`subscribe`)
    run in order on one thread of their own, never on the caller's. Executors still run on
    the scheduler's loop (``async def``) or in its thread pool (plain functions); from an
    ``async def`` executor, use the asyncio scheduler :attr:`aio`: a blocking call from the
    loop thread raises :class:`~taskmill.WrongThreadError`.

    A scheduler that is never closed is closed when the interpreter exits (immediately:
    its running tasks run again at the next start).
    """

    @takes_arguments_of(_AsyncScheduler)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.aio = _AsyncScheduler(*args, **kwargs)
        """The asyncio scheduler behind this one (use it on :attr:`loop` only)."""
        self._target = self.aio
        self._portal = LoopThread("taskmill-loop")
        self._callbacks: CallbackThread | None = None
        self._subscriptions: weakref.WeakSet[taskmill.Subscription] = weakref.WeakSet()
        self._phase: Literal["new", "started", "closed"] = "new"
        self._lifecycle = threading.Lock()

    def __repr__(self) -> str:
        return f"<taskmill.sync.Scheduler {self._phase} {self.aio!r}>"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Scheduler:
        """Open the database, recover, and start dispatching on the loop thread.

        Returns the scheduler itself. ``with Scheduler(...)`` calls it.

        Raises:
            StoreError: the database cannot be used (the loop thread is ended again).
            SchedulerStateError: the scheduler was started before.
        """
        with self._lifecycle:
            if self._phase != "new":
                raise SchedulerStateError(
                    f"start() on a scheduler that is already {self._phase}; create a new one"
                )
            self._portal.start()
            try:
                self._portal.call(self.aio.__aenter__)
            except BaseException:
                self._portal.stop()
                self._phase = "closed"
                raise
            self._callbacks = CallbackThread("taskmill-callbacks")
            self._phase = "started"
        atexit.register(self._close_at_exit)
        return self

    def close(self, *, immediate: bool = False) -> None:
        """Stop dispatching, settle running tasks, close the database, end the threads.

        Like :meth:`taskmill.Scheduler.close`: running tasks may finish within
        ``shutdown_timeout`` (or are stopped at once with ``immediate=True``) and are
        stored to run again at the next start. Event callbacks queued before the close are
        still called. Idempotent; callable from any thread but the loop's.
        """
        with self._lifecycle:
            if self._phase != "started":
                self._phase = "closed"
                return
            try:
                self._portal.call(lambda: self._close_async(immediate))
            finally:
                self._phase = "closed"
                self._portal.stop()
                if self._callbacks is not None:
                    self._callbacks.close()
        atexit.unregister(self._close_at_exit)

    async def _close_async(self, immediate: bool) -> None:
        await self.aio.close(immediate=immediate)
        # every event published before the close reaches the callback thread's queue
        for subscription in list(self._subscriptions):
            await subscription.wait_closed()

    def _close_at_exit(self) -> None:
        self.close(immediate=True)

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the scheduler is started and not closed (its calls may be made)."""
        return self._phase == "started"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the asyncio scheduler runs on (``None`` before :meth:`start`)."""
        return self._portal.loop

    # --- submitting ----------------------------------------------------------------------

    def domain(self, domain: Domain | str) -> DomainHandle:
        """Return the handle that submits tasks of ``domain``.

        Raises:
            UnknownTaskTypeError: the domain was not passed to this scheduler.
        """
        return DomainHandle(self.aio.domain(domain), self._portal)

    retry_dead_letter = blocking(_AsyncScheduler.retry_dead_letter)

    # --- pause, resume, cancel -----------------------------------------------------------

    pause = blocking(_AsyncScheduler.pause)
    resume = blocking(_AsyncScheduler.resume)
    pause_group = blocking(_AsyncScheduler.pause_group)
    resume_group = blocking(_AsyncScheduler.resume_group)
    pause_state = blocking(_AsyncScheduler.pause_state)
    cancel = blocking(_AsyncScheduler.cancel)
    cancel_domain = blocking(_AsyncScheduler.cancel_domain)
    cancel_tagged = blocking(_AsyncScheduler.cancel_tagged)
    cancel_type = blocking(_AsyncScheduler.cancel_type)
    cancel_where = blocking(_AsyncScheduler.cancel_where)

    # --- recurring schedules -------------------------------------------------------------

    pause_schedule = blocking(_AsyncScheduler.pause_schedule)
    resume_schedule = blocking(_AsyncScheduler.resume_schedule)
    cancel_schedule = blocking(_AsyncScheduler.cancel_schedule)
    get_schedule = blocking(_AsyncScheduler.get_schedule)
    list_schedules = blocking(_AsyncScheduler.list_schedules)

    # --- queries -------------------------------------------------------------------------

    get_task = blocking(_AsyncScheduler.get_task)
    get_history = blocking(_AsyncScheduler.get_history)
    list_tasks = blocking(_AsyncScheduler.list_tasks)
    list_history = blocking(_AsyncScheduler.list_history)
    lookup = blocking(_AsyncScheduler.lookup)
    type_stats = blocking(_AsyncScheduler.type_stats)
    throughput = blocking(_AsyncScheduler.throughput)
    snapshot = blocking(_AsyncScheduler.snapshot)
    count_by_tag = blocking(_AsyncScheduler.count_by_tag)
    tag_values = blocking(_AsyncScheduler.tag_values)
    count_by_status = blocking(_AsyncScheduler.count_by_status)
    prune_history = blocking(_AsyncScheduler.prune_history)
    next_due = blocking(_AsyncScheduler.next_due)

    # --- waiting and watching ------------------------------------------------------------

    def wait_idle(self, *, include_delayed: bool = True, timeout: float | None = None) -> None:
        """Block until no task is pending or running and every result is committed.

        Args:
            include_delayed: Also wait for delayed tasks (see
                :meth:`taskmill.Scheduler.wait_idle`).
            timeout: Seconds to wait at most (``None``: no limit).

        Raises:
            TimeoutError: ``timeout`` passed first (the scheduler goes on working).
        """
        self._portal.call(lambda: self.aio.wait_idle(include_delayed=include_delayed), timeout)

    def subscribe(
        self,
        callback: Callable[[Event], object],
        *,
        domain: Domain | str | None = None,
        task_type: TaskType[Any] | str | None = None,
        kinds: Iterable[type[Event]] | None = None,
        maxsize: int = _DEFAULT_BUFFER,
    ) -> CallbackSubscription:
        """Call ``callback(event)`` with each event from now on, on the callback thread.

        Takes the filters of :meth:`taskmill.Scheduler.events`. Callbacks of every
        subscription run in the order the events happened, one at a time, on one thread
        that is neither the caller's nor the loop's; blocking calls to the scheduler work
        there. One that raises is logged. A callback that falls more than ``maxsize``
        events behind gets a :class:`~taskmill.Missed` event. Call ``close()`` on the result
        to stop.
        """
        if not callable(callback):
            raise ConfigurationError(f"subscribe() takes a function, got {callback!r}")
        callbacks = self._callbacks
        if callbacks is None or self._phase != "started":
            raise SchedulerStateError(
                "subscribe() needs a started scheduler: use 'with taskmill.sync.Scheduler(...)'"
            )
        loop = self._portal.loop
        assert loop is not None

        def close() -> None:
            inner = subscription.subscription
            if inner is not None:
                with contextlib.suppress(RuntimeError):  # a closed loop ended it already
                    loop.call_soon_threadsafe(inner.close)

        subscription = CallbackSubscription(callback, close)

        async def subscribe() -> taskmill.Subscription:
            return self.aio.subscribe(
                lambda event: callbacks.deliver(subscription, event),
                domain=domain,
                task_type=task_type,
                kinds=kinds,
                maxsize=maxsize,
            )

        subscription.subscription = inner = self._portal.call(subscribe)
        self._subscriptions.add(inner)
        return subscription

    # --- settings and state (safe from any thread) -----------------------------------------

    @property
    def admission(self) -> AdmissionControl:
        """Live admission settings; its setters may be called from any thread."""
        return self.aio.admission

    @property
    def metrics(self) -> Metrics:
        """Counters, gauges and histograms: ``scheduler.metrics.snapshot()``."""
        return self.aio.metrics

    @property
    def config(self) -> SchedulerConfig:
        """The validated options."""
        return self.aio.config

    @property
    def max_concurrency(self) -> int:
        """How many attempts may run at once (change it with :attr:`admission`)."""
        return self.aio.max_concurrency

    @property
    def running_count(self) -> int:
        """How many attempts run right now."""
        return self.aio.running_count
