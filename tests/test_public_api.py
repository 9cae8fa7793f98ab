"""The public surface: what `import taskmill` offers, pinned so changes are deliberate."""

from __future__ import annotations

import taskmill
import taskmill.resources
import taskmill.testing

EXPECTED = [
    "AdmissionControl",
    "AdmissionState",
    "Aging",
    "Aimd",
    "AmbiguousTaskTypeError",
    "CancelToken",
    "Cancelled",
    "Clock",
    "Completed",
    "ConfigurationError",
    "Cron",
    "DatabaseAccessError",
    "DatabaseCorruptError",
    "DatabaseInUseError",
    "DatabaseNotFoundError",
    "DeadLettered",
    "DependencyError",
    "DependencyFailed",
    "Dispatched",
    "Domain",
    "DomainHandle",
    "Duplicate",
    "DuplicateTaskTypeError",
    "Durability",
    "Event",
    "EventFilter",
    "Every",
    "Expired",
    "Failed",
    "Fairness",
    "GroupPaused",
    "GroupResumed",
    "HistoryRecord",
    "Inserted",
    "InvalidIoBudgetError",
    "InvalidNameError",
    "InvalidPriorityError",
    "InvalidRetryPolicyError",
    "InvalidScheduleError",
    "InvalidTagError",
    "InvalidTimeError",
    "IoBudget",
    "IoControl",
    "IoLimitState",
    "KeyLookup",
    "MemoryStore",
    "Missed",
    "NotADatabaseError",
    "NotDeadLetteredError",
    "OnDependencyFailure",
    "OnDuplicate",
    "PauseState",
    "Paused",
    "PayloadEncodeError",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PermanentError",
    "Preempted",
    "PressureSource",
    "Priority",
    "Progress",
    "ProgressReporter",
    "RateLimit",
    "ReadOnlyError",
    "RecurringCompleted",
    "RecurringSkipped",
    "Rejected",
    "Replaced",
    "Requeued",
    "Resumed",
    "Retention",
    "Retry",
    "RetryPolicy",
    "RunningTask",
    "ScheduleNotFoundError",
    "ScheduleRecord",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStateError",
    "SchemaVersionError",
    "Snapshot",
    "SqliteStore",
    "StorageFullError",
    "Store",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "Submission",
    "SubmitError",
    "SubmitOutcome",
    "Subscription",
    "Superseded",
    "SystemClock",
    "TaskContext",
    "TaskEvent",
    "TaskHeader",
    "TaskIo",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskStatus",
    "TaskType",
    "TaskmillError",
    "ThrottlePolicy",
    "Throughput",
    "TimerHandle",
    "TtlFrom",
    "TypeStats",
    "Unblocked",
    "UnknownTaskTypeError",
    "Upgraded",
    "Waiting",
    "WrongDomainError",
    "WrongThreadError",
    "__version__",
]


def test_all_is_pinned() -> None:
    """`taskmill.__all__` lists exactly the agreed public names, sorted."""
    assert taskmill.__all__ == EXPECTED


def test_every_exported_name_exists() -> None:
    """Every name in `__all__` is importable from `taskmill`."""
    for name in taskmill.__all__:
        assert hasattr(taskmill, name), name


def test_exported_objects_claim_the_public_module() -> None:
    """Nothing private leaks: no exported name starts with an underscore but `__version__`."""
    assert [n for n in taskmill.__all__ if n.startswith("_")] == ["__version__"]


def test_testing_module_surface() -> None:
    """`taskmill.testing` offers the fakes and the drain helpers."""
    assert taskmill.testing.__all__ == [
        "FakeClock",
        "FakeSampler",
        "FixedPressure",
        "run_until",
        "run_until_idle",
    ]


def test_resources_module_surface() -> None:
    """`taskmill.resources` offers samplers, pressure sources and congestion sources."""
    assert taskmill.resources.__all__ == [
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
    for name in taskmill.resources.__all__:
        assert hasattr(taskmill.resources, name), name


def test_every_error_derives_from_the_base() -> None:
    """Each exported *Error class is a TaskmillError."""
    errors = [getattr(taskmill, n) for n in taskmill.__all__ if n.endswith("Error")]
    errors = [e for e in errors if e is not taskmill.PermanentError]
    assert errors
    for error in errors:
        assert issubclass(error, taskmill.TaskmillError), error
    assert not issubclass(taskmill.PermanentError, taskmill.TaskmillError)
    assert not issubclass(taskmill.Retry, taskmill.TaskmillError)
