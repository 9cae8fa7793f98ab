"""Rate limits as token buckets: a start takes a token; tokens refill at a steady rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from taskmill.model.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How many tasks may *start* per time unit.

    Give exactly one of ``per_second`` and ``per_minute``. ``burst`` is how many may start
    at once after a quiet period (default: one second's worth, at least 1).

    Attributes:
        per_second: Starts per second.
        per_minute: Starts per minute.
        burst: Bucket size: starts allowed back to back.
    """

    per_second: float | None = None
    per_minute: float | None = None
    burst: int | None = None

    def __post_init__(self) -> None:
        given = [r for r in (self.per_second, self.per_minute) if r is not None]
        if len(given) != 1:
            raise ConfigurationError(
                f"RateLimit takes exactly one of per_second and per_minute, got {self!r}"
            )
        rate = given[0]
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not (math.isfinite(rate) and rate > 0)
        ):
            raise ConfigurationError(f"a rate limit must be a positive number, got {rate!r}")
        if self.burst is not None and (
            isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1
        ):
            raise ConfigurationError(f"burst must be an int >= 1, got {self.burst!r}")

    @property
    def rate(self) -> float:
        """Tokens per second."""
        if self.per_second is not None:
            return float(self.per_second)
        assert self.per_minute is not None
        return self.per_minute / 60.0

    @property
    def capacity(self) -> float:
        """The bucket size."""
        return float(self.burst) if self.burst is not None else max(1.0, self.rate)


_MAX_STEPS = 64  # float steps next_token_at takes past the computed instant, at most


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket's state at an instant: ``tokens`` available at time ``at``."""

    limit: RateLimit
    tokens: float
    at: float

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> Bucket:
        """A bucket that starts full."""
        return cls(limit, limit.capacity, now)

    def refilled(self, now: float) -> Bucket:
        """The bucket at ``now`` (time never runs backwards for a bucket)."""
        if now <= self.at:
            return self
        tokens = min(self.limit.capacity, self.tokens + (now - self.at) * self.limit.rate)
        return Bucket(self.limit, tokens, now)

    def available(self, now: float) -> bool:
        """Whether a token can be taken at ``now``."""
        return self.refilled(now).tokens >= 1.0

    def take(self, now: float) -> Bucket:
        """The bucket after taking one token at ``now`` (the caller checked availability)."""
        bucket = self.refilled(now)
        return Bucket(self.limit, bucket.tokens - 1.0, bucket.at)

    def next_token_at(self, now: float) -> float:
        """The earliest instant at which :meth:`available` is true (``now`` if it is now).

        The refill arithmetic rounds: at epoch-sized times one float step is ~0.2 µs, and
        the instant computed from the deficit can hold 0.9999995 tokens. The answer moves
        forward by float steps until a token really is there, so a timer armed for it never
        finds the bucket still empty (and never comes back with the same instant).
        """
        bucket = self.refilled(now)
        if bucket.tokens >= 1.0:
            return now
        at = now + (1.0 - bucket.tokens) / self.limit.rate
        for _ in range(_MAX_STEPS):
            if self.available(at):
                return at
            at = math.nextafter(at, math.inf)
        return at + 1e-6  # unreachable for finite rates; a strictly later instant regardless
