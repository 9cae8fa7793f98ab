"""Throughput and latency of taskmill, each figure beside a baseline measured in the same run.

Run from the repository root::

    python benchmarks/throughput.py [--repeats R] [--quick] [--only-observed]

What is measured (every figure is the median of R repeats, each on a fresh database file in a
temporary directory; baselines are measured in the same repeats, interleaved with taskmill):

1. End-to-end no-op throughput: ``submit_many`` of N no-op tasks into a dispatching scheduler
   (``max_concurrency=64``), timed from the start of the submit until ``wait_idle()`` returns.
   Baselines: Huey's ``SqliteHuey`` with a thread consumer (enqueue, then drain; best of a few
   worker counts), and the *bare floor* N / (t1 + t2 + t3): t1 awaits N bare asyncio tasks
   one after another, t2 ``executemany``-inserts N rows into a WAL file in one transaction,
   t3 claims and deletes them 64 per transaction.
2. Submits awaited one by one on an opened, non-dispatching scheduler, against bare sqlite3
   autocommit INSERTs with the same ``synchronous`` setting (durability "normal" and "full").
3. 1 000 concurrent submits (``asyncio.gather``); the baseline is the one-by-one rate of (2),
   so the ratio is the speed-up that group commit buys.
4. ``submit_many`` of N tasks (not dispatching) against the bare ``executemany`` of t2.
5. Idle dispatch latency: from just before ``submit()`` to the moment the executor starts,
   one task at a time; the baseline is a bare asyncio task that sets an event.
6. End-to-end as in (1), observed: every task reports progress 100 times, and three
   subscribers listen to all events (an async iterator, a callback, and a slow iterator that
   sleeps 1 ms per event, so its buffer overflows and drops the oldest). The baseline is
   (1)'s plain run, measured in the same repeats; target: within 25 % of it. The progress
   line also prints what observing adds per task in microseconds, which, unlike the ratio,
   does not move with the host's speed.

How to read the table: "ratio" is taskmill / baseline (for latencies: how many times slower
than the bare round trip). Each row checks one target of the spec and says PASS or MISS.
The machine may be shared and noisy, so compare ratios rather than absolute numbers, and
prefer more repeats (``--repeats 5``) when a verdict is close. ``--quick`` shrinks every N
for a smoke run; its verdicts are not meaningful.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import itertools
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from taskmill import Domain, Durability, Inserted, Scheduler, Subscription, TaskContext

# --- the task types under test --------------------------------------------------------------------

bench = Domain("bench")
_ids = itertools.count()  # payloads are deduplicated by hash: every payload must differ
_executed = [0]  # no-op executions (one event loop: no lock needed), to check they all ran
_probes: dict[int, asyncio.Future[float]] = {}  # latency probes waiting for their start


class Job(msgspec.Struct):
    n: int


class Probe(msgspec.Struct):
    n: int


@bench.task("noop")
async def noop(job: Job, ctx: TaskContext) -> None:
    _executed[0] += 1


class Chatty(msgspec.Struct):
    n: int


@bench.task("chatty")
async def chatty(job: Chatty, ctx: TaskContext) -> None:
    report = ctx.progress.report
    for step in range(1, 101):
        report(step / 100)
    _executed[0] += 1


@bench.task("probe")
async def probe(job: Probe, ctx: TaskContext) -> None:
    started = time.perf_counter()
    future = _probes.pop(job.n, None)
    if future is not None and not future.done():
        future.set_result(started)


def new_jobs(n: int) -> list[Job]:
    return [Job(next(_ids)) for _ in range(n)]


def new_payloads(n: int) -> list[bytes]:
    """Encoded payloads the size of taskmill's, for the bare SQLite baselines."""
    return [msgspec.json.encode(job) for job in new_jobs(n)]


# --- sizes and results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    tasks: int  # end-to-end, batch submit and the bare floor
    huey_tasks: int
    one_by_one: int
    concurrent: int
    latency_samples: int
    latency_warmup: int


FULL = Sizes(20_000, 20_000, 3_000, 1_000, 1_000, 50)
QUICK = Sizes(2_000, 2_000, 300, 1_000, 100, 10)
HUEY_WORKERS = (1, 8, 64)  # Huey shares one connection: fewer threads can be faster


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    baseline_name: str
    baseline: float
    target: str
    passed: bool
    unit: str = "/s"  # or "ms"


Figures = float | tuple[float, ...]


def medians(
    repeats: int, *measures: Callable[[], Figures | Coroutine[Any, Any, Figures]]
) -> list[float]:
    """Run ``measures`` ``repeats`` times, interleaved so that they share the machine's noise.

    A measure returns a number or a tuple of numbers, or a coroutine (run in a fresh event
    loop) that does. Returns the median of every number, in order.
    """
    runs: list[list[float]] = []
    for _ in range(repeats):
        figures: list[float] = []
        for measure in measures:
            gc.collect()
            result = measure()
            if isinstance(result, Coroutine):
                result = asyncio.run(result)
            figures.extend(result if isinstance(result, tuple) else (result,))
        runs.append(figures)
    return [statistics.median(column) for column in zip(*runs, strict=True)]


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``latencies`` (seconds), in milliseconds."""
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
    return statistics.median(latencies) * 1000, p99 * 1000


def progress(message: str) -> None:
    print(f"  {message}", flush=True)


# --- bare baselines -------------------------------------------------------------------------------


def bare_connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL)")
    return conn


async def _bare_noop() -> None:
    return None


async def bare_await_tasks(n: int) -> float:
    """t1: seconds to create and await ``n`` no-op asyncio tasks one after another."""
    start = time.perf_counter()
    for _ in range(n):
        await asyncio.create_task(_bare_noop())
    return time.perf_counter() - start


def bare_insert_then_claim(n: int) -> tuple[float, float]:
    """t2 and t3: executemany ``n`` rows in one transaction; claim-and-delete 64 at a time."""
    rows = [(payload,) for payload in new_payloads(n)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = bare_connect(Path(tmp) / "bare.db", "NORMAL")
        try:
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO q (payload) VALUES (?)", rows)
            conn.execute("COMMIT")
            t2 = time.perf_counter() - start
            start = time.perf_counter()
            while True:
                conn.execute("BEGIN IMMEDIATE")
                ids = [r[0] for r in conn.execute("SELECT id FROM q ORDER BY id LIMIT 64")]
                if ids:
                    marks = ",".join("?" * len(ids))
                    conn.execute(f"DELETE FROM q WHERE id IN ({marks})", ids)
                conn.execute("COMMIT")
                if not ids:
                    break
            t3 = time.perf_counter() - start
        finally:
            conn.close()
    return t2, t3


def bare_single_commits(n: int, synchronous: str) -> float:
    """Rows/s of ``n`` autocommit INSERTs, one transaction each."""
    payloads = new_payloads(n)
    with tempfile.TemporaryDirectory() as tmp:
        conn = bare_connect(Path(tmp) / "bare.db", synchronous)
        try:
            start = time.perf_counter()
            for payload in payloads:
                conn.execute("INSERT INTO q (payload) VALUES (?)", (payload,))
            elapsed = time.perf_counter() - start
        finally:
            conn.close()
    return n / elapsed


async def _mark(event: asyncio.Event, started: list[float]) -> None:
    started.append(time.perf_counter())
    event.set()


async def bare_round_trip_latencies(samples: int, warmup: int) -> tuple[float, float]:
    """p50 and p99 (ms) from creating a task that sets an event to the moment it runs."""
    latencies: list[float] = []
    for i in range(warmup + samples):
        event, started = asyncio.Event(), list[float]()
        t0 = time.perf_counter()
        task = asyncio.create_task(_mark(event, started))
        await event.wait()
        await task
        if i >= warmup:
            latencies.append(started[0] - t0)
    return percentiles_ms(latencies)


# --- taskmill -------------------------------------------------------------------------------------


def check_inserted(outcomes: list[Any], n: int) -> None:
    inserted = sum(isinstance(o, Inserted) for o in outcomes)
    if inserted != n:
        raise RuntimeError(f"expected {n} inserted tasks, got {inserted}: {outcomes[:3]}...")


async def submit_and_drain(s: Scheduler, jobs: list[Any]) -> tuple[list[Any], float, int]:
    """submit_many(jobs), then wait_idle(): the outcomes, the seconds it took, tasks run."""
    before = _executed[0]
    start = time.perf_counter()
    outcomes = await s.domain(bench).submit_many(jobs)
    await s.wait_idle()
    return outcomes, time.perf_counter() - start, _executed[0] - before


async def taskmill_end_to_end(n: int) -> float:
    """Tasks/s from the start of submit_many(n) until wait_idle() returns, 64 at a time."""
    jobs = new_jobs(n)
    with tempfile.TemporaryDirectory() as tmp:
        async with Scheduler(Path(tmp) / "tm.db", domains=[bench], max_concurrency=64) as s:
            outcomes, elapsed, ran = await submit_and_drain(s, jobs)
            left = await s.count_by_status()
    check_inserted(outcomes, n)
    if ran != n or left:
        raise RuntimeError(f"wait_idle() returned after {ran} of {n} tasks ran, left {left}")
    return n / elapsed


async def taskmill_end_to_end_observed(n: int) -> float:
    """Figure 6: like taskmill_end_to_end, with progress reports and three subscribers."""
    jobs = [Chatty(next(_ids)) for _ in range(n)]
    seen = [0, 0, 0]

    def count(event: object) -> None:
        seen[1] += 1

    async def read(events: Subscription, slot: int, pause: float) -> None:
        async for _ in events:
            seen[slot] += 1
            if pause:
                await asyncio.sleep(pause)

    with tempfile.TemporaryDirectory() as tmp:
        async with Scheduler(Path(tmp) / "tm.db", domains=[bench], max_concurrency=64) as s:
            readers = [
                asyncio.create_task(read(s.events(), 0, 0.0)),
                asyncio.create_task(read(s.events(), 2, 0.001)),  # the slow one
            ]
            s.subscribe(count)
            outcomes, elapsed, ran = await submit_and_drain(s, jobs)
        for reader in readers:
            reader.cancel()
    check_inserted(outcomes, n)
    if ran != n or seen[0] < 2 * n:
        raise RuntimeError(f"{ran} of {n} tasks ran; the fast subscriber saw {seen[0]} events")
    return n / elapsed


async def taskmill_submit_rate(n: int, mode: str, durability: Durability = "normal") -> float:
    """Submits/s on an opened, non-dispatching scheduler: 'one_by_one', 'gather' or 'many'."""
    jobs = new_jobs(n)
    with tempfile.TemporaryDirectory() as tmp:
        s = Scheduler(Path(tmp) / "tm.db", domains=[bench], durability=durability)
        await s.open()
        try:
            handle = s.domain(bench)
            start = time.perf_counter()
            if mode == "one_by_one":
                outcomes = [await handle.submit(job) for job in jobs]
            elif mode == "gather":
                outcomes = await asyncio.gather(*(handle.submit(job) for job in jobs))
            else:
                outcomes = await handle.submit_many(jobs)
            elapsed = time.perf_counter() - start
        finally:
            await s.close()
    check_inserted(outcomes, n)
    return n / elapsed


async def taskmill_dispatch_latencies(samples: int, warmup: int) -> tuple[float, float]:
    """p50 and p99 (ms) from just before submit() to the executor's start, one at a time."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Scheduler(Path(tmp) / "tm.db", domains=[bench], max_concurrency=4) as s:
            handle = s.domain(bench)
            for i in range(warmup + samples):
                n = next(_ids)
                future: asyncio.Future[float] = loop.create_future()
                _probes[n] = future
                t0 = time.perf_counter()
                await handle.submit(Probe(n))
                started = await asyncio.wait_for(future, timeout=10)
                if i >= warmup:
                    latencies.append(started - t0)
                await s.wait_idle()  # the next sample starts with nothing in flight
    return percentiles_ms(latencies)


# --- Huey -----------------------------------------------------------------------------------------


def huey_end_to_end(n: int, workers: int) -> float:
    """Tasks/s of SqliteHuey: enqueue ``n`` no-op tasks, then drain them with a thread consumer.

    Huey polls when its queue looks empty; the delays are set to 1 ms without backoff so it
    never sleeps long. ``fsync=False`` (synchronous=OFF, Huey's only alternative to FULL) does
    fewer syncs than taskmill's synchronous=NORMAL, so any durability advantage is Huey's.
    """
    from huey import SqliteHuey

    with tempfile.TemporaryDirectory() as tmp:
        huey = SqliteHuey("bench", filename=str(Path(tmp) / "huey.db"), results=False, fsync=False)
        ran = itertools.count(1)
        done = threading.Event()

        @huey.task()  # type: ignore[untyped-decorator]  # huey ships no type hints
        def huey_noop() -> None:
            if next(ran) == n:
                done.set()

        consumer = huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.001,
            max_delay=0.001,
            backoff=1.0,
            check_worker_health=False,
        )
        signals = [
            signal.SIGINT,
            signal.SIGTERM,
            *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []),
        ]
        handlers = {sig: signal.getsignal(sig) for sig in signals}
        start = time.perf_counter()
        for _ in range(n):
            huey_noop()
        consumer.start()  # starts the worker threads (and installs signal handlers)
        try:
            finished = done.wait(timeout=300)
            elapsed = time.perf_counter() - start
        finally:
            consumer.stop(graceful=True)  # sets the stop flag and joins the threads
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            huey.storage.close()
    if not finished:
        raise RuntimeError(f"Huey ran {next(ran) - 1} of {n} tasks in 300 s")
    return n / elapsed


# --- the figures ----------------------------------------------------------------------------------


def measure_end_to_end(sizes: Sizes, repeats: int, with_huey: bool) -> tuple[list[Row], float]:
    """Figure 1; also returns the bare executemany rate (t2), figure 4's baseline."""
    n = sizes.tasks

    def bare_floor() -> tuple[float, ...]:
        t1 = asyncio.run(bare_await_tasks(n))  # t1 needs an event loop, t2 and t3 do not
        t2, t3 = bare_insert_then_claim(n)
        return n / (t1 + t2 + t3), n / t2, t1 * 1000, t2 * 1000, t3 * 1000

    rate, floor, insert_rate, t1, t2, t3 = medians(
        repeats, partial(taskmill_end_to_end, n), bare_floor
    )
    progress(
        f"end-to-end: taskmill {rate:,.0f}/s; floor {floor:,.0f}/s "
        f"(t1 {t1:.0f} ms + t2 {t2:.0f} ms + t3 {t3:.0f} ms)"
    )
    label = f"1 end-to-end no-op, {n} @ 64"
    rows = [
        Row(label, rate, "bare floor", floor, ">= 20000/s", rate >= 20_000),
        Row(label, rate, "bare floor", floor, ">= 0.50x floor", rate >= 0.5 * floor),
    ]
    if with_huey:
        best, best_workers = 0.0, 0
        for workers in HUEY_WORKERS:
            (huey_rate,) = medians(repeats, partial(huey_end_to_end, sizes.huey_tasks, workers))
            progress(f"Huey, {sizes.huey_tasks} tasks, workers={workers}: {huey_rate:,.0f}/s")
            if huey_rate > best:
                best, best_workers = huey_rate, workers
        name = f"Huey, {best_workers} thread{'s' if best_workers > 1 else ''}"
        rows.append(Row(label, rate, name, best, ">= 15x Huey", rate >= 15 * best))
    return rows, insert_rate


def measure_one_by_one(sizes: Sizes, repeats: int) -> tuple[list[Row], float]:
    """Figure 2; also returns the one-by-one rate at durability "normal", figure 3's baseline."""
    n = sizes.one_by_one
    rows: list[Row] = []
    settings: tuple[tuple[Durability, str], ...] = (("normal", "NORMAL"), ("full", "FULL"))
    for durability, synchronous in settings:
        rate, bare = medians(
            repeats,
            partial(taskmill_submit_rate, n, "one_by_one", durability),
            partial(bare_single_commits, n, synchronous),
        )
        progress(f"one by one, {durability}: taskmill {rate:,.0f}/s; bare {bare:,.0f}/s")
        name, passed = f"2 submit one by one, {durability}", rate >= 0.7 * bare
        rows.append(Row(name, rate, f"bare sync={synchronous}", bare, ">= 0.70x bare", passed))
    return rows, rows[0].value


def measure_concurrent(sizes: Sizes, repeats: int, one_by_one_rate: float) -> list[Row]:
    n = sizes.concurrent
    (rate,) = medians(repeats, partial(taskmill_submit_rate, n, "gather"))
    progress(f"{n} concurrent submits: {rate:,.0f}/s")
    name = f"3 {n} concurrent submits"
    return [Row(name, rate, "one by one (2)", one_by_one_rate, ">= 30000/s", rate >= 30_000)]


def measure_batch_submit(sizes: Sizes, repeats: int, bare: float) -> list[Row]:
    n = sizes.tasks
    (rate,) = medians(repeats, partial(taskmill_submit_rate, n, "many"))
    progress(f"submit_many({n}): taskmill {rate:,.0f}/s; bare executemany {bare:,.0f}/s")
    name = f"4 submit_many, {n}"
    return [Row(name, rate, "bare executemany", bare, ">= 0.50x bare", rate >= 0.5 * bare)]


def measure_observed(sizes: Sizes, repeats: int) -> list[Row]:
    n = sizes.tasks
    observed, plain = medians(
        repeats, partial(taskmill_end_to_end_observed, n), partial(taskmill_end_to_end, n)
    )
    added = (1 / observed - 1 / plain) * 1e6  # what observing costs, whatever the host's speed
    progress(
        f"end-to-end observed: {observed:,.0f}/s; plain {plain:,.0f}/s; "
        f"observing adds {added:.1f} us per task"
    )
    name = f"6 end-to-end, progress x100 + 3 subscribers, {n}"
    return [Row(name, observed, "plain (1)", plain, ">= 0.75x plain", observed >= 0.75 * plain)]


def measure_latency(sizes: Sizes, repeats: int) -> list[Row]:
    samples, warmup = sizes.latency_samples, sizes.latency_warmup
    p50, p99, b50, b99 = medians(
        repeats,
        partial(taskmill_dispatch_latencies, samples, warmup),
        partial(bare_round_trip_latencies, samples, warmup),
    )
    progress(
        f"idle dispatch latency: p50 {p50:.3f} ms, p99 {p99:.3f} ms; "
        f"bare asyncio p50 {b50:.4f} ms, p99 {b99:.4f} ms"
    )
    label = f"5 idle dispatch latency, {samples}"
    return [
        Row(f"{label} p50", p50, "bare asyncio p50", b50, "<= 1 ms", p50 <= 1, "ms"),
        Row(f"{label} p99", p99, "bare asyncio p99", b99, "<= 5 ms", p99 <= 5, "ms"),
    ]


# --- output ---------------------------------------------------------------------------------------


def fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}/s" if unit == "/s" else f"{value:.3f} ms"


def print_table(rows: list[Row]) -> None:
    header = ("figure", "taskmill", "baseline", "", "ratio", "target", "result")
    lines = [
        (
            r.figure,
            fmt(r.value, r.unit),
            r.baseline_name,
            fmt(r.baseline, r.unit),
            f"{r.value / r.baseline:.2f}x" if r.baseline else "-",
            r.target,
            "PASS" if r.passed else "MISS",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    right = {1, 3, 4}
    for line in [header, *lines]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per figure (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--only-observed", action="store_true", help="only figure 6 (and its baseline)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    sizes = QUICK if args.quick else FULL
    with_huey = importlib.util.find_spec("huey") is not None
    print(
        f"taskmill throughput benchmark: {args.repeats} repeats, medians; "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
        f"{'; QUICK sizes, verdicts not meaningful' if args.quick else ''}"
    )
    if not with_huey:
        print("huey is not installed, skipping the Huey baseline: pip install -e '.[bench]'")
    started = time.perf_counter()
    if args.only_observed:
        rows = measure_observed(sizes, args.repeats)
        print(f"\nresults (ratio = taskmill / baseline; {time.perf_counter() - started:.0f} s):\n")
        print_table(rows)
        return 0
    rows, bare_insert_rate = measure_end_to_end(sizes, args.repeats, with_huey)
    one_by_one_rows, one_by_one_rate = measure_one_by_one(sizes, args.repeats)
    rows += one_by_one_rows
    rows += measure_concurrent(sizes, args.repeats, one_by_one_rate)
    rows += measure_batch_submit(sizes, args.repeats, bare_insert_rate)
    rows += measure_latency(sizes, args.repeats)
    rows += measure_observed(sizes, args.repeats)
    print(f"\nresults (ratio = taskmill / baseline; {time.perf_counter() - started:.0f} s):\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
