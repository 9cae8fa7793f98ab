"""The one source of time for the scheduler.

Every rule that depends on time (retry backoff, delays, TTLs, schedules, rate limits) reads
:meth:`Clock.now` and arms timers with :meth:`Clock.call_at`, so a test can substitute
:class:`taskmill.testing.FakeClock` and move time by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class TimerHandle(Protocol):
    """A callback armed with :meth:`Clock.call_at`."""

    def cancel(self) -> None:
        """Disarm the timer; the callback will not run."""


@runtime_checkable
class Clock(Protocol):
    """Supplies the current time and runs callbacks at given instants."""

    def now(self) -> float:
        """Return the current time in seconds since the Unix epoch."""

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` on the event loop once ``now() >= when``."""


class SystemClock:
    """The wall clock, with timers on the running asyncio loop."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Schedule ``callback`` on the running loop after ``when - now()`` seconds."""
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - time.time()), callback)

    def __repr__(self) -> str:
        return "SystemClock()"
