"""Aging: a task that has waited long enough is treated as more urgent, so none starves.

After ``grace`` seconds of waiting, a ready task gains one priority level (its number drops by
one) every ``interval`` seconds, up to ``ceiling``; a task already more urgent than the
ceiling keeps its priority. Waiting counts from when the task last became ready to run
(submitted, due, retried or put back) and stops while it is paused. The stored priority
never changes: the effective one is computed when dispatch reads the queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from taskmill.model.errors import ConfigurationError
from taskmill.model.priority import Priority, check_priority


@dataclass(frozen=True, slots=True)
class Aging:
    """Raise the effective priority of tasks that have waited past a grace period.

    Args:
        grace: Seconds a task waits before it starts to age.
        interval: Seconds per priority level gained after the grace period.
        ceiling: The most urgent priority aging can reach (default ``Priority.HIGH``).

    ``Aging(grace=300, interval=60)`` takes a BACKGROUND task (192) to NORMAL (128) after
    5 + 64 minutes of waiting.
    """

    grace: float = 300.0
    interval: float = 60.0
    ceiling: int = int(Priority.HIGH)

    def __post_init__(self) -> None:
        if not (
            isinstance(self.grace, int | float) and self.grace >= 0 and math.isfinite(self.grace)
        ):
            raise ConfigurationError(
                f"aging grace must be a number of seconds >= 0, got {self.grace!r}"
            )
        if not (
            isinstance(self.interval, int | float)
            and self.interval > 0
            and math.isfinite(self.interval)
        ):
            raise ConfigurationError(
                f"aging interval must be a number of seconds > 0, got {self.interval!r}"
            )
        object.__setattr__(self, "ceiling", check_priority(self.ceiling, what="aging ceiling"))

    def effective(self, priority: int, waited: float) -> int:
        """The priority of a task of base ``priority`` that has waited ``waited`` seconds."""
        if waited <= self.grace or priority <= self.ceiling:
            return priority
        levels = int((waited - self.grace) / self.interval)
        return max(self.ceiling, priority - levels)
