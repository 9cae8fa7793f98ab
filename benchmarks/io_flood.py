"""IO flood: does the machine stay responsive while taskmill runs disk-heavy work?

A foreground *probe* process writes 4 KiB and fsyncs it every 10 ms, recording how long each
write + fsync takes: the latency an interactive app sees when it saves something. Meanwhile
a flood runs. Every taskmill phase is a fresh scheduler at **default settings** (only
``max_concurrency=8`` and, where said, ``resource_monitoring=True``) running 48 tasks that
each write 64 MiB in 1 MiB writes and fsync once at the end:

- (a) off: no monitoring, tasks write with ``os.write`` (only the global cap);
- (b) raw: monitoring on, tasks write with ``os.write`` (admission alone can help);
- (c) ctx.io: monitoring on, tasks write through ``ctx.io.open`` (paced in chunks);
- (d) foreign: another process (not taskmill) floods the disk, 4 threads writing 64 MiB
  files with an fsync at the end; no taskmill;
- (e) foreign + taskmill: the same foreign flood while taskmill runs BACKGROUND ``ctx.io``
  tasks with monitoring on; the probe counts only while the foreign flood runs;
- (f) storm: another process makes many small fsynced writes (48 threads, 64 KiB each),
  little bytes per second; the congestion monitor taskmill uses, and a throughput-based
  ``DiskPressure``, are read during it.

Phases alternate, in an order rotated each round, so that they share the host's noise, for
at least 3 rounds and until every phase has ``--min-samples`` probe samples; samples are
pooled per phase, flood times are medians. Files are deleted after each phase, outside the
probe's window: on a filesystem mounted with ``discard`` (as here) deleting 3 GiB stalls the
journal, which is the benchmark's cleanup, not the workload (``--unlink-in-task`` measures
it the old way).

Printed: each phase's probe p50 / p99 and flood time, the IO limit seen in (b), (c) and
(e), and the ratios the issue sets as targets.

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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from taskmill import Domain, IoBudget, Priority, Scheduler, Submission, TaskContext
from taskmill.resources import (
    Congestion,
    DiskMonitor,
    DiskPressure,
    PsutilSampler,
    system_sources,
)

MIB = 1 << 20
PROBE_PERIOD = 0.010
PROBE_BYTES = 4096
UNLINK_IN_TASK = False
WRITTEN = [0]  # MiB the paced tasks wrote, for the rate beside a foreign flood
WRITTEN_LOCK = threading.Lock()

flood = Domain("flood")


@dataclass
class Write:
    path: str
    mib: int


def _finish(path: str) -> None:
    if UNLINK_IN_TASK:
        os.unlink(path)


@flood.task("raw", expected_io=IoBudget.disk(write=64 * MIB))
def write_raw(job: Write) -> None:
    """Write ``mib`` MiB in 1 MiB writes and fsync once: a big file saved durably."""
    chunk = b"\0" * MIB
    fd = os.open(job.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(job.mib):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    _finish(job.path)


@flood.task("paced", expected_io=IoBudget.disk(write=64 * MIB))
def write_paced(job: Write, ctx: TaskContext) -> None:
    """The same file written through ``ctx.io``: flushed in chunks, paced when congested."""
    chunk = b"\0" * MIB
    with ctx.io.open(job.path, "wb") as f:
        for _ in range(job.mib):
            f.write(chunk)
            with WRITTEN_LOCK:
                WRITTEN[0] += 1
        f.flush()
        os.fsync(f.fileno())
    _finish(job.path)


# --- other processes: the probe, a foreign flood, a small-writes storm -----------------


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


def foreign_main(directory: str, control: Connection) -> None:
    """On each request, run a workload in threads of this process and say when it is done."""
    while True:
        request = control.recv()
        if request == "quit":
            break
        kind, amount = request
        started = time.perf_counter()
        if kind == "flood":  # its files are deleted by cleanup(), outside the probe's window
            with ThreadPoolExecutor(4) as pool:
                names = [os.path.join(directory, f"foreign-{i}") for i in range(amount)]
                list(pool.map(_foreign_write, names))
        else:  # a storm of small fsynced writes for `amount` seconds
            stop = time.perf_counter() + amount
            with ThreadPoolExecutor(48) as pool:
                names = [os.path.join(directory, f"storm-{i}") for i in range(48)]
                list(pool.map(_storm, names, [stop] * len(names)))
        control.send(time.perf_counter() - started)


def _foreign_write(path: str) -> None:
    chunk = b"\1" * MIB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(64):
        os.write(fd, chunk)
    os.fsync(fd)
    os.close(fd)


def _storm(path: str, stop: float) -> None:
    data = os.urandom(64 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    while time.perf_counter() < stop:
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    os.close(fd)


class Worker:
    """A process of ours that the flood cannot slow through the GIL."""

    def __init__(self, target: Callable[[str, Connection], None], directory: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(str(directory), child))
        self._process.start()

    def close(self) -> None:
        self.conn.send("quit")
        self._process.join()


class Probe(Worker):
    def __init__(self, directory: Path) -> None:
        super().__init__(probe_main, directory)

    def start(self) -> None:
        self.conn.send("start")

    def stop(self) -> list[float]:
        self.conn.send("stop")
        samples: list[float] = self.conn.recv()
        return samples


# --- phases ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    samples: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)  # of each run, to see outliers
    totals: list[float] = field(default_factory=list)
    limits: list[int] = field(default_factory=list)  # the IO limit, every 50 ms
    rates: list[float] = field(default_factory=list)  # taskmill MB/s during the phase

    def add(self, samples: list[float]) -> None:
        self.samples += samples
        self.p99s.append(describe(samples)[1])


class LimitTrace:
    """Reads a scheduler's IO limit every 50 ms (on the loop, as a UI would)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.limits: list[int] = []
        self._task = asyncio.get_running_loop().create_task(self._run(scheduler))

    async def _run(self, scheduler: Scheduler) -> None:
        while True:
            limit = scheduler.admission.io_control.limit
            if limit is not None:
                self.limits.append(limit)
            await asyncio.sleep(0.05)

    def stop(self) -> list[int]:
        self._task.cancel()
        return self.limits


async def run_flood(
    directory: Path, tasks: int, mib: int, tag: str, *, kind: str, monitoring: bool
) -> tuple[float, list[int]]:
    """Submit the flood to a fresh scheduler; return the seconds until idle, and the limits."""
    database = directory / f"flood-{tag}.db"
    scheduler = Scheduler(
        database, domains=[flood], max_concurrency=8, resource_monitoring=monitoring
    )
    async with scheduler:
        trace = LimitTrace(scheduler)
        jobs = [Write(str(directory / f"w{tag}-{i}"), mib) for i in range(tasks)]
        started = time.perf_counter()
        await scheduler.domain(flood).submit_many(jobs, task=kind)
        await scheduler.wait_idle()
        elapsed = time.perf_counter() - started
        limits = trace.stop()
    return elapsed, limits


async def run_beside_foreign(
    directory: Path, foreign: Worker, probe: Probe, tasks: int, mib: int, tag: str
) -> tuple[list[float], float, list[int], float]:
    """Foreign flood with taskmill BACKGROUND ctx.io tasks beside it (probe: foreign only)."""
    database = directory / f"beside-{tag}.db"
    written = 0
    async with Scheduler(
        database, domains=[flood], max_concurrency=8, resource_monitoring=True
    ) as scheduler:
        jobs = [Write(str(directory / f"b{tag}-{i}"), mib) for i in range(tasks)]
        background = [Submission(job, priority=Priority.BACKGROUND) for job in jobs]
        await scheduler.domain(flood).submit_many(background, task="paced")
        trace = LimitTrace(scheduler)
        before = WRITTEN[0]
        probe.start()
        foreign.conn.send(("flood", 48))
        elapsed = await asyncio.get_running_loop().run_in_executor(None, foreign.conn.recv)
        samples = probe.stop()
        written = (WRITTEN[0] - before) * MIB
        limits = trace.stop()
        await scheduler.wait_idle()
    return samples, elapsed, limits, written / 1e6 / elapsed


def cleanup(directory: Path) -> None:
    """Delete a phase's files, databases included (outside the probe's window), and sync."""
    for path in directory.iterdir():
        if path.name != "probe":
            path.unlink()
    os.sync()


def read_storm(directory: Path, foreign: Worker, probe: Probe, seconds: float) -> dict[str, float]:
    """Read the congestion monitor and a throughput-based pressure during a storm, and idle."""
    readings: list[tuple[str, float]] = []
    stalls: list[tuple[str, float]] = []  # PSI, shown beside the deciding source
    phase = "idle"

    def take(congestion: Congestion) -> None:
        readings.append((phase, congestion.level))
        stalls.extend((phase, r.value) for r in congestion.readings if r.source == "psi")

    monitor = DiskMonitor(system_sources(directory / "storm.db"))
    monitor.listen(take)
    sampler = PsutilSampler(interval=0.25)
    sampler.start()
    pressure = DiskPressure(sampler)
    pressures: list[tuple[str, float]] = []
    stop = threading.Event()

    def watch_pressure() -> None:
        while not stop.wait(0.25):
            pressures.append((phase, pressure.pressure()))

    watcher = threading.Thread(target=watch_pressure, daemon=True)
    watcher.start()
    monitor.watch(True)
    time.sleep(seconds)
    phase = "storm"
    probe.start()
    foreign.conn.send(("storm", seconds))
    foreign.conn.recv()
    samples = probe.stop()
    monitor.watch(False)
    monitor.close()
    stop.set()
    watcher.join()
    sampler.stop()

    def mean(pairs: list[tuple[str, float]], which: str) -> float:
        values = [v for p, v in pairs if p == which]
        return statistics.mean(values) if values else float("nan")

    def share(which: str) -> float:
        values = [v for p, v in readings if p == which]
        return sum(v >= 1 for v in values) / len(values) if values else float("nan")

    p50, p99 = describe(samples)
    return {
        "p50": p50,
        "p99": p99,
        "level idle": mean(readings, "idle"),
        "level storm": mean(readings, "storm"),
        "congested idle": share("idle"),
        "congested storm": share("storm"),
        "pressure idle": mean(pressures, "idle"),
        "pressure storm": mean(pressures, "storm"),
        "psi idle": mean(stalls, "idle"),
        "psi storm": mean(stalls, "storm"),
    }


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 0.50) * 1e3, percentile(samples, 0.99) * 1e3


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def main() -> None:
    global UNLINK_IN_TASK  # noqa: PLW0603 - read by the tasks, set once from the command line
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=48, help="tasks per flood (48)")
    parser.add_argument("--mib", type=int, default=64, help="MiB each task writes (64)")
    parser.add_argument("--min-samples", type=int, default=500,
                        help="probe samples each phase needs at least (500)")  # fmt: skip
    parser.add_argument("--min-rounds", type=int, default=3, help="rounds at least (3)")
    parser.add_argument("--max-rounds", type=int, default=12, help="stop after (12) rounds")
    parser.add_argument("--idle", type=float, default=6.0, help="seconds of idle probing (6)")
    parser.add_argument("--storm", type=float, default=3.0, help="seconds of storm (3)")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where to write")
    parser.add_argument("--unlink-in-task", action="store_true",
                        help="delete each file in its task, inside the probe's window")  # fmt: skip
    args = parser.parse_args()
    UNLINK_IN_TASK = args.unlink_in_task

    off, raw, paced = Phase("(a) off, raw writers"), Phase("(b) raw writers"), Phase("(c) ctx.io")
    foreign_alone, beside = Phase("(d) foreign flood"), Phase("(e) foreign + taskmill")
    phases = [off, raw, paced, foreign_alone, beside]
    rounds = 0
    with tempfile.TemporaryDirectory(prefix="io_flood-", dir=args.dir) as tmp:
        directory = Path(tmp)
        probe = Probe(directory)
        foreign = Worker(foreign_main, directory)
        try:
            probe.start()
            await asyncio.sleep(args.idle)
            idle = probe.stop()
            while rounds < args.max_rounds and (
                rounds < args.min_rounds or min(len(p.samples) for p in phases) < args.min_samples
            ):
                # Rotate the order each round: a flood runs slower right after a heavy one.
                order = phases[rounds % len(phases) :] + phases[: rounds % len(phases)]
                for phase in order:
                    tag = f"{rounds}{phases.index(phase)}"
                    if phase is foreign_alone:
                        probe.start()
                        foreign.conn.send(("flood", 48))
                        elapsed = await asyncio.get_running_loop().run_in_executor(
                            None, foreign.conn.recv
                        )
                        phase.add(probe.stop())
                        phase.totals.append(elapsed)
                    elif phase is beside:
                        samples, elapsed, limits, rate = await run_beside_foreign(
                            directory, foreign, probe, args.tasks, args.mib, tag
                        )
                        phase.add(samples)
                        phase.totals.append(elapsed)
                        phase.limits += limits
                        phase.rates.append(rate)
                    else:
                        probe.start()
                        elapsed, limits = await run_flood(
                            directory,
                            args.tasks,
                            args.mib,
                            tag,
                            kind="raw" if phase is not paced else "paced",
                            monitoring=phase is not off,
                        )
                        phase.add(probe.stop())
                        phase.totals.append(elapsed)
                        phase.limits += limits
                        phase.rates.append(args.tasks * args.mib * MIB / 1e6 / elapsed)
                    cleanup(directory)
                rounds += 1
            storm = read_storm(directory, foreign, probe, args.storm)
        finally:
            probe.close()
            foreign.close()

    print(
        f"io_flood: {args.tasks} tasks x {args.mib} MiB at max_concurrency=8, default settings; "
        f"{rounds} rounds per phase{'; files deleted in the tasks' if UNLINK_IN_TASK else ''}"
    )
    idle_p50, idle_p99 = describe(idle)
    print(f"{'phase':<26} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} {'time s':>7} "
          f"{'MB/s':>6} {'IO limit: min/median/max':>25}")  # fmt: skip
    print(f"{'idle':<26} {len(idle):>7} {idle_p50:>8.2f} {idle_p99:>8.2f}")
    for phase in phases:
        p50, p99 = describe(phase.samples)
        total = statistics.median(phase.totals)
        rate = f"{statistics.median(phase.rates):>6.0f}" if phase.rates else f"{'':>6}"
        limits = (
            f"{min(phase.limits)}/{statistics.median(phase.limits):g}/{max(phase.limits)}"
            if phase.limits
            else "-"
        )
        print(
            f"{phase.name:<26} {len(phase.samples):>7} {p50:>8.2f} {p99:>8.2f} {total:>7.2f} "
            f"{rate} {limits:>25}"
        )

    def p99(phase: Phase) -> float:
        return describe(phase.samples)[1]

    def total(phase: Phase) -> float:
        return statistics.median(phase.totals)

    print("p99 of each run (ms): " + "; ".join(
        f"{p.name.split()[0]} " + " ".join(f"{v:.0f}" for v in p.p99s) for p in phases
    ))  # fmt: skip
    print("time of each run (s): " + "; ".join(
        f"{p.name.split()[0]} " + " ".join(f"{v:.1f}" for v in p.totals) for p in phases
    ))  # fmt: skip
    print("\ntargets (same-run baselines):")
    ratio = p99(paced) / idle_p99
    print(f"  (c) ctx.io: p99 {ratio:.2f}x idle (<= 3: {verdict(ratio <= 3)}), "
          f"{p99(paced) / p99(off):.3f}x (a) (<= 0.2: {verdict(p99(paced) <= p99(off) / 5)}), "
          f"time {total(paced) / total(off):.2f}x (a) (<= 1.2: "
          f"{verdict(total(paced) <= 1.2 * total(off))})")  # fmt: skip
    print(f"  (b) raw: p99 {p99(raw) / p99(off):.3f}x (a) (<= 0.33: "
          f"{verdict(p99(raw) <= p99(off) / 3)}), time {total(raw) / total(off):.2f}x (a) "
          f"(<= 1.3: {verdict(total(raw) <= 1.3 * total(off))})")  # fmt: skip
    backed_off = bool(beside.limits) and statistics.median(beside.limits) < 8
    print(f"  (e) foreign + taskmill: p99 {p99(beside) / p99(foreign_alone):.2f}x (d) (<= 1.3: "
          f"{verdict(p99(beside) <= 1.3 * p99(foreign_alone))}); taskmill's IO limit median "
          f"{statistics.median(beside.limits) if beside.limits else float('nan'):g} of 8 "
          f"(backs off: {verdict(backed_off)}); taskmill wrote "
          f"{statistics.median(beside.rates):.0f} MB/s beside it vs "
          f"{statistics.median(paced.rates):.0f} MB/s in (c)")  # fmt: skip
    print(f"  (f) storm (48 threads x 64 KiB write+fsync, {args.storm:g} s): probe p50 "
          f"{storm['p50']:.2f} / p99 {storm['p99']:.2f} ms ({storm['p99'] / idle_p99:.1f}x idle); "
          f"congestion level {storm['level idle']:.2f} idle -> {storm['level storm']:.2f} storm "
          f"(readings congested: {storm['congested idle']:.0%} -> {storm['congested storm']:.0%}, "
          f"sees it: {verdict(storm['congested storm'] >= 0.5)}); PSI some (shown, not "
          f"deciding) {storm['psi idle']:.0%} -> {storm['psi storm']:.0%}; throughput "
          f"DiskPressure {storm['pressure idle']:.2f} -> "
          f"{storm['pressure storm']:.2f}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
