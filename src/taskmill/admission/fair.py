"""Weighted fair sharing of slots between groups.

:func:`allocate` first grants every group its minimum (as far as its demand and cap allow),
then hands out the remaining slots one at a time to the group with the highest
``weight / (allocated + 1)`` (the highest-averages method), skipping groups that reached their
demand or cap. So shares follow the weights, a group that needs less leaves its share to the
others (work conservation), and minimums and caps hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from taskmill.model.errors import ConfigurationError
from taskmill.model.priority import Priority, check_priority


def allocate(
    slots: int,
    demand: Mapping[str, int],
    weights: Mapping[str, float] | None = None,
    minimums: Mapping[str, int] | None = None,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Share ``slots`` between groups; return the slots of each group with demand.

    Args:
        slots: Slots to share.
        demand: Tasks each group could run now.
        weights: Relative share of each group (default 1).
        minimums: Slots a group gets before any sharing, if it has the demand (default 0).
        caps: Most slots a group may have (default: no cap).
    """
    weights = weights or {}
    minimums = minimums or {}
    caps = caps or {}
    for group, weight in weights.items():
        if not weight > 0:
            raise ConfigurationError(f"the weight of group {group!r} must be > 0, got {weight!r}")
    limit = {
        group: min(wanted, caps.get(group, wanted))
        for group, wanted in demand.items()
        if wanted > 0
    }
    allocation = dict.fromkeys(limit, 0)
    remaining = max(0, slots)
    # Minimums first, the heaviest groups first when slots are too few for all of them.
    for group in sorted(limit, key=lambda g: (-weights.get(g, 1.0), g)):
        grant = min(minimums.get(group, 0), limit[group], remaining)
        allocation[group] = grant
        remaining -= grant
    while remaining > 0:
        open_groups = [g for g in limit if allocation[g] < limit[g]]
        if not open_groups:
            break
        best = max(
            open_groups,
            key=lambda g: (weights.get(g, 1.0) / (allocation[g] + 1), weights.get(g, 1.0), g),
        )
        allocation[best] += 1
        remaining -= 1
    return allocation


UNGROUPED = ""
"""The share key of tasks without a group (group names are never empty)."""


@dataclass(frozen=True, slots=True)
class Fairness:
    """Weighted fair sharing of the global slots between groups (opt-in).

    Each dispatch step shares ``max_concurrency`` between the groups that have work (running
    or ready) by weight, after granting each its minimum; a group's ready tasks start while it
    is under its share (the *fair pass*), then any slots left go to the remaining tasks in
    priority order (the *greedy fill*, so no slot idles while work waits). Tasks whose
    effective priority is ``urgent`` or more urgent (for example, aged past that level) skip
    the fair shares and are admitted first. Tasks without a group share as one group.

    Args:
        weights: Relative share by group (groups not listed weigh ``default_weight``).
        minimums: Slots a group gets before sharing, when it has the work.
        default_weight: The weight of groups not in ``weights``, and of ungrouped tasks.
        urgent: Priority at or above which tasks are admitted before fair sharing (``None``:
            none are).
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    minimums: Mapping[str, int] = field(default_factory=dict)
    default_weight: float = 1.0
    urgent: int | None = int(Priority.HIGH)

    def __post_init__(self) -> None:
        for group, weight in {**self.weights, "default_weight": self.default_weight}.items():
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not (weight > 0 and math.isfinite(weight))
            ):
                raise ConfigurationError(
                    f"the weight of {group!r} must be a finite number > 0, got {weight!r}"
                )
        for group, minimum in self.minimums.items():
            if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
                raise ConfigurationError(
                    f"the minimum of group {group!r} must be an int >= 0, got {minimum!r}"
                )
        if self.urgent is not None:
            object.__setattr__(self, "urgent", check_priority(self.urgent, what="urgent"))
        object.__setattr__(self, "weights", dict(self.weights))
        object.__setattr__(self, "minimums", dict(self.minimums))

    def is_urgent(self, priority: int) -> bool:
        """Whether a task of (effective) ``priority`` skips fair sharing."""
        return self.urgent is not None and priority <= self.urgent

    def shares(
        self, slots: int, demand: Mapping[str, int], caps: Mapping[str, int]
    ) -> dict[str, int]:
        """Slots each group with ``demand`` should hold (see :func:`allocate`)."""
        weights = {group: self.weights.get(group, self.default_weight) for group in demand}
        return allocate(slots, demand, weights, self.minimums, caps)
