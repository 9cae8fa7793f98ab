"""Small configuration records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from taskmill.model.errors import ConfigurationError

Durability = Literal["normal", "full"]
"""``"normal"``: nothing committed is lost when the process dies (WAL, synchronous=NORMAL).
``"full"``: nothing committed is lost on power loss either (synchronous=FULL)."""

DURABILITIES: tuple[Durability, ...] = ("normal", "full")


@dataclass(frozen=True, slots=True)
class Retention:
    """How much history to keep.

    History is pruned every ``prune_every`` terminal tasks, keeping at most ``max_records``
    records and none older than ``max_age``.

    Attributes:
        max_records: Newest records kept (``None``: no limit by count).
        max_age: Seconds (or a timedelta) after which a record is pruned (``None``: no limit).
        prune_every: Terminal tasks between two automatic prunes.
    """

    max_records: int | None = 10_000
    max_age: float | timedelta | None = None
    prune_every: int = 100

    def __post_init__(self) -> None:
        if self.max_records is not None and (
            isinstance(self.max_records, bool)
            or not isinstance(self.max_records, int)
            or self.max_records < 0
        ):
            raise ConfigurationError(
                f"Retention.max_records must be an int >= 0 or None, got {self.max_records!r}"
            )
        if self.max_age is not None and not (self.max_age_seconds or 0) > 0:
            raise ConfigurationError(
                f"Retention.max_age must be a positive duration or None, got {self.max_age!r}"
            )
        if isinstance(self.prune_every, bool) or not (
            isinstance(self.prune_every, int) and self.prune_every >= 1
        ):
            raise ConfigurationError(
                f"Retention.prune_every must be an int >= 1, got {self.prune_every!r}"
            )

    @property
    def max_age_seconds(self) -> float | None:
        """``max_age`` in seconds, or ``None``."""
        if self.max_age is None:
            return None
        if isinstance(self.max_age, timedelta):
            return self.max_age.total_seconds()
        if isinstance(self.max_age, int | float) and math.isfinite(self.max_age):
            return float(self.max_age)
        return math.nan


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """The options of a :class:`~taskmill.Scheduler`, validated (see its arguments)."""

    max_concurrency: int = 4
    max_payload_bytes: int = 1 << 20
    sync_workers: int | None = None
    shutdown_timeout: float = 30.0
    preempt_priority: int = 0
    default_ttl: float | None = None
    pressure_poll: float = 1.0
    progress_interval: float = 0.1

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "max_payload_bytes"):
            _check_positive_int(getattr(self, name), name)
        if self.sync_workers is not None:
            _check_positive_int(self.sync_workers, "sync_workers")
        _check_seconds(self.pressure_poll, "pressure_poll", allow_zero=False)
        _check_seconds(self.progress_interval, "progress_interval", allow_zero=False)
        if not (
            isinstance(self.shutdown_timeout, int | float)
            and not isinstance(self.shutdown_timeout, bool)
            and 0 <= self.shutdown_timeout < math.inf
        ):
            raise ConfigurationError(
                f"shutdown_timeout must be a number of seconds >= 0, got {self.shutdown_timeout!r}"
            )


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")


def _check_seconds(value: object, name: str, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value >= 0 if allow_zero else value > 0)
        and value < math.inf
    )
    if not ok:
        raise ConfigurationError(
            f"{name} must be a number of seconds {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )
