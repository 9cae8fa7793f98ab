"""Tags in SQL: finding, counting and selecting active tasks by tag (table ``task_tags``).

``task_tags`` is kept in step with ``tasks.tags`` by triggers (migration 0004); history keeps
only the JSON column, filtered with ``json_each``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from taskmill.store.protocol import TagSelector

_TAGS_AT = 23  # the position of ``tags`` in the parameters of submissions.INSERT


def index(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Add the ``task_tags`` rows of the tagged tasks among these just inserted ones."""
    tagged = [(row[0], row[_TAGS_AT]) for row in rows if row[_TAGS_AT] is not None]
    if tagged:
        conn.executemany(
            "INSERT INTO task_tags (key, value, task_id) SELECT key, value, ?1 FROM json_each(?2)",
            tagged,
        )


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards and the escape character (a backslash) escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def selector_clause(selector: TagSelector) -> tuple[str, list[Any]]:
    """SQL selecting the ids of active tasks that carry the tag ``selector`` describes."""
    if selector.prefix:
        clause = "SELECT task_id FROM task_tags WHERE key LIKE ? ESCAPE '\\'"
        params: list[Any] = [escape_like(selector.key) + "%"]
    else:
        clause = "SELECT task_id FROM task_tags WHERE key = ?"
        params = [selector.key]
    if selector.value is not None:
        clause += " AND value = ?"
        params.append(selector.value)
    return clause, params


def tasks_filter(tags: Mapping[str, str | None]) -> tuple[list[str], list[Any]]:
    """WHERE clauses on ``tasks`` for tasks carrying every one of ``tags`` (``None``: any value)."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in tags.items():
        if value is None:
            clauses.append("id IN (SELECT task_id FROM task_tags WHERE key = ?)")
            params.append(key)
        else:
            clauses.append("id IN (SELECT task_id FROM task_tags WHERE key = ? AND value = ?)")
            params += [key, value]
    return clauses, params


def history_filter(tags: Mapping[str, str | None]) -> tuple[list[str], list[Any]]:
    """WHERE clauses on ``history`` for records carrying every one of ``tags``."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in tags.items():
        if value is None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(history.tags) WHERE key = ?)")
            params.append(key)
        else:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(history.tags) WHERE key = ? AND value = ?)"
            )
            params += [key, value]
    return clauses, params


def count_by_value(conn: sqlite3.Connection, key: str) -> dict[str, int]:
    """How many active tasks carry each value of tag ``key``."""
    rows = conn.execute(
        "SELECT value, count(*) FROM task_tags WHERE key = ? GROUP BY value ORDER BY value", (key,)
    )
    return {str(value): int(count) for value, count in rows}


def values(conn: sqlite3.Connection, key: str) -> list[str]:
    """The distinct values of tag ``key`` among active tasks, sorted."""
    rows = conn.execute("SELECT DISTINCT value FROM task_tags WHERE key = ? ORDER BY value", (key,))
    return [value for (value,) in rows]
