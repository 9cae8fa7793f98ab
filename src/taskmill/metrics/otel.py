"""OpenTelemetry exporter: observable instruments over ``scheduler.metrics``.

Needs ``pip install 'taskmill[otel]'`` (opentelemetry-api; the SDK and an exporter are
your application's choice)::

    from taskmill.metrics.otel import instrument

    async with Scheduler("tasks.db", domains=[media]) as scheduler:
        instrument(scheduler)   # uses the global MeterProvider, or pass meter_provider=

Counters and gauges are observable instruments read at each collection; task durations go
to a histogram recorded as tasks complete. Names and units are ``otel_name`` and ``unit`` of
:data:`taskmill.metrics.METRICS`; attributes are the Prometheus labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.metrics import (
        CallbackOptions,
        Histogram,
        Instrument,
        MeterProvider,
        Observation,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "taskmill.metrics.otel needs opentelemetry-api: pip install 'taskmill[otel]'"
    ) from exc

from taskmill import __version__
from taskmill.metrics.collector import DURATION_BUCKETS, METRICS, MetricInfo, Metrics
from taskmill.scheduler.scheduler import Scheduler

Callback = Callable[[CallbackOptions], Iterable[Observation]]


def instrument(
    scheduler: Scheduler | Metrics, meter_provider: MeterProvider | None = None
) -> list[Instrument]:
    """Create taskmill's instruments on a meter named ``"taskmill"``; return them.

    Args:
        scheduler: The scheduler (or its ``metrics``).
        meter_provider: Where the meter comes from (default: the global provider).
    """
    metrics = scheduler.metrics if isinstance(scheduler, Scheduler) else scheduler
    provider = meter_provider or otel_metrics.get_meter_provider()
    meter = provider.get_meter("taskmill", __version__)
    instruments: list[Instrument] = []
    for info in METRICS:
        if info.kind == "histogram":
            histogram = meter.create_histogram(
                info.otel_name,
                unit=info.unit,
                description=info.help,
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            )
            metrics.add_duration_listener(_recorder(histogram))
            instruments.append(histogram)
        elif info.kind == "counter":
            instruments.append(
                meter.create_observable_counter(
                    info.otel_name, [_observe(metrics, info)], info.unit, info.help
                )
            )
        else:
            instruments.append(
                meter.create_observable_gauge(
                    info.otel_name, [_observe(metrics, info)], info.unit, info.help
                )
            )
    return instruments


def _recorder(histogram: Histogram) -> Callable[[str, float], None]:
    def record(task_type: str, seconds: float) -> None:
        histogram.record(seconds, {"type": task_type})

    return record


def _observe(metrics: Metrics, info: MetricInfo) -> Callback:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        snapshot = metrics.snapshot()
        samples = snapshot.counters if info.kind == "counter" else snapshot.gauges
        return [
            Observation(sample.value, dict(sample.labels))
            for sample in samples
            if sample.name == info.name
        ]

    return callback
