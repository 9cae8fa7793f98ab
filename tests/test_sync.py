"""taskmill.sync: the scheduler from plain threads, with blocking calls and callbacks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import taskmill
from taskmill import (
    Completed,
    DatabaseInUseError,
    Dispatched,
    Domain,
    Event,
    Inserted,
    SchedulerStateError,
    TaskContext,
    TaskNotFoundError,
    TaskStatus,
    UnknownTaskTypeError,
    WrongThreadError,
)
from taskmill.sync import Scheduler

work = Domain("work")
ran: list[int] = []
gate: dict[str, asyncio.Event] = {}  # executors of "held" wait on gate["open"]
seen_errors: list[BaseException] = []
facade: list[Scheduler] = []  # the scheduler an executor calls back into


@dataclass
class Item:
    n: int


@work.task("record")
def record(item: Item, ctx: TaskContext) -> None:
    ran.append(item.n)


@work.task("held")
async def held(item: Item, ctx: TaskContext) -> None:
    await gate["open"].wait()


@work.task("calls_back")
async def calls_back(item: Item, ctx: TaskContext) -> None:
    try:
        facade[0].count_by_status()
    except BaseException as exc:
        seen_errors.append(exc)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ran.clear()
    seen_errors.clear()
    facade.clear()


def open_gate(scheduler: Scheduler) -> None:
    """Let the "held" executors finish (the event lives on the scheduler's loop)."""
    loop = scheduler.loop
    assert loop is not None
    loop.call_soon_threadsafe(gate["open"].set)


def make_gate(scheduler: Scheduler) -> None:
    async def create() -> None:
        gate["open"] = asyncio.Event()

    loop = scheduler.loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(create(), loop).result()


def test_submit_from_four_threads_at_once(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work], max_concurrency=4) as scheduler:
        handle = scheduler.domain(work)
        outcomes: list[list[taskmill.SubmitOutcome]] = [[] for _ in range(4)]
        start = threading.Barrier(4)

        def submitter(k: int) -> None:
            start.wait()
            for i in range(50):
                outcomes[k].append(handle.submit(Item(k * 1000 + i), task="record"))

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        scheduler.wait_idle(timeout=60)
        flat = [outcome for per_thread in outcomes for outcome in per_thread]
        assert all(isinstance(outcome, Inserted) for outcome in flat)
        assert len({outcome.id for outcome in flat if isinstance(outcome, Inserted)}) == 200
        assert sorted(ran) == sorted(k * 1000 + i for k in range(4) for i in range(50))
        history = scheduler.list_history(status=TaskStatus.COMPLETED, limit=500)
        assert len(history) == 200
        assert scheduler.count_by_status() == {}


def test_events_arrive_in_order_on_the_callback_thread(db_path: Path) -> None:
    received: list[tuple[str, str, int]] = []

    def on_event(event: Event) -> None:
        assert isinstance(event, Dispatched | Completed)
        received.append((threading.current_thread().name, type(event).__name__, event.task.id))

    with Scheduler(db_path, domains=[work], max_concurrency=1) as scheduler:
        subscription = scheduler.subscribe(on_event, kinds=[Dispatched, Completed])
        ids = [
            outcome.id
            for outcome in scheduler.domain(work).submit_many(
                [Item(1), Item(2), Item(3)], task="record"
            )
            if isinstance(outcome, Inserted)
        ]
        scheduler.wait_idle(timeout=60)
    # close() delivered what was queued before it returned
    assert received == [
        ("taskmill-callbacks", kind, task_id)
        for task_id in ids
        for kind in ("Dispatched", "Completed")
    ]
    assert subscription.missed == 0


def test_a_closed_subscription_is_not_called_again(db_path: Path) -> None:
    received: list[int] = []
    delivered = threading.Event()

    def on_completed(event: Event) -> None:
        received.append(event.task.id)
        delivered.set()

    with Scheduler(db_path, domains=[work]) as scheduler:
        subscription = scheduler.subscribe(on_completed, kinds=[Completed])
        first = scheduler.domain(work).submit(Item(1), task="record")
        assert delivered.wait(timeout=30)
        subscription.close()
        second = scheduler.domain(work).submit(Item(2), task="record")
        scheduler.wait_idle(timeout=60)
    assert isinstance(first, Inserted)
    assert isinstance(second, Inserted)
    assert received == [first.id]
    assert sorted(ran) == [1, 2]


async def stored(db_path: Path) -> list[tuple[int, TaskStatus, int]]:
    """(id, status, retries) of the active tasks, read by a scheduler that dispatches nothing."""
    scheduler = taskmill.Scheduler(db_path, domains=[work])
    await scheduler.open()
    try:
        return [(r.id, r.status, r.retry_count) for r in await scheduler.list_tasks()]
    finally:
        await scheduler.close()


def test_close_while_tasks_run_stores_them_to_run_again(db_path: Path) -> None:
    scheduler = Scheduler(db_path, domains=[work], max_concurrency=2).start()
    make_gate(scheduler)
    dispatched: list[int] = []
    both_running = threading.Event()

    def on_dispatched(event: Event) -> None:
        dispatched.append(event.task.id)
        if len(dispatched) == 2:
            both_running.set()

    scheduler.subscribe(on_dispatched, kinds=[Dispatched])
    outcomes = scheduler.domain(work).submit_many([Item(1), Item(2), Item(3)], task="held")
    ids = [outcome.id for outcome in outcomes if isinstance(outcome, Inserted)]
    assert both_running.wait(timeout=30)
    assert scheduler.running_count == 2
    scheduler.close(immediate=True)
    alive = [t.name for t in threading.enumerate() if t.name.startswith("taskmill-")]
    assert "taskmill-loop" not in alive
    assert "taskmill-callbacks" not in alive
    # the two interrupted attempts wait to run again, no retry charged; the third never ran
    assert asyncio.run(stored(db_path)) == [(task_id, TaskStatus.PENDING, 0) for task_id in ids]


def test_wait_idle_times_out_and_the_scheduler_goes_on(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work]) as scheduler:
        make_gate(scheduler)
        scheduler.domain(work).submit(Item(1), task="held")
        with pytest.raises(TimeoutError):
            scheduler.wait_idle(timeout=0.2)
        open_gate(scheduler)
        scheduler.wait_idle(timeout=60)
        assert [r.status for r in scheduler.list_history()] == [TaskStatus.COMPLETED]


def test_errors_reach_the_calling_thread(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work]) as scheduler:
        with pytest.raises(TaskNotFoundError, match="999"):
            scheduler.cancel(999)
        with pytest.raises(UnknownTaskTypeError):
            scheduler.domain("nowhere")
        assert scheduler.count_by_status() == {}


def test_a_blocking_call_from_the_loop_thread_is_refused(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work]) as scheduler:
        facade.append(scheduler)
        scheduler.domain(work).submit(Item(1), task="calls_back")
        scheduler.wait_idle(timeout=60)
    assert len(seen_errors) == 1
    assert isinstance(seen_errors[0], WrongThreadError)
    assert "scheduler.aio" in str(seen_errors[0])


def test_calls_before_start_and_after_close_say_so(db_path: Path) -> None:
    scheduler = Scheduler(db_path, domains=[work])
    with pytest.raises(SchedulerStateError, match="start"):
        scheduler.count_by_status()
    with pytest.raises(SchedulerStateError, match="start"):
        scheduler.subscribe(print)
    scheduler.start()
    scheduler.close()
    scheduler.close()  # idempotent
    with pytest.raises(SchedulerStateError, match="not running"):
        scheduler.domain(work).submit(Item(1), task="record")
    with pytest.raises(SchedulerStateError, match="create a new one"):
        scheduler.start()


def test_a_failed_start_leaves_no_thread(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work]):
        second = Scheduler(db_path, domains=[work])
        with pytest.raises(DatabaseInUseError):
            second.start()
        assert [t.name for t in threading.enumerate()].count("taskmill-loop") == 1
        with pytest.raises(SchedulerStateError):
            second.start()


def test_settings_from_the_calling_thread(db_path: Path) -> None:
    with Scheduler(db_path, domains=[work], max_concurrency=2) as scheduler:
        scheduler.admission.set_max_concurrency(5)
        assert scheduler.max_concurrency == 5
        assert scheduler.config.max_concurrency == 2  # the options it was made with
        assert scheduler.running_count == 0
        scheduler.domain(work).submit(Item(1), task="record")
        scheduler.wait_idle(timeout=60)
        submitted = [
            sample.value
            for sample in scheduler.metrics.snapshot().counters
            if sample.name == "taskmill_tasks_submitted_total"
        ]
        assert sum(submitted) == 1


def test_a_scheduler_never_closed_is_closed_at_exit(db_path: Path) -> None:
    # A script that forgets close() while a task runs still exits, and the task is stored
    # to run again (not lost, not left "running").
    script = textwrap.dedent(
        f"""
        import asyncio
        import threading
        from dataclasses import dataclass
        from taskmill import Domain, TaskContext
        from taskmill.sync import Scheduler

        work = Domain("work")
        started = threading.Event()

        @dataclass
        class Item:
            n: int

        @work.task("forever")
        async def forever(item: Item, ctx: TaskContext) -> None:
            started.set()
            await asyncio.Event().wait()

        scheduler = Scheduler({str(db_path)!r}, domains=[work]).start()
        scheduler.domain(work).submit(Item(1))
        started.wait(30)
        print("running", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "running\n"
    assert asyncio.run(stored(db_path)) == [(1, TaskStatus.PENDING, 0)]
