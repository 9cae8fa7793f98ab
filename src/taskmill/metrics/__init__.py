"""Metrics of a scheduler: an in-process snapshot, and exporters.

``scheduler.metrics.snapshot()`` returns every counter, gauge and histogram (see
:data:`METRICS` for the names). Exporters live in submodules that need an extra:
``taskmill.metrics.prometheus`` (``pip install 'taskmill[prometheus]'``) and
``taskmill.metrics.otel`` (``pip install 'taskmill[otel]'``).
"""

from taskmill.metrics.collector import (
    DURATION_BUCKETS,
    METRIC_INFO,
    METRICS,
    GaugeSource,
    HistogramSample,
    MetricInfo,
    Metrics,
    MetricsSnapshot,
    Sample,
    Sampled,
)

__all__ = [
    "DURATION_BUCKETS",
    "METRICS",
    "METRIC_INFO",
    "GaugeSource",
    "HistogramSample",
    "MetricInfo",
    "Metrics",
    "MetricsSnapshot",
    "Sample",
    "Sampled",
]
