"""The adaptive IO limit at run time: congestion readings in, a limit and a pace out.

The monitor reads the disk on its own thread, and only while IO-bearing tasks run or wait
(the controller tells it after every dispatch step); each reading comes to the event loop,
where the pure control law (:func:`taskmill.admission.io_limit.observe`) moves the limit.
Admission reads :attr:`IoController.limit` for the tasks it starts; the pacer applies the
limit and the congestion to the ``ctx.io`` chunks of the tasks already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskmill.admission.io_limit import IoControl, IoLimit, observe
from taskmill.model.jsonable import json_dict
from taskmill.resources.congestion import CommitLatency, Congestion, Reading, system_sources
from taskmill.resources.monitor import CongestionMonitor, DiskMonitor
from taskmill.resources.sampler import Sampler
from taskmill.scheduler.pacing import Pacer
from taskmill.store.protocol import Store
from taskmill.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class IoLimitState:
    """The adaptive IO limit as it stands (a frozen snapshot).

    Attributes:
        limit: Background tasks with disk IO that may run at once.
        cap: The most the limit may reach (the global concurrency cap).
        running: Background tasks with disk IO running now.
        congested: Whether the latest reading of the disk was congested.
        level: Its congestion level (1.0 and above: congested).
        source: The source that set the level (e.g. ``"device nvme0n1"``), if any.
        reason: The reading in words, e.g. ``"disk congested: device vda latency 12.3 ms
            (target 1.0 ms)"``.
        readings: Every source's latest reading.
        watching: Whether the disk is being read now (only while IO-bearing tasks run or
            wait).
        paced_waiting: ``ctx.io`` chunks of running tasks waiting for a grant now.
    """

    limit: int
    cap: int
    running: int
    congested: bool
    level: float
    source: str | None
    reason: str
    readings: tuple[Reading, ...] = field(default_factory=tuple)
    watching: bool = False
    paced_waiting: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-serializable builtins."""
        return json_dict(self)


class IoController:
    """Moves the IO limit with each congestion reading; off without a monitor.

    Args:
        settings: The control law and its exemption (``None``: no adaptive limit).
        monitor: Where readings come from (``None``: no adaptive limit).
        pacer: Where the limit and the congestion reach running ``ctx.io`` files.
        now: The scheduler's clock.
    """

    def __init__(
        self,
        settings: IoControl | None,
        monitor: CongestionMonitor | None,
        pacer: Pacer,
        now: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.monitor = monitor if settings is not None else None
        self.pacer = pacer
        self._now = now
        self._limit: IoLimit | None = None
        self.latest: Congestion | None = None
        """The latest reading of the disk."""
        self.running = 0
        """Background tasks with disk IO running, as of the latest dispatch step."""
        self.waiting = False
        """Whether ready tasks waited for the IO limit at the latest dispatch step."""
        self.watching = False
        """Whether the monitor reads the disk now."""
        self._cap = 1
        self._wake: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether an adaptive limit applies."""
        return self.monitor is not None

    @property
    def limit(self) -> int | None:
        """Background tasks with disk IO that may run at once (``None``: no limit)."""
        return None if self._limit is None else self._limit.limit

    def start(self, cap: int, wake: Callable[[], None]) -> None:
        """Begin at the starting limit and listen to the monitor (on the event loop)."""
        monitor, settings = self.monitor, self.settings
        if monitor is None or settings is None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = wake
        self._cap = cap
        self._limit = IoLimit.starting(cap, settings.aimd)
        self.pacer.update(self._limit.limit, congested=False)
        monitor.listen(self._reading)

    def stop(self) -> None:
        """Stop listening; running ``ctx.io`` files are no longer held back."""
        if self.monitor is not None:
            self.monitor.close()
        self.watching = False
        self._limit = None
        self.pacer.update(None, congested=False)

    def set_cap(self, cap: int) -> None:
        """The global cap changed: the limit never exceeds it."""
        self._cap = cap

    def note_load(self, running: int, io_running: bool, waiting: bool) -> None:
        """Take what the latest dispatch step saw, and watch the disk only while it matters.

        Args:
            running: Background tasks with disk IO running.
            io_running: Whether any task with disk IO runs (background or not).
            waiting: Whether ready tasks wait for the IO limit.
        """
        self.running = running
        self.waiting = waiting
        watch = self._limit is not None and (io_running or waiting)
        if watch != self.watching and self.monitor is not None:
            self.watching = watch
            self.monitor.watch(watch)

    def _reading(self, congestion: Congestion) -> None:
        """A reading from the monitor (any thread): apply it on the event loop."""
        if threading.get_ident() == self._loop_thread:
            self.observe(congestion)
        elif self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                self._loop.call_soon_threadsafe(self.observe, congestion)

    def observe(self, congestion: Congestion) -> None:
        """Move the limit by one reading (on the event loop)."""
        state, settings = self._limit, self.settings
        if state is None or settings is None:
            return
        self.latest = congestion
        in_use = self.waiting or self.running >= state.limit
        new = observe(
            state,
            now=self._now(),
            level=congestion.level,
            in_use=in_use,
            aimd=settings.aimd,
            cap=self._cap,
        )
        self._limit = new
        self.pacer.update(new.limit, new.congested)
        if new.limit > state.limit and self.waiting:
            self._wake()

    def state(self) -> IoLimitState | None:
        """The limit as it stands, for the snapshot (``None``: no adaptive limit)."""
        limit = self._limit
        if limit is None:
            return None
        latest = self.latest or Congestion()
        return IoLimitState(
            limit=limit.limit,
            cap=limit.cap,
            running=self.running,
            congested=latest.congested,
            level=latest.level,
            source=latest.source,
            reason=latest.describe() if self.latest is not None else "not read yet",
            readings=latest.readings,
            watching=self.watching,
            paced_waiting=self.pacer.waiting,
        )


def monitor_for(
    sampler: Sampler, store: Store, io_control: IoControl | None
) -> CongestionMonitor | None:
    """What reads the disk's congestion (``None``: nothing, the adaptive limit is off).

    The sampler itself if it can (a test double), else the system's sources for the disk
    that holds the database, and the store's commits.
    """
    if io_control is None:
        return None
    if isinstance(sampler, CongestionMonitor):
        return sampler
    path = None if getattr(store, "memory", False) else getattr(store, "path", None)
    sources = system_sources(path, floor_ms=io_control.latency_floor_ms)
    if isinstance(store, SqliteStore) and not store.memory:
        commits = CommitLatency()
        store.observe_commits(commits.observe)
        sources.append(commits)
    return DiskMonitor(sources, interval=io_control.interval)
