"""The pure admission policy: caps, throttling, token buckets and fair shares, property-tested."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskmill import ConfigurationError, Fairness, IoBudget, Priority, TaskmillError
from taskmill.admission.fair import allocate
from taskmill.admission.policy import Candidate, Caps, Inputs, Load, select
from taskmill.admission.throttle import ThrottlePolicy
from taskmill.admission.tokens import Bucket, RateLimit

DOMAINS = ["a", "b", "c"]
GROUPS = [None, "g1", "g2"]

candidates = st.lists(
    st.builds(
        Candidate,
        id=st.integers(1, 10_000),
        type=st.sampled_from([f"{d}::t" for d in DOMAINS]),
        priority=st.integers(0, 255),
        group=st.sampled_from(GROUPS),
    ),
    max_size=40,
)
caps = st.builds(
    Caps,
    total=st.integers(1, 12),
    domains=st.dictionaries(st.sampled_from(DOMAINS), st.integers(0, 5), max_size=3),
    groups=st.dictionaries(st.sampled_from(["g1", "g2"]), st.integers(0, 5), max_size=2),
    default_group=st.one_of(st.none(), st.integers(0, 5)),
)


@given(candidates, caps, st.integers(0, 6), st.floats(0, 1))
def test_admission_never_exceeds_a_cap(
    cands: list[Candidate], cap: Caps, running: int, pressure: float
) -> None:
    """Whatever runs and whatever is ready, admitting never breaks a global, domain or group cap."""
    load = Load(total=min(running, cap.total), domains={}, groups={})
    selection = select(cands, Inputs(now=0.0, caps=cap, load=load, pressure=pressure))
    admitted = selection.admitted
    assert load.total + len(admitted) <= cap.total
    for domain, limit in cap.domains.items():
        assert sum(c.domain == domain for c in admitted) <= limit
    for group in ("g1", "g2"):
        limit = cap.group_cap(group)
        if limit is not None:
            assert sum(c.group == group for c in admitted) <= limit
    assert len(admitted) + len(selection.deferred) == len(cands)
    for candidate in admitted:
        assert ThrottlePolicy().allows(candidate.priority, pressure)


io_budgets = st.builds(IoBudget.disk, read=st.integers(0, 100), write=st.integers(0, 100))


@given(
    st.lists(io_budgets, max_size=20),
    io_budgets,
    st.builds(IoBudget.disk, read=st.integers(0, 300), write=st.integers(0, 300)),
)
def test_admitted_io_fits_the_capacity_unless_it_runs_alone(
    wanted: list[IoBudget], running: IoBudget, capacity: IoBudget
) -> None:
    """On each observed axis, running plus admitted IO fits the capacity, or one task has it."""
    cands = [Candidate(i, "a::t", 100, io=io) for i, io in enumerate(wanted)]
    inputs = Inputs(0.0, Caps(total=100), Load(0, {}, {}, running), io_capacity=capacity)
    admitted = select(cands, inputs).admitted
    for axis in ("disk_read", "disk_write"):
        users = [getattr(running, axis)] + [getattr(c.io, axis) for c in admitted]
        users = [n for n in users if n]
        cap = getattr(capacity, axis)
        assert len(users) <= 1 or not cap or sum(users) <= cap
    # Tasks without IO on an axis are never held back by it.
    assert all(c in admitted for c in cands if c.io == IoBudget())


def test_io_budget_reasons_name_the_axis() -> None:
    """A deferral says which axis is full; an axis not observed yet has no budget."""
    big = IoBudget.disk(write=60)
    inputs = Inputs(0.0, Caps(total=8), Load(1, {}, {}, big), io_capacity=IoBudget.disk(write=100))
    selection = select([Candidate(1, "a::t", 100, io=big)], inputs)
    assert [(d.kind, d.reason) for d in selection.deferred] == [
        ("io budget", "IO budget: disk write 120 > 100 bytes")
    ]
    unknown = Inputs(0.0, Caps(total=8), Load(1, {}, {}, big), io_capacity=IoBudget())
    selection = select([Candidate(1, "a::t", 100, io=big)], unknown)
    assert ([c.id for c in selection.admitted], selection.deferred) == ([1], ())


def test_a_capped_candidate_does_not_block_the_ones_behind_it() -> None:
    """A domain at its cap is skipped; the next candidate of another domain is admitted."""
    inputs = Inputs(now=0.0, caps=Caps(total=4, domains={"a": 1}), load=Load(1, {"a": 1}))
    selection = select(
        [Candidate(1, "a::t", 0), Candidate(2, "b::t", 200), Candidate(3, "a::t", 0)], inputs
    )
    assert [c.id for c in selection.admitted] == [2]
    assert [d.reason for d in selection.deferred] == [
        "domain 'a' runs 1, its cap",
        "domain 'a' runs 1, its cap",
    ]


@pytest.mark.parametrize(
    ("pressure", "allowed"),
    [
        (
            0.0,
            {Priority.REALTIME, Priority.HIGH, Priority.NORMAL, Priority.BACKGROUND, Priority.IDLE},
        ),
        (0.6, {Priority.REALTIME, Priority.HIGH, Priority.NORMAL}),
        (0.8, {Priority.REALTIME, Priority.HIGH}),
        (1.0, {Priority.REALTIME, Priority.HIGH}),
    ],
)
def test_default_throttle_policy(pressure: float, allowed: set[Priority]) -> None:
    """BACKGROUND and below wait above 0.5, NORMAL above 0.75, HIGH and REALTIME never."""
    policy = ThrottlePolicy()
    assert {p for p in Priority if policy.allows(p, pressure)} == allowed


def test_throttle_policy_is_customisable() -> None:
    """Rules are (priority, max pressure) pairs; the most specific applies."""
    policy = ThrottlePolicy.of([(100, 0.2), (Priority.HIGH, 0.9)])
    assert policy.max_pressure(150) == 0.2
    assert policy.max_pressure(64) == 0.9
    assert policy.max_pressure(0) == math.inf
    assert policy.least_urgent_allowed(0.5) == 99
    assert ThrottlePolicy.never().allows(255, 1.0)


@settings(max_examples=200)
@given(
    st.floats(0.1, 50),
    st.one_of(st.none(), st.integers(1, 20)),
    st.lists(st.floats(0, 1), min_size=1, max_size=200),
)
def test_token_bucket_never_grants_more_than_rate_times_time_plus_burst(
    rate: float, burst: int | None, steps: list[float]
) -> None:
    """Over any run of attempts, grants <= rate * elapsed + burst."""
    limit = RateLimit(per_second=rate, burst=burst)
    bucket = Bucket.full(limit, 0.0)
    now, granted = 0.0, 0
    for step in steps:
        now += step
        if bucket.available(now):
            bucket = bucket.take(now)
            granted += 1
    assert granted <= rate * now + limit.capacity + 1e-9


def test_token_bucket_tells_when_the_next_token_comes() -> None:
    """An empty bucket refills at its rate; per_minute rates work the same."""
    bucket = Bucket.full(RateLimit(per_minute=30, burst=1), 0.0).take(0.0)
    assert not bucket.available(1.0)
    assert bucket.next_token_at(1.0) == 2.0
    assert bucket.available(2.0)


def test_rate_limited_type_defers_to_its_next_token() -> None:
    """A rate-limited candidate waits for its token; others of other types proceed."""
    buckets = {"a::t": Bucket.full(RateLimit(per_second=1, burst=1), 0.0).take(0.0)}
    inputs = Inputs(now=0.5, caps=Caps(total=4), load=Load(), type_buckets=buckets)
    selection = select([Candidate(1, "a::t", 64), Candidate(2, "b::t", 128)], inputs)
    assert [c.id for c in selection.admitted] == [2]
    assert selection.retry_at == 1.0


@pytest.mark.parametrize(
    "limit",
    [{}, {"per_second": 1, "per_minute": 60}, {"per_second": 0}, {"per_second": 1, "burst": 0}],
)
def test_bad_rate_limits(limit: dict[str, float]) -> None:
    """A rate limit needs exactly one positive rate and a burst >= 1."""
    with pytest.raises(ConfigurationError):
        RateLimit(**limit)  # type: ignore[arg-type]


def test_fair_share_follows_weights() -> None:
    """Weights 3:1 over 8 slots give 6 and 2."""
    assert allocate(8, {"a": 100, "b": 100}, weights={"a": 3, "b": 1}) == {"a": 6, "b": 2}


def test_paused_group_share_goes_to_the_others() -> None:
    """A group with no runnable demand (paused) takes nothing; the others use its share."""
    shares = allocate(8, {"a": 100, "b": 0, "c": 100}, weights={"a": 1, "b": 5, "c": 1})
    assert shares == {"a": 4, "c": 4}


groups = st.sampled_from(["a", "b", "c", "d"])


@given(
    st.integers(0, 40),
    st.dictionaries(groups, st.integers(0, 20), min_size=1),
    st.dictionaries(groups, st.floats(0.1, 10)),
    st.dictionaries(groups, st.integers(0, 5)),
    st.dictionaries(groups, st.integers(0, 10)),
)
def test_fair_allocation_is_work_conserving_and_honours_minimums_and_caps(
    slots: int,
    demand: dict[str, int],
    weights: dict[str, float],
    minimums: dict[str, int],
    caps: dict[str, int],
) -> None:
    """No slot idles while a group could use it; minimums and caps hold."""
    shares = allocate(slots, demand, weights, minimums, caps)
    limit = {g: min(d, caps.get(g, d)) for g, d in demand.items() if d > 0}
    assert sum(shares.values()) == min(slots, sum(limit.values()))
    for group, share in shares.items():
        assert 0 <= share <= limit[group]
    if sum(min(minimums.get(g, 0), limit[g]) for g in limit) <= slots:
        for group, most in limit.items():
            assert shares[group] >= min(minimums.get(group, 0), most)


# --- fair scheduling in select -------------------------------------------------------------


def fair_inputs(fairness: Fairness, total: int = 8, load: Load | None = None) -> Inputs:
    return Inputs(0.0, Caps(total=total), load or Load(), fairness=fairness)


def grouped(group: str | None, count: int, start: int, priority: int = 128) -> list[Candidate]:
    return [Candidate(start + i, "a::t", priority, group) for i in range(count)]


def test_fair_pass_shares_slots_by_weight() -> None:
    """Weights 3:1 over 8 slots admit 6 and 2, though group a's tasks are all ahead."""
    cands = grouped("a", 10, 1) + grouped("b", 10, 100)
    selection = select(cands, fair_inputs(Fairness(weights={"a": 3, "b": 1})))
    assert [c.group for c in selection.admitted].count("a") == 6
    assert [c.id for c in selection.admitted if c.group == "b"] == [100, 101]
    assert selection.shares == {"a": 6, "b": 2}


def test_greedy_fill_gives_unused_shares_away() -> None:
    """A group with less work than its share leaves the rest to others: no slot idles."""
    cands = grouped("a", 10, 1) + grouped("b", 1, 100)
    selection = select(cands, fair_inputs(Fairness(weights={"a": 1, "b": 3})))
    assert sorted(c.id for c in selection.admitted) == [1, 2, 3, 4, 5, 6, 7, 100]


def test_running_tasks_count_towards_the_share() -> None:
    """A group already holding its share starts nothing new while another group waits."""
    load = Load(total=4, groups={"a": 4})
    cands = grouped("a", 4, 1) + grouped("b", 4, 100)
    selection = select(cands, fair_inputs(Fairness(), total=8, load=load))
    assert [c.id for c in selection.admitted] == [100, 101, 102, 103]


def test_minimums_are_granted_before_weights() -> None:
    """A minimum of 3 for a light group holds against a heavy one."""
    cands = grouped("a", 10, 1) + grouped("b", 10, 100)
    fairness = Fairness(weights={"a": 10, "b": 1}, minimums={"b": 3})
    selection = select(cands, fair_inputs(fairness))
    assert [c.group for c in selection.admitted].count("b") == 3


def test_ungrouped_tasks_share_as_one_group() -> None:
    """Tasks without a group get one share between them (key "")."""
    cands = grouped(None, 10, 1) + grouped("b", 10, 100)
    selection = select(cands, fair_inputs(Fairness()))
    assert selection.shares == {"": 4, "b": 4}


def test_urgent_tasks_skip_the_shares() -> None:
    """HIGH (the default urgent level) is admitted first even beyond its group's share."""
    load = Load(total=4, groups={"a": 4})
    cands = grouped("b", 4, 100) + grouped("a", 2, 1, priority=Priority.HIGH)
    selection = select(cands, fair_inputs(Fairness(), total=8, load=load))
    assert [c.id for c in selection.admitted] == [1, 2, 100, 101]


@given(
    st.lists(st.tuples(st.sampled_from([None, "g1", "g2", "g3"]), st.integers(0, 255)),
             max_size=30),
    st.integers(1, 12),
    st.dictionaries(st.sampled_from(["g1", "g2"]), st.integers(0, 3), max_size=2),
)  # fmt: skip
def test_fair_selection_is_work_conserving_and_keeps_caps(
    spec: list[tuple[str | None, int]], total: int, group_caps: dict[str, int]
) -> None:
    """With only caps in play, fairness admits as many as plain priority order would."""
    cands = [Candidate(i, "a::t", p, g) for i, (g, p) in enumerate(spec)]
    caps = Caps(total=total, groups=group_caps)
    fair = select(cands, Inputs(0.0, caps, Load(), fairness=Fairness(weights={"g1": 2})))
    plain = select(cands, Inputs(0.0, caps, Load()))
    assert len(fair.admitted) == len(plain.admitted)
    for group, cap in group_caps.items():
        assert sum(c.group == group for c in fair.admitted) <= cap


@pytest.mark.parametrize(
    "options",
    [{"weights": {"a": 0}}, {"default_weight": -1}, {"minimums": {"a": -1}}, {"urgent": 300}],
)
def test_bad_fairness_settings_are_refused(options: dict[str, object]) -> None:
    """Weights must be > 0, minimums >= 0 and the urgent level a priority."""
    with pytest.raises(TaskmillError):
        Fairness(**options)  # type: ignore[arg-type]
