"""IO flood: does the machine stay responsive while taskmill runs disk-heavy work?

A foreground *probe* process writes 4 KiB and fsyncs it every 10 ms, recording how long each
write + fsync takes: the latency an interactive app sees when it saves something. Meanwhile
taskmill runs a flood of disk-heavy tasks (by default 48 tasks, each writing 64 MiB in 1 MiB
chunks with an fsync at the end) at ``max_concurrency=8``:

- (a) admission off: only the global cap;
- (b) admission on: resource monitoring (psutil sampler) and the tasks' declared IO budgets,
  default settings, no hand-tuned caps;
- (c) like (b) with ``io_window`` set to ``--latency-window`` seconds (an IO budget tuned for
  latency rather than throughput; see docs/io.md).

The sampler is shared by every phase and started before the first one, as in a long-running
app that has already seen what its disk can do. Phases alternate, in an order rotated each round, so
that they share the host's noise, for at least 3 rounds and until every phase has
``--min-samples`` probe samples (a stalled probe takes fewer); samples are pooled per phase.
Printed: the probe's p50 / p99 idle and under each phase, the flood's median total time per
phase, and the ratios the issue sets as targets: p99(b) <= 3x idle and <= 1/5 of p99(a);
total(b) <= 1.2x total(a).

Usage: python benchmarks/io_flood.py [--tasks 48] [--mib 64] [--min-samples 500] [--dir PATH]

The files go to a temporary directory under ``--dir`` (default: the current directory, so
that the probe and the flood share a real disk rather than a tmpfs ``/tmp``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from taskmill import Domain, IoBudget, Scheduler
from taskmill.resources import PsutilSampler, Sampler

MIB = 1 << 20
PROBE_PERIOD = 0.010
PROBE_BYTES = 4096

flood = Domain("flood")


@dataclass
class Write:
    path: str
    mib: int


@flood.task("write", expected_io=IoBudget.disk(write=64 * MIB))
def write(job: Write) -> None:
    """Write ``mib`` MiB in 1 MiB chunks, fsync, delete: a big file saved durably."""
    chunk = b"\0" * MIB
    fd = os.open(job.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(job.mib):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(job.path)


# --- the probe: a separate process, so the flood's threads cannot delay it via the GIL -----


def probe_main(directory: str, control: Connection) -> None:
    """Write + fsync 4 KiB every 10 ms while told to; send back the latencies of each run."""
    fd = os.open(os.path.join(directory, "probe"), os.O_WRONLY | os.O_CREAT, 0o600)
    data = os.urandom(PROBE_BYTES)
    while True:
        if control.recv() == "quit":
            break
        samples: list[float] = []
        deadline = time.perf_counter()
        while not control.poll():
            start = time.perf_counter()
            os.pwrite(fd, data, 0)
            os.fsync(fd)
            samples.append(time.perf_counter() - start)
            deadline += PROBE_PERIOD
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:  # fell behind: keep the period from now rather than bursting to catch up
                deadline = time.perf_counter()
        control.recv()  # "stop"
        control.send(samples)
    os.close(fd)


class Probe:
    def __init__(self, directory: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=probe_main, args=(str(directory), child))
        self._process.start()

    def start(self) -> None:
        self._conn.send("start")

    def stop(self) -> list[float]:
        self._conn.send("stop")
        samples: list[float] = self._conn.recv()
        return samples

    def close(self) -> None:
        self._conn.send("quit")
        self._process.join()


# --- phases ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    sampler: Sampler | None = None
    io_window: float = 2.0
    samples: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)


async def run_flood(directory: Path, tasks: int, mib: int, round_no: int, phase: Phase) -> float:
    """Submit the flood to a fresh scheduler and return the seconds until it is idle."""
    database = directory / f"flood-{round_no}.db"
    scheduler = Scheduler(
        database,
        domains=[flood],
        max_concurrency=8,
        sampler=phase.sampler,
        io_window=phase.io_window,
    )
    async with scheduler:
        jobs = [Write(str(directory / f"w{round_no}-{i}"), mib) for i in range(tasks)]
        started = time.perf_counter()
        await scheduler.domain(flood).submit_many(jobs)
        await scheduler.wait_idle()
        elapsed = time.perf_counter() - started
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return elapsed


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 0.50) * 1e3, percentile(samples, 0.99) * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=48, help="tasks per flood (48)")
    parser.add_argument("--mib", type=int, default=64, help="MiB each task writes (64)")
    parser.add_argument("--min-samples", type=int, default=500,
                        help="probe samples each phase needs at least (500)")  # fmt: skip
    parser.add_argument("--max-rounds", type=int, default=20, help="stop after (20) rounds")
    parser.add_argument("--idle", type=float, default=6.0, help="seconds of idle probing (6)")
    parser.add_argument("--latency-window", type=float, default=0.05,
                        help="io_window of phase (c), seconds (0.05)")  # fmt: skip
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to write")
    args = parser.parse_args()

    sampler = PsutilSampler()
    phases = [
        Phase("(a) admission off"),
        Phase("(b) monitoring + IO budgets", sampler),
        Phase(f"(c) as (b), io_window={args.latency_window:g}", sampler, args.latency_window),
    ]
    rounds = 0
    with tempfile.TemporaryDirectory(prefix="io_flood-", dir=args.dir) as tmp:
        directory = Path(tmp)
        probe = Probe(directory)
        sampler.start()
        try:
            probe.start()
            await asyncio.sleep(args.idle)
            idle = probe.stop()
            while rounds < args.max_rounds and (
                rounds < 3 or min(len(p.samples) for p in phases) < args.min_samples
            ):
                # Rotate the order each round: a flood runs slower right after a heavy one.
                for phase in phases[rounds % 3 :] + phases[: rounds % 3]:
                    probe.start()
                    elapsed = await run_flood(directory, args.tasks, args.mib, rounds, phase)
                    phase.samples += probe.stop()
                    phase.totals.append(elapsed)
                    sampler.start()  # each scheduler stops it on close; keep it warm
                rounds += 1
        finally:
            probe.close()
            sampler.stop()

    peak = sampler.latest().peak_disk_write / 1e6
    print(f"io_flood: {args.tasks} tasks x {args.mib} MiB at max_concurrency=8, {rounds} "
          f"rounds per phase; sampler's peak disk write {peak:.0f} MB/s")  # fmt: skip
    idle_p50, idle_p99 = describe(idle)
    print(f"{'phase':<34} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} {'total s':>8}")
    print(f"{'idle':<34} {len(idle):>7} {idle_p50:>8.2f} {idle_p99:>8.2f} {'':>8}")
    for phase in phases:
        p50, p99 = describe(phase.samples)
        total = statistics.median(phase.totals)
        print(f"{phase.name:<34} {len(phase.samples):>7} {p50:>8.2f} {p99:>8.2f} {total:>8.2f}")
    off = phases[0]
    p99_off, total_off = describe(off.samples)[1], statistics.median(off.totals)
    for phase in phases[1:]:
        p99, total = describe(phase.samples)[1], statistics.median(phase.totals)
        print(
            f"{phase.name.split()[0]}: p99 {p99 / idle_p99:.1f}x idle (target <= 3: "
            f"{'PASS' if p99 <= 3 * idle_p99 else 'MISS'}), {p99 / p99_off:.2f}x (a) (target "
            f"<= 0.20: {'PASS' if p99 <= p99_off / 5 else 'MISS'}), total {total / total_off:.2f}x"
            f" (a) (target <= 1.2: {'PASS' if total <= 1.2 * total_off else 'MISS'})"
        )


if __name__ == "__main__":
    asyncio.run(main())
