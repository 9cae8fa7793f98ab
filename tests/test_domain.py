"""Domains and task registration: names, payload types, defaults, and their errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import msgspec
import pytest

from taskmill import (
    AmbiguousTaskTypeError,
    ConfigurationError,
    Domain,
    DuplicateTaskTypeError,
    InvalidNameError,
    InvalidPriorityError,
    IoBudget,
    Priority,
    RetryPolicy,
    Scheduler,
    TaskContext,
    TaskStatus,
)


@dataclass
class Image:
    path: str


class Upload(msgspec.Struct):
    url: str
    size: int


class Order(TypedDict):
    id: int
    item: str


@pytest.mark.parametrize("name", ["", "a::b", "has space", "1starts-with-digit", "x" * 101, 5])
def test_invalid_domain_names(name: object) -> None:
    """Domain names are identifiers-like; '::' is reserved as the separator."""
    with pytest.raises(InvalidNameError):
        Domain(name)  # type: ignore[arg-type]


def test_qualified_names_and_defaults() -> None:
    """Task types are qualified by domain and inherit its priority and retry defaults."""
    policy = RetryPolicy.fixed(2.0)
    domain = Domain("media", priority=Priority.BACKGROUND, retry=policy)

    @domain.task("thumbnail")
    async def thumbnail(image: Image, ctx: TaskContext) -> None:
        """Make a thumbnail."""

    @domain.task("upload", priority=Priority.HIGH, retry=RetryPolicy.never(),
                 expected_io=IoBudget.net(tx=100))  # fmt: skip
    def upload(job: Upload) -> None:
        """Upload a file."""

    assert thumbnail.qualified_name == "media::thumbnail"
    assert (thumbnail.priority, thumbnail.retry) == (Priority.BACKGROUND, policy)
    assert (upload.priority, upload.retry.max_retries) == (Priority.HIGH, 0)
    assert upload.expected_io == IoBudget(net_tx=100)
    assert (thumbnail.payload_type, upload.payload_type) == (Image, Upload)
    assert thumbnail.is_async
    assert not upload.is_async
    assert thumbnail.__doc__ == "Make a thumbnail."
    assert sorted(domain.tasks) == ["thumbnail", "upload"]


def test_task_type_is_callable_directly() -> None:
    """The decorated executor can still be called (handy in unit tests)."""
    domain = Domain("d")

    @domain.task("double")
    def double(n: int) -> int:
        return n * 2

    assert double(21) == 42


def test_duplicate_task_names_are_refused() -> None:
    """A task name registers once per domain."""
    domain = Domain("d")

    @domain.task("t")
    async def first(image: Image) -> None: ...

    with pytest.raises(DuplicateTaskTypeError, match="already registered"):

        @domain.task("t")
        async def second(image: Image) -> None: ...


def test_payload_type_must_be_known() -> None:
    """An executor without a payload annotation needs payload= (and the error says so)."""
    domain = Domain("d")
    with pytest.raises(ConfigurationError, match="payload=<type>"):

        @domain.task("t")
        async def untyped(job, ctx) -> None:  # type: ignore[no-untyped-def]
            ...

    @domain.task("t2", payload=Image)
    async def explicit(job, ctx) -> None:  # type: ignore[no-untyped-def]
        ...

    assert explicit.payload_type is Image


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"priority": 300}, InvalidPriorityError),
        ({"retry": 3}, ConfigurationError),
        ({"expected_io": 4096}, ConfigurationError),
        ({"key": "fixed"}, ConfigurationError),
        ({"permanent_errors": ("ValueError",)}, ConfigurationError),
    ],
)
def test_invalid_task_options(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Each malformed task option is refused at registration."""
    with pytest.raises(error):
        Domain("d").task("t", **kwargs)  # type: ignore[arg-type]


async def test_payload_kinds_round_trip() -> None:
    """Dataclasses, msgspec Structs, TypedDicts and JSON values reach executors intact."""
    domain = Domain("kinds")
    seen: list[object] = []

    @domain.task("image")
    async def image(payload: Image) -> None:
        seen.append(payload)

    @domain.task("upload")
    async def upload(payload: Upload) -> None:
        seen.append(payload)

    @domain.task("order")
    async def order(payload: Order) -> None:
        seen.append(payload)

    @domain.task("anything", payload=object)
    async def anything(payload: object) -> None:
        seen.append(payload)

    async with Scheduler(":memory:", domains=[domain], max_concurrency=1) as scheduler:
        handle = scheduler.domain(domain)
        await handle.submit(Image("/a.png"))
        await handle.submit(Upload("https://x", 3))
        await handle.submit({"id": 7, "item": "tea"}, task="order")
        await handle.submit([1, "two", None], task=anything)
        await scheduler.wait_idle()
        statuses = {r.status for r in await scheduler.list_history()}
    assert seen == [
        Image("/a.png"),
        Upload("https://x", 3),
        {"id": 7, "item": "tea"},
        [1, "two", None],
    ]
    assert statuses == {TaskStatus.COMPLETED}


async def test_one_payload_class_for_two_tasks_needs_a_name() -> None:
    """When two tasks of a domain take the same class, submit must name one."""
    domain = Domain("d")

    @domain.task("small")
    async def small(image: Image) -> None: ...

    @domain.task("large")
    async def large(image: Image) -> None: ...

    async with Scheduler(":memory:", domains=[domain]) as scheduler:
        with pytest.raises(AmbiguousTaskTypeError, match="large, small"):
            await scheduler.domain(domain).submit(Image("/a"))
        outcome = await scheduler.domain(domain).submit(Image("/a"), task="large")
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert record.type == "d::large"


async def test_builtin_payload_finds_the_task_declaring_that_type() -> None:
    """A task declared to take exactly `str` is found by a str payload without task=."""
    domain = Domain("urls")
    seen: list[str] = []

    @domain.task("fetch")
    async def fetch(url: str) -> None:
        seen.append(url)

    @domain.task("count")
    async def count(n: int) -> None:
        seen.append(str(n))

    async with Scheduler(":memory:", domains=[domain], max_concurrency=1) as scheduler:
        await scheduler.domain(domain).submit("https://a")
        await scheduler.domain(domain).submit(3)
        with pytest.raises(AmbiguousTaskTypeError, match="pass task="):
            await scheduler.domain(domain).submit([1])
        await scheduler.wait_idle()
    assert seen == ["https://a", "3"]
