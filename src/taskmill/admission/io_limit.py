"""The adaptive limit on background IO: additive increase, multiplicative decrease (AIMD).

A congestion signal (see :mod:`taskmill.resources.congestion`) says, every sampling period,
how close the disk is to hurting the foreground: a *level* where 1.0 is the point at which
it does. :func:`observe` turns that stream into the number of IO-bearing background tasks
allowed to run at once, the way TCP and the kernel's io.latency controller do:

- **decrease**: while congested (level >= 1) the limit halves, at most once per
  ``decrease_every`` seconds, never below 1;
- **hold**: any congested reading restarts the clean ``window``, so after a decrease the
  limit stays put for at least one window and one noisy reading cannot make it flap;
- **increase**: after a ``window`` without congestion, and only if the limit was reached in
  that window (an unused limit proves nothing), it grows by ``max(1, limit // 16)`` — or
  doubles, until the first congestion since start (slow start) — up to the cap, and only if
  the level leaves room for the extra load (a level of 0.8 at 4 tasks predicts 1.0 at 5).

Everything here is pure: the state is a frozen record, time is an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from taskmill.model.errors import ConfigurationError

DEFAULT_CHUNK = 512 * 1024
"""Bytes a ``ctx.io`` file writes between two flushes, unless ``IoControl.chunk`` says."""


@dataclass(frozen=True, slots=True)
class Aimd:
    """The control law's constants.

    Attributes:
        decrease_every: Least seconds between two halvings.
        window: Seconds without congestion before the limit may grow; also how long a
            decrease holds the limit.
        start: The limit at start, before the signal has said anything.
    """

    decrease_every: float = 0.5
    window: float = 1.0
    start: int = 1

    def __post_init__(self) -> None:
        for name in ("decrease_every", "window"):
            value = getattr(self, name)
            if not _seconds(value):
                raise ConfigurationError(f"Aimd.{name} must be seconds > 0, got {value!r}")
        if isinstance(self.start, bool) or not isinstance(self.start, int) or self.start < 1:
            raise ConfigurationError(f"Aimd.start must be an int >= 1, got {self.start!r}")


@dataclass(frozen=True, slots=True)
class IoLimit:
    """Where the limit stands: the number of background IO tasks that may run at once.

    Attributes:
        limit: Background IO tasks that may run at once (1 .. ``cap``).
        cap: The most the limit may reach (the scheduler's ``max_concurrency``).
        level: The latest congestion level (1.0: congested).
        decreased_at: When the limit last halved (``None``: never).
        clean_since: Since when no reading was congested (``None``: the latest one was).
        used: Whether the limit was reached since ``clean_since``.
        slow_start: Whether no congestion was seen yet (the limit doubles as it grows).
    """

    limit: int
    cap: int
    level: float = 0.0
    decreased_at: float | None = None
    clean_since: float | None = None
    used: bool = False
    slow_start: bool = True

    @classmethod
    def starting(cls, cap: int, aimd: Aimd) -> IoLimit:
        """The limit before any reading."""
        return cls(limit=max(1, min(aimd.start, cap)), cap=max(1, cap))

    @property
    def congested(self) -> bool:
        """Whether the latest reading was congested."""
        return self.level >= 1.0


def observe(
    state: IoLimit, *, now: float, level: float, in_use: bool, aimd: Aimd, cap: int | None = None
) -> IoLimit:
    """Take one reading of the congestion signal and return the new limit.

    Args:
        state: The limit so far.
        now: When the reading was taken (seconds, any monotonic origin).
        level: The signal's congestion level (1.0 and above: congested; NaN counts as 0).
        in_use: Whether as many background IO tasks run as the limit allows (or some wait
            for it) at this reading.
        aimd: The control law's constants.
        cap: A new cap (the global concurrency may change at run time).
    """
    if not level >= 0:  # NaN or negative: no information, read as clean
        level = 0.0
    cap = max(1, state.cap if cap is None else cap)
    limit = min(state.limit, cap)
    if level >= 1.0:
        if state.decreased_at is None or now - state.decreased_at >= aimd.decrease_every:
            return IoLimit(max(1, limit // 2), cap, level, now, None, False, False)
        return replace(state, limit=limit, cap=cap, level=level, clean_since=None, used=False)
    clean_since = now if state.clean_since is None else state.clean_since
    used = state.used or in_use
    if now - clean_since < aimd.window or not used or limit >= cap:
        return replace(state, limit=limit, cap=cap, level=level, clean_since=clean_since, used=used)
    grown = min(cap, 2 * limit if state.slow_start else limit + max(1, limit // 16))
    if level * grown / limit >= 1.0:  # the extra tasks would congest: stay
        return replace(state, limit=limit, cap=cap, level=level, clean_since=now, used=False)
    return replace(state, limit=grown, cap=cap, level=level, clean_since=now, used=False)


@dataclass(frozen=True, slots=True)
class IoControl:
    """How a monitoring scheduler keeps background IO from congesting the disk.

    Attributes:
        exempt: Tasks this urgent or more (a priority number this low or lower) are never
            held by the IO limit nor paced (default ``Priority.HIGH``).
        aimd: The control law of the limit.
        interval: Seconds between two readings of the disk while IO-bearing tasks run or
            wait (the disk is not read at all otherwise).
        chunk: Bytes that a ``ctx.io`` file moves between two flushes, and the unit of its
            grants while the disk is congested.
        latency_floor_ms: The least mean IO latency of the disk (milliseconds) that counts as
            congestion; above it, congestion starts at four times the latency the disk shows
            when it is quiet.
    """

    exempt: int = 64
    aimd: Aimd = field(default_factory=Aimd)
    interval: float = 0.1
    chunk: int = DEFAULT_CHUNK
    latency_floor_ms: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.exempt, bool) or not isinstance(self.exempt, int):
            raise ConfigurationError(
                f"IoControl.exempt must be a priority 0..255, got {self.exempt!r}"
            )
        if not -1 <= self.exempt <= 255:
            raise ConfigurationError(
                f"IoControl.exempt must be a priority 0..255 (or -1: exempt none), "
                f"got {self.exempt!r}"
            )
        if not isinstance(self.aimd, Aimd):
            raise ConfigurationError(f"IoControl.aimd must be a taskmill.Aimd, got {self.aimd!r}")
        if not _seconds(self.interval):
            raise ConfigurationError(
                f"IoControl.interval must be seconds > 0, got {self.interval!r}"
            )
        if isinstance(self.chunk, bool) or not isinstance(self.chunk, int) or self.chunk < 4096:
            raise ConfigurationError(
                f"IoControl.chunk must be an int >= 4096 bytes, got {self.chunk!r}"
            )
        if not _seconds(self.latency_floor_ms):
            raise ConfigurationError(
                f"IoControl.latency_floor_ms must be > 0, got {self.latency_floor_ms!r}"
            )


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
