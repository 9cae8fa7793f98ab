"""The Store contract: every store (SQLite file, in-memory) must pass these tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from taskmill import (
    Duplicate,
    Inserted,
    IoBudget,
    MemoryStore,
    NotDeadLetteredError,
    Retention,
    SqliteStore,
    Store,
    StoreClosedError,
    TaskNotFoundError,
    TaskStatus,
    Upgraded,
)
from taskmill.model.outcomes import OnDuplicate, Rejected, Requeued, Superseded
from taskmill.store import NewTask, SettleKind, Settlement

T0 = 1000.0
TYPES = ("d::t", "d::x", "d::y")  # the task types the claiming scheduler can run


def new(
    key: str,
    priority: int = 128,
    *,
    type: str = "d::t",
    payload: bytes = b"{}",
    on_duplicate: OnDuplicate = "skip",
) -> NewTask:
    return NewTask(
        type=type,
        key=key,
        label=f"label-{key}",
        priority=priority,
        payload=payload,
        on_duplicate=on_duplicate,
    )


async def test_ids_follow_submission_order_and_are_never_reused(store: Store) -> None:
    """Ids grow with submission, even after the newest task moved to history."""
    first = await store.submit([new("a"), new("b")], T0)
    assert [o.id for o in first] == sorted(o.id for o in first)
    await store.claim(2, T0, TYPES)
    await store.settle([Settlement(o.id, SettleKind.COMPLETED, T0 + 1) for o in first])
    assert await store.count_by_status() == {}
    [later] = await store.submit([new("a")], T0 + 2)
    assert isinstance(later, Inserted)
    assert later.id > max(o.id for o in first)


async def test_duplicates_do_not_consume_ids(store: Store) -> None:
    """A duplicate gets no id of its own: the next new task's id follows on."""
    [a] = await store.submit([new("a")], T0)
    await store.submit([new("a"), new("a")], T0)
    [b, c] = await store.submit([new("b"), new("a")], T0)
    assert (b.id, c) == (a.id + 1, Duplicate(a.id))


async def test_duplicate_key_reports_existing_task(store: Store) -> None:
    """A second task with an active key is a Duplicate of the first; nothing is added."""
    [a] = await store.submit([new("k")], T0)
    [b] = await store.submit([new("k")], T0)
    assert b == Duplicate(a.id)
    assert await store.count_by_status() == {TaskStatus.PENDING: 1}


async def test_same_key_of_another_type_is_not_a_duplicate(store: Store) -> None:
    """Keys are scoped by task type."""
    outcomes = await store.submit([new("k", type="d::x"), new("k", type="d::y")], T0)
    assert [type(o) for o in outcomes] == [Inserted, Inserted]


async def test_higher_priority_duplicate_upgrades_pending_task(store: Store) -> None:
    """A duplicate at a higher priority raises the queued task's priority."""
    [a] = await store.submit([new("k", 128)], T0)
    [b] = await store.submit([new("k", 64)], T0)
    assert b == Upgraded(a.id, 128, 64)
    record = await store.get_task(a.id)
    assert record is not None
    assert record.priority == 64


async def test_lower_priority_duplicate_changes_nothing(store: Store) -> None:
    """A duplicate at a lower priority leaves the task as it was."""
    [a] = await store.submit([new("k", 64)], T0)
    [b] = await store.submit([new("k", 200)], T0)
    assert b == Duplicate(a.id)
    record = await store.get_task(a.id)
    assert record is not None
    assert record.priority == 64


async def test_duplicate_of_a_running_task_requeues_it(store: Store) -> None:
    """A duplicate of a running task is Requeued: it runs once more, as the duplicate asked.

    The running attempt keeps its priority; after it ends the task is pending again with the
    duplicate's payload, the more urgent priority and no retries, under the same id.
    """
    [a] = await store.submit([new("k", 128, payload=b"1")], T0)
    await store.claim(1, T0, TYPES)
    [b] = await store.submit([new("k", 0, payload=b"2")], T0)
    [c] = await store.submit([new("k", 64, payload=b"3")], T0)
    assert (b, c) == (Requeued(a.id), Requeued(a.id))
    running = await store.get_task(a.id)
    assert running is not None
    assert (running.status, running.priority, running.payload) == ("running", 128, 1)
    changes = await store.settle([Settlement(a.id, SettleKind.COMPLETED, T0 + 1)])
    assert changes.ready
    again = await store.get_task(a.id)
    assert again is not None
    assert (again.status, again.priority, again.payload, again.retry_count) == (
        "pending", 0, 3, 0
    )  # fmt: skip
    [history] = await store.get_history(a.id)
    assert (history.status, history.payload) == ("completed", 1)
    [claimed] = await store.claim(1, T0 + 2, TYPES)
    await store.settle([Settlement(claimed.id, SettleKind.FAILED, T0 + 3, error="boom")])
    assert await store.get_task(a.id) is None  # the run asked for happened: the key is free
    [d] = await store.submit([new("k", 128)], T0 + 4)
    assert isinstance(d, Inserted)


async def test_reject_and_supersede_policies(store: Store) -> None:
    """'reject' changes nothing; 'supersede' replaces a waiting task in place."""
    [a] = await store.submit([new("k", 128, payload=b"1")], T0)
    [b] = await store.submit([new("k", 0, payload=b"2", on_duplicate="reject")], T0)
    assert b == Rejected(a.id)
    [c] = await store.submit([new("k", 200, payload=b"3", on_duplicate="supersede")], T0 + 1)
    assert c == Superseded(a.id, a.id)
    record = await store.get_task(a.id)
    assert record is not None
    assert (record.priority, record.payload, record.status) == (200, 3, "pending")
    [old] = await store.get_history(a.id)
    assert (old.status, old.payload, old.priority) == ("superseded", 1, 128)


async def test_superseding_a_running_task_gives_a_new_id(store: Store) -> None:
    """The running version goes to history at once; the replacement is a new pending task."""
    [a] = await store.submit([new("k", 128, payload=b"1")], T0)
    await store.claim(1, T0, TYPES)
    [b] = await store.submit([new("k", 128, payload=b"2", on_duplicate="supersede")], T0 + 1)
    assert isinstance(b, Superseded)
    assert b.replaced == a.id
    assert b.id > a.id
    [old] = await store.get_history(a.id)
    assert (old.status, old.duration) == ("superseded", 1.0)
    # The interrupted attempt settles as superseded: nothing more is written.
    await store.settle([Settlement(a.id, SettleKind.SUPERSEDED, T0 + 2)])
    assert len(await store.get_history(a.id)) == 1
    new_record = await store.get_task(b.id)
    assert new_record is not None
    assert (new_record.status, new_record.payload) == ("pending", 2)


async def test_last_duplicate_in_a_batch_wins(store: Store) -> None:
    """In one batch the last task with a key is stored; earlier ones are its duplicates."""
    outcomes = await store.submit([new("k", 128, payload=b"1"), new("k", 64, payload=b"2")], T0)
    assert isinstance(outcomes[1], Inserted)
    assert outcomes[0] == Duplicate(outcomes[1].id)
    record = await store.get_task(outcomes[1].id)
    assert record is not None
    assert (record.priority, record.payload) == (64, 2)


async def test_concurrent_submissions_behave_as_if_one_after_another(store: Store) -> None:
    """Submissions committed together keep their own outcomes, in the order they were made."""
    outcomes = await asyncio.gather(
        store.submit([new("k", 128)], T0),
        store.submit([new("k", 64)], T0),
        store.submit([new("j"), new("k", 200)], T0),
        store.submit([new("j")], T0),
    )
    [[first], [second], [third, fourth], [fifth]] = outcomes
    assert isinstance(first, Inserted)
    assert second == Upgraded(first.id, 128, 64)
    assert isinstance(third, Inserted)
    assert third.id == first.id + 1
    assert fourth == Duplicate(first.id)
    assert fifth == Duplicate(third.id)


async def test_claim_order_is_priority_then_fifo(store: Store) -> None:
    """Claims return tasks by priority, and by submission within a priority."""
    outcomes = await store.submit(
        [new("a", 128), new("b", 0), new("c", 128), new("d", 255), new("e", 0)], T0
    )
    ids = {key: o.id for key, o in zip("abcde", outcomes, strict=True)}
    claimed = await store.claim(10, T0, TYPES)
    assert [c.id for c in claimed] == [ids[k] for k in "beacd"]
    assert all(c.retry_count == 0 for c in claimed)


async def test_claim_skips_types_it_cannot_run(store: Store) -> None:
    """Tasks of types not asked for stay pending and do not block the tasks behind them."""
    outcomes = await store.submit(
        [new("a", 0, type="other::t"), new("b", 100), new("c", 0, type="other::t")], T0
    )
    claimed = await store.claim(5, T0, TYPES)
    assert [c.id for c in claimed] == [outcomes[1].id]
    assert await store.count_by_status() == {TaskStatus.PENDING: 2, TaskStatus.RUNNING: 1}
    later = await store.claim(5, T0, ("other::t",))
    assert [c.id for c in later] == [outcomes[0].id, outcomes[2].id]


async def test_claim_respects_limit_and_marks_running(store: Store) -> None:
    """A claim takes at most `limit` tasks and marks exactly those running."""
    await store.submit([new(str(i)) for i in range(5)], T0)
    claimed = await store.claim(2, T0, TYPES)
    assert len(claimed) == 2
    assert await store.count_by_status() == {TaskStatus.PENDING: 3, TaskStatus.RUNNING: 2}
    record = await store.get_task(claimed[0].id)
    assert record is not None
    assert record.started_at == T0


async def test_completed_task_moves_to_history_and_frees_its_key(store: Store) -> None:
    """Completion removes the task from the queue, records it, and frees the key."""
    [a] = await store.submit([new("k")], T0)
    await store.claim(1, T0 + 1, TYPES)
    await store.settle(
        [Settlement(a.id, SettleKind.COMPLETED, T0 + 3, actual_io=IoBudget(1, 2, 3, 4))]
    )
    assert await store.get_task(a.id) is None
    [record] = await store.get_history(a.id)
    assert record.status is TaskStatus.COMPLETED
    assert (record.started_at, record.finished_at, record.duration) == (T0 + 1, T0 + 3, 2.0)
    assert record.actual_io == IoBudget(1, 2, 3, 4)
    [again] = await store.submit([new("k")], T0 + 4)
    assert isinstance(again, Inserted)


async def test_retry_settlement_requeues_with_backoff(store: Store) -> None:
    """A retry goes back to pending with one more retry, held until not_before."""
    [a] = await store.submit([new("k")], T0)
    await store.claim(1, T0, TYPES)
    await store.settle(
        [Settlement(a.id, SettleKind.RETRY, T0, error="ValueError: x", not_before=T0 + 10)]
    )
    record = await store.get_task(a.id)
    assert record is not None
    assert (record.status, record.retry_count, record.not_before, record.last_error) == (
        TaskStatus.PENDING,
        1,
        T0 + 10,
        "ValueError: x",
    )
    assert await store.claim(1, T0 + 5, TYPES) == []
    assert await store.promote_due(T0 + 9) == T0 + 10
    assert await store.claim(1, T0 + 9, TYPES) == []
    assert await store.promote_due(T0 + 10) is None
    [claimed] = await store.claim(1, T0 + 10, TYPES)
    assert (claimed.id, claimed.retry_count) == (a.id, 1)


async def test_requeue_settlement_does_not_charge_a_retry(store: Store) -> None:
    """An interrupted attempt goes back to pending with its retry count unchanged."""
    [a] = await store.submit([new("k")], T0)
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, SettleKind.REQUEUE, T0)])
    record = await store.get_task(a.id)
    assert record is not None
    assert (record.status, record.retry_count) == (TaskStatus.PENDING, 0)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (SettleKind.FAILED, TaskStatus.FAILED),
        (SettleKind.DEAD_LETTER, TaskStatus.DEAD_LETTER),
    ],
)
async def test_failures_move_to_history_with_their_error(
    store: Store, kind: SettleKind, status: TaskStatus
) -> None:
    """Permanent failures and exhausted retries are recorded with their last error."""
    [a] = await store.submit([new("k")], T0)
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, kind, T0 + 1, error="boom")])
    [record] = await store.get_history(a.id)
    assert (record.status, record.last_error) == (status, "boom")


async def test_recover_requeues_running_without_charging(store: Store) -> None:
    """Recovery turns running tasks into pending ones with the same retry count."""
    [a, b] = await store.submit([new("a"), new("b")], T0)
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, SettleKind.RETRY, T0, error="x")])
    await store.claim(2, T0, TYPES)
    report = await store.recover(T0)
    assert report.requeued == 2
    records = {r.id: r for r in await store.list_tasks()}
    assert {i: (r.status, r.retry_count) for i, r in records.items()} == {
        a.id: (TaskStatus.PENDING, 1),
        b.id: (TaskStatus.PENDING, 0),
    }


async def test_recover_releases_delayed_tasks_whose_time_passed(store: Store) -> None:
    """Delayed tasks due by the time of recovery are ready at once."""
    [a, b] = await store.submit([new("a"), new("b")], T0)
    await store.claim(2, T0, TYPES)
    await store.settle(
        [
            Settlement(a.id, SettleKind.RETRY, T0, not_before=T0 + 5),
            Settlement(b.id, SettleKind.RETRY, T0, not_before=T0 + 50),
        ]
    )
    report = await store.recover(T0 + 10)
    assert report.next_due == T0 + 50
    assert [c.id for c in await store.claim(5, T0 + 10, TYPES)] == [a.id]


async def test_retry_dead_letter_resubmits_under_new_id(store: Store) -> None:
    """A dead letter is submitted again with a new id, its retries reset."""
    [a] = await store.submit([new("k", 64, payload=b'{"x":1}')], T0)
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, SettleKind.RETRY, T0)])
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, SettleKind.DEAD_LETTER, T0, error="e")])
    outcome = await store.retry_dead_letter(a.id, T0 + 1)
    assert isinstance(outcome, Inserted)
    assert outcome.id > a.id
    record = await store.get_task(outcome.id)
    assert record is not None
    assert (record.key, record.priority, record.retry_count, record.payload) == (
        "k",
        64,
        0,
        {"x": 1},
    )


async def test_retry_dead_letter_refuses_other_tasks(store: Store) -> None:
    """Only dead letters can be retried; unknown ids are reported as such."""
    [a, b] = await store.submit([new("a"), new("b")], T0)
    await store.claim(1, T0, TYPES)
    await store.settle([Settlement(a.id, SettleKind.COMPLETED, T0)])
    with pytest.raises(NotDeadLetteredError, match="completed"):
        await store.retry_dead_letter(a.id, T0)
    with pytest.raises(NotDeadLetteredError, match="pending"):
        await store.retry_dead_letter(b.id, T0)
    with pytest.raises(TaskNotFoundError, match="999"):
        await store.retry_dead_letter(999, T0)


async def test_history_pages_newest_first(store: Store) -> None:
    """History lists newest first and pages by seq, filtered by status."""
    outcomes = await store.submit([new(str(i)) for i in range(5)], T0)
    await store.claim(5, T0, TYPES)
    await store.settle(
        [
            Settlement(o.id, SettleKind.FAILED if i % 2 else SettleKind.COMPLETED, T0 + i)
            for i, o in enumerate(outcomes)
        ]
    )
    page = await store.list_history(limit=2)
    assert [r.id for r in page] == [outcomes[4].id, outcomes[3].id]
    rest = await store.list_history(limit=10, before=page[-1].seq)
    assert [r.id for r in rest] == [o.id for o in reversed(outcomes[:3])]
    failed = await store.list_history(status=TaskStatus.FAILED)
    assert [r.id for r in failed] == [outcomes[3].id, outcomes[1].id]


async def test_list_tasks_in_dispatch_order_with_status_filter(store: Store) -> None:
    """Active tasks list in dispatch order and filter by status."""
    outcomes = await store.submit([new("a", 200), new("b", 10), new("c", 100)], T0)
    await store.claim(1, T0, TYPES)
    assert [r.key for r in await store.list_tasks()] == ["b", "c", "a"]
    running = await store.list_tasks(status=TaskStatus.RUNNING)
    assert [r.id for r in running] == [outcomes[1].id]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_retention_keeps_newest_records(kind: str, db_path: object) -> None:
    """Automatic pruning keeps at most max_records history records."""
    retention = Retention(max_records=3, prune_every=1)
    store: Store = (
        SqliteStore(db_path, retention=retention)  # type: ignore[arg-type]
        if kind == "sqlite"
        else MemoryStore(retention=retention)
    )
    await store.open()
    try:
        outcomes = await store.submit([new(str(i)) for i in range(6)], T0)
        for i, o in enumerate(outcomes):
            await store.claim(1, T0, TYPES)
            await store.settle([Settlement(o.id, SettleKind.COMPLETED, T0 + i)])
        assert [r.id for r in await store.list_history()] == [o.id for o in outcomes[:2:-1]]
    finally:
        await store.close()


async def test_prune_by_age(store_factory: Callable[[], Store]) -> None:
    """Manual pruning removes records older than max_age."""
    store = store_factory()
    store.retention = Retention(max_records=None, max_age=60)  # type: ignore[attr-defined]
    await store.open()
    try:
        outcomes = await store.submit([new("old"), new("new")], T0)
        await store.claim(2, T0, TYPES)
        await store.settle(
            [
                Settlement(outcomes[0].id, SettleKind.COMPLETED, T0),
                Settlement(outcomes[1].id, SettleKind.COMPLETED, T0 + 100),
            ]
        )
        assert await store.prune_history(T0 + 120) == 1
        assert [r.id for r in await store.list_history()] == [outcomes[1].id]
    finally:
        await store.close()


async def test_closed_store_refuses_use(store_factory: Callable[[], Store]) -> None:
    """A closed store raises StoreClosedError instead of failing obscurely."""
    store = store_factory()
    await store.open()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.submit([new("k")], T0)
