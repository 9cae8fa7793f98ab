"""What follows when tasks leave the queue: their dependents, parents and children.

Every operation that moves tasks to history calls :func:`followup` in its transaction. Ending
one task can end others (a dependency's failure, fail-fast among siblings, a parent's end), so
it works through a list until nothing more ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from taskmill.store.protocol import Changes
from taskmill.store.sql import children, graph
from taskmill.store.sql.children import Ending


def followup(
    conn: sqlite3.Connection, ended: Iterable[Ending], now: float, changes: Changes
) -> None:
    """Follow up ``ended`` and everything their ends end in turn."""
    pending = list(ended)
    while pending:
        failed = graph.after_end(conn, pending, now, changes)  # follows their own dependents
        pending = children.after_end(conn, pending + failed, now, changes)
