"""Weighted fair sharing of slots between groups.

:func:`allocate` first grants every group its minimum (as far as its demand and cap allow),
then hands out the remaining slots one at a time to the group with the highest
``weight / (allocated + 1)`` (the highest-averages method), skipping groups that reached their
demand or cap. So shares follow the weights, a group that needs less leaves its share to the
others (work conservation), and minimums and caps hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskmill.model.errors import ConfigurationError


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
