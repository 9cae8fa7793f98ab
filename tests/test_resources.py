"""Samplers and the built-in pressure sources."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from taskmill import ConfigurationError
from taskmill.resources import (
    BatteryPressure,
    CgroupSampler,
    Counters,
    DiskPressure,
    MemoryPressure,
    NetworkPressure,
    Sample,
    ThreadedSampler,
)
from taskmill.resources import pressure as pressure_module
from taskmill.resources.sampler import cgroup_counters, smooth
from taskmill.testing import FakeSampler

MB = 1_000_000


def counters(at: float, write: int, *, read: int = 0, rx: int = 0, cpu: float = 0.0) -> Counters:
    return Counters(at=at, disk_read=read, disk_write=write, net_rx=rx, net_tx=0, cpu=cpu)


def test_smoothing_is_an_ewma_of_rates_that_remembers_the_peak() -> None:
    """Each reading moves the rate 30 % of the way; the peak keeps the highest smoothed rate."""
    first = smooth(Sample(), counters(0, 0), counters(1, 100 * MB, cpu=1.0), 0.3)
    assert (first.disk_write, first.peak_disk_write, first.cpu) == (30 * MB, 30 * MB, 0.3)
    second = smooth(first, counters(1, 100 * MB), counters(3, 100 * MB), 0.3)
    assert (second.disk_write, second.peak_disk_write) == (21 * MB, 30 * MB)


def test_smoothing_ignores_counter_resets_and_stalled_clocks() -> None:
    """A counter that went backwards counts as 0 bytes; no elapsed time changes nothing."""
    base = Sample(disk_write=10.0, peak_disk_write=10.0)
    assert smooth(base, counters(5, 100), counters(5, 900), 0.3) is base
    assert smooth(base, counters(0, 900), counters(1, 100), 0.5).disk_write == 5.0


def test_threaded_sampler_reads_on_its_thread_until_stopped() -> None:
    """The sampler turns successive readings into a sample, off the caller's thread."""
    readings = iter([counters(0, 0), counters(1, 10 * MB), counters(2, 20 * MB)])
    threads: set[str] = set()
    third = threading.Event()

    def read() -> Counters:
        threads.add(threading.current_thread().name)
        try:
            return next(readings)
        except StopIteration:
            third.set()
            raise OSError("no more readings") from None

    sampler = ThreadedSampler(read, interval=0.001, alpha=0.5)
    sampler.start()
    sampler.start()  # idempotent
    assert third.wait(10)
    sampler.stop()
    sampler.stop()
    assert threads == {"taskmill-sampler"}
    assert (sampler.latest().disk_write, sampler.latest().peak_disk_write) == (7.5 * MB, 7.5 * MB)


@pytest.mark.parametrize(("interval", "alpha"), [(0, 0.3), (1.0, 0), (1.0, 1.5)])
def test_bad_sampler_settings_are_refused(interval: float, alpha: float) -> None:
    """Interval must be positive and alpha in (0, 1]."""
    with pytest.raises(ConfigurationError):
        ThreadedSampler(lambda: counters(0, 0), interval=interval, alpha=alpha)


def test_cgroup_v2_counters_sum_every_device(tmp_path: Path) -> None:
    """``io.stat`` lines are summed over devices."""
    (tmp_path / "io.stat").write_text(
        "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
        "259:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n"
    )
    got = cgroup_counters(tmp_path)
    assert (got.disk_read, got.disk_write, got.net_rx) == (1100, 2200, 0)


def test_cgroup_v1_counters(tmp_path: Path) -> None:
    """A cgroup v1 ``blkio.throttle.io_service_bytes`` is read without ``io.stat``."""
    (tmp_path / "blkio").mkdir()
    (tmp_path / "blkio" / "blkio.throttle.io_service_bytes").write_text(
        "8:0 Read 300\n8:0 Write 500\n8:0 Sync 800\n8:0 Total 800\nTotal 800\n"
    )
    got = cgroup_counters(tmp_path)
    assert (got.disk_read, got.disk_write) == (300, 500)


def test_cgroup_sampler_without_cgroup_files_reports_zero(tmp_path: Path) -> None:
    """A missing cgroup tree gives zero counters, not an error."""
    got = cgroup_counters(tmp_path)
    assert (got.disk_read, got.disk_write) == (0, 0)
    assert isinstance(CgroupSampler(root=tmp_path), ThreadedSampler)


def test_disk_pressure_against_a_set_or_learned_capacity() -> None:
    """Read plus write rate over the capacity given, else over the peak seen; clamped to 1."""
    sampler = FakeSampler(disk_read=20 * MB, disk_write=60 * MB)
    assert DiskPressure(sampler, capacity=160 * MB).pressure() == 0.5
    assert DiskPressure(sampler, capacity=40 * MB).pressure() == 1.0
    sampler.set(disk_read=10 * MB, disk_write=10 * MB)
    assert DiskPressure(sampler).pressure() == 0.25
    assert DiskPressure(FakeSampler()).pressure() == 0.0


def test_network_pressure_against_its_cap() -> None:
    """Received plus sent bytes per second over the configured cap."""
    sampler = FakeSampler(net_rx=2 * MB, net_tx=1 * MB)
    assert NetworkPressure(sampler, capacity=12 * MB).pressure() == 0.25
    with pytest.raises(ConfigurationError, match="network capacity"):
        NetworkPressure(sampler, capacity=0)


def test_memory_pressure_rises_between_low_and_high(monkeypatch: pytest.MonkeyPatch) -> None:
    """0 below 70 % used, 1 at 95 %, linear between."""
    used = SimpleNamespace(percent=50.0)
    monkeypatch.setattr(pressure_module.psutil, "virtual_memory", lambda: used)
    source = MemoryPressure()
    assert source.pressure() == 0.0
    used.percent = 82.5
    assert source.pressure() == pytest.approx(0.5)
    used.percent = 99.0
    assert source.pressure() == 1.0
    with pytest.raises(ConfigurationError):
        MemoryPressure(low=0.9, high=0.8)


def test_battery_pressure_only_on_battery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugged in or no battery: 0; on battery: 0 at 50 % charge or more, 1 at 20 %."""
    battery: SimpleNamespace | None = SimpleNamespace(percent=35.0, power_plugged=False)
    monkeypatch.setattr(pressure_module.psutil, "sensors_battery", lambda: battery, raising=False)
    source = BatteryPressure()
    assert source.pressure() == pytest.approx(0.5)
    battery.power_plugged = True
    assert source.pressure() == 0.0
    battery = None
    assert source.pressure() == 0.0
    with pytest.raises(ConfigurationError):
        BatteryPressure(low=0.6, calm=0.5)
