"""Tags: labels on tasks and history, found, counted and cancelled by."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import (
    Domain,
    Every,
    InvalidTagError,
    RetryPolicy,
    Scheduler,
    Submission,
    TaskContext,
    TaskStatus,
)
from taskmill.testing import FakeClock, run_until


@dataclass
class Upload:
    name: str


def make_domain(**options: object) -> tuple[Domain, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    domain = Domain("up", **options)  # type: ignore[arg-type]

    @domain.task("upload")
    async def upload(job: Upload, ctx: TaskContext) -> None:
        seen.append(dict(ctx.tags))

    return domain, seen


async def test_tags_are_stored_shown_and_copied_to_history(tmp_path: Path) -> None:
    """Tags come back on the task record, the executor's context and the history record."""
    domain, seen = make_domain()
    path = tmp_path / "tasks.db"
    scheduler = Scheduler(path, domains=[domain])
    await scheduler.open()
    outcome = await scheduler.domain(domain).submit(Upload("a"), tags={"user": "ann", "batch": "7"})
    record = await scheduler.get_task(outcome.id)
    assert record is not None
    assert record.tags == {"batch": "7", "user": "ann"}
    async with scheduler:
        await scheduler.wait_idle()
    assert seen == [{"batch": "7", "user": "ann"}]
    async with Scheduler(path, domains=[domain]) as again:  # survives a restart
        [history] = await again.get_history(outcome.id)
        assert history.tags == {"batch": "7", "user": "ann"}
        assert history.to_dict()["tags"] == {"batch": "7", "user": "ann"}
        assert await again.list_history(tags={"user": "ann"}) == [history]
        assert await again.list_history(tags={"user": "bob"}) == []


async def test_domain_default_tags_merge_under_the_submissions() -> None:
    """A domain's tags apply to each task; the submission's own win on a shared key."""
    domain, _ = make_domain(tags={"app": "photos", "user": "nobody"})
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    plain = await handle.submit(Upload("a"))
    own = await handle.submit(Upload("b"), tags={"user": "ann"})
    batch = await handle.submit_many([Submission(Upload("c"), tags={"x": "1"})])
    records = {r.id: r.tags for r in await scheduler.list_tasks()}
    await scheduler.close()
    assert records == {
        plain.id: {"app": "photos", "user": "nobody"},
        own.id: {"app": "photos", "user": "ann"},
        batch[0].id: {"app": "photos", "user": "nobody", "x": "1"},
    }


async def test_query_count_and_distinct_values() -> None:
    """Tasks are listed by tags (all must match), counted by value, and values listed."""
    domain, _ = make_domain()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    ids = [
        (await handle.submit(Upload(name), tags=tags)).id
        for name, tags in [
            ("a", {"user": "ann", "kind": "photo"}),
            ("b", {"user": "ann", "kind": "video"}),
            ("c", {"user": "bob", "kind": "photo"}),
            ("d", {}),
        ]
    ]
    ann = [r.id for r in await scheduler.list_tasks(tags={"user": "ann"})]
    ann_photos = [r.id for r in await scheduler.list_tasks(tags={"user": "ann", "kind": "photo"})]
    counts = await scheduler.count_by_tag("user")
    values = await scheduler.tag_values("kind")
    nobody = await scheduler.count_by_tag("missing")
    await scheduler.close()
    assert ann == ids[:2]
    assert ann_photos == [ids[0]]
    assert counts == {"ann": 2, "bob": 1}
    assert values == ["photo", "video"]
    assert nobody == {}


async def test_cancel_by_tag_value_and_key_prefix() -> None:
    """Cancel by key and value, by key alone, and by key prefix (wildcards match themselves)."""
    domain, _ = make_domain()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    handle = scheduler.domain(domain)
    for name, tags in [
        ("a", {"user": "ann"}),
        ("b", {"user": "bob"}),
        ("c", {"upload.batch": "1"}),
        ("d", {"upload_batch": "2"}),  # '_' must not act as a wildcard for "upload."
        ("e", {"uploadXbatch": "3"}),
        ("f", {"other": "x"}),
    ]:
        await handle.submit(Upload(name), tags=tags)
    by_value = await scheduler.cancel_tagged("user", "ann")
    by_prefix = await scheduler.cancel_tagged("upload.", prefix=True)
    by_underscore = await scheduler.cancel_tagged("upload_", prefix=True)
    by_key = await scheduler.cancel_tagged("user")
    left = sorted(r.payload["name"] for r in await scheduler.list_tasks())
    cancelled = await scheduler.list_history(status=TaskStatus.CANCELLED)
    await scheduler.close()
    assert (by_value, by_prefix, by_underscore, by_key) == (1, 1, 1, 1)
    assert left == ["e", "f"]
    assert sorted(r.payload["name"] for r in cancelled) == ["a", "b", "c", "d"]
    assert [r.tags for r in cancelled if r.payload["name"] == "c"] == [{"upload.batch": "1"}]


async def test_cancel_by_tag_stops_running_tasks() -> None:
    """A running task with the tag gets its cancel signal and ends cancelled."""
    domain = Domain("d")
    started = asyncio.Event()

    @domain.task("block")
    async def block(job: Upload) -> None:
        started.set()
        await asyncio.Event().wait()

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        outcome = await scheduler.domain(domain).submit(Upload("x"), tags={"job": "long"})
        await started.wait()
        assert await scheduler.cancel_tagged("job", "long") == 1
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.status is TaskStatus.CANCELLED


async def test_recurring_occurrences_carry_the_schedules_tags() -> None:
    """Each occurrence of a tagged schedule has its tags; the schedule record shows them."""
    domain, seen = make_domain()
    clock = FakeClock()
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        outcome = await scheduler.domain(domain).submit(
            Upload("beat"), recurring=Every(60), tags={"kind": "heartbeat"}
        )
        await run_until(scheduler, clock, clock.now() + 130)
        schedule = await scheduler.get_schedule(outcome.id)
    assert schedule.tags == {"kind": "heartbeat"}
    assert seen == [{"kind": "heartbeat"}] * 3


async def test_retried_dead_letters_keep_their_tags() -> None:
    """retry_dead_letter resubmits the task with its tags."""
    domain = Domain("d", retry=RetryPolicy.fixed(0, max_retries=0))

    @domain.task("fail")
    async def fail(job: Upload) -> None:
        raise RuntimeError("boom")

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        first = await scheduler.domain(domain).submit(Upload("x"), tags={"k": "v"})
        await scheduler.wait_idle()
        again = await scheduler.retry_dead_letter(first.id)
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(again.id)
    assert record.tags == {"k": "v"}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"": "x"}, "1 to 64 bytes"),
        ({"k" * 65: "x"}, "1 to 64 bytes"),
        ({"k": "v" * 257}, "257 bytes"),
        ({f"k{i}": "v" for i in range(33)}, "33 tags"),
        ({"k": 1}, "must be str"),
        (["k", "v"], "mapping"),
    ],
)
async def test_bad_tags_are_refused_and_nothing_is_stored(tags: object, message: str) -> None:
    """Each limit breach raises InvalidTagError saying what is wrong; the queue stays empty."""
    domain, _ = make_domain()
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    with pytest.raises(InvalidTagError, match=message):
        await scheduler.domain(domain).submit(Upload("a"), tags=tags)  # type: ignore[arg-type]
    with pytest.raises(InvalidTagError, match=message):
        await scheduler.domain(domain).submit_many(
            [Upload("ok"), Submission(Upload("b"), tags=tags)]  # type: ignore[arg-type]
        )
    left = await scheduler.list_tasks()
    await scheduler.close()
    assert left == []


def test_bad_domain_tags_and_too_many_after_merging() -> None:
    """Domain defaults are checked when the domain is made, and again merged with a task's."""
    with pytest.raises(InvalidTagError, match="domain 'x' tags"):
        Domain("x", tags={"k": 5})  # type: ignore[dict-item]


async def test_merged_tags_over_the_limit_are_refused() -> None:
    """32 domain tags plus one of the submission's is one too many."""
    domain, _ = make_domain(tags={f"d{i}": "v" for i in range(32)})
    scheduler = Scheduler(":memory:", domains=[domain])
    await scheduler.open()
    with pytest.raises(InvalidTagError, match="33 tags"):
        await scheduler.domain(domain).submit(Upload("a"), tags={"own": "x"})
    await scheduler.close()


async def test_bad_tag_queries_are_refused() -> None:
    """Empty keys and non-str values in queries raise InvalidTagError."""
    scheduler = Scheduler(":memory:")
    await scheduler.open()
    with pytest.raises(InvalidTagError):
        await scheduler.count_by_tag("")
    with pytest.raises(InvalidTagError):
        await scheduler.cancel_tagged("k", 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTagError):
        await scheduler.list_tasks(tags={"k": 3})  # type: ignore[dict-item]
    await scheduler.close()
