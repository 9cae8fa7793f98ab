"""What an executor receives besides its payload: :class:`TaskContext`."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from taskmill.model.errors import ConfigurationError
from taskmill.model.io import IoBudget, check_bytes
from taskmill.model.outcomes import SubmitOutcome
from taskmill.model.tags import decode_tags

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


class Progress:
    """The progress an executor reports, readable by the scheduler."""

    __slots__ = ("fraction", "message")

    def __init__(self) -> None:
        self.fraction: float | None = None
        self.message: str | None = None

    def report(self, fraction: float, message: str | None = None) -> None:
        """Report that ``fraction`` (0.0 .. 1.0) of the work is done."""
        if not isinstance(fraction, int | float) or not 0.0 <= fraction <= 1.0:
            raise ConfigurationError(f"progress fraction must be in 0.0..1.0, got {fraction!r}")
        self.fraction = float(fraction)
        if message is not None:
            self.message = message

    def report_fraction(
        self, done: int | float, total: int | float, message: str | None = None
    ) -> None:
        """Report ``done`` of ``total`` units (items, files, bytes) done."""
        if not (isinstance(total, int | float) and math.isfinite(total) and total > 0):
            raise ConfigurationError(f"progress total must be a positive number, got {total!r}")
        self.report(min(1.0, max(0.0, done / total)), message)


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
        progress: Report progress here: ``ctx.progress.report(0.5, "halfway")``.
        tags: The task's tags (a read-only mapping).
        parent_id: The task that spawned this one, if any.
        memo: Anything JSON-serializable the executor wants its finalize step to have; in
            the finalize step, what the executor saved.
        finalizing: Whether this run is the task's finalize step.
    """

    __slots__ = (
        "_disk_read",
        "_disk_write",
        "_net_rx",
        "_net_tx",
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
    ) -> None:
        self.id = id
        self.type = type
        self.key = key
        self.label = label
        self.priority = priority
        self.attempt = attempt
        self.cancel_token = CancelToken()
        self.progress = Progress()
        self._disk_read = self._disk_write = self._net_rx = self._net_tx = 0
        self._tags_json = tags_json
        self._tags: Mapping[str, str] | None = None
        self.parent_id = parent_id
        self.expires_at = expires_at
        self.memo = memo
        self.finalizing = finalizing
        self._spawner = spawner

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
