"""Durations and instants given by users: delays, deadlines and time to live."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from taskmill.model.errors import InvalidTimeError

TtlFrom = Literal["submission", "first_attempt"]
"""When a TTL starts counting: at submission (default), or when the task first starts."""

TTL_FROMS: tuple[TtlFrom, ...] = ("submission", "first_attempt")


def seconds(value: object, what: str, *, allow_zero: bool = True) -> float:
    """Return ``value`` (seconds or a timedelta) as finite seconds, or raise InvalidTimeError."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    else:
        raise InvalidTimeError(f"{what} must be seconds or a timedelta, got {value!r}")
    if not math.isfinite(result) or result < 0 or (result == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidTimeError(f"{what} must be a finite duration {bound}, got {value!r}")
    return result


def instant(value: object, what: str) -> float:
    """Return an aware datetime as epoch seconds, or raise InvalidTimeError."""
    if not isinstance(value, datetime):
        raise InvalidTimeError(f"{what} must be a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidTimeError(
            f"{what}={value.isoformat()} is a naive datetime, which could mean any time zone; "
            f"pass an aware one, e.g. datetime.now(timezone.utc) + timedelta(minutes=5) or "
            f"datetime(..., tzinfo=ZoneInfo('Europe/Paris'))"
        )
    return value.timestamp()


def check_ttl_from(value: object) -> TtlFrom:
    """Return ``value`` if it names a TTL clock, or raise InvalidTimeError."""
    if value not in TTL_FROMS:
        raise InvalidTimeError(f"ttl_from must be one of {TTL_FROMS}, got {value!r}")
    return value
