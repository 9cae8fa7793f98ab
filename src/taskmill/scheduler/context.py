"""What an executor receives besides its payload: :class:`TaskContext`."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from taskmill.admission.io_limit import DEFAULT_CHUNK
from taskmill.model.errors import ConfigurationError
from taskmill.model.io import IoBudget, check_bytes
from taskmill.model.outcomes import SubmitOutcome
from taskmill.model.tags import decode_tags
from taskmill.scheduler.task_io import TaskIo

if TYPE_CHECKING:
    from taskmill.scheduler.pacing import Pacer


_token_lock = threading.Lock()


class CancelToken:
    """A cooperative cancellation signal, safe to read from executor threads.

    Async executors are also cancelled the asyncio way; sync executors (which run in a
    thread and cannot be interrupted) should check :attr:`cancelled` between steps, or wait
    on :meth:`wait` instead of sleeping.
    """

    __slots__ = ("_cancelled", "_event", "_reason")

    def __init__(self) -> None:
        self._cancelled = False
        self._reason: str | None = None
        self._event: threading.Event | None = None  # made on first wait(): most never wait

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._cancelled

    @property
    def reason(self) -> str | None:
        """Why cancellation was requested (e.g. ``"shutdown"``), once it was."""
        return self._reason

    def cancel(self, reason: str) -> None:
        """Request cancellation; later calls keep the first reason."""
        if self._cancelled:
            return
        self._reason = reason
        self._cancelled = True
        with _token_lock:
            if self._event is not None:
                self._event.set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`asyncio.CancelledError` if cancellation was requested."""
        if self._cancelled:
            raise asyncio.CancelledError(self._reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Block a sync executor's thread until cancelled or ``timeout``; return ``cancelled``."""
        with _token_lock:
            if self._event is None:
                self._event = threading.Event()
                if self._cancelled:
                    self._event.set()
            event = self._event
        return event.wait(timeout)


class ProgressWatcher(Protocol):
    """Who passes a running task's reports on as events: the scheduler's progress ticker."""

    @property
    def ticking(self) -> bool:
        """Whether a tick is due (it will take every pending report)."""

    def wake(self) -> None:
        """A report arrived while no tick was due: schedule one (callable from any thread)."""


class ProgressReporter:
    """Where an executor reports its progress: ``ctx.progress.report(0.5, "halfway")``.

    Reports update :attr:`fraction` and :attr:`message` at once; subscribers get
    :class:`~taskmill.Progress` events, at most one per ``progress_interval`` per task, and
    always the last value. Byte counts (:meth:`set_bytes_total`, :meth:`add_bytes`) also give
    a smoothed rate and an estimated time to finish.
    """

    __slots__ = (
        "_clock",
        "_last_at",
        "_pending",
        "bytes_done",
        "bytes_total",
        "fraction",
        "message",
        "rate",
        "reported_at",
        "watcher",
    )

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.fraction: float | None = None
        """The latest fraction reported, 0.0 .. 1.0 (``None``: nothing reported yet)."""
        self.message: str | None = None
        """The latest message."""
        self.bytes_done = 0
        """Bytes done so far, from :meth:`add_bytes`."""
        self.bytes_total: int | None = None
        """The bytes to do in all, from :meth:`set_bytes_total`."""
        self.rate: float | None = None
        """Smoothed bytes per second (EWMA 0.3 over :meth:`add_bytes` calls)."""
        self.reported_at: float | None = None
        """When :attr:`fraction` was last reported (on the clock given, if any). With a
        scheduler attached, to within its ``progress_interval``."""
        self.watcher: ProgressWatcher | None = None
        """The scheduler that passes reports on as events, while the attempt runs."""
        self._clock = clock or time.monotonic
        self._last_at: float | None = None
        self._pending = False

    def report(self, fraction: float, message: str | None = None) -> None:
        """Report that ``fraction`` (0.0 .. 1.0) of the work is done.

        Cheap enough to call in a tight loop: between two progress events a report only
        stores its values.
        """
        if fraction.__class__ is not float or not 0.0 <= fraction <= 1.0:
            fraction = _fraction(fraction)
        self.fraction = fraction
        if message is not None:
            self.message = message
        if not self._pending:
            self._notify()

    def _notify(self) -> None:
        # The first report since the scheduler last took the values (or every report, with
        # no scheduler watching): stamp it; later ones only store their values.
        self.reported_at = self._clock()
        watcher = self.watcher
        if watcher is not None:
            self._pending = True  # until the scheduler has taken the values
            if not watcher.ticking:
                watcher.wake()

    @property
    def pending(self) -> bool:
        """Whether a report arrived that the watching scheduler has not taken yet."""
        return self._pending

    def taken(self, at: float) -> None:
        """The scheduler passed the values on at ``at``: stamp the next report again."""
        self.reported_at = at
        self._pending = False

    def report_fraction(
        self, done: int | float, total: int | float, message: str | None = None
    ) -> None:
        """Report ``done`` of ``total`` units (items, files, bytes) done."""
        if not (isinstance(total, int | float) and math.isfinite(total) and total > 0):
            raise ConfigurationError(f"progress total must be a positive number, got {total!r}")
        self.report(min(1.0, max(0.0, done / total)), message)

    def set_bytes_total(self, total: int) -> None:
        """Say how many bytes the task will move; :meth:`add_bytes` then reports fractions."""
        if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
            raise ConfigurationError(f"bytes total must be an int > 0, got {total!r}")
        self.bytes_total = total

    def add_bytes(self, n: int, message: str | None = None) -> None:
        """Count ``n`` more bytes done; updates the fraction (with a total), rate and ETA."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigurationError(f"bytes done must be an int >= 0, got {n!r}")
        now = self._clock()
        if self._last_at is not None and now > self._last_at:
            sample = n / (now - self._last_at)
            self.rate = sample if self.rate is None else 0.3 * sample + 0.7 * self.rate
        self._last_at = now
        self.bytes_done += n
        total = self.bytes_total
        fraction = self.fraction if total is None else min(1.0, self.bytes_done / total)
        if fraction is None:
            if message is not None:
                self.message = message
            if not self._pending:
                self._notify()
            return
        self.report(fraction, message)

    @property
    def eta(self) -> float | None:
        """Seconds until :attr:`bytes_total` is reached at the current rate, if known."""
        if self.bytes_total is None or not self.rate:
            return None
        return max(0.0, (self.bytes_total - self.bytes_done) / self.rate)


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"progress fraction must be in 0.0..1.0, got {value!r}")
    return float(value)


class Spawner(Protocol):
    """Stores the children a running task spawns."""

    async def spawn(
        self, ctx: TaskContext, payload: Any, *, sibling: bool, options: dict[str, Any]
    ) -> SubmitOutcome:
        """Store one child of ``ctx`` (with ``sibling``, of its parent)."""

    async def spawn_many(
        self, ctx: TaskContext, items: list[Any], *, task: Any, domain: Any
    ) -> list[SubmitOutcome]:
        """Store many children of ``ctx`` in one transaction."""


class TaskContext:
    """The running attempt of a task, as its executor sees it.

    Attributes:
        id: The task id.
        type: Qualified task type, ``"domain::name"``.
        key: The task's dedup key.
        label: The task's label.
        priority: The task's priority.
        attempt: 1 on the first attempt, 2 on the first retry, ...
        cancel_token: Set when the scheduler wants the task to stop.
        progress: Report progress here: ``ctx.progress.report(0.5, "halfway")`` (a
            :class:`ProgressReporter`).
        io: Files that record their bytes, flush in chunks and slow down while the disk is
            congested: ``with ctx.io.open(path, "wb") as f: ...`` (a
            :class:`~taskmill.scheduler.task_io.TaskIo`).
        tags: The task's tags (a read-only mapping).
        parent_id: The task that spawned this one, if any.
        memo: Anything JSON-serializable the executor wants its finalize step to have; in
            the finalize step, what the executor saved.
        finalizing: Whether this run is the task's finalize step.
    """

    __slots__ = (
        "_disk_read",
        "_disk_write",
        "_io",
        "_net_rx",
        "_net_tx",
        "_pacer",
        "_spawner",
        "_tags",
        "_tags_json",
        "attempt",
        "cancel_token",
        "expires_at",
        "finalizing",
        "id",
        "key",
        "label",
        "memo",
        "parent_id",
        "priority",
        "progress",
        "type",
    )

    def __init__(
        self,
        *,
        id: int,
        type: str,
        key: str,
        label: str,
        priority: int,
        attempt: int,
        tags_json: bytes | str | None = None,
        parent_id: int | None = None,
        expires_at: float | None = None,
        memo: Any = None,
        finalizing: bool = False,
        spawner: Spawner | None = None,
        clock: Callable[[], float] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.id = id
        self.type = type
        self.key = key
        self.label = label
        self.priority = priority
        self.attempt = attempt
        self.cancel_token = CancelToken()
        self.progress = ProgressReporter(clock)
        self._disk_read = self._disk_write = self._net_rx = self._net_tx = 0
        self._tags_json = tags_json
        self._tags: Mapping[str, str] | None = None
        self.parent_id = parent_id
        self.expires_at = expires_at
        self.memo = memo
        self.finalizing = finalizing
        self._spawner = spawner
        self._pacer = pacer
        self._io: TaskIo | None = None

    async def spawn(self, payload: Any, **options: Any) -> SubmitOutcome:
        """Submit a child of this task; return its outcome once it is stored.

        Takes the options of :meth:`DomainHandle.submit` (``task``, ``priority``, ``key``,
        ``tags``, ``depends_on``, ...) and ``domain`` (default: this task's). The child
        inherits what is left of this task's time to live. When the executor returns while
        children are active, the task waits for them; then its type's ``finalize`` step runs.

        Raises:
            SubmitError, ConfigurationError: as ``submit`` does.
        """
        return await self._spawn(payload, sibling=False, options=options)

    async def spawn_many(
        self, items: Iterable[Any], *, task: Any = None, domain: Any = None
    ) -> list[SubmitOutcome]:
        """Submit many children in one transaction: payloads or ``Submission`` objects.

        Like :meth:`DomainHandle.submit_many`; the way to fan out thousands of children.
        """
        return await self._require_spawner().spawn_many(self, list(items), task=task, domain=domain)

    async def spawn_sibling(self, payload: Any, **options: Any) -> SubmitOutcome:
        """Submit a child of this task's parent (a sibling); see :meth:`spawn`.

        Raises:
            ConfigurationError: this task has no parent.
        """
        if self.parent_id is None:
            raise ConfigurationError(
                f"task {self.id} has no parent, so it cannot spawn siblings; use spawn()"
            )
        return await self._spawn(payload, sibling=True, options=options)

    async def _spawn(
        self, payload: Any, *, sibling: bool, options: dict[str, Any]
    ) -> SubmitOutcome:
        return await self._require_spawner().spawn(self, payload, sibling=sibling, options=options)

    def _require_spawner(self) -> Spawner:
        if self._spawner is None:
            raise ConfigurationError("this context cannot spawn tasks (it is not a running task)")
        return self._spawner

    @property
    def tags(self) -> Mapping[str, str]:
        """The task's tags (decoded on first use)."""
        if self._tags is None:
            self._tags = MappingProxyType(decode_tags(self._tags_json))
        return self._tags

    def __repr__(self) -> str:
        return f"TaskContext(id={self.id}, type={self.type!r}, attempt={self.attempt})"

    @property
    def io(self) -> TaskIo:
        """Files that record their bytes, flush in bounded chunks and pace themselves."""
        if self._io is None:
            pacer = self._pacer
            self._io = TaskIo(self, pacer, DEFAULT_CHUNK if pacer is None else pacer.chunk)
        return self._io

    @property
    def cancelled(self) -> bool:
        """Whether the scheduler asked this attempt to stop."""
        return self.cancel_token.cancelled

    def record_read_bytes(self, n: int) -> None:
        """Add ``n`` bytes read from disk to this attempt's IO record."""
        self._disk_read += check_bytes(n, "read bytes")

    def record_write_bytes(self, n: int) -> None:
        """Add ``n`` bytes written to disk to this attempt's IO record."""
        self._disk_write += check_bytes(n, "written bytes")

    def record_net_rx_bytes(self, n: int) -> None:
        """Add ``n`` bytes received from the network to this attempt's IO record."""
        self._net_rx += check_bytes(n, "received bytes")

    def record_net_tx_bytes(self, n: int) -> None:
        """Add ``n`` bytes sent to the network to this attempt's IO record."""
        self._net_tx += check_bytes(n, "sent bytes")

    @property
    def actual_io(self) -> IoBudget:
        """The IO recorded so far in this attempt."""
        return IoBudget.of(self._disk_read, self._disk_write, self._net_rx, self._net_tx)
