"""Samplers: disk and network throughput and CPU load, smoothed, read without blocking.

A sampler runs on its own thread: every ``interval`` seconds it reads cumulative counters,
turns them into rates and smooths them with an exponentially weighted moving average
(``alpha`` 0.3 by default). :meth:`Sampler.latest` returns the current smoothed sample at once,
so the dispatch loop never waits on the operating system.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import psutil

from taskmill.model.errors import ConfigurationError

logger = logging.getLogger("taskmill")


@dataclass(frozen=True, slots=True)
class Sample:
    """Smoothed resource use at an instant (rates in bytes per second, cpu in 0..1).

    ``peak_*`` fields hold the highest smoothed rate seen so far on each axis, an estimate of
    what the device can do.
    """

    disk_read: float = 0.0
    disk_write: float = 0.0
    net_rx: float = 0.0
    net_tx: float = 0.0
    cpu: float = 0.0
    peak_disk_read: float = 0.0
    peak_disk_write: float = 0.0
    peak_net_rx: float = 0.0
    peak_net_tx: float = 0.0


@runtime_checkable
class Sampler(Protocol):
    """Gives the latest smoothed sample, and can be started and stopped."""

    def latest(self) -> Sample:
        """Return the current smoothed sample (zeros before the first reading)."""

    def start(self) -> None:
        """Begin sampling (idempotent)."""

    def stop(self) -> None:
        """Stop sampling (idempotent)."""


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative counters read at one instant (bytes; cpu busy fraction since last read)."""

    at: float
    disk_read: int
    disk_write: int
    net_rx: int
    net_tx: int
    cpu: float


def smooth(previous: Sample, before: Counters, after: Counters, alpha: float) -> Sample:
    """The next smoothed sample from two counter readings (pure)."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return previous

    def rate(b: int, a: int) -> float:
        return max(0, a - b) / elapsed

    def ewma(old: float, new: float) -> float:
        return alpha * new + (1 - alpha) * old

    disk_read = ewma(previous.disk_read, rate(before.disk_read, after.disk_read))
    disk_write = ewma(previous.disk_write, rate(before.disk_write, after.disk_write))
    net_rx = ewma(previous.net_rx, rate(before.net_rx, after.net_rx))
    net_tx = ewma(previous.net_tx, rate(before.net_tx, after.net_tx))
    return Sample(
        disk_read=disk_read,
        disk_write=disk_write,
        net_rx=net_rx,
        net_tx=net_tx,
        cpu=ewma(previous.cpu, after.cpu),
        peak_disk_read=max(previous.peak_disk_read, disk_read),
        peak_disk_write=max(previous.peak_disk_write, disk_write),
        peak_net_rx=max(previous.peak_net_rx, net_rx),
        peak_net_tx=max(previous.peak_net_tx, net_tx),
    )


class ThreadedSampler:
    """Reads counters on a daemon thread every ``interval`` seconds and smooths them."""

    def __init__(
        self,
        read: Callable[[], Counters],
        *,
        interval: float = 1.0,
        alpha: float = 0.3,
        name: str = "taskmill-sampler",
    ) -> None:
        if not interval > 0:
            raise ConfigurationError(f"sampling interval must be > 0 seconds, got {interval!r}")
        if not 0 < alpha <= 1:
            raise ConfigurationError(f"EWMA alpha must be in (0, 1], got {alpha!r}")
        self._read = read
        self.interval = interval
        self.alpha = alpha
        self._name = name
        self._sample = Sample()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def latest(self) -> Sample:
        """Return the current smoothed sample."""
        return self._sample

    def start(self) -> None:
        """Start the sampling thread."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        try:
            before = self._read()
        except Exception:
            return  # no counters on this platform: the sample stays at zero
        while not self._stop.wait(self.interval):
            try:
                after = self._read()
            except Exception:  # a transient read error: keep the last sample, try again
                logger.debug("resource sampling failed", exc_info=True)
                continue
            self._sample = smooth(self._sample, before, after, self.alpha)
            before = after


def psutil_counters() -> Counters:
    """System-wide counters from psutil."""
    disk = psutil.disk_io_counters()
    net = psutil.net_io_counters()
    return Counters(
        at=time.monotonic(),
        disk_read=disk.read_bytes if disk else 0,
        disk_write=disk.write_bytes if disk else 0,
        net_rx=net.bytes_recv if net else 0,
        net_tx=net.bytes_sent if net else 0,
        cpu=psutil.cpu_percent(None) / 100.0,
    )


class PsutilSampler(ThreadedSampler):
    """System-wide disk, network and CPU, from psutil."""

    def __init__(self, *, interval: float = 1.0, alpha: float = 0.3) -> None:
        super().__init__(psutil_counters, interval=interval, alpha=alpha)


def cgroup_counters(root: Path = Path("/sys/fs/cgroup")) -> Counters:
    """This container's disk counters from cgroup files (v2 ``io.stat``, or v1 blkio)."""
    read = write = 0
    v2 = root / "io.stat"
    if v2.exists():
        for line in v2.read_text().splitlines():
            for field in line.split()[1:]:
                name, _, value = field.partition("=")
                if name == "rbytes":
                    read += int(value)
                elif name == "wbytes":
                    write += int(value)
    else:
        v1 = root / "blkio" / "blkio.throttle.io_service_bytes"
        if v1.exists():
            for line in v1.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in ("Read", "Write"):
                    if parts[1] == "Read":
                        read += int(parts[2])
                    else:
                        write += int(parts[2])
    return Counters(
        at=time.monotonic(), disk_read=read, disk_write=write, net_rx=0, net_tx=0, cpu=0.0
    )


class CgroupSampler(ThreadedSampler):
    """Disk throughput of this container (cgroup v2 or v1), for when psutil sees the host."""

    def __init__(
        self, *, root: Path = Path("/sys/fs/cgroup"), interval: float = 1.0, alpha: float = 0.3
    ) -> None:
        super().__init__(lambda: cgroup_counters(root), interval=interval, alpha=alpha)
