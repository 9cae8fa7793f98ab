"""The admission decision: which candidates may start now, and why the others wait.

:func:`select` walks candidates in dispatch order and admits each one that passes every check,
cheapest first and tokens last (so a token is only taken by a task that will start):

1. concurrency: the global cap, the cap of its domain, the cap of its group;
2. throttle: its priority may not start at the current pressure;
3. IO budget: the expected IO of what runs plus its own must fit the IO capacity;
4. IO limit: a background task with disk IO may start only while fewer such tasks run than
   the adaptive limit allows (see :mod:`taskmill.admission.io_limit`);
5. rate limits: a token of its type's bucket and of its group's bucket.

A candidate that fails a check is skipped, never blocking the candidates behind it. With fair
scheduling the walk takes three passes (urgent, fair shares, greedy fill) over the same checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from taskmill.admission.fair import UNGROUPED, Fairness
from taskmill.admission.throttle import ThrottlePolicy
from taskmill.admission.tokens import Bucket
from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.priority import Priority

HoldKind = Literal["slot", "cap", "pressure", "io budget", "io limit", "rate limit"]
"""Why admission holds a ready task back: no free slot, a concurrency cap, pressure, the IO
budget, the adaptive IO limit, or a rate limit."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ready task as admission sees it."""

    id: int
    type: str
    priority: int
    group: str | None = None
    io: IoBudget = NO_IO

    @property
    def domain(self) -> str:
        """The task's domain."""
        return self.type.partition("::")[0]

    @property
    def disk_bearing(self) -> bool:
        """Whether it is expected to read or write the disk."""
        return bool(self.io.disk_read or self.io.disk_write)


@dataclass(frozen=True, slots=True)
class Caps:
    """Concurrency caps: global, per domain, per group (with a default for groups)."""

    total: int
    domains: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)
    default_group: int | None = None

    def group_cap(self, group: str) -> int | None:
        """The cap of ``group`` (``None``: only the global cap)."""
        return self.groups.get(group, self.default_group)


@dataclass(frozen=True, slots=True)
class Load:
    """What runs now."""

    total: int = 0
    domains: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)
    io: IoBudget = NO_IO
    io_tasks: int = 0
    """Running tasks that count against the IO limit (disk IO, less urgent than exempt)."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything admission looks at, frozen at one instant."""

    now: float
    caps: Caps
    load: Load
    pressure: float = 0.0
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    type_buckets: Mapping[str, Bucket] = field(default_factory=dict)
    group_buckets: Mapping[str, Bucket] = field(default_factory=dict)
    # Bytes that may be in flight per axis (0: not observed yet); None: no IO budgets.
    io_capacity: IoBudget | None = None
    fairness: Fairness | None = None
    # How many background disk-IO tasks may run (None: no limit); tasks this urgent or
    # more are exempt.
    io_limit: int | None = None
    io_exempt: int = Priority.HIGH

    def io_limited(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` counts against the IO limit."""
        return candidate.priority > self.io_exempt and candidate.disk_bearing


@dataclass(frozen=True, slots=True)
class Deferred:
    """A candidate that may not start now, with the reason and when to look again."""

    candidate: Candidate
    reason: str
    retry_at: float | None = None
    kind: HoldKind = "slot"


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of :func:`select`."""

    admitted: tuple[Candidate, ...]
    deferred: tuple[Deferred, ...]
    type_buckets: Mapping[str, Bucket]
    group_buckets: Mapping[str, Bucket]
    shares: Mapping[str, int] = field(default_factory=dict)
    """With fairness: the slots each group should hold (``""``: ungrouped tasks)."""

    @property
    def retry_at(self) -> float | None:
        """The earliest instant a deferred candidate could pass (a token), if any."""
        times = [d.retry_at for d in self.deferred if d.retry_at is not None]
        return min(times) if times else None


def select(candidates: Iterable[Candidate], inputs: Inputs, slots: int | None = None) -> Selection:
    """Admit candidates in order while slots remain; defer the rest with a reason.

    ``slots`` bounds how many are admitted (default: the free global slots). With
    ``inputs.fairness``, urgent candidates go first, then each group up to its fair share,
    then whatever is left in order (see :class:`~taskmill.admission.fair.Fairness`).
    """
    walk = _Walk(inputs, slots)
    fairness = inputs.fairness
    if fairness is None:
        for candidate in candidates:
            walk.offer(candidate)
        return walk.selection()
    ordinary: list[Candidate] = []
    for candidate in candidates:  # the urgent pass
        if fairness.is_urgent(candidate.priority):
            walk.offer(candidate)
        else:
            ordinary.append(candidate)
    quotas = _quotas(fairness, inputs, walk, ordinary)
    over_share: list[Candidate] = []
    for candidate in ordinary:  # the fair pass
        share = candidate.group or UNGROUPED
        if quotas.get(share, 0) <= 0:
            over_share.append(candidate)
        elif walk.offer(candidate):
            quotas[share] -= 1
    for candidate in over_share:  # the greedy fill
        walk.offer(candidate)
    return walk.selection()


def _quotas(
    fairness: Fairness, inputs: Inputs, walk: _Walk, waiting: list[Candidate]
) -> dict[str, int]:
    """How many more tasks each group may start in the fair pass."""
    running = dict(walk.groups)
    running[UNGROUPED] = walk.total - sum(walk.groups.values())
    demand = {group: count for group, count in running.items() if count > 0}
    for candidate in waiting:
        share = candidate.group or UNGROUPED
        demand[share] = demand.get(share, 0) + 1
    caps = {
        group: cap
        for group in demand
        if group != UNGROUPED and (cap := inputs.caps.group_cap(group)) is not None
    }
    shares = fairness.shares(inputs.caps.total, demand, caps)
    walk.shares = shares
    return {group: share - running.get(group, 0) for group, share in shares.items()}


class _Walk:
    """The running tally of one :func:`select`: what runs, what was admitted, what waits."""

    def __init__(self, inputs: Inputs, slots: int | None) -> None:
        self.inputs = inputs
        self.total = inputs.load.total
        free = inputs.caps.total - self.total
        self.room = free if slots is None else min(slots, free)
        self.domains = dict(inputs.load.domains)
        self.groups = dict(inputs.load.groups)
        self.type_buckets = dict(inputs.type_buckets)
        self.group_buckets = dict(inputs.group_buckets)
        self.io = inputs.load.io
        self.io_tasks = inputs.load.io_tasks
        self.admitted: list[Candidate] = []
        self.deferred: list[Deferred] = []
        self.shares: dict[str, int] = {}

    def offer(self, candidate: Candidate) -> bool:
        """Admit ``candidate`` if every check passes, else record why it waits."""
        inputs, now = self.inputs, self.inputs.now
        if len(self.admitted) >= self.room:
            self.deferred.append(Deferred(candidate, "no free slot"))
            return False
        held = self._hold(candidate)
        if held is not None:
            kind, reason = held
            self.deferred.append(Deferred(candidate, reason, kind=kind))
            return False
        waits = _token_waits(candidate, now, self.type_buckets, self.group_buckets)
        if waits:
            retry_at = max(t for _, t in waits)
            self.deferred.append(Deferred(candidate, waits[0][0], retry_at, "rate limit"))
            return False
        _take_tokens(candidate, now, self.type_buckets, self.group_buckets)
        self.admitted.append(candidate)
        self.total += 1
        self.io = self.io + candidate.io
        if inputs.io_limit is not None and inputs.io_limited(candidate):
            self.io_tasks += 1
        self.domains[candidate.domain] = self.domains.get(candidate.domain, 0) + 1
        if candidate.group is not None:
            self.groups[candidate.group] = self.groups.get(candidate.group, 0) + 1
        return True

    def _hold(self, candidate: Candidate) -> tuple[HoldKind, str] | None:
        """The first check before tokens that ``candidate`` fails, if any."""
        inputs = self.inputs
        reason = _over_cap(candidate, inputs.caps, self.domains, self.groups)
        if reason is not None:
            return "cap", reason
        if not inputs.throttle.allows(candidate.priority, inputs.pressure):
            return "pressure", f"pressure {inputs.pressure:.2f} holds priority {candidate.priority}"
        if inputs.io_capacity is not None:
            reason = _over_io(candidate.io, self.io, inputs.io_capacity)
            if reason is not None:
                return "io budget", reason
        limit = inputs.io_limit
        if limit is not None and self.io_tasks >= limit and inputs.io_limited(candidate):
            return "io limit", f"IO limit: {self.io_tasks} background IO tasks run, the limit"
        return None

    def selection(self) -> Selection:
        return Selection(
            tuple(self.admitted),
            tuple(self.deferred),
            self.type_buckets,
            self.group_buckets,
            self.shares,
        )


def _over_cap(
    candidate: Candidate, caps: Caps, domains: Mapping[str, int], groups: Mapping[str, int]
) -> str | None:
    domain_cap = caps.domains.get(candidate.domain)
    if domain_cap is not None and domains.get(candidate.domain, 0) >= domain_cap:
        return f"domain {candidate.domain!r} runs {domain_cap}, its cap"
    if candidate.group is not None:
        group_cap = caps.group_cap(candidate.group)
        if group_cap is not None and groups.get(candidate.group, 0) >= group_cap:
            return f"group {candidate.group!r} runs {group_cap}, its cap"
    return None


_AXES = ("disk_read", "disk_write", "net_rx", "net_tx")


def _over_io(wanted: IoBudget, running: IoBudget, capacity: IoBudget) -> str | None:
    """Why ``wanted`` does not fit beside ``running`` in ``capacity``, or ``None``.

    A task alone on an axis always fits: a budget larger than the capacity must not starve.
    A capacity of 0 means nothing was observed on that axis yet: no budget applies (the
    adaptive IO limit keeps a cold start careful).
    """
    for axis in _AXES:
        cap, need, busy = getattr(capacity, axis), getattr(wanted, axis), getattr(running, axis)
        if cap and need and busy and busy + need > cap:
            return f"IO budget: {axis.replace('_', ' ')} {busy + need} > {cap} bytes"
    return None


def _token_waits(
    candidate: Candidate,
    now: float,
    type_buckets: Mapping[str, Bucket],
    group_buckets: Mapping[str, Bucket],
) -> Sequence[tuple[str, float]]:
    waits = []
    bucket = type_buckets.get(candidate.type)
    if bucket is not None and not bucket.available(now):
        waits.append((f"rate limit of {candidate.type}", bucket.next_token_at(now)))
    if candidate.group is not None:
        bucket = group_buckets.get(candidate.group)
        if bucket is not None and not bucket.available(now):
            waits.append((f"rate limit of group {candidate.group!r}", bucket.next_token_at(now)))
    return waits


def _take_tokens(
    candidate: Candidate,
    now: float,
    type_buckets: dict[str, Bucket],
    group_buckets: dict[str, Bucket],
) -> None:
    bucket = type_buckets.get(candidate.type)
    if bucket is not None:
        type_buckets[candidate.type] = bucket.take(now)
    if candidate.group is not None:
        bucket = group_buckets.get(candidate.group)
        if bucket is not None:
            group_buckets[candidate.group] = bucket.take(now)
