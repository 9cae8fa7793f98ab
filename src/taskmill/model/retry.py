"""Retry policies, and the two exceptions executors raise to steer retries."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from taskmill.model.errors import InvalidRetryPolicyError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a failed task is tried again.

    The n-th retry waits ``delay * backoff ** (n - 1)`` seconds, spread by ``±jitter`` (a
    fraction) and capped at ``max_delay``. ``backoff=1`` gives a fixed delay. After
    ``max_retries`` retries the next failure dead-letters the task.

    Attributes:
        max_retries: Retries after the first attempt (``0`` never retries).
        delay: Seconds before the first retry.
        backoff: Factor applied to the delay for each further retry (``>= 1``).
        max_delay: Upper bound of any single delay, in seconds.
        jitter: Random spread as a fraction of the delay, in ``0..1``.
    """

    max_retries: int = 3
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidRetryPolicyError(
                f"max_retries must be an int >= 0, got {self.max_retries!r}"
            )
        if self.max_retries < 0:
            raise InvalidRetryPolicyError(
                f"max_retries must be >= 0 (0 disables retries), got {self.max_retries}"
            )
        for name in ("delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidRetryPolicyError(
                    f"{name} must be a finite number of seconds >= 0, got {value!r}"
                )
        if not isinstance(self.backoff, int | float) or not 1 <= self.backoff < math.inf:
            raise InvalidRetryPolicyError(
                f"backoff must be a finite factor >= 1 (1 = fixed delay), got {self.backoff!r}"
            )
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise InvalidRetryPolicyError(
                f"jitter is a fraction of the delay in 0..1, got {self.jitter!r}"
            )

    @classmethod
    def fixed(cls, delay: float | timedelta, *, max_retries: int = 3) -> RetryPolicy:
        """Retry after the same ``delay`` every time, without jitter."""
        seconds = _seconds(delay)
        return cls(
            max_retries=max_retries, delay=seconds, backoff=1.0, max_delay=seconds, jitter=0.0
        )

    @classmethod
    def exponential(
        cls,
        initial: float | timedelta = 1.0,
        *,
        factor: float = 2.0,
        max_delay: float | timedelta = 300.0,
        jitter: float = 0.1,
        max_retries: int = 3,
    ) -> RetryPolicy:
        """Retry after ``initial``, then ``initial * factor``, ... capped at ``max_delay``."""
        return cls(
            max_retries=max_retries,
            delay=_seconds(initial),
            backoff=factor,
            max_delay=_seconds(max_delay),
            jitter=jitter,
        )

    @classmethod
    def never(cls) -> RetryPolicy:
        """Do not retry: the first failure dead-letters the task."""
        return cls(max_retries=0)

    def delay_for(self, retry: int, *, rand: Callable[[], float] = random.random) -> float:
        """Return the delay in seconds before retry number ``retry`` (1 = the first retry)."""
        try:
            base = self.delay * self.backoff ** max(0, retry - 1)
        except OverflowError:
            base = math.inf
        if self.jitter:
            base *= 1.0 + self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, min(base, self.max_delay))


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Retry(Exception):
    """Raised by an executor to ask for another attempt.

    ``after`` overrides the policy's delay for this retry. The retry counts against
    ``max_retries``; once they are spent the task is dead-lettered.
    """

    def __init__(self, reason: str = "", *, after: float | timedelta | None = None) -> None:
        super().__init__(reason or "retry requested")
        self.after: float | None = None if after is None else _retry_delay(after)
        """Seconds to wait before the next attempt (``None``: the policy's delay)."""


def _retry_delay(after: object) -> float:
    """Check ``Retry(after=...)``: finite seconds >= 0, or a timedelta of them."""
    seconds: float | None = None
    if isinstance(after, timedelta):
        seconds = after.total_seconds()
    elif isinstance(after, int | float) and not isinstance(after, bool):
        seconds = float(after)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise InvalidRetryPolicyError(
            f"Retry(after={after!r}): after must be a finite number of seconds >= 0 or a "
            f"timedelta; raise PermanentError to give up, or leave after out for the retry "
            f"policy's delay"
        )
    return seconds


class PermanentError(Exception):
    """Raised by an executor for a failure that retrying cannot fix.

    The task goes to history as ``failed`` at once, whatever retries remain.
    """
