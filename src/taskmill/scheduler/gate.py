"""Admission control at run time: the live limits, pressure sources and token buckets.

:class:`AdmissionControl` is what ``scheduler.admission`` returns. It holds the settings the
pure policy (:mod:`taskmill.admission.policy`) needs, lets an application change them while
the scheduler runs (a change applies at the next dispatch step), builds the policy's frozen
inputs for each step and keeps the token buckets between steps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from taskmill.admission.aging import Aging
from taskmill.admission.fair import Fairness
from taskmill.admission.io_limit import IoControl
from taskmill.admission.policy import Caps, Deferred, Inputs, Load, Selection
from taskmill.admission.throttle import ThrottlePolicy
from taskmill.admission.tokens import Bucket, RateLimit
from taskmill.domain import Domain, check_group
from taskmill.model.errors import ConfigurationError
from taskmill.model.io import NO_IO
from taskmill.model.priority import MAX_PRIORITY
from taskmill.resources.monitor import CongestionMonitor
from taskmill.resources.sampler import Sampler
from taskmill.scheduler.admission_state import AdmissionState
from taskmill.scheduler.io_control import IoController
from taskmill.scheduler.io_ledger import IoLedger
from taskmill.scheduler.pacing import Pacer
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.state import RunState

logger = logging.getLogger("taskmill")


@dataclass(frozen=True, slots=True)
class Prefilter:
    """What a dispatch step's candidate query leaves out, and why it may look again."""

    types: tuple[str, ...]
    least_urgent: int
    excluded_groups: tuple[str, ...]
    refill_at: float | None  # when the first bucket emptied for a left-out type or group refills


@runtime_checkable
class PressureSource(Protocol):
    """Anything that says how loaded a resource is: 0.0 (idle) .. 1.0 (saturated)."""

    def pressure(self) -> float:
        """Return the current pressure."""


PressureLike = PressureSource | Callable[[], float]


def _check_limit(value: object, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigurationError(f"{what} must be an int >= 0 or None, got {value!r}")
    return value


class AdmissionControl:
    """Live admission settings: caps, pressure, rate limits, IO budgets, aging, fairness.

    Changes take effect at the next dispatch step; a lowered cap never interrupts running
    tasks, it stops new ones from starting until the running count is under it. The setters
    may be called from any thread: each value is replaced in one step, and the dispatch loop
    is woken on its own thread.
    """

    def __init__(
        self,
        *,
        registry: Registry,
        max_concurrency: int,
        group_limits: Mapping[str, int] | None = None,
        default_group_limit: int | None = None,
        group_rate_limits: Mapping[str, RateLimit] | None = None,
        throttle: ThrottlePolicy | None = None,
        pressure_sources: Mapping[str, PressureLike] | None = None,
        sampler: Sampler | None = None,
        io_budget: float = 0.8,
        io_window: float = 2.0,
        aging: Aging | None = None,
        fairness: Fairness | None = None,
        io_control: IoControl | None = None,
        monitor: CongestionMonitor | None = None,
    ) -> None:
        self._registry = registry
        self._state = RunState(lambda: 0.0)  # a stand-in until the scheduler opens
        self._type_buckets: dict[str, Bucket] = {}
        self._group_buckets: dict[str, Bucket] = {}
        self._broken_sources: set[str] = set()
        self.io = IoLedger(sampler, io_budget=io_budget, io_window=io_window)
        """IO budgets: the sampler, the capacity it implies, expected and learned IO."""
        if io_control is not None and not isinstance(io_control, IoControl):
            raise ConfigurationError(
                f"io_control must be a taskmill.IoControl or None, got {io_control!r}"
            )
        settings = io_control or IoControl()
        self.pacer = Pacer(
            chunk=settings.chunk,
            interval=settings.interval,
            exempt=settings.exempt,
        )
        """Grants the ``ctx.io`` chunks of running tasks."""
        self.io_control = IoController(io_control, monitor, self.pacer, self._now)
        """The adaptive limit on background IO (off without a congestion monitor)."""
        self._held: tuple[Deferred, ...] = ()
        self._holds: tuple[str, ...] = ()
        if aging is not None and not isinstance(aging, Aging):
            raise ConfigurationError(f"aging must be a taskmill.Aging or None, got {aging!r}")
        self.aging = aging
        """How waiting raises effective priority (``None``: it does not)."""
        if fairness is not None and not isinstance(fairness, Fairness):
            raise ConfigurationError(
                f"fairness must be a taskmill.Fairness or None, got {fairness!r}"
            )
        self.fairness = fairness
        """How slots are shared between groups (``None``: strictly by priority)."""
        self._shares: dict[str, int] = {}
        self.set_max_concurrency(max_concurrency)
        self._domain_limits: dict[str, int] = {}
        self._group_limits: dict[str, int] = {}
        for group, limit in (group_limits or {}).items():
            self.set_group_limit(group, limit)
        self._default_group_limit = _check_limit(default_group_limit, "default_group_limit")
        self._group_rates: dict[str, RateLimit] = {}
        for group, rate in (group_rate_limits or {}).items():
            self.set_group_rate_limit(group, rate)
        self.throttle = throttle or ThrottlePolicy()
        self._sources: dict[str, PressureLike] = {}
        for name, source in (pressure_sources or {}).items():
            self.add_pressure_source(name, source)

    def attach(self, state: RunState) -> None:
        """Work on the run state of an opened scheduler."""
        state.max_concurrency = self._state.max_concurrency
        self._state = state
        self.io_control.start(state.max_concurrency, state.wake)

    def detach(self) -> None:
        """The scheduler closes: stop reading the disk, let paced files run free."""
        self.io_control.stop()

    def _now(self) -> float:
        return self._state.now()

    # --- settings ------------------------------------------------------------------------

    @property
    def max_concurrency(self) -> int:
        """The global cap: attempts that may run at once."""
        return self._state.max_concurrency

    def set_max_concurrency(self, limit: int) -> None:
        """Change the global cap."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"max_concurrency must be an int >= 1, got {limit!r}")
        self._state.max_concurrency = limit
        self.io_control.set_cap(limit)
        self._state.wake_from_any_thread()

    def set_domain_limit(self, domain: Domain | str, limit: int | None) -> None:
        """Cap how many tasks of ``domain`` run at once (``None``: the domain's own setting)."""
        name = self._registry.domain(domain).name
        if _check_limit(limit, "a domain limit") is None:
            self._domain_limits.pop(name, None)
        else:
            self._domain_limits[name] = limit  # type: ignore[assignment]
        self._state.wake_from_any_thread()

    def set_group_limit(self, group: str, limit: int | None) -> None:
        """Cap how many tasks of ``group`` run at once (``None``: the default group limit)."""
        check_group(group)
        if _check_limit(limit, "a group limit") is None:
            self._group_limits.pop(group, None)
        else:
            self._group_limits[group] = limit  # type: ignore[assignment]
        self._state.wake_from_any_thread()

    def set_default_group_limit(self, limit: int | None) -> None:
        """Cap every group that has no limit of its own (``None``: no cap)."""
        self._default_group_limit = _check_limit(limit, "default_group_limit")
        self._state.wake_from_any_thread()

    def set_group_rate_limit(self, group: str, rate: RateLimit | None) -> None:
        """Limit how many tasks of ``group`` start per time unit (``None``: no limit)."""
        check_group(group)
        if rate is None:
            self._group_rates.pop(group, None)
            self._group_buckets.pop(group, None)
        elif not isinstance(rate, RateLimit):
            raise ConfigurationError(f"a rate limit must be a taskmill.RateLimit, got {rate!r}")
        else:
            self._group_rates[group] = rate
            self._group_buckets.pop(group, None)
        self._state.wake_from_any_thread()

    def add_pressure_source(self, name: str, source: PressureLike) -> None:
        """Add (or replace) a pressure source: a callable or an object with ``pressure()``."""
        if not (callable(source) or isinstance(source, PressureSource)):
            raise ConfigurationError(
                f"pressure source {name!r} must be callable or have a pressure() method, "
                f"got {source!r}"
            )
        self._sources[name] = source
        self._state.wake_from_any_thread()

    def remove_pressure_source(self, name: str) -> None:
        """Remove a pressure source."""
        self._sources.pop(name, None)
        self._state.wake_from_any_thread()

    # --- reading -------------------------------------------------------------------------

    def pressure(self) -> tuple[float, dict[str, float]]:
        """The composite pressure (the highest source) and each source's value.

        A source that raises counts as 0 (and is logged once); values are clamped to 0..1.
        """
        breakdown: dict[str, float] = {}
        for name, source in self._sources.items():
            try:
                value = source.pressure() if isinstance(source, PressureSource) else source()
                value = float(value)
                if math.isnan(value):
                    raise ValueError("NaN")
            except Exception:
                if name not in self._broken_sources:
                    self._broken_sources.add(name)
                    logger.exception("pressure source %r failed; counting it as 0", name)
                value = 0.0
            breakdown[name] = min(1.0, max(0.0, value))
        return (max(breakdown.values(), default=0.0), breakdown)

    def state(self, now: float | None = None) -> AdmissionState:
        """A frozen snapshot of admission (tokens as of ``now``, default the clock's now)."""
        if now is None:
            now = self._state.now()
        pressure, breakdown = self.pressure()
        tokens = {t: b.refilled(now).tokens for t, b in self._buckets_for_types(now).items()}
        tokens.update(
            {f"group:{g}": b.refilled(now).tokens for g, b in self._buckets_for_groups(now).items()}
        )
        return AdmissionState(
            pressure=pressure,
            breakdown=breakdown,
            max_concurrency=self.max_concurrency,
            domain_limits=self._effective_domain_limits(),
            group_limits=dict(self._group_limits),
            default_group_limit=self._default_group_limit,
            tokens=tokens,
            io_capacity=self.io.capacity(),
            io_in_flight=self.io.in_flight(r.claimed for r in self._state.running.values()),
            learned_io=self.io.learned,
            group_shares=dict(self._shares),
            io_limit=self.io_control.state(),
            waiting=self._waiting_reasons(),
            waiting_by=self.waiting_by(),
            holds=self._holds,
        )

    def waiting_by(self) -> dict[str, int]:
        """How many ready tasks the latest dispatch step held back, by kind of reason."""
        counts: dict[str, int] = {}
        for deferred in self._held:
            counts[deferred.kind] = counts.get(deferred.kind, 0) + 1
        return counts

    def _waiting_reasons(self) -> dict[int, str]:
        io = self.io_control
        reasons = {}
        for deferred in self._held:
            reason = deferred.reason
            if deferred.kind == "io limit" and io.latest is not None:
                reason = f"IO limit {io.limit}: {io.latest.describe()}"
            reasons[deferred.candidate.id] = reason
        return reasons

    # --- for the dispatcher --------------------------------------------------------------

    @property
    def engaged(self) -> bool:
        """Whether any limit beyond the global cap could hold a ready task back."""
        return bool(
            self._sources
            or self.io.enabled
            or self.io_control.enabled
            or self.aging is not None
            or self.fairness is not None
            or self._effective_domain_limits()
            or self._group_limits
            or self._default_group_limit is not None
            or self._group_rates
            or any(t.rate_limit is not None for t in self._registry.by_name.values())
        )

    def inputs(self, now: float) -> Inputs:
        """The policy's frozen inputs for a dispatch step at ``now``."""
        domains: dict[str, int] = {}
        groups: dict[str, int] = {}
        for running in self._state.running.values():
            domains[running.domain] = domains.get(running.domain, 0) + 1
            group = running.claimed.group
            if group is not None:
                groups[group] = groups.get(group, 0) + 1
        io = NO_IO
        if self.io.enabled:
            io = self.io.in_flight(r.claimed for r in self._state.running.values())
        io_limit = self.io_control.limit
        return Inputs(
            now=now,
            caps=Caps(
                total=self.max_concurrency,
                domains=self._effective_domain_limits(),
                groups=dict(self._group_limits),
                default_group=self._default_group_limit,
            ),
            load=Load(
                len(self._state.running),
                domains,
                groups,
                io,
                self._io_load()[0] if io_limit is not None else 0,
            ),
            pressure=self.pressure()[0],
            throttle=self.throttle,
            type_buckets=self._buckets_for_types(now),
            group_buckets=self._buckets_for_groups(now),
            io_capacity=self.io.capacity(),
            fairness=self.fairness,
            io_limit=io_limit,
            io_exempt=self.pacer.exempt,
        )

    def _io_load(self) -> tuple[int, bool]:
        """Running tasks with disk IO: how many are background ones, and whether any runs."""
        limited, any_io = 0, False
        exempt, expected = self.pacer.exempt, self.io.expected
        for running in self._state.running.values():
            io = expected(running.claimed)
            if io.disk_read or io.disk_write:
                any_io = True
                if running.claimed.priority > exempt:
                    limited += 1
        return limited, any_io

    def after_step(self, ready: bool) -> None:
        """A dispatch step ended: forget held-back work if nothing is ready; steer the monitor."""
        if not ready:
            self._held = ()
            self._holds = ()
        if self.io_control.enabled:
            limited, any_io = self._io_load()
            waiting = any(d.kind == "io limit" for d in self._held)
            self.io_control.note_load(limited, any_io, waiting)

    def prefilter(self, inputs: Inputs, types: tuple[str, ...]) -> Prefilter:
        """Return what the candidate query can leave out wholesale.

        That is: the types of domains at their cap or with an empty bucket, the priorities
        the pressure holds (as the least urgent priority allowed), the groups at their cap or
        with an empty bucket; and when the first emptied bucket refills.
        """
        load, caps, now = inputs.load, inputs.caps, inputs.now
        full_domains = {d for d, cap in caps.domains.items() if load.domains.get(d, 0) >= cap}
        empty_types = {
            t: b.next_token_at(now) for t, b in inputs.type_buckets.items() if not b.available(now)
        }
        kept = tuple(
            t for t in types if t.partition("::")[0] not in full_domains and t not in empty_types
        )
        full_groups = [
            g
            for g, running in load.groups.items()
            if (cap := caps.group_cap(g)) is not None and running >= cap
        ]
        empty_groups = {
            g: b.next_token_at(now) for g, b in inputs.group_buckets.items() if not b.available(now)
        }
        refills = [at for t, at in empty_types.items() if t in types] + list(empty_groups.values())
        least_urgent = inputs.throttle.least_urgent_allowed(inputs.pressure)
        holds = [f"domain {d!r} runs {caps.domains[d]}, its cap" for d in sorted(full_domains)]
        holds += [f"group {g!r} runs its cap" for g in sorted(full_groups)]
        holds += [f"rate limit of {t}: no token" for t in sorted(empty_types) if t in types]
        holds += [f"rate limit of group {g!r}: no token" for g in sorted(empty_groups)]
        if least_urgent < MAX_PRIORITY:
            holds.append(f"pressure {inputs.pressure:.2f} holds priorities above {least_urgent}")
        self._holds = tuple(holds)
        return Prefilter(
            types=kept,
            least_urgent=least_urgent,
            excluded_groups=tuple(sorted({*full_groups, *empty_groups})),
            refill_at=min(refills, default=None),
        )

    def commit(self, selection: Selection) -> None:
        """Keep the token buckets as the admitted starts left them."""
        self._type_buckets.update(selection.type_buckets)
        self._group_buckets.update(selection.group_buckets)
        self._shares = dict(selection.shares)
        self._held = selection.deferred

    # --- internals -----------------------------------------------------------------------

    def _effective_domain_limits(self) -> dict[str, int]:
        limits = {
            name: domain.max_concurrency
            for name, domain in self._registry.domains.items()
            if domain.max_concurrency is not None
        }
        limits.update(self._domain_limits)
        return limits

    def _buckets_for_types(self, now: float) -> dict[str, Bucket]:
        for name, task_type in self._registry.by_name.items():
            limit = task_type.rate_limit
            bucket = self._type_buckets.get(name)
            if limit is None:
                self._type_buckets.pop(name, None)
            elif bucket is None or bucket.limit != limit:
                self._type_buckets[name] = Bucket.full(limit, now)
        return dict(self._type_buckets)

    def _buckets_for_groups(self, now: float) -> dict[str, Bucket]:
        for group, limit in self._group_rates.items():
            if group not in self._group_buckets:
                self._group_buckets[group] = Bucket.full(limit, now)
        return dict(self._group_buckets)
