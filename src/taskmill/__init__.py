"""taskmill: a persistent, priority-aware, IO-aware task scheduler for asyncio applications.

Work is committed to SQLite before ``submit()`` returns and survives crashes; a 256-level
priority queue runs urgent work first; every task is visible through events and queries.
Everything public is importable from here (test doubles from :mod:`taskmill.testing`).
"""

from taskmill.clock import Clock, SystemClock, TimerHandle
from taskmill.domain import Domain, TaskType
from taskmill.model.config import Durability, Retention
from taskmill.model.errors import (
    AmbiguousTaskTypeError,
    ConfigurationError,
    DatabaseAccessError,
    DuplicateTaskTypeError,
    InvalidIoBudgetError,
    InvalidNameError,
    InvalidPriorityError,
    InvalidRetryPolicyError,
    NotADatabaseError,
    NotDeadLetteredError,
    PayloadEncodeError,
    PayloadError,
    PayloadTooLargeError,
    PayloadValidationError,
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
)
from taskmill.model.events import (
    Completed,
    DeadLettered,
    Dispatched,
    Event,
    Failed,
    TaskEvent,
)
from taskmill.model.io import IoBudget
from taskmill.model.outcomes import Duplicate, Inserted, SubmitOutcome, Upgraded
from taskmill.model.priority import Priority
from taskmill.model.records import HistoryRecord, TaskHeader, TaskRecord
from taskmill.model.retry import PermanentError, Retry, RetryPolicy
from taskmill.model.status import TaskStatus
from taskmill.scheduler.context import CancelToken, Progress, TaskContext
from taskmill.scheduler.events import Subscription
from taskmill.scheduler.scheduler import Scheduler
from taskmill.scheduler.submission import DomainHandle, Submission
from taskmill.store import MemoryStore, SqliteStore, Store

__version__ = "0.1.0"

__all__ = [
    "AmbiguousTaskTypeError",
    "CancelToken",
    "Clock",
    "Completed",
    "ConfigurationError",
    "DatabaseAccessError",
    "DeadLettered",
    "Dispatched",
    "Domain",
    "DomainHandle",
    "Duplicate",
    "DuplicateTaskTypeError",
    "Durability",
    "Event",
    "Failed",
    "HistoryRecord",
    "Inserted",
    "InvalidIoBudgetError",
    "InvalidNameError",
    "InvalidPriorityError",
    "InvalidRetryPolicyError",
    "IoBudget",
    "MemoryStore",
    "NotADatabaseError",
    "NotDeadLetteredError",
    "PayloadEncodeError",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PermanentError",
    "Priority",
    "Progress",
    "Retention",
    "Retry",
    "RetryPolicy",
    "Scheduler",
    "SchedulerStateError",
    "SchemaVersionError",
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
    "SystemClock",
    "TaskContext",
    "TaskEvent",
    "TaskHeader",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskStatus",
    "TaskType",
    "TaskmillError",
    "TimerHandle",
    "UnknownTaskTypeError",
    "Upgraded",
    "WrongDomainError",
    "__version__",
]
