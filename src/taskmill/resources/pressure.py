"""Built-in pressure sources: each says, from 0.0 to 1.0, how close a resource is to its limit."""

from __future__ import annotations

import psutil

from taskmill.model.errors import ConfigurationError
from taskmill.resources.sampler import Sampler


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


class DiskPressure:
    """Disk throughput against capacity: the configured one, else the peak seen so far.

    Args:
        sampler: Where throughput comes from.
        capacity: Bytes per second the disk can take (default: learned, the peak seen).
    """

    def __init__(self, sampler: Sampler, *, capacity: float | None = None) -> None:
        if capacity is not None and not capacity > 0:
            raise ConfigurationError(f"disk capacity must be > 0 bytes/s, got {capacity!r}")
        self._sampler = sampler
        self.capacity = capacity

    def pressure(self) -> float:
        """Return reads plus writes over capacity."""
        sample = self._sampler.latest()
        capacity = self.capacity or max(sample.peak_disk_read + sample.peak_disk_write, 0.0)
        if capacity <= 0:
            return 0.0
        return _clamp((sample.disk_read + sample.disk_write) / capacity)


class NetworkPressure:
    """Network throughput against a bandwidth cap you set (e.g. an upload allowance).

    Args:
        sampler: Where throughput comes from.
        capacity: Bytes per second allowed for received plus sent traffic.
    """

    def __init__(self, sampler: Sampler, *, capacity: float) -> None:
        if not capacity > 0:
            raise ConfigurationError(f"network capacity must be > 0 bytes/s, got {capacity!r}")
        self._sampler = sampler
        self.capacity = capacity

    def pressure(self) -> float:
        """Return received plus sent bytes per second over the cap."""
        sample = self._sampler.latest()
        return _clamp((sample.net_rx + sample.net_tx) / self.capacity)


class MemoryPressure:
    """Memory in use (psutil): 0 below ``low``, rising to 1 at ``high`` (fractions of RAM)."""

    def __init__(self, *, low: float = 0.7, high: float = 0.95) -> None:
        if not 0 <= low < high <= 1:
            raise ConfigurationError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
        self.low, self.high = low, high

    def pressure(self) -> float:
        """Return the pressure of the memory in use now."""
        used = psutil.virtual_memory().percent / 100.0
        return _clamp((used - self.low) / (self.high - self.low))


class BatteryPressure:
    """On battery, pressure rises as the charge falls: 0 at ``calm`` or more, 1 at ``low``.

    Plugged in, or without a battery, the pressure is 0.
    """

    def __init__(self, *, low: float = 0.2, calm: float = 0.5) -> None:
        if not 0 <= low < calm <= 1:
            raise ConfigurationError(f"need 0 <= low < calm <= 1, got low={low}, calm={calm}")
        self.low, self.calm = low, calm

    def pressure(self) -> float:
        """Return the pressure of the battery now."""
        battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
        if battery is None or battery.power_plugged:
            return 0.0
        charge = battery.percent / 100.0
        return _clamp((self.calm - charge) / (self.calm - self.low))
