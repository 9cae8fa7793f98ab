"""Pauses in SQL: paused scopes, the pause reasons of tasks, and preemption's pauses."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from taskmill.model.records import PauseState
from taskmill.store.protocol import Changes, Scope
from taskmill.store.sql.records import DOMAIN, GLOBAL, GROUP, PREEMPTED

DOMAIN_FILTER = "type >= ? AND type < ?"

_BITS: dict[str, int] = {"global": GLOBAL, "domain": DOMAIN, "group": GROUP}


def domain_range(domain: str) -> tuple[str, str]:
    """Bounds of the qualified types of ``domain`` (``';'`` sorts right after ``':'``)."""
    return (f"{domain}::", f"{domain}:;")


def _filter(scope: Scope, name: str) -> tuple[str, tuple[str, ...]]:
    if scope == "domain":
        return DOMAIN_FILTER, domain_range(name)
    if scope == "group":
        return "group_key = ?", (name,)
    return "1", ()


@dataclass(slots=True)
class PausedScopes:
    """The paused scopes, to decide whether a new task arrives paused."""

    everything: bool
    domains: set[str]
    groups: set[str]

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> PausedScopes:
        """Read the paused scopes inside the current transaction."""
        scopes = cls(False, set(), set())
        for scope, name in conn.execute("SELECT scope, name FROM pauses"):
            if scope == "global":
                scopes.everything = True
            elif scope == "domain":
                scopes.domains.add(name)
            else:
                scopes.groups.add(name)
        return scopes

    def __bool__(self) -> bool:
        return self.everything or bool(self.domains) or bool(self.groups)

    def reasons(self, task_type: str, group: str | None) -> int:
        """The pause bits a new task of this type and group gets."""
        bits = GLOBAL if self.everything else 0
        if self.domains and task_type.partition("::")[0] in self.domains:
            bits |= DOMAIN
        if group is not None and group in self.groups:
            bits |= GROUP
        return bits


def pause(
    conn: sqlite3.Connection, scope: Scope, name: str, until: float | None, now: float
) -> bool:
    """Pause a scope and mark its tasks; return whether it was not paused before."""
    known = conn.execute(
        "SELECT 1 FROM pauses WHERE scope = ? AND name = ?", (scope, name)
    ).fetchone()
    conn.execute(
        "INSERT INTO pauses (scope, name, until, paused_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (scope, name) DO UPDATE SET until = excluded.until",
        (scope, name, until, now),
    )
    if known is not None:
        return False
    where, params = _filter(scope, name)
    conn.execute(
        f"UPDATE tasks SET pause_reasons = pause_reasons | {_BITS[scope]}, "
        f"status = CASE WHEN status = 'pending' THEN 'paused' ELSE status END, "
        f"paused_since = CASE WHEN (pause_reasons & ~{PREEMPTED}) = 0 THEN ? "
        f"ELSE paused_since END WHERE {where}",
        (now, *params),
    )
    return True


def resume(conn: sqlite3.Connection, scope: Scope, name: str, changes: Changes, now: float) -> bool:
    """Lift a pause and clear its reason from its tasks; return whether it was paused."""
    if not conn.execute("DELETE FROM pauses WHERE scope = ? AND name = ?", (scope, name)).rowcount:
        return False
    _clear(conn, _BITS[scope], *_filter(scope, name), changes, now=now)
    return True


def resume_expired(conn: sqlite3.Connection, now: float, changes: Changes) -> list[str]:
    """Lift the group pauses whose deadline passed; return those groups."""
    groups = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM pauses WHERE scope = 'group' AND until IS NOT NULL AND until <= ?",
            (now,),
        ).fetchall()
    ]
    for group in groups:
        resume(conn, "group", group, changes, now)
    return groups


def next_unpause(conn: sqlite3.Connection) -> float | None:
    """The earliest deadline of a group pause."""
    until: float | None = conn.execute(
        "SELECT min(until) FROM pauses WHERE until IS NOT NULL"
    ).fetchone()[0]
    return until


READY_URGENT = """
SELECT id, priority FROM tasks
WHERE status = 'pending' AND not_before IS NULL AND priority <= ?
      AND type IN (SELECT value FROM json_each(?))
ORDER BY priority, id LIMIT ?
"""


def ready_urgent(
    conn: sqlite3.Connection, threshold: int, types_json: bytes, limit: int
) -> list[tuple[int, int]]:
    """``(id, priority)`` of ready tasks of these types at least ``threshold`` urgent."""
    rows = conn.execute(READY_URGENT, (threshold, types_json, limit)).fetchall()
    return [(row[0], row[1]) for row in rows]


def resume_preempted(
    conn: sqlite3.Connection, threshold: int | None = None, types_json: bytes = b"[]"
) -> int | None:
    """Clear the *preempted* reason from every task; return how many had it.

    With a ``threshold``, nothing happens (``None`` is returned) while a task of one of the
    listed types at least that urgent is ready to run: what it preempted waits for it.
    """
    if threshold is not None and ready_urgent(conn, threshold, types_json, 1):
        return None
    return _clear(conn, PREEMPTED, "1", (), Changes(), now=None)


# When a task's last pause reason other than preemption clears, the time it spent paused
# (after it became ready) is added to aging_from, so that paused time does not age it.
_UNPAUSE_AGING = """,
    aging_from = CASE WHEN (pause_reasons & ~{bit} & ~{preempted}) = 0 AND paused_since IS NOT NULL
                      THEN aging_from + max(0.0, ?1 - max(paused_since, aging_from))
                      ELSE aging_from END,
    paused_since = CASE WHEN (pause_reasons & ~{bit} & ~{preempted}) = 0 THEN NULL
                        ELSE paused_since END"""


def _clear(
    conn: sqlite3.Connection,
    bit: int,
    where: str,
    params: tuple[str, ...],
    changes: Changes,
    *,
    now: float | None,
) -> int:
    """Clear pause reason ``bit`` from the tasks ``where`` selects (``now``: not preemption)."""
    aging = "" if now is None else _UNPAUSE_AGING.format(bit=bit, preempted=PREEMPTED)
    first = () if now is None else (now,)
    cleared = conn.execute(
        f"UPDATE tasks SET pause_reasons = pause_reasons & ~{bit}, "
        f"status = CASE WHEN status = 'paused' AND (pause_reasons & ~{bit}) = 0 "
        f"THEN 'pending' ELSE status END{aging} "
        f"WHERE pause_reasons != 0 AND (pause_reasons & {bit}) AND {where}",
        (*first, *params),
    ).rowcount
    if cleared:
        changes.ready = True
        due = conn.execute(
            "SELECT min(not_before) FROM tasks WHERE status = 'pending' AND not_before IS NOT NULL"
        ).fetchone()[0]
        changes.due = due
    return int(cleared)


def pause_state(conn: sqlite3.Connection) -> PauseState:
    """What is paused."""
    everything, domains, groups = False, [], {}
    for scope, name, until in conn.execute("SELECT scope, name, until FROM pauses ORDER BY name"):
        if scope == "global":
            everything = True
        elif scope == "domain":
            domains.append(name)
        else:
            groups[name] = until
    return PauseState(everything=everything, domains=tuple(domains), groups=groups)
