"""Queries for UIs: filtered lists, keyset paging, key lookups, per-type stats, throughput."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    ConfigurationError,
    Domain,
    IoBudget,
    KeyLookup,
    PermanentError,
    RetryPolicy,
    Scheduler,
    TaskContext,
    TaskStatus,
    Throughput,
    TypeStats,
)
from taskmill.testing import FakeClock


@dataclass
class Job:
    name: str
    seconds: float = 0.0  # how long it runs on the fake clock
    fail: bool = False
    read: int = 0


def timed_domain(clock: FakeClock) -> Domain:
    """Types work::a and work::b, whose tasks take `seconds` of fake time and may fail."""
    domain = Domain("work", retry=RetryPolicy.never())

    async def run(job: Job, ctx: TaskContext) -> None:
        clock.advance(job.seconds)
        ctx.record_read_bytes(job.read)
        if job.fail:
            raise PermanentError(f"{job.name} failed")

    domain.task("a", key=lambda job: job.name)(run)
    domain.task("b", key=lambda job: job.name)(run)
    return domain


async def test_list_tasks_filters_by_domain_group_any_tag_value_and_pages(
    database: str,
) -> None:
    """Domain and group filters, a tag key with any value, and keyset pages in dispatch order."""
    work, other = Domain("work"), Domain("workshop")
    for domain in (work, other):
        domain.task("a", key=lambda job: job.name)(_never)
    async with Scheduler(database, domains=[work, other]) as scheduler:
        await scheduler.pause()
        for domain, name, priority, tags, group in [
            (work, "w1", 200, {"t": "1"}, "g"),
            (work, "w2", 100, {}, None),
            (other, "o1", 100, {"t": "2"}, "g"),
            (work, "w3", 100, {"t": "3"}, None),
        ]:
            await scheduler.domain(domain).submit(
                Job(name), priority=priority, tags=tags, group=group
            )
        names = lambda records: [r.payload["name"] for r in records]  # noqa: E731
        assert names(await scheduler.list_tasks(domain="work")) == ["w2", "w3", "w1"]
        assert names(await scheduler.list_tasks(domain=other)) == ["o1"]
        assert names(await scheduler.list_tasks(group="g")) == ["o1", "w1"]
        assert names(await scheduler.list_tasks(tags={"t": None})) == ["o1", "w3", "w1"]
        first = await scheduler.list_tasks(limit=2)
        assert names(first) == ["w2", "o1"]
        rest = await scheduler.list_tasks(after=(first[-1].priority, first[-1].id))
        assert names(rest) == ["w3", "w1"]


async def _never(job: Job, ctx: TaskContext) -> None:
    raise AssertionError("paused: never runs")


async def test_list_tasks_filters_by_type_key_and_statuses(database: str, clock: FakeClock) -> None:
    domain = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        handle = scheduler.domain(domain)
        a1 = await handle.submit(Job("x"), task="a", run_after=60)
        a2 = await handle.submit(Job("y"), task="a", run_after=60, priority=10)
        b1 = await handle.submit(Job("x"), task="b", run_after=60)
        await scheduler.pause(domain)
        a3 = await handle.submit(Job("z"), task="a", run_after=60)
        by_type = await scheduler.list_tasks(task_type="work::a")
        by_key = await scheduler.list_tasks(key="x")
        by_type_and_key = await scheduler.list_tasks(task_type=domain.tasks["b"], key="x")
        paused = await scheduler.list_tasks(status="paused")
        either = await scheduler.list_tasks(status=[TaskStatus.PAUSED, "pending"], limit=2)
    assert [r.id for r in by_type] == [a2.id, a1.id, a3.id]  # dispatch order: priority, id
    assert sorted(r.id for r in by_key) == [a1.id, b1.id]
    assert [r.id for r in by_type_and_key] == [b1.id]
    assert [r.id for r in paused] == [a2.id, a1.id, b1.id, a3.id]  # the pause took them all
    assert [r.id for r in either] == [a2.id, a1.id]


async def finished(scheduler: Scheduler, domain: Domain, jobs: list[tuple[str, Job]]) -> list[int]:
    """Run `jobs` (type, job) one after another; return their ids."""
    ids = []
    for task_type, job in jobs:
        outcome = await scheduler.domain(domain).submit(job, task=task_type)
        await scheduler.wait_idle(include_delayed=False)
        ids.append(outcome.id)
    return ids


async def test_history_pages_by_seq_and_filters(database: str, clock: FakeClock) -> None:
    """Keyset pages cover every record once, newest first, while tasks keep ending."""
    domain = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock, max_concurrency=1) as scheduler:
        ids = await finished(
            scheduler, domain, [("a", Job(f"t{i}", fail=i % 3 == 0)) for i in range(7)]
        )
        first = await scheduler.list_history(limit=3)
        [late] = await finished(scheduler, domain, [("b", Job("late"))])
        second = await scheduler.list_history(limit=3, before=first[-1].seq)
        third = await scheduler.list_history(limit=3, before=second[-1].seq)
        failures = await scheduler.list_history(status=["failed", "dead_letter"])
        of_b = await scheduler.list_history(task_type="work::b")
        of_key = await scheduler.list_history(key="t4")
    assert [r.id for r in first + second + third] == ids[::-1]
    assert [r.id for r in failures] == [ids[6], ids[3], ids[0]]
    assert {r.status for r in failures} == {TaskStatus.FAILED}
    assert [r.id for r in of_b] == [late]
    assert [r.id for r in of_key] == [ids[4]]


async def test_lookup_finds_the_active_task_and_the_history_of_a_key(
    database: str, clock: FakeClock
) -> None:
    domain = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        done = await finished(scheduler, domain, [("a", Job("k", fail=True)), ("a", Job("k"))])
        waiting = await scheduler.domain(domain).submit(Job("k"), task="a", run_after=60)
        await finished(scheduler, domain, [("b", Job("k"))])  # same key, another type
        found = await scheduler.lookup("work::a", "k")
        only_one = await scheduler.lookup(domain.tasks["a"], "k", history_limit=1)
        unknown = await scheduler.lookup("work::a", "never")
    assert found.active is not None
    assert found.active.id == waiting.id
    assert [(r.id, r.status) for r in found.history] == [
        (done[1], TaskStatus.COMPLETED),
        (done[0], TaskStatus.FAILED),
    ]
    assert [r.id for r in only_one.history] == [done[1]]
    assert unknown == KeyLookup("work::a", "never", None, ())
    assert json.loads(json.dumps(found.to_dict())) == found.to_dict()


async def test_type_stats_over_recent_history(database: str, clock: FakeClock) -> None:
    """Counts, failure rate, mean and p95 duration and mean IO, per type, of the sample."""
    domain = timed_domain(clock)
    jobs = [("a", Job(f"a{i}", seconds=float(i), read=100 * i)) for i in range(1, 21)]
    jobs += [("a", Job("a-fail", seconds=50.0, fail=True))]
    jobs += [("b", Job("b1", seconds=2.0)), ("b", Job("b2", seconds=4.0))]
    t0 = clock.now()
    async with Scheduler(database, domains=[domain], clock=clock, max_concurrency=1) as scheduler:
        await finished(scheduler, domain, jobs)
        every = await scheduler.type_stats()
        recent_a = await scheduler.type_stats("work::a", sample=3)
        since = await scheduler.type_stats(since=5)  # b1 and b2 ended in the last 5 s
    a, b = every
    assert a == TypeStats(
        type="work::a",
        count=21,
        by_status={"completed": 20, "failed": 1},
        failure_rate=1 / 21,
        mean_duration=10.5,  # of the completed ones: 1..20 s
        p95_duration=19.0,
        mean_io=IoBudget(disk_read=1050),
        oldest=t0 + 1,
        newest=t0 + 260,
    )
    assert (b.type, b.count, b.mean_duration, b.failure_rate) == ("work::b", 2, 3.0, 0.0)
    [a3] = recent_a
    assert (a3.count, a3.by_status, a3.mean_duration) == (3, {"completed": 2, "failed": 1}, 19.5)
    assert [(s.type, s.count) for s in since] == [("work::b", 2)]
    assert json.loads(json.dumps(a.to_dict())) == a.to_dict()


async def test_throughput_counts_what_ended_in_the_window(database: str, clock: FakeClock) -> None:
    domain = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock, max_concurrency=1) as scheduler:
        await finished(scheduler, domain, [("a", Job("old"))])
        clock.advance(100)
        await finished(scheduler, domain, [("a", Job(f"n{i}", fail=i == 0)) for i in range(5)])
        await scheduler.cancel((await scheduler.domain(domain).submit(Job("c"), task="a",
                                                                      run_after=9)).id)  # fmt: skip
        recent = await scheduler.throughput(window=60)
        everything = await scheduler.throughput(window=1000)
    assert recent == Throughput(
        clock.now() - 60, clock.now(), completed=4, failed=1, other=1, per_second=4 / 60
    )
    assert (everything.completed, everything.failed, everything.other) == (5, 1, 1)
    assert json.loads(json.dumps(recent.to_dict())) == recent.to_dict()


async def test_empty_history_gives_empty_answers(database: str, clock: FakeClock) -> None:
    domain = timed_domain(clock)
    async with Scheduler(database, domains=[domain], clock=clock) as scheduler:
        assert await scheduler.type_stats() == []
        assert await scheduler.throughput(10) == Throughput(
            clock.now() - 10, clock.now(), 0, 0, 0, 0.0
        )
        assert await scheduler.list_history(task_type="work::a", status="failed") == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.list_tasks(status="done"), "unknown status 'done'"),
        (lambda s: s.list_tasks(status=[]), "status filter is empty"),
        (lambda s: s.list_tasks(task_type=3), "task_type must be a TaskType or a str"),
        (lambda s: s.list_tasks(key=""), "key must be a non-empty str"),
        (lambda s: s.list_tasks(domain=""), "domain must be a non-empty str"),
        (lambda s: s.list_tasks(group=5), "group must be a non-empty str"),
        (lambda s: s.list_tasks(after=5), "after must be the \\(priority, id\\)"),
        (lambda s: s.list_tasks(tags={"": None}), "tag filter key must be a non-empty str"),
        (lambda s: s.list_history(limit=0), "limit must be an int >= 1"),
        (lambda s: s.list_history(before="x"), "before must be a history seq"),
        (lambda s: s.lookup(None, "k"), "lookup\\(\\) needs the task type"),
        (lambda s: s.type_stats(sample=0), "sample must be an int >= 1"),
        (lambda s: s.type_stats(since=-1), "since"),
        (lambda s: s.throughput(window=0), "window"),
    ],
)
async def test_bad_query_arguments_are_refused(call: object, message: str) -> None:
    domain = timed_domain(FakeClock())
    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        with pytest.raises(ConfigurationError, match=message):
            await call(scheduler)  # type: ignore[operator]


def plan(path: Path, sql: str, params: tuple[object, ...]) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(row[3] for row in rows)


async def test_history_queries_use_their_indexes(db_path: Path, clock: FakeClock) -> None:
    """History stays fast at depth: type, failure and key queries read an index, no sort."""
    from taskmill.store.sql import queries

    domain = timed_domain(clock)
    async with Scheduler(db_path, domains=[domain], clock=clock):
        pass
    by_type = plan(db_path, queries._SAMPLE, ("work::a", 0, 10))
    assert "USING INDEX history_by_type (type=? AND seq>?)" in by_type
    assert "TEMP B-TREE" not in by_type
    types = plan(db_path, queries._HISTORY_TYPES, ())
    assert "SCAN history" not in types.replace("USING COVERING INDEX", "")
    with sqlite3.connect(db_path) as conn:
        conn.execute("ANALYZE")  # the plan must not depend on statistics being absent
    failures = plan(
        db_path,
        "SELECT seq FROM history WHERE status IN (?, ?) AND status != 'completed' "
        "ORDER BY seq DESC LIMIT 50",
        ("failed", "dead_letter"),
    )
    assert "history_unsuccessful" in failures


async def test_counts_by_status_read_indexes_not_the_queue(db_path: Path, clock: FakeClock) -> None:
    """Counting a deep queue reads the narrowest index and the one of tasks not pending."""
    from taskmill.store.sql import queries

    async with Scheduler(db_path, domains=[timed_domain(clock)], clock=clock):
        pass
    for analyzed in (False, True):  # the plans must not depend on statistics
        if analyzed:
            with sqlite3.connect(db_path) as conn:
                conn.execute("ANALYZE")
        assert "USING COVERING INDEX" in plan(db_path, queries._COUNT_ALL, ())
        rest = plan(db_path, queries._COUNT_NOT_PENDING, ())
        assert "USING COVERING INDEX tasks_not_pending" in rest
        assert "TEMP B-TREE" not in rest


async def test_counts_by_status_match_the_tasks_in_every_status(
    database: str, clock: FakeClock
) -> None:
    """Running, pending (ready and delayed), blocked and paused tasks are each counted."""
    import asyncio
    from collections import Counter

    release = asyncio.Event()
    started = asyncio.Event()
    busy, idle = Domain("busy"), Domain("idle")

    @busy.task("hold")
    async def hold(name: str) -> None:
        started.set()
        await release.wait()

    @idle.task("rest")
    async def rest(name: str) -> None:
        return None

    async with Scheduler(database, domains=[busy, idle], clock=clock,
                         max_concurrency=1) as scheduler:  # fmt: skip
        handle = scheduler.domain(busy)
        first = await handle.submit("running")
        await started.wait()
        await handle.submit("ready")
        await handle.submit("later", run_after=60)
        await handle.submit("after", depends_on=[first.id])
        await scheduler.pause(idle)
        await scheduler.domain(idle).submit_many(["p1", "p2", "p3"])
        counts = await scheduler.count_by_status()
        truth = Counter(t.status for t in await scheduler.list_tasks(limit=100))
        release.set()
    assert counts == {
        TaskStatus.BLOCKED: 1,
        TaskStatus.PAUSED: 3,
        TaskStatus.PENDING: 2,
        TaskStatus.RUNNING: 1,
    }
    assert counts == dict(truth)
    assert list(counts) == sorted(counts)  # in the order of the status names, as before
