"""The congestion monitor: reads the disk on a thread of its own, only while asked to.

The scheduler asks it to watch while tasks with disk IO run or wait; then it reads every
congestion source every ``interval`` seconds and hands each
:class:`~taskmill.resources.congestion.Congestion` to a listener. Otherwise its thread sleeps
on an event and costs nothing: an idle scheduler never reads the disk.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from taskmill.model.errors import ConfigurationError
from taskmill.resources.congestion import Congestion, CongestionSource

logger = logging.getLogger("taskmill")
T = TypeVar("T")

DEFAULT_INTERVAL = 0.1
"""Seconds between two readings while IO-bearing tasks run or wait."""


@runtime_checkable
class CongestionMonitor(Protocol):
    """Reads the congestion of the disk while asked to watch, and reports each reading."""

    def listen(self, listener: Callable[[Congestion], None]) -> None:
        """Begin (idle until :meth:`watch`); ``listener`` gets every reading."""

    def watch(self, active: bool) -> None:
        """Read every period while ``active``; not at all otherwise (callable from any thread)."""

    def close(self) -> None:
        """Stop reading (idempotent)."""


class DiskMonitor:
    """Reads congestion sources on a thread of its own, only while asked to watch.

    Args:
        sources: What to read (see :func:`system_sources`).
        interval: Seconds between two readings while watching.
    """

    def __init__(
        self,
        sources: Sequence[CongestionSource],
        *,
        interval: float = DEFAULT_INTERVAL,
        name: str = "taskmill-congestion",
    ) -> None:
        if not (isinstance(interval, int | float) and 0 < interval < math.inf):
            raise ConfigurationError(f"monitor interval must be > 0 seconds, got {interval!r}")
        self.sources = list(sources)
        self.interval = float(interval)
        self.readings = 0
        """How many readings were taken (each one is a wake-up of the thread)."""
        self.latest: Congestion | None = None
        """The latest reading, if any."""
        self._name = name
        self._active = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Callable[[Congestion], None] = lambda _: None
        self._broken: set[int] = set()

    def __repr__(self) -> str:
        return f"DiskMonitor({self.sources!r}, interval={self.interval})"

    def listen(self, listener: Callable[[Congestion], None]) -> None:
        """Start the thread (idle until :meth:`watch`); ``listener`` gets every reading."""
        self._listener = listener
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread."""
        self._stopping.set()
        self._active.set()  # let an idle thread see the stop
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        self._active.clear()
        for index, source in enumerate(self.sources):
            close = getattr(source, "close", None)
            if close is not None:
                self._guard(index, source, close)

    def watch(self, active: bool) -> None:
        """Read every ``interval`` while ``active``; sleep without waking otherwise."""
        if active != self._active.is_set():
            if active:
                self._active.set()
            else:
                self._active.clear()

    def _run(self) -> None:
        stopping, active = self._stopping, self._active
        while not stopping.is_set():
            active.wait()
            for index, source in enumerate(self.sources):
                self._guard(index, source, source.reset)
            while active.is_set() and not stopping.wait(self.interval):
                readings = []
                for index, source in enumerate(self.sources):
                    reading = self._guard(index, source, source.read)
                    if reading is not None:
                        readings.append(reading)
                self.readings += 1
                congestion = Congestion.of(readings)
                self.latest = congestion
                try:
                    self._listener(congestion)
                except Exception:  # the listener's loop may be closing
                    logger.debug("congestion listener failed", exc_info=True)

    def _guard(self, index: int, source: CongestionSource, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except Exception:  # a source that breaks says nothing, and is logged once
            if index not in self._broken:
                self._broken.add(index)
                logger.warning("congestion source %r failed", source, exc_info=True)
            return None
