"""What a submission did: inserted a task, found a duplicate, or upgraded one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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


SubmitOutcome = Inserted | Duplicate | Upgraded
"""What ``submit`` returns: match on the class, or read ``.id`` which all of them have."""
