"""Child tasks: spawning, waiting parents, finalize with a memo, fail-fast, siblings, cascade."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from taskmill import (
    ConfigurationError,
    Domain,
    PermanentError,
    RetryPolicy,
    Scheduler,
    TaskContext,
    TaskStatus,
    Waiting,
)
from taskmill.model.errors import StoreError
from taskmill.scheduler.completer import Completer
from taskmill.scheduler.estimates import Durations
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.state import RunState
from taskmill.store.protocol import Changes, SettleKind, Settlement
from taskmill.testing import FakeClock


@dataclass
class Batch:
    name: str
    items: list[str] = field(default_factory=list)
    wait_for_children: bool = False


@dataclass
class Item:
    name: str
    fail: bool = False
    block: bool = False


class Family:
    """A batch task that spawns an item task per item and finalizes with a memo."""

    def __init__(self, *, fail_fast: bool = True, retry: RetryPolicy | None = None) -> None:
        self.domain = Domain("fam", retry=retry or RetryPolicy.fixed(0, max_retries=0))
        self.log: list[str] = []
        self.finalized: list[tuple[str, object, bool]] = []
        self.gate = asyncio.Event()
        self.done = asyncio.Event()
        self.cancelled: list[str] = []

        async def on_cancel(job: Item, ctx: TaskContext) -> None:
            self.cancelled.append(job.name)

        async def finalize(job: Batch, ctx: TaskContext) -> None:
            self.finalized.append((job.name, ctx.memo, ctx.finalizing))

        @self.domain.task("batch", finalize=finalize, fail_fast=fail_fast)
        async def batch(job: Batch, ctx: TaskContext) -> None:
            self.log.append(f"batch {job.name}")
            for name in job.items:
                await ctx.spawn(Item(name, fail=name.startswith(("bad", "dead")),
                                     block=name.startswith("slow")))  # fmt: skip
            ctx.memo = {"spawned": len(job.items)}
            if job.wait_for_children:
                await self.done.wait()

        @self.domain.task("item", on_cancel=on_cancel)
        async def item(job: Item, ctx: TaskContext) -> None:
            self.log.append(f"item {job.name}")
            if job.block:
                await self.gate.wait()
            if job.fail and job.name.startswith("dead"):
                raise RuntimeError(f"{job.name} keeps failing")  # retried, then dead-lettered
            if job.fail:
                raise PermanentError(f"{job.name} is bad")
            if ctx.parent_id is not None and job.name == "last":
                self.done.set()


async def run(family: Family, job: Batch, slots: int = 1) -> tuple[int, Scheduler]:
    scheduler = Scheduler(":memory:", domains=[family.domain], max_concurrency=slots)
    await scheduler.open()
    outcome = await scheduler.domain(family.domain).submit(job)
    return outcome.id, scheduler


async def test_parent_waits_for_its_children_then_finalizes_once_with_its_memo() -> None:
    """The executor returns, the parent waits; after the last child, finalize runs once."""
    family = Family()
    parent, scheduler = await run(family, Batch("b", ["x", "y", "z"]))
    events = scheduler.events()
    async with scheduler:
        await scheduler.wait_idle()
        children = [r for r in await scheduler.list_history() if r.type == "fam::item"]
        [record] = await scheduler.get_history(parent)
    events.close()
    seen = [type(e).__name__ for e in [e async for e in events] if e.task.id == parent]
    assert family.log == ["batch b", "item x", "item y", "item z"]
    assert family.finalized == [("b", {"spawned": 3}, True)]
    assert record.status is TaskStatus.COMPLETED
    assert {r.status for r in children} == {TaskStatus.COMPLETED}
    assert seen == ["Dispatched", "Waiting", "Dispatched", "Completed"]


async def test_waiting_shows_in_the_queue() -> None:
    """While children are active the parent is 'waiting'; they name it as their parent."""
    family = Family()
    parent, scheduler = await run(family, Batch("b", ["slow"]))
    async with scheduler, scheduler.events() as events:
        async for event in events:
            if isinstance(event, Waiting):
                break
        record = await scheduler.get_task(parent)
        [child] = [r for r in await scheduler.list_tasks() if r.type == "fam::item"]
        family.gate.set()
        await scheduler.wait_idle()
    assert record is not None
    assert record.status is TaskStatus.WAITING
    assert child.parent_id == parent


async def test_children_that_ended_before_the_executor_returned_still_finalize() -> None:
    """If every child ended while the executor still ran, finalize runs right after it."""
    family = Family()
    parent, scheduler = await run(family, Batch("b", ["last"], wait_for_children=True), slots=2)
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
    assert family.finalized == [("b", {"spawned": 1}, True)]
    assert record.status is TaskStatus.COMPLETED


async def test_a_task_without_children_does_not_finalize() -> None:
    """No child, no waiting: the task completes when its executor returns."""
    family = Family()
    parent, scheduler = await run(family, Batch("b", []))
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
    assert family.finalized == []
    assert record.status is TaskStatus.COMPLETED


async def test_fail_fast_cancels_the_siblings_and_fails_the_parent() -> None:
    """The first failed child cancels the siblings that did not run and fails the parent."""
    family = Family()
    parent, scheduler = await run(family, Batch("b", ["bad", "a", "c"]))
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
        children = {r.payload["name"]: r.status for r in await scheduler.list_history()
                    if r.type == "fam::item"}  # fmt: skip
    assert family.log == ["batch b", "item bad"]
    assert children == {"bad": TaskStatus.FAILED, "a": TaskStatus.CANCELLED,
                        "c": TaskStatus.CANCELLED}  # fmt: skip
    assert (record.status, record.last_error) == (
        TaskStatus.FAILED,
        f"child {parent + 1} ended failed",
    )
    assert family.finalized == []


class _RecordingStore:
    """Records what each settle call carried; commits finish when the test says so."""

    def __init__(self) -> None:
        self.settled: list[list[int]] = []
        self.commits: list[asyncio.Future[Changes]] = []
        self.broken = False

    def settle(self, settlements: list[Settlement]) -> asyncio.Future[Changes]:
        self.settled.append([s.id for s in settlements])
        self.commits.append(asyncio.get_running_loop().create_future())
        if self.broken:
            self.break_commits()
        return self.commits[-1]

    def break_commits(self) -> None:
        self.broken = True
        for commit in self.commits:
            if not commit.done():
                commit.set_exception(StoreError("disk gone"))


async def test_an_ending_that_cascades_reaches_the_store_before_any_later_claim() -> None:
    """A failure or cancellation is queued in the very call that reports it.

    With it goes what waited before it: a claim the dispatcher makes next cannot start a
    sibling it cancels. Completions wait for the flush step, to share one commit.
    """
    store = _RecordingStore()
    completer = Completer(
        store=store,  # type: ignore[arg-type]
        state=RunState(FakeClock().now),
        bus=EventBus(),
        gate=None,  # type: ignore[arg-type]  # only used after a commit succeeded
        durations=Durations(),
    )
    attempt: Any = object()
    completer.add(Settlement(1, SettleKind.COMPLETED, 0.0), attempt)
    assert store.settled == []
    await asyncio.sleep(0)
    assert store.settled == [[1]]  # the flush step sent it and waits for its commit
    completer.add(Settlement(2, SettleKind.COMPLETED, 0.0), attempt)
    completer.add(Settlement(3, SettleKind.FAILED, 0.0, error="bad"), attempt)
    completer.add(Settlement(4, SettleKind.DEAD_LETTER, 0.0, error="bad"), attempt)
    completer.add(Settlement(5, SettleKind.CANCELLED, 0.0), attempt)
    completer.add(Settlement(6, SettleKind.RETRY, 0.0), attempt)
    assert store.settled == [[1], [2, 3], [4], [5]]
    store.break_commits()
    await completer.drain()  # the last batch goes out once the commits before it ended
    assert store.settled == [[1], [2, 3], [4], [5], [6]]


async def test_a_dead_lettered_child_fails_the_parent() -> None:
    """A child that used up its retries counts as failed too."""
    family = Family(retry=RetryPolicy.fixed(0, max_retries=1))
    parent, scheduler = await run(family, Batch("b", ["dead"]))
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
        [child] = [r for r in await scheduler.list_history() if r.type == "fam::item"]
    assert family.log == ["batch b", "item dead", "item dead"]
    assert child.status is TaskStatus.DEAD_LETTER
    assert record.status is TaskStatus.FAILED


async def test_fail_fast_interrupts_running_siblings_and_a_running_parent() -> None:
    """A running sibling is cancelled (its on_cancel runs); a parent still running fails."""
    family = Family()
    scheduler = Scheduler(":memory:", domains=[family.domain], max_concurrency=4)
    await scheduler.open()
    parent = (await scheduler.domain(family.domain).submit(
        Batch("b", ["slow", "bad"], wait_for_children=True))).id  # fmt: skip
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
        slow = [r for r in await scheduler.list_history() if r.payload.get("name") == "slow"]
    assert record.status is TaskStatus.FAILED
    assert [r.status for r in slow] == [TaskStatus.CANCELLED]
    assert family.cancelled == ["slow"]


async def test_without_fail_fast_failures_do_not_stop_the_finalize() -> None:
    """fail_fast=False: the other children run and the parent finalizes and completes."""
    family = Family(fail_fast=False)
    parent, scheduler = await run(family, Batch("b", ["bad", "ok"]))
    async with scheduler:
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(parent)
    assert family.log == ["batch b", "item bad", "item ok"]
    assert family.finalized == [("b", {"spawned": 2}, True)]
    assert record.status is TaskStatus.COMPLETED


async def test_cancelling_a_parent_cancels_its_children() -> None:
    """Cancel a waiting parent: its children, pending or running, are cancelled too."""
    family = Family()
    scheduler = Scheduler(":memory:", domains=[family.domain], max_concurrency=1)
    async with scheduler, scheduler.events() as events:
        parent = (await scheduler.domain(family.domain).submit(Batch("b", ["slow", "x"]))).id
        async for event in events:
            if isinstance(event, Waiting):
                break
        assert await scheduler.cancel(parent)
        await scheduler.wait_idle()
        statuses = {r.payload.get("name"): r.status for r in await scheduler.list_history()}
    assert statuses == {"b": TaskStatus.CANCELLED, "slow": TaskStatus.CANCELLED,
                        "x": TaskStatus.CANCELLED}  # fmt: skip
    assert family.cancelled == ["slow"]


async def test_a_breadth_first_scan_with_siblings_finalizes_exactly_once() -> None:
    """Each directory's scan spawns siblings for its subdirectories; the root finalizes once."""
    tree = {"/": ["/a", "/b"], "/a": ["/a/1", "/a/2"], "/b": [], "/a/1": [], "/a/2": ["/a/2/x"],
            "/a/2/x": []}  # fmt: skip
    domain = Domain("fs")
    scanned: list[str] = []
    finals: list[int] = []

    async def report(job: str, ctx: TaskContext) -> None:
        finals.append(len(scanned))

    @domain.task("root", finalize=report)
    async def root(path: str, ctx: TaskContext) -> None:
        await ctx.spawn(Dir(path))

    @domain.task("scan")
    async def scan(job: Dir, ctx: TaskContext) -> None:
        scanned.append(job.path)
        for sub in tree[job.path]:
            await ctx.spawn_sibling(Dir(sub))

    async with Scheduler(":memory:", domains=[domain], max_concurrency=2) as scheduler:
        await scheduler.domain(domain).submit("/", task="root")
        await scheduler.wait_idle()
    assert sorted(scanned) == sorted(tree)
    assert scanned.index("/a") < scanned.index("/a/2") < scanned.index("/a/2/x")
    assert finals == [len(tree)]


@dataclass
class Dir:
    path: str


async def test_children_inherit_what_is_left_of_the_parents_ttl() -> None:
    """A child of a task with 100 s to live, spawned 30 s later, expires with it."""
    domain = Domain("d")
    clock = FakeClock()
    children: list[int] = []

    @domain.task("parent", ttl=100)
    async def parent(job: str, ctx: TaskContext) -> None:
        children.append((await ctx.spawn(Item("child"))).id)

    @domain.task("item")
    async def item(job: Item) -> None: ...

    scheduler = Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=1)
    await scheduler.open()
    outcome = await scheduler.domain(domain).submit("p", task="parent")
    clock.advance(30)
    record = None
    async with scheduler, scheduler.events() as events:
        async for event in events:
            if isinstance(event, Waiting):
                record = await scheduler.get_task(children[0])
                break
        await scheduler.wait_idle()
    assert record is not None
    assert record.parent_id == outcome.id
    assert record.expires_at == pytest.approx(clock.now() - 30 + 100)


async def test_spawn_sibling_needs_a_parent_and_spawn_rejects_bad_options() -> None:
    """spawn_sibling on a top-level task and unknown spawn options raise ConfigurationError."""
    domain = Domain("d")
    errors: list[str] = []

    @domain.task("top")
    async def top(job: str, ctx: TaskContext) -> None:
        for attempt in (ctx.spawn_sibling(job), ctx.spawn(job, task="top", colour="red")):
            try:
                await attempt
            except ConfigurationError as exc:
                errors.append(str(exc).split(";")[0].split(",")[0])

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        await scheduler.domain(domain).submit("x")
        await scheduler.wait_idle()
    assert len(errors) == 2
    assert "no parent" in errors[0]
    assert "spawn() takes the options of submit()" in errors[1]


async def test_spawn_many_fans_out_in_one_call() -> None:
    """spawn_many stores every child at once; the parent finalizes after all of them."""
    domain = Domain("d")
    ran: list[int] = []
    finalized: list[int] = []

    async def done(job: str, ctx: TaskContext) -> None:
        finalized.append(len(ran))

    @domain.task("fan", finalize=done)
    async def fan(job: str, ctx: TaskContext) -> None:
        outcomes = await ctx.spawn_many([Item(str(n)) for n in range(50)], task="item")
        assert len({o.id for o in outcomes}) == 50

    @domain.task("item")
    async def item(job: Item) -> None:
        ran.append(int(job.name))

    async with Scheduler(":memory:", domains=[domain], max_concurrency=8) as scheduler:
        await scheduler.domain(domain).submit("go", task="fan")
        await scheduler.wait_idle()
    assert sorted(ran) == list(range(50))
    assert finalized == [50]
