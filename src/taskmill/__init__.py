"""taskmill: a persistent, priority-aware, IO-aware task scheduler for asyncio applications.

Work is committed to SQLite before ``submit()`` returns and survives crashes; a 256-level
priority queue runs urgent work first; every task is visible through events and queries.
Everything public is importable from here (test doubles from :mod:`taskmill.testing`).
"""

from taskmill.admission.aging import Aging
from taskmill.admission.fair import Fairness
from taskmill.admission.io_limit import Aimd, IoControl
from taskmill.admission.throttle import ThrottlePolicy
from taskmill.admission.tokens import RateLimit
from taskmill.clock import Clock, SystemClock, TimerHandle
from taskmill.domain import Domain, TaskType
from taskmill.model.config import Durability, Retention, SchedulerConfig
from taskmill.model.dependencies import OnDependencyFailure
from taskmill.model.errors import (
    AmbiguousTaskTypeError,
    ConfigurationError,
    DatabaseAccessError,
    DatabaseCorruptError,
    DatabaseInUseError,
    DatabaseNotFoundError,
    DependencyError,
    DuplicateTaskTypeError,
    InvalidIoBudgetError,
    InvalidNameError,
    InvalidPriorityError,
    InvalidRetryPolicyError,
    InvalidScheduleError,
    InvalidTagError,
    InvalidTimeError,
    NotADatabaseError,
    NotDeadLetteredError,
    PayloadEncodeError,
    PayloadError,
    PayloadTooLargeError,
    PayloadValidationError,
    ReadOnlyError,
    ScheduleNotFoundError,
    SchedulerStateError,
    SchemaVersionError,
    StorageFullError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    SubmitError,
    TaskmillError,
    TaskNotFoundError,
    UnknownTaskTypeError,
    WrongDomainError,
    WrongThreadError,
)
from taskmill.model.events import (
    Cancelled,
    Completed,
    DeadLettered,
    DependencyFailed,
    Dispatched,
    Event,
    Expired,
    Failed,
    GroupPaused,
    GroupResumed,
    Missed,
    Paused,
    Preempted,
    Progress,
    RecurringCompleted,
    RecurringSkipped,
    Replaced,
    Resumed,
    TaskEvent,
    Unblocked,
    Waiting,
)
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import (
    Duplicate,
    Inserted,
    OnDuplicate,
    Rejected,
    Requeued,
    SubmitOutcome,
    Superseded,
    Upgraded,
)
from taskmill.model.priority import Priority
from taskmill.model.records import (
    HistoryRecord,
    PauseState,
    ScheduleRecord,
    TaskHeader,
    TaskRecord,
)
from taskmill.model.recurring import Cron, Every
from taskmill.model.retry import PermanentError, Retry, RetryPolicy
from taskmill.model.stats import KeyLookup, Throughput, TypeStats
from taskmill.model.status import TaskStatus
from taskmill.model.timing import TtlFrom
from taskmill.scheduler.admission_state import AdmissionState
from taskmill.scheduler.context import CancelToken, ProgressReporter, TaskContext
from taskmill.scheduler.events import EventFilter, Subscription
from taskmill.scheduler.gate import AdmissionControl, PressureSource
from taskmill.scheduler.io_control import IoLimitState
from taskmill.scheduler.scheduler import Scheduler
from taskmill.scheduler.snapshot import RunningTask, Snapshot
from taskmill.scheduler.submission import DomainHandle, Submission
from taskmill.scheduler.task_io import TaskIo
from taskmill.store import MemoryStore, SqliteStore, Store

__version__ = "0.1.0"

__all__ = [
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
