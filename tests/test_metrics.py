"""Metrics: counters and histograms of what happened, gauges, Prometheus and OpenTelemetry."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from taskmill import Domain, PermanentError, RetryPolicy, Scheduler, TaskContext
from taskmill.metrics import METRICS, MetricsSnapshot
from taskmill.metrics.otel import instrument
from taskmill.metrics.prometheus import register
from taskmill.testing import FakeClock, FixedPressure, run_until_idle


@dataclass
class Job:
    name: str
    seconds: float = 0.0
    fails: int = 0  # attempts that fail before one succeeds
    permanent: bool = False
    read: int = 0


def workload_domain(clock: FakeClock) -> Domain:
    domain = Domain("work", retry=RetryPolicy.fixed(1.0, max_retries=1))

    @domain.task("job", key=lambda job: job.name)
    async def job(job: Job, ctx: TaskContext) -> None:
        clock.advance(job.seconds)
        ctx.record_read_bytes(job.read)
        if job.permanent:
            raise PermanentError("no")
        if ctx.attempt <= job.fails:
            raise ConnectionError("flaky")

    return domain


async def run_workload(scheduler: Scheduler, domain: Domain, clock: FakeClock) -> None:
    """2 quick completions, 1 completion after a retry, 1 failure, 1 dead letter, 1 cancel."""
    handle = scheduler.domain(domain)
    await handle.submit_many(
        [
            Job("a", seconds=0.02, read=100),
            Job("b", seconds=3.0, read=50),
            Job("retried", seconds=0.2, fails=1),
            Job("permanent", permanent=True),
            Job("dead", fails=5),
            Job("a", seconds=0.02, read=100),  # a duplicate: not counted as submitted
        ]
    )
    cancelled = await handle.submit(Job("later"), run_after=60)
    await scheduler.cancel(cancelled.id)
    await run_until_idle(scheduler, clock)


async def test_counters_and_histograms_tell_what_happened(clock: FakeClock) -> None:
    domain = workload_domain(clock)
    async with Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=1) as s:
        await run_workload(s, domain, clock)
        snapshot = s.metrics.snapshot()
    t = "work::job"
    assert snapshot.value("taskmill_tasks_submitted_total", type=t) == 6
    assert snapshot.value("taskmill_attempts_started_total", type=t) == 7  # 2 retries
    assert snapshot.value("taskmill_attempts_failed_total", type=t, will_retry="true") == 2
    assert snapshot.value("taskmill_attempts_failed_total", type=t, will_retry="false") == 2
    ended = {
        sample.labels["status"]: sample.value
        for sample in snapshot.counters
        if sample.name == "taskmill_tasks_ended_total"
    }
    assert ended == {"completed": 3, "failed": 1, "dead_letter": 1, "cancelled": 1}
    assert snapshot.value("taskmill_task_io_bytes_total", type=t, direction="disk_read") == 150
    durations = snapshot.histogram("taskmill_task_duration_seconds", type=t)
    assert durations is not None
    assert (durations.count, durations.sum) == (3, pytest.approx(3.22))
    cumulative = dict(durations.buckets)
    assert (cumulative[0.01], cumulative[0.025], cumulative[0.25], cumulative[2.5]) == (0, 1, 2, 2)
    assert cumulative[5.0] == 3
    data = snapshot.to_dict()
    assert json.loads(json.dumps(data)) == data


async def test_gauges_show_queue_running_and_pressure(clock: FakeClock) -> None:
    domain = workload_domain(clock)
    pressure = FixedPressure(0.3)
    async with Scheduler(":memory:", domains=[domain], clock=clock,
                         pressure_sources={"disk": pressure}) as scheduler:  # fmt: skip
        await scheduler.domain(domain).submit(Job("x"), run_after=60)
        await scheduler.pause()
        await scheduler.metrics.sample()
        snapshot = scheduler.metrics.snapshot()
    assert snapshot.value("taskmill_tasks", status="paused") == 1
    assert snapshot.value("taskmill_pressure") == 0.3
    assert snapshot.value("taskmill_pressure_source", source="disk") == 0.3
    assert snapshot.value("taskmill_running") == 0
    assert snapshot.value("taskmill_paused") == 1
    assert snapshot.value("taskmill_max_concurrency") == scheduler.max_concurrency


async def test_stale_gauges_are_refreshed_in_the_background(clock: FakeClock) -> None:
    """A reader finding the sample older than `refresh` gets the old one and a new sample."""
    domain = workload_domain(clock)
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        metrics = scheduler.metrics
        assert metrics.snapshot().value("taskmill_tasks", status="pending") is None  # at open
        await scheduler.domain(domain).submit(Job("x"), run_after=60)
        assert metrics.snapshot().value("taskmill_tasks", status="pending") is None  # fresh
        sampled = asyncio.Event()
        source = metrics._source
        assert source is not None
        take_sample = source.sample

        async def sample_and_tell() -> object:
            try:
                return await take_sample()
            finally:
                sampled.set()

        source.sample = sample_and_tell  # type: ignore[method-assign]
        clock.advance(metrics.refresh)
        stale = await asyncio.to_thread(metrics.snapshot)  # as an exporter's thread would
        await sampled.wait()
        fresh = metrics.snapshot()
    assert stale.value("taskmill_tasks", status="pending") is None
    assert fresh.value("taskmill_tasks", status="pending") == 1


async def test_events_lost_by_slow_subscribers_are_counted(clock: FakeClock) -> None:
    domain = workload_domain(clock)
    async with Scheduler(":memory:", domains=[domain], clock=clock) as scheduler:
        lagging = scheduler.events(maxsize=2)
        await scheduler.domain(domain).submit_many([Job(str(i)) for i in range(5)])
        await scheduler.wait_idle()
        missed = scheduler.metrics.snapshot().value("taskmill_events_missed_total")
    assert missed == lagging.missed == 10 - 2


async def test_prometheus_text_parses_with_prometheus_client(clock: FakeClock) -> None:
    """The exporter's output is valid exposition format with the documented families."""
    domain = workload_domain(clock)
    registry = CollectorRegistry()
    async with Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=1) as s:
        register(s, registry, const_labels={"app": "test"})
        await run_workload(s, domain, clock)
        text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    documented = {info.name.removesuffix("_total") for info in METRICS}
    assert set(families) == documented
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"app": "test", **labels}.items())))]

    job = {"type": "work::job"}
    assert value("taskmill_tasks_submitted_total", **job) == 6
    assert value("taskmill_tasks_ended_total", **job, status="completed") == 3
    assert value("taskmill_task_duration_seconds_count", **job) == 3
    assert value("taskmill_task_duration_seconds_bucket", **job, le="+Inf") == 3
    assert value("taskmill_task_duration_seconds_bucket", **job, le="0.025") == 1
    assert value("taskmill_running") == 0
    assert families["taskmill_tasks_ended"].type == "counter"
    assert families["taskmill_task_duration_seconds"].type == "histogram"


async def test_opentelemetry_instruments_report_the_same_numbers(clock: FakeClock) -> None:
    domain = workload_domain(clock)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    async with Scheduler(":memory:", domains=[domain], clock=clock, max_concurrency=1) as s:
        instruments = instrument(s, provider)
        await run_workload(s, domain, clock)
        data = reader.get_metrics_data()
    assert len(instruments) == len(METRICS)
    assert data is not None
    found = {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    ended = {
        point.attributes["status"]: point.value
        for point in found["taskmill.tasks.ended"].data.data_points  # type: ignore[union-attr]
    }
    assert ended == {"completed": 3, "failed": 1, "dead_letter": 1, "cancelled": 1}
    [durations] = found["taskmill.task.duration"].data.data_points  # type: ignore[union-attr]
    assert (durations.count, durations.sum) == (3, pytest.approx(3.22))  # type: ignore[union-attr]
    assert found["taskmill.task.duration"].unit == "s"


def test_every_metric_is_documented() -> None:
    """docs/metrics.md lists every metric by both names."""
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    for info in METRICS:
        assert f"`{info.name}`" in page
        assert f"`{info.otel_name}`" in page


def test_snapshot_lookups_match_labels_exactly() -> None:
    snapshot = MetricsSnapshot((), (), ())
    assert snapshot.value("taskmill_running") is None
    assert snapshot.histogram("taskmill_task_duration_seconds", type="x") is None
