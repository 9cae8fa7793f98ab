"""Prometheus exporter: a collector that reads ``scheduler.metrics`` at every scrape.

Needs ``pip install 'taskmill[prometheus]'`` (prometheus-client)::

    from prometheus_client import start_http_server
    from taskmill.metrics.prometheus import register

    async with Scheduler("tasks.db", domains=[media]) as scheduler:
        register(scheduler)                          # into prometheus_client's REGISTRY
        start_http_server(9464, addr="127.0.0.1")   # localhost only, unless you mean it

Metric names and labels are those of :data:`taskmill.metrics.METRICS`. A scrape never
waits for the database: queue counts and pressure are as of the last sample (at most
``scheduler.metrics.refresh`` seconds old, refreshed in the background).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "taskmill.metrics.prometheus needs prometheus-client: pip install 'taskmill[prometheus]'"
    ) from exc

from taskmill.metrics.collector import METRICS, Metrics
from taskmill.scheduler.scheduler import Scheduler


class TaskmillCollector(Collector):
    """Exposes one scheduler's metrics to a prometheus-client registry.

    Args:
        metrics: ``scheduler.metrics`` (or the scheduler itself).
        const_labels: Labels added to every sample, e.g. ``{"app": "thumbnails"}`` when one
            process runs several schedulers.
    """

    def __init__(
        self, metrics: Metrics | Scheduler, const_labels: Mapping[str, str] | None = None
    ) -> None:
        self._metrics = metrics.metrics if isinstance(metrics, Scheduler) else metrics
        self._const = dict(const_labels or {})

    def collect(self) -> Iterable[Metric]:
        """Build the metric families from a fresh snapshot (called at each scrape)."""
        snapshot = self._metrics.snapshot()
        const_names = list(self._const)
        const_values = list(self._const.values())
        for info in METRICS:
            names = [*const_names, *info.labels]
            family: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if info.kind == "histogram":
                family = HistogramMetricFamily(info.name, info.help, labels=names)
                for histogram in snapshot.histograms:
                    if histogram.name == info.name:
                        buckets = [(_bound(le), count) for le, count in histogram.buckets]
                        buckets.append(("+Inf", histogram.count))
                        values = [*const_values, *(histogram.labels[n] for n in info.labels)]
                        family.add_metric(values, buckets, histogram.sum)
            else:
                samples = snapshot.counters if info.kind == "counter" else snapshot.gauges
                family = (
                    CounterMetricFamily(info.name, info.help, labels=names)
                    if info.kind == "counter"
                    else GaugeMetricFamily(info.name, info.help, labels=names)
                )
                for sample in samples:
                    if sample.name == info.name:
                        values = [*const_values, *(sample.labels[n] for n in info.labels)]
                        family.add_metric(values, sample.value)
            yield family


def _bound(value: float) -> str:
    return repr(float(value))


def register(
    scheduler: Scheduler,
    registry: CollectorRegistry = REGISTRY,
    const_labels: Mapping[str, str] | None = None,
) -> TaskmillCollector:
    """Register ``scheduler``'s metrics with ``registry``; return the collector.

    ``registry.unregister(collector)`` removes them again.
    """
    collector = TaskmillCollector(scheduler, const_labels)
    registry.register(collector)
    return collector
