"""Event subscriptions: exact sequences, filters, callbacks, bounded buffers, task headers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from taskmill import (
    Aging,
    Completed,
    ConfigurationError,
    Dispatched,
    Domain,
    Event,
    Failed,
    IoBudget,
    Missed,
    Paused,
    Priority,
    Resumed,
    RetryPolicy,
    Scheduler,
    SchedulerStateError,
    TaskContext,
    TaskHeader,
    TaskmillError,
)
from taskmill.testing import FakeClock, run_until_idle


def two_domains() -> tuple[Domain, Domain]:
    """Domains "media" (types thumb and scan) and "net" (type fetch) of no-op tasks."""
    media, net = Domain("media"), Domain("net")

    @media.task("thumb")
    async def thumb(name: str) -> None:
        return None

    @media.task("scan")
    async def scan(name: int) -> None:
        return None

    @net.task("fetch")
    async def fetch(url: str) -> None:
        return None

    return media, net


async def submit_one_of_each(scheduler: Scheduler, media: Domain, net: Domain) -> None:
    await scheduler.domain(media).submit("a.png", task="thumb")
    await scheduler.domain(media).submit(7, task="scan")
    await scheduler.domain(net).submit("http://x", task="fetch")
    await scheduler.wait_idle()


def kinds_and_types(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.kind, getattr(getattr(e, "task", None), "type", "-")) for e in events]


async def drained(subscription: object) -> list[Event]:
    subscription.close()  # type: ignore[attr-defined]
    return [event async for event in subscription]  # type: ignore[attr-defined]


async def test_exact_sequence_of_a_task_that_fails_once_then_completes(clock: FakeClock) -> None:
    """Dispatched, Failed (will retry in 5 s), Dispatched, Completed — each with its header."""
    domain = Domain("work", retry=RetryPolicy.fixed(5.0, max_retries=3))

    @domain.task("flaky", priority=Priority.HIGH)
    async def flaky(name: str, ctx: TaskContext) -> None:
        if ctx.attempt == 1:
            raise ConnectionError("reset by peer")
        ctx.record_net_rx_bytes(512)

    t0 = clock.now()
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        outcome = await scheduler.domain(domain).submit(
            "a", key="k-a", label="Fetch a", tags={"user": "7"}
        )
        await run_until_idle(scheduler, clock)
        received = await drained(events)
    header = TaskHeader(outcome.id, "work::flaky", "k-a", "Fetch a", 64, 64, {"user": "7"})
    assert received == [
        Dispatched(t0, header, 1),
        Failed(t0, header, 1, "ConnectionError: reset by peer", True, 5.0),
        Dispatched(t0 + 5, header, 2),
        Completed(t0 + 5, header, 2, 0.0, IoBudget.net(rx=512)),
    ]


async def test_domain_subscription_sees_only_its_domain(clock: FakeClock) -> None:
    """events(domain=) keeps the tasks of that domain and the pauses that concern it."""
    media, net = two_domains()
    async with Scheduler(":memory:", domains=[media, net], clock=clock,
                         max_concurrency=1) as scheduler:  # fmt: skip
        events = scheduler.events(domain=media)
        await submit_one_of_each(scheduler, media, net)
        await scheduler.pause(net)
        await scheduler.resume(net)
        await scheduler.pause(media)
        await scheduler.pause()
        received = await drained(events)
    assert kinds_and_types(received) == [
        ("dispatched", "media::thumb"),
        ("completed", "media::thumb"),
        ("dispatched", "media::scan"),
        ("completed", "media::scan"),
        ("paused", "-"),
        ("paused", "-"),
    ]
    assert [(e.domain) for e in received if isinstance(e, Paused)] == ["media", None]


async def test_task_type_subscription_sees_only_that_type(clock: FakeClock) -> None:
    """events(task_type=) takes the type object or its qualified name."""
    media, net = two_domains()
    async with Scheduler(":memory:", domains=[media, net], clock=clock) as scheduler:
        by_name = scheduler.events(task_type="media::scan")
        by_object = scheduler.events(task_type=net.tasks["fetch"])
        await submit_one_of_each(scheduler, media, net)
        scans, fetches = await drained(by_name), await drained(by_object)
    assert kinds_and_types(scans) == [("dispatched", "media::scan"), ("completed", "media::scan")]
    assert kinds_and_types(fetches) == [("dispatched", "net::fetch"), ("completed", "net::fetch")]


async def test_kinds_subscription_keeps_only_those_classes(clock: FakeClock) -> None:
    """events(kinds=[...]) keeps events of those classes, subclasses included."""
    media, net = two_domains()
    async with Scheduler(":memory:", domains=[media, net], clock=clock) as scheduler:
        completions = scheduler.events(kinds=[Completed])
        pauses = scheduler.events(kinds=[Paused, Resumed], domain=net)
        await submit_one_of_each(scheduler, media, net)
        await scheduler.pause(net)
        await scheduler.resume(net)
        done, paused = await drained(completions), await drained(pauses)
    assert kinds_and_types(done) == [
        ("completed", "media::thumb"),
        ("completed", "media::scan"),
        ("completed", "net::fetch"),
    ]
    assert [(e.kind, getattr(e, "domain", "?")) for e in paused] == [
        ("paused", "net"),
        ("resumed", "net"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"domain": "nope"}, "domain 'nope' is not registered"),
        ({"task_type": 3}, "task_type must be a TaskType or a str"),
        ({"kinds": [str]}, "kinds must be event classes"),
        ({"maxsize": 0}, "maxsize must be an int >= 1"),
    ],
)
async def test_bad_subscription_options_are_refused(
    options: dict[str, object], message: str
) -> None:
    media, net = two_domains()
    async with Scheduler(":memory:", domains=[media, net]) as scheduler:
        with pytest.raises(TaskmillError, match=message):
            scheduler.events(**options)  # type: ignore[arg-type]


async def test_callbacks_sync_and_async_receive_every_event_in_order(clock: FakeClock) -> None:
    """subscribe() calls plain functions and coroutine functions, one event at a time."""
    media, net = two_domains()
    plain: list[str] = []
    awaited: list[str] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0)  # yields between events: order must still hold
        awaited.append(event.kind)

    async with Scheduler(":memory:", domains=[media, net], clock=clock) as scheduler:
        first = scheduler.subscribe(lambda event: plain.append(event.kind), domain=net)
        second = scheduler.subscribe(slow, kinds=[Completed])
        await submit_one_of_each(scheduler, media, net)
        await scheduler.close()
        await asyncio.gather(first.wait_closed(), second.wait_closed())
    assert plain == ["dispatched", "completed"]
    assert awaited == ["completed", "completed", "completed"]


async def test_a_failing_callback_is_logged_and_keeps_receiving(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in a callback is logged; the next event is delivered as usual."""
    media, net = two_domains()
    seen: list[str] = []

    def picky(event: Event) -> None:
        seen.append(event.kind)
        if isinstance(event, Dispatched):
            raise RuntimeError("cannot handle dispatches")

    async with Scheduler(":memory:", domains=[media, net], clock=clock) as scheduler:
        subscription = scheduler.subscribe(picky, task_type="net::fetch")
        with caplog.at_level(logging.ERROR, logger="taskmill"):
            await submit_one_of_each(scheduler, media, net)
            subscription.close()
            await subscription.wait_closed()
    assert seen == ["dispatched", "completed"]
    [record] = caplog.records
    assert "event callback" in record.getMessage()
    assert record.exc_info is not None
    assert "cannot handle dispatches" in str(record.exc_info[1])


async def test_subscribe_needs_an_open_scheduler_and_a_function() -> None:
    media, net = two_domains()
    scheduler = Scheduler(":memory:", domains=[media, net])
    with pytest.raises(SchedulerStateError):
        scheduler.subscribe(print)
    async with scheduler:
        with pytest.raises(ConfigurationError, match="takes a function"):
            scheduler.subscribe("print")  # type: ignore[arg-type]


async def test_a_subscriber_that_never_reads_delays_nobody(clock: FakeClock) -> None:
    """Work and other subscribers go on while one never reads; it later learns what it lost."""
    media, net = two_domains()
    async with Scheduler(":memory:", domains=[media, net], clock=clock,
                         max_concurrency=4) as scheduler:  # fmt: skip
        stuck = scheduler.events(maxsize=8)
        reader = scheduler.events()
        completed: list[int] = []
        scheduler.subscribe(lambda e: completed.append(e.task.id), kinds=[Completed])  # type: ignore[attr-defined]
        outcomes = await scheduler.domain(media).submit_many([f"{i}.png" for i in range(500)])
        await scheduler.wait_idle()
        assert await scheduler.count_by_status() == {}
        read = await drained(reader)
        late = await drained(stuck)
    assert len(read) == 1000  # a Dispatched and a Completed per task, none lost
    assert sorted(completed) == sorted(o.id for o in outcomes)
    assert stuck.missed == 1000 - 8
    assert late[0] == Missed(late[1].at, 1000 - 8)
    assert late[1:] == read[-8:]


async def test_headers_carry_tags_and_the_aged_priority(clock: FakeClock) -> None:
    """A task that aged while waiting is dispatched with its effective priority in the header."""
    domain = Domain("d", tags={"app": "demo"})
    started, gate = asyncio.Event(), asyncio.Event()

    @domain.task("job", priority=Priority.BACKGROUND)
    async def job(name: str) -> None:
        if name == "blocker":
            started.set()
            await gate.wait()

    async with Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=1,
                         aging=Aging(grace=10, interval=1)) as scheduler:  # fmt: skip
        events = scheduler.events(kinds=[Dispatched])
        await scheduler.domain(domain).submit("blocker")
        await started.wait()
        waiting = await scheduler.domain(domain).submit("late", tags={"user": "ann"})
        clock.advance(10 + 20)
        gate.set()
        await scheduler.wait_idle()
        _, dispatched = await drained(events)
    assert isinstance(dispatched, Dispatched)
    assert dispatched.task.id == waiting.id
    assert dispatched.task.tags == {"app": "demo", "user": "ann"}
    assert (dispatched.task.priority, dispatched.task.effective_priority) == (192, 192 - 20)


async def test_tasks_ended_without_running_carry_their_tags(clock: FakeClock) -> None:
    """Cancelled and Expired of tasks that never ran say which tags the task had."""
    domain = Domain("d", tags={"app": "demo"})

    @domain.task("job")
    async def job(name: str) -> None:
        return None

    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        events = scheduler.events()
        handle = scheduler.domain(domain)
        cancelled = await handle.submit("c", run_after=60, tags={"user": "ann"})
        expired = await handle.submit("e", run_after=60, ttl=30, tags={"user": "bob"})
        await scheduler.cancel(cancelled.id)
        clock.advance(30)
        await scheduler.wait_idle(include_delayed=False)
        received = await drained(events)
    assert [(e.kind, e.task.id, e.task.tags) for e in received] == [  # type: ignore[attr-defined]
        ("cancelled", cancelled.id, {"app": "demo", "user": "ann"}),
        ("expired", expired.id, {"app": "demo", "user": "bob"}),
    ]


async def test_a_burst_larger_than_a_buffer_keeps_the_newest_and_counts_the_rest() -> None:
    """A commit's events arrive together; a full buffer drops the oldest, counted exactly."""
    from taskmill.scheduler.events import EventBus, EventFilter

    bus = EventBus()
    small = bus.subscribe(maxsize=10)
    only_b = bus.subscribe(accepts=EventFilter(task_type="d::b"))

    def completed(n: int) -> Completed:
        header = TaskHeader(n, "d::b" if n % 2 else "d::a", str(n), None, 128, 128, {})
        return Completed(float(n), header, 1, 0.0, IoBudget())

    for n in (1, 2, 3):
        bus.publish(completed(n))
    bus.publish_all([completed(n) for n in range(4, 29)])  # 3 buffered + 25 = 18 too many
    bus.publish_all([])
    bus.close()
    late, odd = await drained(small), await drained(only_b)
    assert small.missed == bus.metrics.events_missed == 18
    assert late[0] == Missed(19.0, 18)
    assert [e.task.id for e in late[1:]] == list(range(19, 29))  # type: ignore[attr-defined]
    assert [e.task.id for e in odd] == list(range(1, 29, 2))  # type: ignore[attr-defined]
    assert only_b.missed == 0
