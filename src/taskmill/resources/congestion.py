"""Disk congestion: how much worse the disk has become for a foreground program, right now.

Throughput says how busy a disk is, not whether a program that saves a file must wait: a
disk can move 1.5 GB/s for one well-paced writer and still answer a small fsync in a
millisecond, or stall it for 200 ms behind a burst of dirty pages. A congestion *source*
therefore reads a latency (or a stall share) over one sampling period and compares it with
a target; its *level* is the ratio, and 1.0 or more means congested.

Sources (each compared with a multiple of its own quiet-time baseline, never below a
floor):

- :class:`DeviceLatency`: the mean time an IO spends in flight on the device that holds the
  database (Linux ``/proc/diskstats``): the queue a foreground read, write or fsync joins,
  whoever filled it. On this project's test machine it tracks a foreground fsync probe
  closely (0.3 ms beside one paced writer, 14-45 ms beside bursty ones).
- :class:`DiskTimes`: the same from psutil's per-disk read/write times, on other systems.
- :class:`CommitLatency`: the scheduler's own commits (fed by the store), on every system.
- :class:`StallShare` (Linux PSI) is shown for information where a device latency can be
  read, and decides only where it cannot: it counts taskmill's own paced writers as
  stalled (one of them reads ~50 % while a foreground fsync is as fast as on an idle
  disk), so it cannot tell a busy disk from a congested one.

:class:`~taskmill.resources.monitor.DiskMonitor` reads the sources on a thread of its own.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import psutil

from taskmill.model.errors import ConfigurationError
from taskmill.model.jsonable import json_dict
from taskmill.resources import linux


@dataclass(frozen=True, slots=True)
class Reading:
    """What one source saw over one sampling period.

    Attributes:
        source: Which source, e.g. ``"device vda"``, ``"psi"``, ``"commits"``.
        value: What it measured, in ``unit``.
        target: The value at which it calls the disk congested.
        unit: ``"ms"`` (a latency), ``"ios"`` (requests in flight on average) or ``"share"``
            (a fraction of time, 0..1).
        decides: Whether it counts toward congestion (else it is shown for information).
    """

    source: str
    value: float
    target: float
    unit: str = "ms"
    decides: bool = True

    @property
    def level(self) -> float:
        """``value / target``: 1.0 and above is congestion."""
        return self.value / self.target if self.target > 0 else 0.0

    def describe(self) -> str:
        """One phrase for people, e.g. ``"device vda latency 12.3 ms (target 1.0 ms)"``."""
        if self.unit == "share":
            return f"{self.source} stall {self.value:.0%} (target {self.target:.0%})"
        if self.unit == "ios":
            return f"{self.source} {self.value:.1f} IOs in flight (target {self.target:g})"
        return f"{self.source} latency {self.value:.1f} ms (target {self.target:.1f} ms)"

    def to_dict(self) -> dict[str, Any]:
        """Return the reading as JSON-serializable builtins."""
        return json_dict(self)


@dataclass(frozen=True, slots=True)
class Congestion:
    """The disk's state at one reading: the worst deciding source and every reading.

    Attributes:
        level: The highest level of the deciding readings (1.0 and above: congested).
        source: The source with that level (``None``: no deciding source said anything).
        readings: Every source's reading of the period.
    """

    level: float = 0.0
    source: str | None = None
    readings: tuple[Reading, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, readings: Sequence[Reading]) -> Congestion:
        """Combine readings: the deciding one with the highest level decides."""
        deciding = [r for r in readings if r.decides]
        worst = max(deciding, key=lambda r: r.level, default=None)
        if worst is None:
            return cls(0.0, None, tuple(readings))
        return cls(worst.level, worst.source, tuple(readings))

    @property
    def congested(self) -> bool:
        """Whether the disk counts as congested."""
        return self.level >= 1.0

    def describe(self) -> str:
        """One phrase for people: ``"disk congested: device vda latency 12.3 ms ..."``."""
        worst = next((r for r in self.readings if r.source == self.source), None)
        state = "disk congested" if self.congested else "disk clear"
        return state if worst is None else f"{state}: {worst.describe()}"

    def to_dict(self) -> dict[str, Any]:
        """Return the congestion as JSON-serializable builtins."""
        return json_dict(self)


@runtime_checkable
class CongestionSource(Protocol):
    """Reads one congestion signal as differences of cumulative counters."""

    def reset(self) -> None:
        """Take the counters that the next :meth:`read` is measured from."""

    def read(self) -> Reading | None:
        """The reading since the last call (or :meth:`reset`); ``None``: nothing to say."""


class _Baseline:
    """A latency learned from quiet periods: what the device does when nobody queues."""

    __slots__ = ("factor", "floor", "value")

    def __init__(self, floor: float, factor: float) -> None:
        if not (math.isfinite(floor) and floor > 0):
            raise ConfigurationError(f"a latency floor must be > 0 ms, got {floor!r}")
        if not (math.isfinite(factor) and factor >= 1):
            raise ConfigurationError(f"a baseline factor must be >= 1, got {factor!r}")
        self.floor = floor
        self.factor = factor
        self.value: float | None = None

    def learn(self, latency: float) -> None:
        self.value = latency if self.value is None else 0.9 * self.value + 0.1 * latency

    @property
    def target(self) -> float:
        return max(self.floor, self.factor * (self.value or 0.0))


class DeviceLatency:
    """Mean time in flight of an IO on one block device, from Linux ``/proc/diskstats``.

    The latency's target is ``factor`` times the latency seen in quiet periods (less than
    one request in flight on average), but never below ``floor_ms``. The device also counts
    as congested while more than ``queue_target`` requests are in flight on average, however
    fast each one is: a storm of small fsynced writes can keep every request short while a
    foreground fsync waits behind the journal commits they force (measured here: 48 writers
    of 64 KiB each fsynced kept IOs at 0.2 ms, 19 in flight, and a foreground fsync at 5x
    its idle p99). The reading is whichever of the two is closer to congestion.

    Args:
        device: The block device, e.g. ``"nvme0n1"`` (see :func:`linux.block_device`).
        floor_ms: The least latency target, in milliseconds.
        factor: How many times its quiet latency the device may take.
        queue_target: Requests in flight on average at which the device is congested.
        path: The statistics file (a test can give a captured one).
        clock: Seconds of a monotonic clock (a test can give its own).
    """

    def __init__(
        self,
        device: str,
        *,
        floor_ms: float = 0.5,
        factor: float = 4.0,
        queue_target: float = 8.0,
        path: Path = linux.DISKSTATS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(queue_target) and queue_target > 0):
            raise ConfigurationError(f"a queue target must be > 0, got {queue_target!r}")
        self.device = device
        self.queue_target = queue_target
        self._path = path
        self._clock = clock
        self._baseline = _Baseline(floor_ms, factor)
        self._before: tuple[float, linux.DiskCounters] | None = None

    def __repr__(self) -> str:
        return f"DeviceLatency({self.device!r})"

    def _counters(self) -> tuple[float, linux.DiskCounters] | None:
        counters = linux.parse_diskstats(self._path.read_text(), self.device)
        return None if counters is None else (self._clock(), counters)

    def reset(self) -> None:
        """Take the counters the next reading is measured from."""
        self._before = self._counters()

    def read(self) -> Reading | None:
        """The mean latency of the IOs of the period, in milliseconds."""
        before, after = self._before, self._counters()
        self._before = after
        if before is None or after is None:
            return None
        return self.reading(before, after)

    def reading(
        self, before: tuple[float, linux.DiskCounters], after: tuple[float, linux.DiskCounters]
    ) -> Reading:
        """The reading between two timed snapshots of the counters (pure but for learning)."""
        elapsed_ms = (after[0] - before[0]) * 1000
        weighted = max(0, after[1].weighted_ms - before[1].weighted_ms)
        ios = max(0, after[1].ios - before[1].ios)
        # Time in flight per completed IO; an IO stuck in flight with none completing still
        # adds its time, so a stall shows before it ends.
        latency = weighted / max(ios, 1)
        queue = weighted / elapsed_ms if elapsed_ms > 0 else 0.0
        if ios and queue < 1:  # a quiet period: what an IO takes when nobody queues
            self._baseline.learn(latency)
        name = f"device {self.device}"
        by_latency = Reading(name, latency, self._baseline.target)
        by_queue = Reading(name, queue, self.queue_target, "ios")
        return by_queue if by_queue.level > by_latency.level else by_latency


class DiskTimes:
    """Mean time of an IO from psutil's per-disk read and write times (any system).

    Less exact than :class:`DeviceLatency` (an IO counts only once it completed), for
    systems without ``/proc/diskstats``.

    Args:
        disk: The disk name as psutil lists it (``None``: all disks together).
        floor_ms: The least target, in milliseconds.
        factor: How many times its quiet latency the device may take.
        decides: Whether it counts toward congestion or is only shown.
    """

    def __init__(
        self,
        disk: str | None = None,
        *,
        floor_ms: float = 0.5,
        factor: float = 4.0,
        decides: bool = True,
    ) -> None:
        self.disk = disk
        self.decides = decides
        self._baseline = _Baseline(floor_ms, factor)
        self._before: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"DiskTimes({self.disk!r})"

    def _counters(self) -> tuple[int, int] | None:
        disks = psutil.disk_io_counters(perdisk=True) or {}
        chosen = [disks[self.disk]] if self.disk in disks else list(disks.values())
        if not chosen:
            return None
        ios = sum(d.read_count + d.write_count for d in chosen)
        spent = sum(d.read_time + d.write_time for d in chosen)
        return ios, spent

    def reset(self) -> None:
        """Take the counters the next reading is measured from."""
        self._before = self._counters()

    def read(self) -> Reading | None:
        """The mean time of the IOs completed in the period, in milliseconds."""
        before, after = self._before, self._counters()
        self._before = after
        if before is None or after is None or after[0] <= before[0]:
            return None
        ios = after[0] - before[0]
        latency = max(0, after[1] - before[1]) / ios
        if ios <= 10:  # a quiet period
            self._baseline.learn(latency)
        name = "disks" if self.disk is None else f"disk {self.disk}"
        return Reading(name, latency, self._baseline.target, decides=self.decides)


class StallShare:
    """The share of time some task waited for IO (Linux PSI ``some``, from its total).

    Args:
        target: The share at which the disk counts as congested.
        decides: Whether the share counts toward congestion or is only shown.
        path: The pressure file (a test can give a captured one).
        clock: Seconds of a monotonic clock (a test can give its own).
    """

    def __init__(
        self,
        *,
        target: float = 0.5,
        decides: bool = True,
        path: Path = linux.PSI_IO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < target <= 1:
            raise ConfigurationError(f"a stall share target must be in (0, 1], got {target!r}")
        self.target = target
        self.decides = decides
        self._path = path
        self._clock = clock
        self._before: tuple[float, int] | None = None

    def __repr__(self) -> str:
        return f"StallShare(target={self.target}, decides={self.decides})"

    def _counters(self) -> tuple[float, int]:
        return self._clock(), linux.parse_psi(self._path.read_text()).some

    def reset(self) -> None:
        """Take the counters the next reading is measured from."""
        self._before = self._counters()

    def read(self) -> Reading | None:
        """The share of the period during which some task was stalled on IO."""
        before, after = self._before, self._counters()
        self._before = after
        if before is None or after[0] <= before[0]:
            return None
        share = max(0, after[1] - before[1]) / 1e6 / (after[0] - before[0])
        return Reading("psi", min(1.0, share), self.target, "share", self.decides)


class CommitLatency:
    """The longest commit of the scheduler's store in each period, against its baseline.

    The store calls :meth:`observe` after each commit (from its writer thread). With
    ``durability="full"`` every commit is an fsync; with ``"normal"`` only the commits that
    checkpoint the write-ahead log are, and the others show how long writing to the page
    cache took.
    """

    def __init__(self, *, floor_ms: float = 10.0, factor: float = 4.0) -> None:
        self._baseline = _Baseline(floor_ms, factor)
        self._lock = threading.Lock()
        self._longest: float | None = None

    def __repr__(self) -> str:
        return "CommitLatency()"

    def observe(self, seconds: float) -> None:
        """Note one commit that took ``seconds``."""
        with self._lock:
            if self._longest is None or seconds > self._longest:
                self._longest = seconds

    def reset(self) -> None:
        """Forget the commits so far."""
        with self._lock:
            self._longest = None

    def read(self) -> Reading | None:
        """The longest commit since the last reading, in milliseconds (``None``: none)."""
        with self._lock:
            longest, self._longest = self._longest, None
        if longest is None:
            return None
        latency = longest * 1000
        target = self._baseline.target
        if latency < target:  # learn only from periods that were not congested
            self._baseline.learn(latency)
        return Reading("commits", latency, target)


def system_sources(
    database: str | os.PathLike[str] | None, *, floor_ms: float = 0.5
) -> list[CongestionSource]:
    """The congestion sources this system offers for the disk that holds ``database``.

    On Linux: the device's latency from ``/proc/diskstats``, with PSI shown beside it; or
    PSI deciding where the device cannot be found (tmpfs, overlay, network filesystems).
    Elsewhere: psutil's disk times. The scheduler adds its store's :class:`CommitLatency`.
    ``floor_ms`` is the least device latency that counts as congestion.
    """
    where = Path.cwd() if database is None else Path(database)
    sources: list[CongestionSource] = []
    device = linux.block_device(where) if sys.platform.startswith("linux") else None
    psi = _readable(linux.PSI_IO)
    if device is not None and _readable(linux.DISKSTATS):
        sources.append(DeviceLatency(device, floor_ms=floor_ms))
        if psi:
            sources.append(StallShare(decides=False))
    elif psi:
        sources.append(StallShare())
    else:
        sources.append(DiskTimes(floor_ms=floor_ms))
    return sources


def _readable(path: Path) -> bool:
    try:
        path.read_text()
    except OSError:
        return False
    return True
