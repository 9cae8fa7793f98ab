"""Recurring schedules: :class:`Every` (an interval) and :class:`Cron` (a cron expression).

Both are plain descriptions, validated when built; the scheduler stores them with the task's
payload and creates one ordinary task per occurrence. :func:`next_occurrence` is the pure
function that says when the next occurrence is due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from taskmill.model.errors import InvalidScheduleError
from taskmill.model.timing import seconds


def _max_occurrences(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidScheduleError(f"max_occurrences must be an int >= 1 or None, got {value!r}")
    return value


def _initial_delay(value: float | timedelta) -> float:
    try:
        return seconds(value, "initial_delay")
    except ValueError as exc:
        raise InvalidScheduleError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Every:
    """Run every ``interval``.

    By default the interval is a fixed delay after each occurrence ends, so occurrences never
    overlap. With ``fixed_rate=True`` occurrences are due at a steady rate whatever they take;
    one whose predecessor has not started yet is skipped (``RecurringSkipped``).

    Attributes:
        interval: Seconds (or a timedelta) between occurrences; must be > 0.
        fixed_rate: Tick at a fixed rate instead of a fixed delay after completion.
        max_occurrences: Stop after this many occurrences (``None``: never).
        initial_delay: Delay before the first occurrence (default: at once).
    """

    interval: float | timedelta
    fixed_rate: bool = False
    max_occurrences: int | None = None
    initial_delay: float | timedelta = 0.0

    def __post_init__(self) -> None:
        value = self.interval
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value > 0)
        ):
            raise InvalidScheduleError(
                f"Every(interval=...) must be a positive number of seconds or timedelta, got "
                f"{self.interval!r}"
            )
        _max_occurrences(self.max_occurrences)
        _initial_delay(self.initial_delay)

    @property
    def seconds(self) -> float:
        """The interval in seconds."""
        interval = self.interval
        return interval.total_seconds() if isinstance(interval, timedelta) else float(interval)


@dataclass(frozen=True, slots=True)
class Cron:
    """Run at the times a cron expression names, in a time zone.

    Standard five-field expressions (``"*/5 * * * *"``, ``"0 9 * * MON-FRI"``), or six
    fields with a leading seconds field; times follow Debian cron across daylight-saving
    changes. An occurrence whose predecessor has not
    started yet is skipped (``RecurringSkipped``).

    Attributes:
        expression: The cron expression.
        tz: IANA time zone the expression is read in (default UTC).
        max_occurrences: Stop after this many occurrences (``None``: never).
        initial_delay: No occurrence before this delay has passed.
    """

    expression: str
    tz: str = "UTC"
    max_occurrences: int | None = None
    initial_delay: float | timedelta = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise InvalidScheduleError(f"Cron expression must be a str, got {self.expression!r}")
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise InvalidScheduleError(
                f"unknown time zone {self.tz!r} for Cron({self.expression!r}); use an IANA "
                f"name such as 'UTC' or 'Europe/Berlin'"
            ) from exc
        try:
            CronSim(self.expression, datetime(2000, 1, 1, tzinfo=zone))
        except CronSimError as exc:
            raise InvalidScheduleError(
                f"invalid cron expression {self.expression!r}: {exc}; expected five fields "
                f"'minute hour day-of-month month day-of-week' (or six, seconds first), "
                f"e.g. '*/5 * * * *'"
            ) from exc
        _max_occurrences(self.max_occurrences)
        _initial_delay(self.initial_delay)


Recurrence = Every | Cron


def next_cron_time(expression: str, tz: str, after: float) -> float | None:
    """The first time strictly after ``after`` (epoch seconds) that ``expression`` names."""
    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(after, zone)
    try:
        found = next(CronSim(expression, start))
    except StopIteration:
        return None  # no match within cronsim's 50-year horizon
    return found.timestamp()


def first_occurrence(recurrence: Recurrence, now: float) -> float:
    """When the first occurrence of a new schedule is due."""
    earliest = now + _initial_delay(recurrence.initial_delay)
    if isinstance(recurrence, Every):
        return earliest
    found = next_cron_time(recurrence.expression, recurrence.tz, earliest - 1e-6)
    return math.inf if found is None else found
