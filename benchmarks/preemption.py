"""Preemption latency: how long a REALTIME task waits when every slot is busy.

Every slot holds a BACKGROUND task that never finishes by itself. Each trial submits one
REALTIME task and measures the time from just before ``submit()`` to the moment its executor
starts; the scheduler must interrupt a running task, store it as preempted, claim the urgent
task and start it. After the urgent task ends, the trial waits until the preempted task runs
again, so every trial starts with all slots busy.

The baseline, measured in the same run, is the same submit-to-start latency with one slot
free (no preemption needed). Target (SPEC section 6): p99 <= 20 ms.

Usage: python benchmarks/preemption.py [--trials N] [--slots N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from taskmill import Dispatched, Domain, Priority, Scheduler, TaskContext

bench = Domain("bench")
_started: dict[int, asyncio.Future[float]] = {}
_forever = asyncio.Event  # background tasks wait on an event nobody sets


@dataclass
class Background:
    n: int


@dataclass
class Urgent:
    n: int


@bench.task("background", priority=Priority.BACKGROUND)
async def background(job: Background, ctx: TaskContext) -> None:
    await _forever().wait()


@bench.task("urgent", priority=Priority.REALTIME)
async def urgent(job: Urgent, ctx: TaskContext) -> None:
    future = _started.get(job.n)
    if future is not None and not future.done():
        future.set_result(time.perf_counter())


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(trials: int, slots: int, *, busy: int) -> list[float]:
    """Submit-to-start latencies (ms) of urgent tasks with `busy` of `slots` slots taken."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        scheduler = Scheduler(
            Path(tmp) / "bench.db", domains=[bench], max_concurrency=slots, shutdown_timeout=0
        )
        events = scheduler.events(maxsize=100_000)
        async with scheduler:
            handle = scheduler.domain(bench)
            await handle.submit_many([Background(n) for n in range(busy)])
            await _wait_running(events, busy)
            for n in range(trials + 20):  # the first 20 warm up
                _started[n] = future = loop.create_future()
                t0 = time.perf_counter()
                await handle.submit(Urgent(n))
                started = await asyncio.wait_for(future, timeout=10)
                del _started[n]
                if n >= 20:
                    latencies.append((started - t0) * 1000)
                if busy == slots:
                    await _wait_running(events, 1)  # the preempted task is back in its slot
    return latencies


async def _wait_running(events: object, count: int) -> None:
    """Wait for `count` Dispatched events of background tasks."""
    seen = 0
    async for event in events:  # type: ignore[attr-defined]
        if isinstance(event, Dispatched) and event.task.type == "bench::background":
            seen += 1
            if seen == count:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=300, help="urgent tasks per run (>= 200)")
    parser.add_argument("--slots", type=int, default=4, help="max_concurrency")
    args = parser.parse_args()

    preempting = asyncio.run(measure(args.trials, args.slots, busy=args.slots))
    free_slot = asyncio.run(measure(args.trials, args.slots, busy=args.slots - 1))
    p50, p99 = percentile(preempting, 0.5), percentile(preempting, 0.99)
    b50, b99 = percentile(free_slot, 0.5), percentile(free_slot, 0.99)
    print(f"preemption latency, {args.trials} trials, {args.slots} slots all busy")
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    print(f"{'with preemption':28}{p50:10.3f}{p99:10.3f}{statistics.fmean(preempting):10.3f}")
    print(
        f"{'baseline: one slot free':28}{b50:10.3f}{b99:10.3f}{statistics.fmean(free_slot):10.3f}"
    )
    print(f"ratio p99 preemption / free slot: {p99 / b99:.2f}x")
    verdict = "PASS" if p99 <= 20 else "MISS"
    print(f"target p99 <= 20 ms: {verdict} ({p99:.3f} ms)")


if __name__ == "__main__":
    main()
