"""Priorities: integers 0..255 where a lower number runs first."""

from __future__ import annotations

from enum import IntEnum

from taskmill.model.errors import InvalidPriorityError

MIN_PRIORITY = 0
MAX_PRIORITY = 255


class Priority(IntEnum):
    """Named tiers of the 0..255 priority range (lower runs first).

    Any integer in 0..255 is a valid priority; the tiers are landmarks. Tasks of equal
    priority run in submission order.
    """

    REALTIME = 0
    HIGH = 64
    NORMAL = 128
    BACKGROUND = 192
    IDLE = 255


def check_priority(value: object, *, what: str = "priority") -> int:
    """Return ``value`` as a plain ``int`` priority, or raise :class:`InvalidPriorityError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPriorityError(
            f"{what} must be an integer in {MIN_PRIORITY}..{MAX_PRIORITY} "
            f"(or a taskmill.Priority tier), got {value!r}"
        )
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPriorityError(
            f"{what} {value} is outside {MIN_PRIORITY}..{MAX_PRIORITY}; lower numbers run "
            f"first, e.g. Priority.HIGH ({int(Priority.HIGH)}) or Priority.BACKGROUND "
            f"({int(Priority.BACKGROUND)})"
        )
    return int(value)
