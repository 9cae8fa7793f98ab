"""The adaptive IO limit as a pure policy: the AIMD law, and the limit inside admission."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskmill import Aimd, ConfigurationError, IoBudget, IoControl, Priority
from taskmill.admission.io_limit import IoLimit, observe
from taskmill.admission.policy import Candidate, Caps, Inputs, Load, select

AIMD = Aimd()
WRITER = IoBudget.disk(write=64 << 20)


STEP = 0.125  # seconds between readings: exact in binary, so windows end exactly


def run(
    state: IoLimit, first: int, last: int, level: float = 0.0, *, in_use: bool = True
) -> IoLimit:
    """Feed readings at ``level`` at steps ``first`` .. ``last`` (inclusive)."""
    for step in range(first, last + 1):
        state = observe(state, now=step * STEP, level=level, in_use=in_use, aimd=AIMD)
    return state


def test_the_limit_starts_at_one_and_doubles_per_clean_second_until_the_cap() -> None:
    """Slow start: 1, then 2, 4, 8 after one, two, three clean seconds in use; 8 is the cap."""
    state = IoLimit.starting(8, AIMD)
    limits = [state.limit]
    state = run(state, 0, 0)
    for second in range(1, 5):
        state = run(state, 8 * second - 7, 8 * second)
        limits.append(state.limit)
    assert limits == [1, 2, 4, 8, 8]


def test_congestion_halves_at_most_once_per_half_second() -> None:
    """Readings congested every 125 ms halve 16 -> 8 at once, and -> 4 only 0.5 s later."""
    state = run(IoLimit(limit=16, cap=16, slow_start=False), 0, 0, 2.0)
    assert (state.limit, state.congested) == (8, True)
    state = run(state, 1, 3, 2.0)
    assert state.limit == 8
    assert run(state, 4, 4, 2.0).limit == 4


def test_the_limit_never_falls_below_one() -> None:
    """Halving 1 leaves 1."""
    assert run(IoLimit(limit=1, cap=8), 0, 20, 5.0).limit == 1


def test_after_the_first_congestion_growth_is_additive() -> None:
    """Once congested, a clean second adds max(1, limit // 16): 32 -> 34 -> 36; 2 -> 3."""
    state = run(IoLimit(limit=64, cap=64), 0, 0, 1.5)
    assert (state.limit, state.slow_start) == (32, False)
    state = run(state, 1, 9)
    assert state.limit == 34
    assert run(state, 10, 17).limit == 36
    small = run(IoLimit(limit=8, cap=8), 0, 4, 1.5)
    assert small.limit == 2
    assert run(small, 5, 13).limit == 3


def test_a_congested_reading_restarts_the_clean_window() -> None:
    """Hold: one congested reading 0.375 s after a halving restarts the clean second."""
    state = run(IoLimit(limit=8, cap=16), 0, 0, 2.0)
    assert state.limit == 4
    state = run(state, 1, 2)
    state = run(state, 3, 3, 2.0)  # within 0.5 s of the halving: held, not halved
    assert state.limit == 4
    state = run(state, 4, 11)
    assert state.limit == 4
    assert run(state, 12, 12).limit == 5


def test_an_unused_limit_does_not_grow() -> None:
    """Clean readings while fewer tasks run than the limit allows prove nothing: no growth."""
    assert run(IoLimit.starting(8, AIMD), 0, 40, in_use=False).limit == 1


def test_growth_waits_for_headroom() -> None:
    """At level 0.6 with 2 tasks, 4 would predict 1.2: the limit stays; at 0.4 it doubles."""
    state = IoLimit(limit=2, cap=8)
    assert run(state, 0, 16, 0.6).limit == 2
    assert run(state, 0, 8, 0.4).limit == 4


def test_a_lower_cap_clamps_the_limit() -> None:
    """When max_concurrency drops to 3, a limit of 8 reads 3 at the next reading."""
    state = observe(IoLimit(limit=8, cap=8), now=0.0, level=0.0, in_use=True, aimd=AIMD, cap=3)
    assert (state.limit, state.cap) == (3, 3)


def test_nan_readings_count_as_clean() -> None:
    """A reading without information (NaN) never halves the limit."""
    state = observe(IoLimit(limit=4, cap=8), now=0.0, level=float("nan"), in_use=True, aimd=AIMD)
    assert (state.limit, state.congested) == (4, False)


levels = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
steps = st.lists(st.tuples(st.floats(min_value=0.01, max_value=1.0), levels, st.booleans()))


@given(st.integers(1, 64), st.integers(1, 64), steps)
def test_the_limit_stays_within_one_and_the_cap(start: int, cap: int, script: list) -> None:
    """Whatever the readings, 1 <= limit <= cap, and a congested reading never raises it."""
    state = IoLimit(limit=min(start, cap), cap=cap)
    now = 0.0
    for gap, level, in_use in script:
        now += gap
        before = state.limit
        state = observe(state, now=now, level=level, in_use=in_use, aimd=AIMD)
        assert 1 <= state.limit <= cap
        if level >= 1.0:
            assert state.limit <= before


@given(st.integers(1, 64), steps)
def test_a_clean_disk_brings_the_limit_back_to_the_cap(cap: int, script: list) -> None:
    """After any history, clean readings while the limit is used reach the cap again."""
    state = IoLimit.starting(cap, AIMD)
    now = 0.0
    for gap, level, in_use in script:
        now += gap
        state = observe(state, now=now, level=level, in_use=in_use, aimd=AIMD)
    for _ in range(2000):
        now += 0.1
        state = observe(state, now=now, level=0.0, in_use=True, aimd=AIMD)
    assert state.limit == cap


# --- the limit in admission ---------------------------------------------------------------


def limited(io_tasks: int, limit: int | None) -> Inputs:
    return Inputs(0.0, Caps(total=8), Load(io_tasks, io_tasks=io_tasks), io_limit=limit)


def test_background_disk_io_waits_for_the_limit_with_its_reason() -> None:
    """At the limit, a NORMAL writer waits ("io limit"); a task without disk IO starts."""
    candidates = [Candidate(1, "a::w", Priority.NORMAL, io=WRITER), Candidate(2, "a::p", 128)]
    selection = select(candidates, limited(2, 2))
    assert [c.id for c in selection.admitted] == [2]
    assert [(d.candidate.id, d.kind) for d in selection.deferred] == [(1, "io limit")]
    assert selection.deferred[0].reason == "IO limit: 2 background IO tasks run, the limit"


def test_the_limit_counts_what_it_admits() -> None:
    """With one slot of the limit left, the first of three writers starts, two wait."""
    candidates = [Candidate(i, "a::w", Priority.BACKGROUND, io=WRITER) for i in (1, 2, 3)]
    selection = select(candidates, limited(1, 2))
    assert [c.id for c in selection.admitted] == [1]
    assert [d.candidate.id for d in selection.deferred] == [2, 3]


def test_high_and_realtime_are_exempt_from_the_limit() -> None:
    """HIGH and REALTIME writers start at the limit; NORMAL ones wait."""
    candidates = [
        Candidate(1, "a::w", Priority.HIGH, io=WRITER),
        Candidate(2, "a::w", Priority.REALTIME, io=WRITER),
        Candidate(3, "a::w", Priority.HIGH + 1, io=WRITER),
    ]
    selection = select(candidates, limited(4, 1))
    assert [c.id for c in selection.admitted] == [1, 2]
    assert [d.candidate.id for d in selection.deferred] == [3]


def test_network_only_io_is_not_held_by_the_disk_limit() -> None:
    """The limit is about the disk: an upload starts whatever the limit."""
    upload = Candidate(1, "a::u", Priority.IDLE, io=IoBudget.net(tx=1 << 30))
    assert [c.id for c in select([upload], limited(3, 1)).admitted] == [1]


def test_without_a_limit_nothing_waits_for_it() -> None:
    """``io_limit=None`` (no monitoring): writers start while slots are free."""
    candidates = [Candidate(i, "a::w", 200, io=WRITER) for i in range(3)]
    assert len(select(candidates, limited(5, None)).admitted) == 3


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"exempt": 300}, "exempt"),
        ({"exempt": True}, "exempt"),
        ({"interval": 0}, "interval"),
        ({"interval": float("inf")}, "interval"),
        ({"chunk": 100}, "chunk"),
        ({"latency_floor_ms": -1}, "latency_floor_ms"),
        ({"aimd": "fast"}, "aimd"),
    ],
)
def test_bad_io_control_settings_are_refused(option: dict[str, object], message: str) -> None:
    """Out-of-range or mistyped IoControl fields raise ConfigurationError naming the field."""
    with pytest.raises(ConfigurationError, match=message):
        IoControl(**option)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "option", [{"decrease_every": 0}, {"window": float("nan")}, {"start": 0}, {"start": 1.5}]
)
def test_bad_aimd_settings_are_refused(option: dict[str, object]) -> None:
    """Aimd refuses non-positive periods and a start below 1."""
    with pytest.raises(ConfigurationError, match="Aimd"):
        Aimd(**option)  # type: ignore[arg-type]
