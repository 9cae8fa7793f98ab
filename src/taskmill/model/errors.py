"""The exceptions taskmill raises.

Every error is a subclass of :class:`TaskmillError`; where callers would expect a builtin
exception, the error subclasses that builtin too (``InvalidPriorityError`` is a ``ValueError``,
``TaskNotFoundError`` is a ``LookupError``). Raw ``sqlite3`` errors never leave the store: they
are translated at that boundary.

```
TaskmillError
├── ConfigurationError (ValueError)        an option or definition is invalid
│   ├── InvalidNameError                   a domain or task name is malformed
│   ├── InvalidPriorityError               a priority outside 0..255
│   ├── InvalidRetryPolicyError            negative delays, max_retries < 0, ...
│   ├── InvalidIoBudgetError               negative byte counts
│   ├── InvalidTimeError                   naive run_at, negative delay, TTL <= 0, ...
│   ├── InvalidScheduleError               bad cron expression, interval <= 0, unknown zone
│   ├── InvalidTagError                    a tag key or value too long, too many tags, ...
│   └── DuplicateTaskTypeError             a task name registered twice
├── SubmitError                            a submission was refused; nothing was stored
│   ├── UnknownTaskTypeError (LookupError) the payload's type has no registered task
│   ├── WrongDomainError                   the payload belongs to another domain
│   ├── AmbiguousTaskTypeError             several tasks take this payload; pass task=
│   ├── DependencyError                    depends_on names an unknown task, or a cycle
│   └── PayloadError                       the payload itself is unusable
│       ├── PayloadEncodeError (TypeError) msgspec cannot encode it
│       ├── PayloadValidationError         it does not match the task's payload type
│       └── PayloadTooLargeError           encoded size exceeds max_payload_bytes
├── TaskNotFoundError (LookupError)        no task or history row with that id
├── ScheduleNotFoundError (LookupError)    no recurring schedule with that id
├── NotDeadLetteredError                   retry_dead_letter on a task that is not dead-lettered
├── SchedulerStateError (RuntimeError)     the scheduler is not open, or already closed
│   ├── WrongThreadError                   called from a thread or event loop not its own
│   └── ReadOnlyError                      a call that changes tasks, on a read-only scheduler
└── StoreError                             the database could not be used
    ├── NotADatabaseError                  the file is not a (taskmill) SQLite database
    ├── DatabaseCorruptError               pages of the file are damaged; restore a backup
    ├── DatabaseNotFoundError (FileNotFoundError)  read-only open of a file that is missing
    ├── SchemaVersionError                 another schema version (newer; older when read-only)
    ├── DatabaseAccessError (PermissionError)  the file or directory is not writable
    ├── DatabaseInUseError                 another scheduler has the file open
    ├── StorageFullError (OSError)         the disk or the database is full
    ├── StoreBusyError                     another process holds the database lock too long
    └── StoreClosedError                   the store was used after close()
```

Executors steer retries with :class:`~taskmill.Retry` and :class:`~taskmill.PermanentError`;
those are control flow, not errors of taskmill, and live outside this tree.
"""

from __future__ import annotations


class TaskmillError(Exception):
    """Base class of every error taskmill raises."""


# --- configuration ----------------------------------------------------------------------


class ConfigurationError(TaskmillError, ValueError):
    """An option, a definition or a value passed to taskmill is invalid."""


class InvalidNameError(ConfigurationError):
    """A domain or task name is empty or contains characters that are not allowed."""


class InvalidPriorityError(ConfigurationError):
    """A priority is outside 0..255 or not an integer."""


class InvalidRetryPolicyError(ConfigurationError):
    """A retry policy has a negative delay, a negative ``max_retries`` or a bad jitter."""


class InvalidIoBudgetError(ConfigurationError):
    """An IO budget or an IO record has a negative or non-integer byte count."""


class InvalidTimeError(ConfigurationError):
    """A time or duration is unusable: a naive ``run_at``, a negative delay, a TTL <= 0."""


class InvalidScheduleError(ConfigurationError):
    """A recurring schedule is malformed: a bad cron expression, an interval <= 0, ..."""


class InvalidTagError(ConfigurationError):
    """Tags are malformed: not strings, an empty or too long key or value, more than 32."""


class DuplicateTaskTypeError(ConfigurationError):
    """Two tasks were registered under the same qualified name."""


# --- submission -------------------------------------------------------------------------


class SubmitError(TaskmillError):
    """A submission was refused before anything was written."""


class UnknownTaskTypeError(SubmitError, LookupError):
    """No task type is registered for this payload type or name."""


class WrongDomainError(SubmitError):
    """The payload's task type belongs to a different domain than the handle used."""


class AmbiguousTaskTypeError(SubmitError):
    """Several task types accept this payload; the caller must name one with ``task=``."""


class DependencyError(SubmitError):
    """``depends_on`` names a task that never existed, or the edges would form a cycle."""


class PayloadError(SubmitError):
    """The payload cannot be stored."""


class PayloadEncodeError(PayloadError, TypeError):
    """msgspec cannot encode the payload (an unsupported type inside it)."""


class PayloadValidationError(PayloadError):
    """The payload does not match the payload type its task declares."""


class PayloadTooLargeError(PayloadError):
    """The encoded payload is larger than ``max_payload_bytes``."""


# --- lookups and state ------------------------------------------------------------------


class TaskNotFoundError(TaskmillError, LookupError):
    """No active task or history record has the given id."""


class ScheduleNotFoundError(TaskmillError, LookupError):
    """No recurring schedule has the given id."""


class NotDeadLetteredError(TaskmillError):
    """``retry_dead_letter`` was called for a task whose last record is not a dead letter."""


class SchedulerStateError(TaskmillError, RuntimeError):
    """The scheduler was used while not open (or after it was closed)."""


class WrongThreadError(SchedulerStateError):
    """A call reached the scheduler from a thread or an event loop that is not its own.

    An asyncio scheduler belongs to the event loop that opened it. From other threads, use
    :class:`taskmill.sync.Scheduler`, or hand the coroutine to the scheduler's loop
    with :func:`asyncio.run_coroutine_threadsafe`. Nothing of the refused call was done.
    """


class ReadOnlyError(SchedulerStateError):
    """A call that changes tasks was made on a scheduler opened with ``read_only=True``."""


# --- storage ----------------------------------------------------------------------------


class StoreError(TaskmillError):
    """The task database could not be opened, read or written."""


class NotADatabaseError(StoreError):
    """The file is not a SQLite database, or belongs to another application."""


class DatabaseNotFoundError(StoreError, FileNotFoundError):
    """A database opened read-only does not exist (only a read-write open creates one)."""


class DatabaseCorruptError(StoreError):
    """Pages of the database file are damaged (SQLite: "database disk image is malformed").

    taskmill stops at once and writes nothing more to the file. Restore it from a backup, or
    save what is readable with the ``sqlite3`` shell's ``.recover`` into a new file.
    """


class SchemaVersionError(StoreError):
    """The database's schema is one this taskmill cannot use as it is.

    Newer than this taskmill's (written by a newer taskmill), or, for a read-only open,
    older (a read-only open never migrates).
    """


class DatabaseAccessError(StoreError, PermissionError):
    """The database file or its directory cannot be created or written."""


class StorageFullError(StoreError, OSError):
    """The disk (or the database's size limit) is full."""


class DatabaseInUseError(StoreError):
    """Another scheduler (in this process or another) has the database file open."""


class StoreBusyError(StoreError):
    """Another connection held the database lock for longer than the busy timeout."""


class StoreClosedError(StoreError):
    """The store was used after it was closed."""
