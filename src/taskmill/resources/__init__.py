"""What the machine is doing: throughput samplers and pressure sources built on them."""

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
    "Counters",
    "DiskPressure",
    "MemoryPressure",
    "NetworkPressure",
    "PsutilSampler",
    "Sample",
    "Sampler",
    "ThreadedSampler",
]
