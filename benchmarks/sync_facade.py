"""Round trip of a submit through taskmill.sync against the same submit awaited on the loop.

Both schedulers are opened on fresh files (durability "normal") and paused, so the figure is
the call alone: validate, commit, answer. The asyncio submit is awaited one at a time on the
scheduler's own loop (figure 2 of throughput.py); the blocking one is called from the main
thread while the scheduler runs on its loop thread: the difference is the two thread
hand-offs of ``run_coroutine_threadsafe``. Rounds alternate the two, and the script prints
p50 and p99 of each, with the ratio.

    python benchmarks/sync_facade.py [--samples 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import taskmill
from taskmill import Domain, TaskContext
from taskmill.sync import Scheduler as SyncScheduler

bench = Domain("bench")


@dataclass
class Noop:
    n: int


@bench.task("noop")
async def noop(item: Noop, ctx: TaskContext) -> None:
    return None


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def async_round(path: Path, samples: int) -> list[float]:
    async with taskmill.Scheduler(path, domains=[bench]) as scheduler:
        await scheduler.pause()
        handle = scheduler.domain(bench)
        for i in range(50):  # warm-up
            await handle.submit(Noop(i))
        times = []
        for i in range(samples):
            start = time.perf_counter()
            await handle.submit(Noop(i))
            times.append(time.perf_counter() - start)
        return times


def sync_round(path: Path, samples: int) -> list[float]:
    with SyncScheduler(path, domains=[bench]) as scheduler:
        scheduler.pause()
        handle = scheduler.domain(bench)
        for i in range(50):
            handle.submit(Noop(i))
        times = []
        for i in range(samples):
            start = time.perf_counter()
            handle.submit(Noop(i))
            times.append(time.perf_counter() - start)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"async": [], "sync": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            times = asyncio.run(async_round(Path(tmp) / f"a{r}.db", args.samples))
            results["async"].append((percentile(times, 0.5), percentile(times, 0.99)))
            times = sync_round(Path(tmp) / f"s{r}.db", args.samples)
            results["sync"].append((percentile(times, 0.5), percentile(times, 0.99)))
    print(f"submit round trip, {args.samples} samples x {args.rounds} rounds (medians of rounds)")
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}")
    medians = {}
    for name, label in (("async", "await submit() on loop"), ("sync", "taskmill.sync submit()")):
        p50 = statistics.median(p for p, _ in results[name])
        p99 = statistics.median(p for _, p in results[name])
        medians[name] = (p50, p99)
        print(f"{label:24}{p50 * 1e3:>10.3f}{p99 * 1e3:>10.3f}")
    (a50, a99), (s50, s99) = medians["async"], medians["sync"]
    print(f"{'ratio sync / async':24}{s50 / a50:>9.2f}x{s99 / a99:>9.2f}x")


if __name__ == "__main__":
    main()
