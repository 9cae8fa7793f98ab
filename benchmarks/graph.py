"""Task graphs: a fan-out of children and a long dependency chain, against flat throughput.

Three workloads of no-op tasks on a fresh database file each, ``max_concurrency=64``:

- flat (the baseline): ``submit_many`` of N independent tasks, then drain; tasks/s from the
  start of the submit until ``wait_idle()`` returns;
- fan-out: one parent task whose executor spawns N children with ``ctx.spawn_many`` (one
  transaction), waits for them, then runs its finalize step; tasks/s over the N + 1 tasks,
  from submitting the parent until ``wait_idle()`` returns;
- chain: L tasks, each ``depends_on`` the previous one (submitted one by one, as each needs the
  previous id), then drained; tasks/s over the drain (a chain runs one task at a time, so this
  is the unblock-to-start round trip).

Each figure is the median of ``--repeats`` runs, interleaved. Target (issue 6): fan-out >= 50 %
of flat throughput.

Usage: python benchmarks/graph.py [--children 10000] [--chain 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from taskmill import Domain, Scheduler, TaskContext

graph = Domain("graph")
finalized: list[int] = []


@dataclass
class Leaf:
    n: int


@dataclass
class Fan:
    width: int


@graph.task("leaf")
async def leaf(job: Leaf) -> None:
    """A no-op."""


async def _finalize(job: Fan, ctx: TaskContext) -> None:
    finalized.append(ctx.id)


@graph.task("fan", finalize=_finalize)
async def fan(job: Fan, ctx: TaskContext) -> None:
    """Spawn ``width`` no-op children in one transaction."""
    await ctx.spawn_many([Leaf(n) for n in range(job.width)])


async def flat(directory: Path, n: int) -> float:
    async with Scheduler(directory / "flat.db", domains=[graph], max_concurrency=64) as s:
        start = time.perf_counter()
        await s.domain(graph).submit_many([Leaf(i) for i in range(n)])
        await s.wait_idle()
        return n / (time.perf_counter() - start)


async def fan_out(directory: Path, n: int) -> float:
    async with Scheduler(directory / "fan.db", domains=[graph], max_concurrency=64) as s:
        start = time.perf_counter()
        await s.domain(graph).submit(Fan(n))
        await s.wait_idle()
        elapsed = time.perf_counter() - start
        assert len(await s.list_tasks()) == 0
    return (n + 1) / elapsed


async def chain(directory: Path, length: int) -> float:
    scheduler = Scheduler(directory / "chain.db", domains=[graph], max_concurrency=64)
    await scheduler.open()
    previous: list[int] = []
    for i in range(length):
        outcome = await scheduler.domain(graph).submit(Leaf(i), depends_on=previous or None)
        previous = [outcome.id]
    async with scheduler:
        start = time.perf_counter()
        await scheduler.wait_idle()
        return length / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=10_000, help="fan-out width (10000)")
    parser.add_argument("--chain", type=int, default=1000, help="chain length (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="median of (3)")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"flat": [], "fan-out": [], "chain": []}
    for _ in range(args.repeats):
        for name, run, size in (
            ("flat", flat, args.children),
            ("fan-out", fan_out, args.children),
            ("chain", chain, args.chain),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                results[name].append(await run(Path(tmp), size))
    assert len(finalized) == args.repeats  # each fan-out finalized exactly once
    base = statistics.median(results["flat"])
    print(f"graph benchmark: {args.repeats} repeats, medians, max_concurrency=64")
    print(f"{'workload':<34} {'tasks/s':>10} {'vs flat':>8}")
    print(f"{f'flat, {args.children} tasks':<34} {base:>10,.0f} {1.0:>7.2f}x")
    fan_rate = statistics.median(results["fan-out"])
    verdict = "PASS" if fan_rate >= 0.5 * base else "MISS"
    label = f"fan-out, 1 parent + {args.children}"
    print(f"{label:<34} {fan_rate:>10,.0f} {fan_rate / base:>7.2f}x  (target >= 0.50x: {verdict})")
    chain_rate = statistics.median(results["chain"])
    label = f"chain of {args.chain} (one at a time)"
    print(f"{label:<34} {chain_rate:>10,.0f} {chain_rate / base:>7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
