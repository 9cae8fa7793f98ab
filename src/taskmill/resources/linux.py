"""Linux's own accounts of IO: pressure stall information and per-device statistics.

Both files hold cumulative counters; a reading is the difference of two snapshots. The
parsers are pure functions of the file's text, so tests feed them captured contents.

- ``/proc/pressure/io`` (PSI): microseconds during which at least one task (``some``) or
  every non-idle task (``full``) was stalled waiting for IO. Only the ``total`` counters
  are used: the ``avg10`` figures lag the disk by seconds.
- ``/proc/diskstats``: per block device, IOs completed and the milliseconds they spent in
  flight, summed over requests ("weighted time"); their ratio is the mean latency of an IO.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PSI_IO = Path("/proc/pressure/io")
DISKSTATS = Path("/proc/diskstats")
SYS_DEV_BLOCK = Path("/sys/dev/block")


@dataclass(frozen=True, slots=True)
class StallTotals:
    """Cumulative IO stall time from ``/proc/pressure/io``, in microseconds."""

    some: int
    full: int | None = None


def parse_psi(text: str) -> StallTotals:
    """Read the ``total=`` counters of the ``some`` and ``full`` lines.

    Raises:
        ValueError: the text has no ``some`` line with a total.
    """
    totals: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, fields = line.partition(" ")
        for field in fields.split():
            name, _, value = field.partition("=")
            if name == "total":
                totals[kind] = int(value)
    if "some" not in totals:
        raise ValueError(f"no 'some ... total=' line in PSI text {text[:80]!r}")
    return StallTotals(totals["some"], totals.get("full"))


@dataclass(frozen=True, slots=True)
class DiskCounters:
    """Cumulative statistics of one block device from ``/proc/diskstats``.

    Attributes:
        ios: Requests completed: reads, writes, discards and flushes (as the kernel has them).
        weighted_ms: Milliseconds spent in flight, summed over every request.
        busy_ms: Milliseconds during which at least one request was in flight.
        in_flight: Requests in flight at the time of reading.
        sectors_written: 512-byte sectors written.
    """

    ios: int
    weighted_ms: int
    busy_ms: int
    in_flight: int
    sectors_written: int


def parse_diskstats(text: str, device: str) -> DiskCounters | None:
    """The counters of ``device`` (e.g. ``"nvme0n1"``), or ``None`` if it is not listed.

    Kernels before 4.18 list 14 fields per line, later ones add discards (4.18) and flushes
    (5.5); the counts of whatever the line has are summed.
    """
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14 or parts[2] != device:
            continue
        f = [int(value) for value in parts[3:]]
        ios = f[0] + f[4]  # reads, writes
        if len(f) >= 15:
            ios += f[11]  # discards
        if len(f) >= 17:
            ios += f[15]  # flushes
        return DiskCounters(
            ios=ios, weighted_ms=f[10], busy_ms=f[9], in_flight=f[8], sectors_written=f[6]
        )
    return None


def block_device(path: str | os.PathLike[str]) -> str | None:
    """The whole block device that holds ``path`` (``"sda"`` for ``/dev/sda2``), if any.

    ``path`` need not exist: its nearest existing parent is used. Filesystems without a
    block device of their own (tmpfs, overlay, network filesystems, btrfs subvolumes)
    give ``None``.
    """
    where = Path(path).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        dev = where.stat().st_dev
        node = (SYS_DEV_BLOCK / f"{os.major(dev)}:{os.minor(dev)}").resolve(strict=True)
    except OSError:
        return None
    if (node / "partition").exists():
        node = node.parent
    return node.name
