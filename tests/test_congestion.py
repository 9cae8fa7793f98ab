"""Congestion sources: the Linux parsers on captured files, latencies, stall shares, commits."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from taskmill import ConfigurationError
from taskmill.resources import (
    CommitLatency,
    Congestion,
    DeviceLatency,
    DiskMonitor,
    Reading,
    StallShare,
)
from taskmill.resources.linux import DiskCounters, StallTotals, parse_diskstats, parse_psi

# Captured from this project's test machine (Linux 6.18), during an IO flood.
PSI = """some avg10=54.46 avg60=38.31 avg300=21.99 total=325797861
full avg10=47.93 avg60=33.11 avg300=18.90 total=276680630
"""
DISKSTATS = """   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 27815 6754 1437490 51833 2098948 16249 1159709736 2992184 2 414872 3282031 \
99753 51 1130553552 184517 257798 53496
 254       1 vda1 100 0 800 50 200 0 1600 300 0 250 350 0 0 0 0 0 0
"""
OLD_KERNEL = "   8       0 sda 100 0 800 50 200 0 1600 300 1 250 350\n"


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_psi_totals_are_read_from_some_and_full() -> None:
    """The ``total=`` counters of both lines, in microseconds; avg10 is ignored."""
    assert parse_psi(PSI) == StallTotals(some=325797861, full=276680630)


def test_psi_without_a_full_line_still_gives_some() -> None:
    """Kernels (and cgroup files) without a ``full`` line give ``full=None``."""
    assert parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n") == StallTotals(42)


def test_psi_text_without_a_some_total_is_refused() -> None:
    """Text that is not a PSI file raises ValueError naming what is missing."""
    with pytest.raises(ValueError, match="some"):
        parse_psi("cpu  1 2 3\n")


def test_diskstats_counts_reads_writes_discards_and_flushes() -> None:
    """A 20-field line: IOs completed sum all four kinds; weighted and busy time are read."""
    assert parse_diskstats(DISKSTATS, "vda") == DiskCounters(
        ios=27815 + 2098948 + 99753 + 257798,
        weighted_ms=3282031,
        busy_ms=414872,
        in_flight=2,
        sectors_written=1159709736,
    )


def test_diskstats_of_an_old_kernel_counts_reads_and_writes() -> None:
    """A 14-field line (before Linux 4.18) has no discards or flushes."""
    counters = parse_diskstats(OLD_KERNEL, "sda")
    assert counters is not None
    assert (counters.ios, counters.weighted_ms, counters.in_flight) == (300, 350, 1)


def test_a_device_that_is_not_listed_gives_none() -> None:
    """Asking for a device the file does not list returns None (not a zero reading)."""
    assert parse_diskstats(DISKSTATS, "nvme0n1") is None
    assert parse_diskstats(DISKSTATS, "vda1") == DiskCounters(300, 350, 250, 0, 1600)


def counters(ios: int, weighted_ms: int) -> DiskCounters:
    return DiskCounters(ios=ios, weighted_ms=weighted_ms, busy_ms=0, in_flight=0, sectors_written=0)


def test_device_latency_is_time_in_flight_per_completed_io() -> None:
    """10 IOs that spent 5 ms in flight in 100 ms: 0.5 ms each, learned as the quiet latency."""
    source = DeviceLatency("vda")
    reading = source.reading((0.0, counters(0, 0)), (0.1, counters(10, 5)))
    assert (reading.source, reading.value, reading.unit) == ("device vda", 0.5, "ms")
    assert reading.target == 2.0  # four times the quiet latency, above the 0.5 ms floor


def test_a_busy_period_is_congested_against_the_quiet_baseline() -> None:
    """After a quiet 0.5 ms, IOs taking 20 ms each (a deep queue) read level 10."""
    source = DeviceLatency("vda")
    source.reading((0.0, counters(0, 0)), (0.1, counters(10, 5)))
    busy = source.reading((0.1, counters(10, 5)), (0.2, counters(20, 205)))
    assert (busy.value, busy.target, busy.level) == (20.0, 2.0, 10.0)
    assert Congestion.of([busy]).congested


def test_an_io_stuck_in_flight_shows_before_it_completes() -> None:
    """No IO completed but 150 ms were spent in flight: 150 ms, congested at once."""
    source = DeviceLatency("vda")
    stuck = source.reading((0.0, counters(5, 0)), (0.15, counters(5, 150)))
    assert (stuck.value, stuck.level >= 1) == (150.0, True)


def test_the_floor_keeps_a_fast_quiet_disk_from_calling_everything_congested() -> None:
    """Quiet IOs of 0.05 ms set no target below the 0.5 ms floor: 0.4 ms is not congested."""
    source = DeviceLatency("vda")
    source.reading((0.0, counters(0, 0)), (0.1, counters(100, 5)))
    reading = source.reading((0.1, counters(100, 5)), (0.2, counters(110, 9)))
    assert (reading.value, reading.target, reading.level < 1) == (0.4, 0.5, True)


def test_a_deep_queue_of_fast_ios_is_congested() -> None:
    """A storm of small fsyncs: 9500 IOs of 0.2 ms in 100 ms keep 19 in flight: congested."""
    source = DeviceLatency("vda")
    storm = source.reading((0.0, counters(0, 0)), (0.1, counters(9500, 1900)))
    assert (storm.unit, storm.value, storm.target, storm.level) == ("ios", 19.0, 8.0, 2.375)
    assert storm.describe() == "device vda 19.0 IOs in flight (target 8)"


def test_device_latency_reads_the_statistics_file(tmp_path: Path) -> None:
    """read() measures from the counters reset() took, on the clock it was given."""
    stats, clock = tmp_path / "diskstats", Ticks()
    stats.write_text(" 254 0 vda 0 0 0 0 100 0 0 0 0 0 1000 0 0 0 0 0 0\n")
    source = DeviceLatency("vda", path=stats, clock=clock)
    source.reset()
    clock.now += 0.1
    stats.write_text(" 254 0 vda 0 0 0 0 150 0 0 0 1 80 1800 0 0 0 0 0 0\n")
    reading = source.read()
    assert reading is not None
    assert reading.value == 16.0  # 800 ms in flight over 50 writes


def test_device_latency_says_nothing_when_the_device_vanishes(tmp_path: Path) -> None:
    """A device no longer listed (unplugged) gives no reading rather than a wrong one."""
    stats = tmp_path / "diskstats"
    stats.write_text(DISKSTATS)
    source = DeviceLatency("sdz", path=stats)
    source.reset()
    assert source.read() is None


def test_stall_share_is_the_difference_of_totals_over_time(tmp_path: Path) -> None:
    """50 ms of stall in 100 ms is a share of 0.5 — at the default target, congested."""
    pressure, clock = tmp_path / "io", Ticks()
    pressure.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n")
    source = StallShare(path=pressure, clock=clock)
    source.reset()
    clock.now += 0.1
    pressure.write_text("some avg10=99.00 avg60=0.00 avg300=0.00 total=1050000\n")
    reading = source.read()
    assert reading is not None
    assert (reading.source, reading.unit) == ("psi", "share")
    assert reading.value == pytest.approx(0.5)
    assert reading.describe() == "psi stall 50% (target 50%)"


def test_stall_share_shown_beside_a_device_does_not_decide() -> None:
    """An informative reading (``decides=False``) never makes the disk congested."""
    psi = Reading("psi", 0.9, 0.5, "share", decides=False)
    device = Reading("device vda", 0.3, 0.5)
    congestion = Congestion.of([device, psi])
    assert (congestion.source, congestion.level, congestion.congested) == ("device vda", 0.6, False)
    assert congestion.readings == (device, psi)


def test_commit_latency_reads_the_longest_commit_of_each_period() -> None:
    """Commits of 1 and 4 ms read 4 ms; a period without commits says nothing."""
    commits = CommitLatency()
    assert commits.read() is None
    commits.observe(0.001)
    commits.observe(0.004)
    reading = commits.read()
    assert reading is not None
    assert (reading.source, reading.value, reading.target) == ("commits", 4.0, 10.0)
    assert commits.read() is None


def test_commit_latency_learns_its_baseline_from_uncongested_periods() -> None:
    """Periods of 5 ms commits move the target to four times 5 ms; a 200 ms commit is congested."""
    commits = CommitLatency()
    for _ in range(30):
        commits.observe(0.005)
        commits.read()
    commits.observe(0.2)
    reading = commits.read()
    assert reading is not None
    assert (reading.target, reading.level) == (20.0, 10.0)


def test_congestion_describes_its_deciding_reading() -> None:
    """The phrase a snapshot shows names the source, its value and its target."""
    congestion = Congestion.of([Reading("device vda", 12.34, 1.0)])
    assert congestion.describe() == "disk congested: device vda latency 12.3 ms (target 1.0 ms)"
    assert Congestion().describe() == "disk clear"
    assert congestion.to_dict()["readings"][0]["value"] == 12.34


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DeviceLatency("vda", floor_ms=0), "floor"),
        (lambda: DeviceLatency("vda", factor=0.5), "factor"),
        (lambda: StallShare(target=0), "share target"),
        (lambda: DiskMonitor([], interval=0), "interval"),
    ],
)
def test_bad_source_settings_are_refused(make: object, message: str) -> None:
    """Non-positive floors, factors below 1, and zero periods raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match=message):
        make()  # type: ignore[operator]


class CountingSource:
    """A source that counts its readings and lets a test wait for one."""

    def __init__(self) -> None:
        self.resets = 0
        self.reads = 0
        self.read_once = threading.Event()

    def reset(self) -> None:
        self.resets += 1

    def read(self) -> Reading:
        self.reads += 1
        self.read_once.set()
        return Reading("counting", 2.0, 1.0)


class BrokenSource:
    def reset(self) -> None:
        raise OSError("gone")

    def read(self) -> Reading:
        raise OSError("gone")


def test_the_monitor_reads_only_while_watching_and_survives_a_broken_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Listening alone reads nothing; watching reads every source; a failing source is skipped."""
    counting = CountingSource()
    got: list[Congestion] = []
    monitor = DiskMonitor([BrokenSource(), counting], interval=0.01)
    monitor.listen(got.append)
    try:
        assert (counting.resets, counting.reads, monitor.readings) == (0, 0, 0)
        monitor.watch(True)
        assert counting.read_once.wait(5)
    finally:
        monitor.close()
    assert counting.resets == 1
    assert got[0].source == "counting"
    assert got[0].congested
    failures = [r.getMessage() for r in caplog.records if "congestion source" in r.getMessage()]
    assert len(failures) == 1  # logged once, however often it fails
    assert "BrokenSource" in failures[0]
