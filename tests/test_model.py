"""Model records: priorities, retry policies, IO budgets, and JSON-ready records."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskmill.model.events
from taskmill import (
    Cancelled,
    Completed,
    DeadLettered,
    DependencyFailed,
    Dispatched,
    Duplicate,
    Event,
    Expired,
    Failed,
    GroupPaused,
    GroupResumed,
    HistoryRecord,
    Inserted,
    InvalidIoBudgetError,
    InvalidPriorityError,
    InvalidRetryPolicyError,
    IoBudget,
    Missed,
    Paused,
    PauseState,
    Preempted,
    Priority,
    Progress,
    RecurringCompleted,
    RecurringSkipped,
    Rejected,
    Replaced,
    Requeued,
    Resumed,
    Retention,
    Retry,
    RetryPolicy,
    ScheduleRecord,
    Superseded,
    TaskEvent,
    TaskHeader,
    TaskRecord,
    TaskStatus,
    Unblocked,
    Upgraded,
    Waiting,
)
from taskmill.model.priority import check_priority

HEADER = TaskHeader(1, "media::thumbnail", "k", "Thumbnail", 128, 128)


def test_priority_tiers() -> None:
    """The named tiers sit where the spec puts them; lower runs first."""
    assert [int(p) for p in Priority] == [0, 64, 128, 192, 255]
    assert Priority.REALTIME < Priority.HIGH < Priority.NORMAL < Priority.BACKGROUND < Priority.IDLE


@given(st.integers(0, 255))
def test_every_priority_in_range_is_accepted(value: int) -> None:
    """Any integer 0..255 is a valid priority."""
    assert check_priority(value) == value


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=256)))
def test_priorities_out_of_range_are_refused(value: int) -> None:
    """Integers outside 0..255 are refused."""
    with pytest.raises(InvalidPriorityError):
        check_priority(value)


def test_exponential_policy_delays_grow_and_cap() -> None:
    """Exponential delays double from the initial delay and stop at max_delay."""
    policy = RetryPolicy.exponential(1.0, factor=2.0, max_delay=10.0, jitter=0.0)
    assert [policy.delay_for(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.delay_for(10_000) == 10.0  # no overflow


def test_fixed_policy() -> None:
    """A fixed policy waits the same time every retry, without jitter."""
    policy = RetryPolicy.fixed(timedelta(seconds=3), max_retries=5)
    assert [policy.delay_for(n) for n in range(1, 6)] == [3.0] * 5
    assert policy.max_retries == 5


def test_default_policy_retries_three_times() -> None:
    """The default policy retries 3 times, exponentially, with a little jitter."""
    policy = RetryPolicy()
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (3, 1.0, 2.0, 0.1)
    assert RetryPolicy.never().max_retries == 0


@given(st.integers(1, 50), st.floats(0, 1))
def test_jittered_delay_within_bounds(retry: int, draw: float) -> None:
    """Jitter spreads a delay by at most ±jitter, never past max_delay."""
    policy = RetryPolicy(delay=2.0, backoff=1.5, max_delay=60.0, jitter=0.25)
    nominal = min(2.0 * 1.5 ** (retry - 1), 60.0)
    delay = policy.delay_for(retry, rand=lambda: draw)
    assert 0.75 * nominal - 1e-9 <= delay <= min(1.25 * nominal, 60.0) + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"delay": -1.0}, "delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"backoff": 0.5}, "backoff"),
        ({"jitter": 2.0}, "jitter"),
    ],
)
def test_invalid_retry_policies(kwargs: dict[str, float], message: str) -> None:
    """Invalid retry settings are refused with the offending field named."""
    with pytest.raises(InvalidRetryPolicyError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_exception_carries_delay() -> None:
    """Retry(after=...) accepts seconds or a timedelta."""
    assert Retry(after=timedelta(minutes=1)).after == 60.0
    assert Retry("x", after=5).after == 5.0
    assert Retry(after=0).after == 0.0
    assert Retry().after is None


@pytest.mark.parametrize(
    "after",
    [math.inf, -math.inf, math.nan, -5, -0.001, timedelta(seconds=-1), "5", True],
    ids=["inf", "-inf", "nan", "-5", "-0.001", "negative-timedelta", "str", "bool"],
)
def test_retry_refuses_a_delay_that_is_not_finite_seconds(after: object) -> None:
    """Retry(after=inf) used to park a task forever; nan and -5 meant 'no delay'."""
    with pytest.raises(InvalidRetryPolicyError) as raised:
        Retry("x", after=after)  # type: ignore[arg-type]
    message = str(raised.value)
    assert f"Retry(after={after!r})" in message
    assert "finite number of seconds >= 0" in message
    assert "PermanentError" in message


def test_io_budget_constructors_and_sum() -> None:
    """Disk and network budgets combine with +."""
    total = IoBudget.disk(read=1, write=2) + IoBudget.net(rx=3, tx=4)
    assert total == IoBudget(1, 2, 3, 4)
    with pytest.raises(InvalidIoBudgetError, match="disk_read"):
        IoBudget.disk(read=-1)


def test_retention_validation() -> None:
    """Retention refuses negative counts and non-positive ages."""
    with pytest.raises(ValueError, match="max_records"):
        Retention(max_records=-1)
    with pytest.raises(ValueError, match="max_age"):
        Retention(max_age=0)
    assert Retention(max_age=timedelta(days=1)).max_age_seconds == 86_400


def test_status_kinds() -> None:
    """Active statuses are not terminal; the rest are."""
    assert not TaskStatus.RUNNING.is_terminal
    assert TaskStatus.DEAD_LETTER.is_terminal


RECORDS: list[object] = [
    TaskRecord(
        1, "d::t", "k", "l", 10, TaskStatus.PENDING, {"a": [1, 2]}, 0, 1.0, None, None, None,
        IoBudget(),
    ),
    HistoryRecord(
        3, 1, "d::t", "k", "l", 10, TaskStatus.COMPLETED, "x", 2, 1.0, 2.0, 3.0, 1.0, "e",
        IoBudget(1, 2, 3, 4), IoBudget(5, 6, 7, 8),
    ),
    HEADER,
    Inserted(1),
    Duplicate(2),
    Upgraded(3, 128, 64),
    Dispatched(1.0, HEADER, 1),
    Completed(2.0, HEADER, 1, 0.5, IoBudget(1, 0, 0, 0)),
    Failed(2.0, HEADER, 1, "ValueError: x", True, 4.0),
    DeadLettered(3.0, HEADER, 4, "ValueError: x"),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record: object) -> None:
    """Every record, outcome and event becomes JSON unchanged by to_dict()."""
    data = record.to_dict()  # type: ignore[attr-defined]
    assert json.loads(json.dumps(data)) == data


def test_event_dicts_name_their_kind() -> None:
    """Event dicts say which event they are, and nest the task header."""
    data = Failed(2.0, HEADER, 1, "boom", False, None).to_dict()
    assert data == {
        "event": "failed",
        "at": 2.0,
        "task": {
            "id": 1,
            "type": "media::thumbnail",
            "key": "k",
            "label": "Thumbnail",
            "priority": 128,
            "effective_priority": 128,
            "tags": {},
        },
        "attempt": 1,
        "error": "boom",
        "will_retry": False,
        "retry_after": None,
        "dead_letter": False,
    }
    assert Upgraded(3, 128, 64).to_dict() == {
        "kind": "upgraded",
        "id": 3,
        "previous_priority": 128,
        "priority": 64,
    }


ALL_EVENTS = [
    Dispatched(1.0, HEADER, 1),
    Progress(1.5, HEADER, 0.5, "half", 10, 20, 5.0, 2.0),
    Completed(2.0, HEADER, 1, 0.5, IoBudget(1, 0, 0, 0)),
    Failed(2.0, HEADER, 1, "ValueError: x", False, None, dead_letter=True),
    DeadLettered(3.0, HEADER, 4, "ValueError: x"),
    Preempted(1.0, HEADER, 9),
    Cancelled(1.0, HEADER, True),
    Replaced(1.0, HEADER, 2, False),
    Waiting(1.0, HEADER),
    Unblocked(1.0, HEADER),
    DependencyFailed(1.0, HEADER, 3),
    Expired(1.0, HEADER),
    RecurringSkipped(1.0, 7, "d::t", 0.5, 8),
    RecurringCompleted(1.0, 7, "d::t", 3),
    Paused(1.0, "media"),
    Resumed(1.0, None),
    GroupPaused(1.0, "uploads", 9.0),
    GroupResumed(1.0, "uploads"),
    Missed(1.0, 12),
]


def test_every_event_class_round_trips_through_json() -> None:
    """One of each event (a new event class must be added here) survives json.dumps."""
    defined = {
        cls
        for cls in vars(taskmill.model.events).values()
        if isinstance(cls, type) and issubclass(cls, Event) and cls not in (Event, TaskEvent)
    }
    assert {type(event) for event in ALL_EVENTS} == defined
    for event in ALL_EVENTS:
        data = event.to_dict()
        assert data["event"] == event.kind
        assert json.loads(json.dumps(data)) == data


def test_outcomes_and_state_records_round_trip_through_json() -> None:
    records = [
        Requeued(1),
        Superseded(2, 1),
        Rejected(3),
        PauseState(True, ("media",), {"uploads": 5.0, "other": None}),
        ScheduleRecord(
            7, "d::t", "k", "l", 128, None, 60.0, False, None, None, 3, 1, 61.0, 9, "active",
            1.0, {"a": "b"},
        ),
    ]  # fmt: skip
    for record in records:
        data = record.to_dict()  # type: ignore[attr-defined]
        assert json.loads(json.dumps(data)) == data
