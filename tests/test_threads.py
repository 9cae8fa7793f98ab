"""The asyncio API called from threads and loops that are not the scheduler's own.

Each refused call raises WrongThreadError before anything is stored; stop() and the
admission setters work from any thread (and stop() from a signal handler).
"""

from __future__ import annotations

import asyncio
import selectors
import signal
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskmill import (
    Dispatched,
    Domain,
    Scheduler,
    SchedulerStateError,
    TaskContext,
    WrongThreadError,
)

jobs = Domain("jobs")
release = {"event": asyncio.Event()}  # replaced per test: executors block on it


@dataclass
class Job:
    n: int


@jobs.task("block")
async def block(job: Job, ctx: TaskContext) -> None:
    await release["event"].wait()


def stored_rows(path: Path) -> tuple[int, int]:
    """(active tasks, history rows) read straight from the file."""
    with sqlite3.connect(path) as conn:
        tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        history = conn.execute("SELECT count(*) FROM history").fetchone()[0]
    conn.close()
    return tasks, history


def in_other_loop(make: Callable[[], Awaitable[Any]]) -> BaseException | None:
    """Run ``make()`` with asyncio.run on a new thread; return what it raised."""
    raised: list[BaseException] = []

    def main() -> None:
        async def call() -> None:
            await make()

        try:
            asyncio.run(call())
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    return raised[0] if raised else None


async def test_submit_from_another_thread_raises_and_stores_nothing(db_path: Path) -> None:
    async with Scheduler(db_path, domains=[jobs]) as scheduler:
        handle = scheduler.domain(jobs)
        error = await asyncio.to_thread(in_other_loop, lambda: handle.submit(Job(1)))
        assert isinstance(error, WrongThreadError)
        assert "another event loop" in str(error)
        assert "taskmill.sync.Scheduler" in str(error)
        assert await scheduler.count_by_status() == {}
    assert stored_rows(db_path) == (0, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.pause(),
        lambda s: s.pause_group("g"),
        lambda s: s.cancel(1),
        lambda s: s.cancel_domain(jobs),
        lambda s: s.cancel_tagged("k"),
        lambda s: s.retry_dead_letter(1),
        lambda s: s.wait_idle(),
        lambda s: s.get_task(1),
        lambda s: s.list_tasks(),
        lambda s: s.snapshot(),
        lambda s: s.pause_state(),
        lambda s: s.close(),
    ],
    ids=[
        "pause",
        "pause_group",
        "cancel",
        "cancel_domain",
        "cancel_tagged",
        "retry_dead_letter",
        "wait_idle",
        "get_task",
        "list_tasks",
        "snapshot",
        "pause_state",
        "close",
    ],
)
async def test_every_call_from_another_loop_is_refused(
    db_path: Path, call: Callable[[Scheduler], Awaitable[Any]]
) -> None:
    async with Scheduler(db_path, domains=[jobs]) as scheduler:
        outcome = await scheduler.domain(jobs).submit(Job(1), run_after=3600)
        error = await asyncio.to_thread(in_other_loop, lambda: call(scheduler))
        assert isinstance(error, WrongThreadError)
        # nothing changed: not paused, not cancelled, not closed
        assert (await scheduler.pause_state()).everything is False
        assert (await scheduler.pause_state()).groups == {}
        record = await scheduler.get_task(outcome.id)
        assert record is not None
        assert str(record.status) == "pending"
    assert stored_rows(db_path) == (1, 0)


async def test_events_from_a_thread_without_a_loop_is_refused(db_path: Path) -> None:
    async with Scheduler(db_path, domains=[jobs]) as scheduler:

        def subscribe() -> BaseException | None:
            try:
                scheduler.subscribe(print)
            except BaseException as exc:
                return exc
            return None

        error = await asyncio.to_thread(subscribe)
        assert isinstance(error, WrongThreadError)
        assert "where no event loop runs" in str(error)


class WatchedSelector(selectors.DefaultSelector):
    """A selector that tells when its loop goes to sleep (blocks with a long timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep = threading.Event()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 5:  # no timer due soon: only a wake-up ends it
            self.asleep.set()
        try:
            return super().select(timeout)
        finally:
            self.asleep.clear()


def run_until_stopped(
    db_path: Path, stop_when_asleep: Callable[[Scheduler, threading.Event], None]
) -> None:
    """Run a scheduler on this thread; once its loop sleeps, another thread stops it.

    The stopping function gets the scheduler and an event set once ``run()`` returned.
    """
    selector = WatchedSelector()
    loop = asyncio.SelectorEventLoop(selector)
    scheduler = Scheduler(db_path, domains=[jobs])
    finished = threading.Event()

    def stopper() -> None:
        selector.asleep.wait()  # nothing but stop() itself can wake the loop from here on
        stop_when_asleep(scheduler, finished)

    async def main() -> None:
        await scheduler.open()
        running = asyncio.create_task(scheduler.run())
        await scheduler.wait_idle()
        thread = threading.Thread(target=stopper)
        thread.start()
        await running
        finished.set()
        thread.join()

    try:
        loop.run_until_complete(asyncio.wait_for(main(), timeout=30))
        with pytest.raises(SchedulerStateError, match="closed"):
            loop.run_until_complete(scheduler.pause())
    finally:
        loop.close()


def test_stop_from_another_thread_ends_run(db_path: Path) -> None:
    run_until_stopped(db_path, lambda scheduler, finished: scheduler.stop())


def test_stop_from_a_signal_handler_ends_run(db_path: Path) -> None:
    # The handler runs on this (the loop's) thread, between two bytecodes of select()'s
    # retry: only a wake-up through the loop's self-pipe gets it out of its sleep.
    stopped: list[Scheduler] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: stopped[0].stop())
    try:

        def send_signal(scheduler: Scheduler, finished: threading.Event) -> None:
            stopped.append(scheduler)
            # To the main thread itself: a signal for the process may land on any thread,
            # and Python runs handlers only once the main thread wakes up on its own. One
            # that arrives just before select() starts waits for the next; so send again
            # until run() has returned (stop() is idempotent). Without a wake-up through the
            # self-pipe, every retried select() sleeps on and run() never returns.
            main = threading.main_thread().ident
            assert main is not None
            while True:
                signal.pthread_kill(main, signal.SIGUSR1)
                if finished.wait(timeout=0.2):
                    return

        run_until_stopped(db_path, send_signal)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_stop_before_run_has_opened_makes_run_return(db_path: Path) -> None:
    scheduler = Scheduler(db_path, domains=[jobs])
    scheduler.stop()  # e.g. a UI thread that quits before the worker thread got going
    worker = threading.Thread(target=asyncio.run, args=(scheduler.run(),))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert stored_rows(db_path) == (0, 0)


def test_plain_with_says_what_to_use() -> None:
    scheduler = Scheduler(":memory:", domains=[jobs])
    with (
        pytest.raises(SchedulerStateError, match="async with") as raised,
        scheduler,  # type: ignore[misc]
    ):
        pass
    assert "taskmill.sync.Scheduler" in str(raised.value)


async def test_admission_setters_work_from_another_thread(db_path: Path) -> None:
    release["event"] = asyncio.Event()
    async with (
        Scheduler(db_path, domains=[jobs], max_concurrency=1) as scheduler,
        scheduler.events(kinds=[Dispatched]) as dispatched,
    ):
        first = await scheduler.domain(jobs).submit(Job(1))
        second = await scheduler.domain(jobs).submit(Job(2))
        events = aiter(dispatched)
        assert (await anext(events)).task.id == first.id
        await asyncio.to_thread(scheduler.admission.set_max_concurrency, 2)
        # the dispatcher wakes on its own loop although the change came from another thread
        assert (await asyncio.wait_for(anext(events), timeout=10)).task.id == second.id
        assert scheduler.running_count == 2
        release["event"].set()
        await scheduler.wait_idle()
