"""What the machine is doing: throughput samplers, pressure sources and disk congestion."""

from taskmill.resources.congestion import (
    CommitLatency,
    Congestion,
    CongestionSource,
    DeviceLatency,
    DiskTimes,
    Reading,
    StallShare,
    system_sources,
)
from taskmill.resources.monitor import CongestionMonitor, DiskMonitor
from taskmill.resources.pressure import (
    BatteryPressure,
    DiskPressure,
    MemoryPressure,
    NetworkPressure,
)
from taskmill.resources.sampler import (
    CgroupSampler,
    Counters,
    PsutilSampler,
    Sample,
    Sampler,
    ThreadedSampler,
)

__all__ = [
    "BatteryPressure",
    "CgroupSampler",
    "CommitLatency",
    "Congestion",
    "CongestionMonitor",
    "CongestionSource",
    "Counters",
    "DeviceLatency",
    "DiskMonitor",
    "DiskPressure",
    "DiskTimes",
    "MemoryPressure",
    "NetworkPressure",
    "PsutilSampler",
    "Reading",
    "Sample",
    "Sampler",
    "StallShare",
    "ThreadedSampler",
    "system_sources",
]
