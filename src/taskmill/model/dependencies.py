"""Dependencies: a task that waits for others to complete.

A task submitted with ``depends_on=[ids]`` is ``blocked`` until every one of them completed.
When one of them ends otherwise (failed, dead-lettered, cancelled, expired, ...), the
dependent's ``on_dependency_failure`` policy decides:

- ``"cancel"`` (default): the dependent, and everything that depends on it in turn, ends as
  ``dependency_failed``;
- ``"fail"``: the dependent ends as ``dependency_failed``; tasks depending on it apply their
  own policies;
- ``"ignore"``: the dependency no longer counts; the dependent runs once the others completed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from taskmill.model.errors import ConfigurationError, DependencyError

OnDependencyFailure = Literal["cancel", "fail", "ignore"]
ON_DEPENDENCY_FAILURE: tuple[str, ...] = ("cancel", "fail", "ignore")


def check_on_dependency_failure(policy: object) -> OnDependencyFailure:
    """Return ``policy`` if known, else raise :class:`ConfigurationError`."""
    if policy not in ON_DEPENDENCY_FAILURE:
        raise ConfigurationError(
            f"on_dependency_failure must be one of "
            f"{', '.join(map(repr, ON_DEPENDENCY_FAILURE))}, got {policy!r}"
        )
    return policy  # type: ignore[return-value]


def check_depends_on(ids: object) -> tuple[int, ...]:
    """Task ids as a sorted tuple without repeats, or :class:`DependencyError`."""
    if isinstance(ids, int | str | bytes) or not isinstance(ids, Iterable):
        raise DependencyError(f"depends_on must be a list of task ids, got {ids!r}")
    checked = set()
    for task_id in ids:
        if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 1:
            raise DependencyError(
                f"depends_on must hold task ids (ints >= 1, as outcomes' .id), got {task_id!r}"
            )
        checked.add(task_id)
    return tuple(sorted(checked))
