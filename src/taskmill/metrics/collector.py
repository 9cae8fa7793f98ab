"""In-process metrics: counters and histograms of what was committed, gauges read when asked.

:class:`Metrics` is told by the parts that commit state changes (submission, runner,
completer, the publishing of store changes) and keeps counters and duration histograms by
task type, whether or not anyone subscribed to events. Gauges come
from the running scheduler: attempts running now from memory; active tasks by status and
pressure are sampled on the event loop and refreshed in the background when a reader finds
them older than ``refresh`` seconds. :meth:`Metrics.snapshot` may be called from any thread
(an exporter's HTTP thread) and never blocks on the database.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from taskmill.model.io import NO_IO, IoBudget
from taskmill.model.jsonable import json_dict

logger = logging.getLogger("taskmill")

DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0,
)  # fmt: skip
"""Upper bounds (seconds) of the task duration histogram's buckets, then +Inf."""

_IO_DIRECTIONS = ("disk_read", "disk_write", "net_rx", "net_tx")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What one metric measures.

    Attributes:
        name: The metric's name (Prometheus style; counters end in ``_total``).
        kind: ``"counter"``, ``"gauge"`` or ``"histogram"``.
        help: One line saying what it counts.
        labels: Its label names.
        otel_name: Its name in OpenTelemetry (dotted namespaces).
        unit: Its unit (UCUM, as OpenTelemetry wants it).
    """

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    otel_name: str
    unit: str


METRICS = (
    MetricInfo("taskmill_tasks_submitted_total", "counter",
               "Tasks stored by submit (duplicates not counted).", ("type",),
               "taskmill.tasks.submitted", "{task}"),
    MetricInfo("taskmill_attempts_started_total", "counter",
               "Attempts started (retries and re-runs included).", ("type",),
               "taskmill.attempts.started", "{attempt}"),
    MetricInfo("taskmill_attempts_failed_total", "counter",
               "Attempts that failed.", ("type", "will_retry"),
               "taskmill.attempts.failed", "{attempt}"),
    MetricInfo("taskmill_tasks_ended_total", "counter",
               "Tasks that reached a terminal status.", ("type", "status"),
               "taskmill.tasks.ended", "{task}"),
    MetricInfo("taskmill_tasks_preempted_total", "counter",
               "Running tasks interrupted for an urgent one.", ("type",),
               "taskmill.tasks.preempted", "{task}"),
    MetricInfo("taskmill_task_io_bytes_total", "counter",
               "Bytes recorded by completed tasks.", ("type", "direction"),
               "taskmill.task.io", "By"),
    MetricInfo("taskmill_events_missed_total", "counter",
               "Events dropped by subscribers that fell behind.", (),
               "taskmill.events.missed", "{event}"),
    MetricInfo("taskmill_task_duration_seconds", "histogram",
               "Run time of completed tasks.", ("type",),
               "taskmill.task.duration", "s"),
    MetricInfo("taskmill_tasks", "gauge",
               "Active tasks by status (sampled).", ("status",),
               "taskmill.tasks.active", "{task}"),
    MetricInfo("taskmill_running", "gauge", "Attempts running now.", (),
               "taskmill.attempts.running", "{attempt}"),
    MetricInfo("taskmill_max_concurrency", "gauge", "The global concurrency cap.", (),
               "taskmill.concurrency.limit", "{attempt}"),
    MetricInfo("taskmill_pressure", "gauge", "Composite pressure 0..1 (sampled).", (),
               "taskmill.pressure", "1"),
    MetricInfo("taskmill_pressure_source", "gauge", "Pressure of each source 0..1 (sampled).",
               ("source",), "taskmill.pressure.source", "1"),
    MetricInfo("taskmill_paused", "gauge", "1 while the whole scheduler is paused.", (),
               "taskmill.paused", "1"),
    MetricInfo("taskmill_io_limit", "gauge",
               "Background disk-IO tasks the adaptive IO limit lets run (sampled).", (),
               "taskmill.io.limit", "{task}"),
    MetricInfo("taskmill_io_congestion", "gauge",
               "Congestion level of the disk, 1 and above congested (sampled).", (),
               "taskmill.io.congestion", "1"),
    MetricInfo("taskmill_waiting", "gauge",
               "Ready tasks held back at the latest dispatch step, by reason (sampled).",
               ("reason",), "taskmill.tasks.waiting", "{task}"),
)  # fmt: skip
"""Every metric taskmill exports, in the order exporters list them."""

METRIC_INFO = {info.name: info for info in METRICS}


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a counter or gauge.

    Attributes:
        name: The metric's name (see :data:`METRICS`).
        labels: Label values by label name.
        value: The value.
    """

    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """One histogram (per label set).

    Attributes:
        name: The metric's name.
        labels: Label values by label name.
        buckets: ``(upper bound, cumulative count)`` for each finite bound; the +Inf bucket
            is :attr:`count`.
        sum: The sum of all observations.
        count: How many observations.
    """

    name: str
    labels: dict[str, str]
    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Every metric at one instant. ``to_dict()`` gives JSON.

    Attributes:
        counters: Counter values (one per metric and label set seen so far).
        gauges: Gauge values.
        histograms: Histograms.
    """

    counters: tuple[Sample, ...]
    gauges: tuple[Sample, ...]
    histograms: tuple[HistogramSample, ...]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of a counter or gauge with exactly these labels, or ``None``."""
        for sample in (*self.counters, *self.gauges):
            if sample.name == name and sample.labels == labels:
                return sample.value
        return None

    def histogram(self, name: str, **labels: str) -> HistogramSample | None:
        """The histogram with exactly these labels, or ``None``."""
        for sample in self.histograms:
            if sample.name == name and sample.labels == labels:
                return sample
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-serializable builtins."""
        return json_dict(self)


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, value)] += 1
        self.sum += value

    def sample(self, name: str, labels: dict[str, str]) -> HistogramSample:
        counts, total = list(self.counts), self.sum  # copies: the loop may be observing
        cumulative, buckets = 0, []
        for bound, count in zip(DURATION_BUCKETS, counts, strict=False):
            cumulative += count
            buckets.append((bound, cumulative))
        return HistogramSample(name, labels, tuple(buckets), total, sum(counts))


_NO_COUNTS = [0] * (len(DURATION_BUCKETS) + 1)


class _TypeMetrics:
    """The counters and the duration histogram of one task type."""

    __slots__ = (
        "durations", "ended", "failed_final", "failed_retried", "io", "preempted", "started",
        "submitted",
    )  # fmt: skip

    def __init__(self) -> None:
        self.submitted = self.started = self.preempted = 0
        self.failed_retried = self.failed_final = 0
        self.ended: dict[str, int] = {}
        self.io = [0, 0, 0, 0]  # bytes, in the order of _IO_DIRECTIONS
        self.durations = _Histogram()

    def counters(self, task_type: str) -> list[Sample]:
        """Its nonzero counters as samples (values copied: the loop may be counting)."""

        def sample(name: str, value: int, **more: str) -> None:
            if value:
                samples.append(Sample(name, {"type": task_type, **more}, value))

        samples: list[Sample] = []
        sample("taskmill_tasks_submitted_total", self.submitted)
        sample("taskmill_attempts_started_total", self.started)
        sample("taskmill_tasks_preempted_total", self.preempted)
        sample("taskmill_attempts_failed_total", self.failed_retried, will_retry="true")
        sample("taskmill_attempts_failed_total", self.failed_final, will_retry="false")
        for status, value in sorted(self.ended.copy().items()):
            sample("taskmill_tasks_ended_total", value, status=status)
        for direction, value in zip(_IO_DIRECTIONS, list(self.io), strict=True):
            sample("taskmill_task_io_bytes_total", value, direction=direction)
        return samples


@dataclass(frozen=True, slots=True)
class Sampled:
    """Gauges read on the event loop.

    Active tasks by status, pressure and its sources, the adaptive IO limit and the disk's
    congestion level (``None`` without them), and held-back tasks by kind of reason.
    """

    tasks: dict[str, int]
    pressure: float
    sources: dict[str, float]
    io_limit: int | None = None
    congestion: float | None = None
    waiting: dict[str, int] = field(default_factory=dict)


class Metrics:
    """Counters and histograms of one scheduler, and its gauges.

    Written only on the scheduler's event loop, by the parts that commit what they count;
    read from any thread by :meth:`snapshot`, which copies (a dict or list copy is atomic in
    CPython), so writers take no lock.
    """

    def __init__(self, *, refresh: float = 5.0) -> None:
        self.refresh = refresh
        """Seconds after which a reader triggers a new sample of the sampled gauges."""
        self._lock = threading.Lock()  # guards the sampled gauges only
        self._types: dict[str, _TypeMetrics] = {}
        self.events_missed = 0
        """Events dropped by subscriptions that fell behind (the event bus counts here)."""
        self._sampled = Sampled({}, 0.0, {})
        self._sampled_at: float | None = None
        self._sampling = False
        self._source: GaugeSource | None = None
        self._duration_listeners: list[Callable[[str, float], None]] = []

    # --- feeding (on the event loop) ---------------------------------------------------------

    def _of(self, task_type: str) -> _TypeMetrics:
        metrics = self._types.get(task_type)
        if metrics is None:
            metrics = self._types[task_type] = _TypeMetrics()
        return metrics

    def submitted(self, task_types: Iterable[str]) -> None:
        """Count tasks stored by a submit, one type per task."""
        for task_type, count in Counter(task_types).items():
            self._of(task_type).submitted += count

    def started(self, task_type: str) -> None:
        """Count an attempt that started."""
        self._of(task_type).started += 1

    def completed(self, task_type: str, duration: float, io: IoBudget) -> None:
        """Count a task that completed, its run time and the IO it recorded."""
        metrics = self._of(task_type)
        ended = metrics.ended
        ended["completed"] = ended.get("completed", 0) + 1
        if io is not NO_IO:
            total = metrics.io
            total[0] += io.disk_read
            total[1] += io.disk_write
            total[2] += io.net_rx
            total[3] += io.net_tx
        metrics.durations.observe(duration)
        for listener in self._duration_listeners:
            listener(task_type, duration)

    def add_duration_listener(self, listener: Callable[[str, float], None]) -> None:
        """Also call ``listener(task_type, seconds)`` for each completed task, on the loop.

        For exporters that record durations themselves (OpenTelemetry histograms).
        """
        self._duration_listeners.append(listener)

    def failed(self, task_type: str, *, will_retry: bool) -> None:
        """Count an attempt that failed."""
        metrics = self._of(task_type)
        if will_retry:
            metrics.failed_retried += 1
        else:
            metrics.failed_final += 1

    def ended(self, task_type: str, status: str) -> None:
        """Count a task that reached terminal ``status`` other than completed."""
        ended = self._of(task_type).ended
        ended[status] = ended.get(status, 0) + 1

    def preempted(self, task_type: str) -> None:
        """Count a running task interrupted for an urgent one."""
        self._of(task_type).preempted += 1

    # --- gauges ------------------------------------------------------------------------------

    def bind(self, source: GaugeSource) -> None:
        """Read gauges from an open scheduler."""
        self._source = source

    def unbind(self) -> None:
        """The scheduler closed: gauges keep their last values, running drops to 0."""
        self._source = None

    async def sample(self) -> None:
        """Read the sampled gauges now (on the scheduler's event loop)."""
        source = self._source
        if source is None:
            return
        try:
            sampled = await source.sample()
        finally:
            self._sampling = False
        with self._lock:
            self._sampled = sampled
            self._sampled_at = source.now()

    def _refresh_if_stale(self, source: GaugeSource) -> None:
        """Ask the event loop for a new sample if the last one is old (any thread)."""
        with self._lock:
            stale = self._sampled_at is None or source.now() - self._sampled_at >= self.refresh
            if not stale or self._sampling:
                return
            self._sampling = True
        try:
            source.loop.call_soon_threadsafe(_spawn, self.sample)
        except RuntimeError:  # the loop closed
            self._sampling = False

    # --- reading (any thread) ----------------------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        """Every metric now; sampled gauges as of the last sample (refreshed if stale)."""
        source = self._source
        if source is not None:
            self._refresh_if_stale(source)
        counters: list[Sample] = []
        histograms: list[HistogramSample] = []
        for task_type, metrics in sorted(self._types.copy().items()):
            counters += metrics.counters(task_type)
            if metrics.durations.counts != _NO_COUNTS:
                histograms.append(
                    metrics.durations.sample("taskmill_task_duration_seconds", {"type": task_type})
                )
        if self.events_missed:
            counters.append(Sample("taskmill_events_missed_total", {}, self.events_missed))
        with self._lock:
            sampled = self._sampled
        gauges = [Sample("taskmill_tasks", {"status": s}, n) for s, n in sampled.tasks.items()]
        gauges.append(Sample("taskmill_pressure", {}, sampled.pressure))
        gauges += [
            Sample("taskmill_pressure_source", {"source": name}, value)
            for name, value in sampled.sources.items()
        ]
        if sampled.io_limit is not None:
            gauges.append(Sample("taskmill_io_limit", {}, sampled.io_limit))
        if sampled.congestion is not None:
            gauges.append(Sample("taskmill_io_congestion", {}, sampled.congestion))
        gauges += [
            Sample("taskmill_waiting", {"reason": reason}, count)
            for reason, count in sorted(sampled.waiting.items())
        ]
        running, max_concurrency, paused = (0, 0, False) if source is None else source.live()
        gauges += [
            Sample("taskmill_running", {}, running),
            Sample("taskmill_max_concurrency", {}, max_concurrency),
            Sample("taskmill_paused", {}, 1 if paused else 0),
        ]
        return MetricsSnapshot(tuple(counters), tuple(gauges), tuple(histograms))


class GaugeSource:
    """Where the gauges come from: an open scheduler (set up by the scheduler).

    Args:
        loop: The scheduler's event loop, where samples are taken.
        now: The scheduler's clock.
        sample: Reads the sampled gauges (a coroutine function, run on ``loop``).
        live: Returns (attempts running, global cap, whether everything is paused); called
            from any thread, so it only reads plain attributes.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        now: Callable[[], float],
        sample: Callable[[], Awaitable[Sampled]],
        live: Callable[[], tuple[int, int, bool]],
    ) -> None:
        self.loop = loop
        self.now = now
        self.sample = sample
        self.live = live


_background: set[asyncio.Task[None]] = set()


def _spawn(sample: Callable[[], Awaitable[None]]) -> None:
    async def run() -> None:
        try:
            await sample()
        except Exception:
            logger.exception("taskmill could not sample its gauges")

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)  # keep a reference until it ends
    task.add_done_callback(_background.discard)
