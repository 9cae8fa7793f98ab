"""Finds the task type of a submission, and refuses the ones that belong elsewhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, is_typeddict

from taskmill.domain import SEPARATOR, Domain, TaskType
from taskmill.model.errors import (
    AmbiguousTaskTypeError,
    ConfigurationError,
    UnknownTaskTypeError,
    WrongDomainError,
)

_JSON_TYPES: frozenset[type] = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


class Registry:
    """Every task type of the scheduler's domains, by qualified name and by payload class.

    It follows its domains: a task registered on one of them later (even after the
    scheduler opened) is known from the next lookup on.
    """

    def __init__(self, domains: Iterable[Domain]) -> None:
        self.domains: dict[str, Domain] = {}
        for domain in domains:
            if not isinstance(domain, Domain):
                raise ConfigurationError(
                    f"domains must hold taskmill.Domain objects, got {domain!r}"
                )
            known = self.domains.get(domain.name)
            if known is not None and known is not domain:
                raise ConfigurationError(
                    f"two different domains are named {domain.name!r}; domain names must be "
                    f"unique within a scheduler"
                )
            self.domains[domain.name] = domain
        self._versions: tuple[int, ...] | None = None
        self._registrations = -1
        self._by_name: dict[str, TaskType[Any]] = {}
        self._by_class: dict[type, list[TaskType[Any]]] = {}
        self._names: tuple[str, ...] = ()

    def _refresh(self) -> None:
        if Domain.registrations == self._registrations:  # nothing registered anywhere since
            return
        self._registrations = Domain.registrations
        versions = tuple(domain.version for domain in self.domains.values())
        if versions == self._versions:
            return
        self._by_name, self._by_class = {}, {}
        for domain in self.domains.values():
            for task_type in domain.tasks.values():
                self._by_name[task_type.qualified_name] = task_type
                if _is_payload_class(task_type.payload_type):
                    self._by_class.setdefault(task_type.payload_type, []).append(task_type)
        self._names = tuple(sorted(self._by_name))
        self._versions = versions

    @property
    def by_name(self) -> dict[str, TaskType[Any]]:
        """Task types by qualified name."""
        self._refresh()
        return self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        """The qualified names of every task type, sorted."""
        self._refresh()
        return self._names

    def domain(self, domain: Domain | str) -> Domain:
        """Return the registered domain ``domain`` (an object or a name)."""
        name = domain.name if isinstance(domain, Domain) else domain
        found = self.domains.get(name)
        if found is None or (isinstance(domain, Domain) and found is not domain):
            raise UnknownTaskTypeError(
                f"domain {name!r} is not registered with this scheduler; pass it in "
                f"Scheduler(..., domains=[...]) (registered: {sorted(self.domains)})"
            )
        return found

    def resolve(
        self, domain: Domain, payload: object, task: TaskType[Any] | str | None
    ) -> TaskType[Any]:
        """Return the task type of ``payload`` submitted through ``domain``."""
        if task is not None:
            return self._named(domain, task)
        self._refresh()
        payload_class = type(payload)
        candidates = self._by_class.get(payload_class)
        if not candidates:
            if payload_class in _JSON_TYPES or isinstance(payload, dict):
                raise AmbiguousTaskTypeError(
                    f"a {payload_class.__name__} payload does not say which task it is for; "
                    f"pass task='<name>' (tasks of domain {domain.name!r}: "
                    f"{sorted(domain.tasks)})"
                )
            raise UnknownTaskTypeError(
                f"no registered task takes a {payload_class.__qualname__} payload; register "
                f"one with @{domain.name}.task('<name>') on an executor whose first "
                f"parameter is annotated '{payload_class.__qualname__}'"
            )
        mine = [c for c in candidates if c.domain is domain]
        if not mine:
            owners = ", ".join(c.qualified_name for c in candidates)
            raise WrongDomainError(
                f"{payload_class.__qualname__} is the payload of {owners}, not of a task of "
                f"domain {domain.name!r}; submit it with scheduler.domain("
                f"{candidates[0].domain.name!r})"
            )
        if len(mine) > 1:
            raise AmbiguousTaskTypeError(
                f"several tasks of domain {domain.name!r} take a {payload_class.__qualname__} "
                f"payload ({', '.join(sorted(c.name for c in mine))}); pass task='<name>'"
            )
        return mine[0]

    def _named(self, domain: Domain, task: TaskType[Any] | str) -> TaskType[Any]:
        if isinstance(task, TaskType):
            if task.domain is not domain:
                raise WrongDomainError(
                    f"task {task.qualified_name} belongs to domain {task.domain.name!r}, not "
                    f"{domain.name!r}; submit it with scheduler.domain({task.domain.name!r})"
                )
            if self.by_name.get(task.qualified_name) is not task:
                raise UnknownTaskTypeError(f"task {task.qualified_name} is not registered")
            return task
        name = task
        if SEPARATOR in name:
            prefix, _, name = name.partition(SEPARATOR)
            if prefix != domain.name:
                raise WrongDomainError(
                    f"task {task!r} is not in domain {domain.name!r}; submit it with "
                    f"scheduler.domain({prefix!r})"
                )
        found = domain.tasks.get(name)
        if found is None:
            raise UnknownTaskTypeError(
                f"domain {domain.name!r} has no task named {name!r} (it has: "
                f"{sorted(domain.tasks)})"
            )
        return found


def _is_payload_class(payload_type: Any) -> bool:
    # Plain builtins count too (a task declared to take exactly `str` is found by a str
    # payload), but TypedDicts do not: their values are plain dicts at run time.
    return isinstance(payload_type, type) and not is_typeddict(payload_type)
