"""What admission looks like at one instant: limits, pressure, IO, and why work waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.jsonable import json_dict
from taskmill.scheduler.io_control import IoLimitState


@dataclass(frozen=True, slots=True)
class AdmissionState:
    """Admission as it stands (a frozen snapshot).

    Attributes:
        pressure: The composite pressure: the highest of the sources.
        breakdown: Each source's pressure, by name.
        max_concurrency: The global cap.
        domain_limits: Caps by domain.
        group_limits: Caps by group.
        default_group_limit: The cap of groups without their own.
        tokens: Tokens available now, by rate-limited task type or ``group:<name>``.
        io_capacity: Bytes that may be in flight per axis (``None``: IO budgets are off).
        io_in_flight: Expected IO of the running tasks, declared or learned.
        learned_io: Mean recorded IO by task type, used for types that declare none.
        group_shares: With fair scheduling, the slots each group was to hold at the latest
            dispatch step (``""``: tasks without a group).
        io_limit: The adaptive limit on background IO and the disk's congestion that moves
            it (``None``: no adaptive limit, i.e. no resource monitoring).
        waiting: Why each ready task that the latest dispatch step looked at was held back,
            by task id (e.g. ``"IO limit 2: disk congested: device vda latency 9.1 ms
            (target 1.0 ms)"``).
        waiting_by: How many of those wait for each kind of reason (``"cap"``,
            ``"pressure"``, ``"io budget"``, ``"io limit"``, ``"rate limit"``, ``"slot"``).
        holds: Whole scopes that step did not look at, and why (a domain or group at its
            cap, priorities held by pressure, rate limits without tokens).
    """

    pressure: float
    breakdown: dict[str, float]
    max_concurrency: int
    domain_limits: dict[str, int]
    group_limits: dict[str, int]
    default_group_limit: int | None
    tokens: dict[str, float] = field(default_factory=dict)
    io_capacity: IoBudget | None = None
    io_in_flight: IoBudget = NO_IO
    learned_io: dict[str, IoBudget] = field(default_factory=dict)
    group_shares: dict[str, int] = field(default_factory=dict)
    io_limit: IoLimitState | None = None
    waiting: dict[int, str] = field(default_factory=dict)
    waiting_by: dict[str, int] = field(default_factory=dict)
    holds: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-serializable builtins."""
        return json_dict(self)

    def summary(self) -> str:
        """Why work waits, in one line, e.g. ``"3 tasks wait for the IO limit (...)"``."""
        parts = []
        for kind, count in sorted(self.waiting_by.items(), key=lambda kv: -kv[1]):
            what = f"{count} task{'s' if count != 1 else ''} wait for {_KIND_WORDS[kind]}"
            if kind == "io limit" and self.io_limit is not None:
                what += f" ({self.io_limit.reason})"
            parts.append(what)
        parts.extend(self.holds)
        return "; ".join(parts) if parts else "nothing is held back"


_KIND_WORDS: dict[str, str] = {
    "slot": "a free slot",
    "cap": "a concurrency cap",
    "pressure": "pressure to ease",
    "io budget": "the IO budget",
    "io limit": "the IO limit",
    "rate limit": "a rate limit",
}
