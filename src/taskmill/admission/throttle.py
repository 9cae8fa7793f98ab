"""Throttling: under pressure, less important work waits."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from taskmill.model.errors import ConfigurationError
from taskmill.model.priority import Priority, check_priority


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Which priorities wait at which pressure.

    ``rules`` are ``(priority, max_pressure)`` pairs: a task whose priority number is at
    least ``priority`` waits while the pressure is above ``max_pressure``. The most specific
    (highest ``priority``) rule that applies wins. The default: BACKGROUND and lower wait above
    0.5, NORMAL and lower wait above 0.75, HIGH and REALTIME never wait.
    """

    rules: tuple[tuple[int, float], ...] = (
        (int(Priority.BACKGROUND), 0.5),
        (int(Priority.NORMAL), 0.75),
    )

    def __post_init__(self) -> None:
        for priority, limit in self.rules:
            check_priority(priority, what="throttle rule priority")
            if not (isinstance(limit, int | float) and limit >= 0.0 and math.isfinite(limit)):
                raise ConfigurationError(
                    f"throttle rule pressure must be a number >= 0, got {limit!r}"
                )
        object.__setattr__(self, "rules", tuple(sorted(self.rules, reverse=True)))

    @classmethod
    def never(cls) -> ThrottlePolicy:
        """A policy under which nothing waits for pressure."""
        return cls(rules=())

    @classmethod
    def of(cls, rules: Iterable[tuple[int, float]]) -> ThrottlePolicy:
        """A policy from ``(priority, max_pressure)`` pairs."""
        return cls(rules=tuple(rules))

    def max_pressure(self, priority: int) -> float:
        """The pressure above which a task of ``priority`` waits (``inf``: never)."""
        for threshold, limit in self.rules:  # highest priority number first
            if priority >= threshold:
                return limit
        return math.inf

    def allows(self, priority: int, pressure: float) -> bool:
        """Whether a task of ``priority`` may start at ``pressure``."""
        return pressure <= self.max_pressure(priority)

    def least_urgent_allowed(self, pressure: float) -> int:
        """The largest priority number that may start at ``pressure`` (-1: none)."""
        allowed = 255
        for threshold, limit in self.rules:
            if pressure > limit:
                allowed = min(allowed, threshold - 1)
        return allowed
