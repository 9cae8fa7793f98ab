"""What a submission did: inserted a task, or what it did about an active duplicate.

A duplicate is a submission whose dedup key an active task already holds. What happens is
its ``on_duplicate`` policy:

- ``"skip"`` (default): nothing new is stored. The outcome is :class:`Duplicate`, or
  :class:`Upgraded` if the duplicate is more urgent than the queued task (whose priority is
  raised), or :class:`Requeued` if the task is running (it runs once more afterwards).
- ``"supersede"``: the submission replaces the active task (:class:`Superseded`).
- ``"reject"``: nothing changes (:class:`Rejected`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from taskmill.model.errors import ConfigurationError
from taskmill.model.jsonable import json_dict


class _Outcome:
    __slots__ = ()
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as a JSON-serializable dict, with its ``kind``."""
        data: dict[str, Any] = {"kind": self.kind}
        data.update(json_dict(self))
        return data


@dataclass(frozen=True, slots=True)
class Inserted(_Outcome):
    """A new task was stored with this id."""

    kind: ClassVar[str] = "inserted"
    id: int


@dataclass(frozen=True, slots=True)
class Duplicate(_Outcome):
    """An active task with the same key exists (id); nothing changed."""

    kind: ClassVar[str] = "duplicate"
    id: int


@dataclass(frozen=True, slots=True)
class Upgraded(_Outcome):
    """An active, not yet running task with the same key had its priority raised.

    Attributes:
        id: The existing task's id.
        previous_priority: Its priority before the upgrade.
        priority: Its priority now.
    """

    kind: ClassVar[str] = "upgraded"
    id: int
    previous_priority: int
    priority: int


@dataclass(frozen=True, slots=True)
class Requeued(_Outcome):
    """The task with the same key is running; it will run once more after this attempt.

    The next run uses the latest duplicate's payload and label, the more urgent of the
    priorities, and a retry count of 0. Further duplicates before then change nothing more
    than that.
    """

    kind: ClassVar[str] = "requeued"
    id: int


@dataclass(frozen=True, slots=True)
class Superseded(_Outcome):
    """The submission replaced the active task with the same key.

    Attributes:
        id: The task now holding the key: ``replaced`` itself if it was not running (updated
            in place, keeping its pause reasons), else a new task.
        replaced: The id of the replaced task; its old version is in history as
            ``superseded``.
    """

    kind: ClassVar[str] = "superseded"
    id: int
    replaced: int


@dataclass(frozen=True, slots=True)
class Rejected(_Outcome):
    """An active task holds the key (id) and the policy refuses duplicates; nothing changed."""

    kind: ClassVar[str] = "rejected"
    id: int


SubmitOutcome = Inserted | Duplicate | Upgraded | Requeued | Superseded | Rejected
"""What ``submit`` returns: match on the class, or read ``.id`` which all of them have."""

OnDuplicate = Literal["skip", "supersede", "reject"]
"""What a submission does when an active task holds its dedup key."""

ON_DUPLICATE: tuple[str, ...] = ("skip", "supersede", "reject")


def check_on_duplicate(policy: object) -> OnDuplicate:
    """Return ``policy`` if it is a known policy, else raise :class:`ConfigurationError`."""
    if policy not in ON_DUPLICATE:
        raise ConfigurationError(
            f"on_duplicate must be one of {', '.join(map(repr, ON_DUPLICATE))}, got {policy!r}"
        )
    return policy  # type: ignore[return-value]
