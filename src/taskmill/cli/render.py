r"""How the inspection commands print: rich tables for people, one JSON document for scripts.

Text that comes from the database (payloads, labels, keys, tags, errors) is escaped before it
reaches a terminal: control characters, escape sequences and bidirectional overrides are
shown as ``\\x1b``-style escapes, and rich markup in it is printed as is. Colour is used only
on a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from taskmill import HistoryRecord, IoBudget, ScheduleRecord, Snapshot, TaskRecord, TypeStats

WIDTH_OFF_TERMINAL = 160
"""Columns of output that does not go to a terminal (a file, a pipe), unless $COLUMNS says."""


def console() -> Console:
    """A console on standard output: colour on a terminal only, wide enough off it."""
    out = Console(file=sys.stdout, highlight=False, emoji=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = WIDTH_OFF_TERMINAL
    return out


def print_json(document: Mapping[str, Any]) -> None:
    """Print one JSON document (ASCII only, so safe on any terminal)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def safe(text: object) -> str:
    """``text`` with every character a terminal could act on shown as an escape."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else _escape(c) for c in value)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def cell(value: object) -> Text:
    """A table cell: ``-`` for nothing, numbers as they are, text escaped, never markup."""
    if value is None or value in ("", {}, ()):
        return Text("-", style="dim")
    return Text(safe(value))


def when(timestamp: float | None) -> str | None:
    """A local date and time, to the second."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str | None:
    """A duration in seconds, three significant decimals for short ones."""
    if value is None:
        return None
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def tags(values: Mapping[str, str]) -> str:
    """Tags as ``key=value`` pairs."""
    return " ".join(f"{key}={value}" for key, value in sorted(values.items()))


def payload(value: Any) -> str:
    """A decoded payload as indented JSON, escaped for the terminal."""
    return safe(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)).replace(
        "\\x0a", "\n"
    )


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A table with a title, these columns and rows of plain values."""
    grid = Table(title=title, title_justify="left", title_style="bold")
    for name in columns:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    return grid


def fields(title: str, pairs: Iterable[tuple[str, object]]) -> Table:
    """A two-column table of field names and values."""
    grid = Table(title=title, title_justify="left", title_style="bold", show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for name, value in pairs:
        grid.add_row(name, cell(value))
    return grid


# --- the commands' documents and tables ---------------------------------------------------

ACTIVE = ("pending", "running", "paused", "waiting", "blocked")


def status(db: str, snapshot: Snapshot, dead_letters: int, as_json: bool) -> None:
    """``taskmill status``: counts, running tasks, pauses, schedules, dead letters."""
    counts = {name: snapshot.counts.get(name, 0) for name in ACTIVE}
    running = [
        {
            "id": r.task.id,
            "type": r.task.type,
            "label": r.task.label,
            "priority": r.task.priority,
            "attempt": r.attempt,
            "started_at": r.started_at,
        }
        for r in snapshot.running
    ]
    pauses = snapshot.pauses
    document = {
        "database": os.path.abspath(db),
        "counts": counts,
        "total": sum(counts.values()),
        "running": running,
        "pauses": {
            "everything": pauses.everything,
            "domains": list(pauses.domains),
            "groups": dict(pauses.groups),
        },
        "schedules": len(snapshot.schedules),
        "dead_letters": dead_letters,
    }
    if as_json:
        print_json(document)
        return
    out = console()
    out.print(Text(f"taskmill database {safe(document['database'])}", style="bold"))
    out.print(
        table("Active tasks", ["status", "tasks"], [*counts.items(), ("total", document["total"])])
    )
    out.print(
        table(
            "Running",
            ["id", "type", "label", "priority", "attempt", "started"],
            [
                (
                    r.task.id,
                    r.task.type,
                    r.task.label,
                    r.task.priority,
                    r.attempt,
                    when(r.started_at),
                )
                for r in snapshot.running
            ],
        )
    )
    paused: list[tuple[str, str, str | None]] = []
    if pauses.everything:
        paused.append(("everything", "-", None))
    paused += [("domain", name, None) for name in pauses.domains]
    paused += [
        ("group", name, when(until) or "until resumed") for name, until in pauses.groups.items()
    ]
    out.print(table("Pauses", ["scope", "name", "until"], paused))
    out.print(Text(f"schedules: {len(snapshot.schedules)}   dead letters: {dead_letters}"))


def tasks(records: Sequence[TaskRecord], next_after: str | None, as_json: bool) -> None:
    """``taskmill tasks``: a page of active tasks."""
    if as_json:
        print_json({"tasks": [r.to_dict() for r in records], "next_after": next_after})
        return
    out = console()
    out.print(
        table(
            "Active tasks",
            ["id", "type", "status", "priority", "label", "key", "group", "tags", "created"],
            [
                (
                    r.id,
                    r.type,
                    r.status,
                    r.priority,
                    r.label,
                    r.key,
                    r.group,
                    tags(r.tags),
                    when(r.created_at),
                )
                for r in records
            ],
        )
    )
    if next_after is not None:
        out.print(Text(f"more: --after {next_after}"))


def show(
    record: TaskRecord | None,
    history: Sequence[HistoryRecord],
    children: Sequence[TaskRecord],
    ended_children: Sequence[HistoryRecord],
    as_json: bool,
) -> None:
    """``taskmill show``: one task, in the queue or in history."""
    rows = sorted(
        [(c.id, c.type, str(c.status), c.label) for c in children]
        + [(c.id, c.type, str(c.status), c.label) for c in ended_children]
    )
    kids = [dict(zip(("id", "type", "status", "label"), row, strict=True)) for row in rows]
    if as_json:
        print_json(
            {
                "task": None if record is None else record.to_dict(),
                "history": [h.to_dict() for h in history],
                "children": kids,
            }
        )
        return
    latest = history[-1] if history else None
    main: TaskRecord | HistoryRecord = record if record is not None else latest  # type: ignore[assignment]
    pairs: list[tuple[str, object]] = [
        ("id", main.id),
        ("type", main.type),
        ("status", main.status if record is not None else f"{main.status} (in history)"),
        ("label", main.label),
        ("key", main.key),
        ("priority", main.priority),
        ("group", main.group),
        ("tags", tags(main.tags)),
        ("retries", main.retry_count),
        ("created", when(main.created_at)),
        ("started", when(main.started_at)),
        ("parent", main.parent_id),
        ("schedule", main.schedule_id),
        ("expected io", _io(main.expected_io)),
        ("last error", main.last_error),
    ]
    if record is not None:
        pairs += [
            ("not before", when(record.not_before)),
            ("expires", when(record.expires_at)),
            ("paused for", ", ".join(record.paused_for)),
            ("depends on", ", ".join(map(str, record.depends_on))),
        ]
    if latest is not None:
        pairs += [
            ("finished", when(latest.finished_at)),
            ("duration", seconds(latest.duration)),
            ("actual io", _io(latest.actual_io)),
            ("retried as", latest.retried_as),
        ]
    out = console()
    out.print(fields(f"Task {main.id}", pairs))
    out.print(Text("Payload", style="bold"))
    out.print(Text(payload(main.payload)))
    if history:
        out.print(
            table(
                "History",
                ["seq", "status", "retries", "started", "finished", "duration", "error"],
                [
                    (
                        h.seq,
                        h.status,
                        h.retry_count,
                        when(h.started_at),
                        when(h.finished_at),
                        seconds(h.duration),
                        h.last_error,
                    )
                    for h in history
                ],
            )
        )
    if kids:
        out.print(table("Children", ["id", "type", "status", "label"], rows))


def history(records: Sequence[HistoryRecord], next_before: int | None, as_json: bool) -> None:
    """``taskmill history``, ``failures`` and ``dead-letters``: a page of history."""
    if as_json:
        print_json({"history": [r.to_dict() for r in records], "next_before": next_before})
        return
    out = console()
    out.print(
        table(
            "History",
            [
                "seq",
                "id",
                "type",
                "status",
                "retries",
                "finished",
                "duration",
                "error",
                "retried as",
            ],
            [
                (
                    r.seq,
                    r.id,
                    r.type,
                    r.status,
                    r.retry_count,
                    when(r.finished_at),
                    seconds(r.duration),
                    r.last_error,
                    r.retried_as,
                )
                for r in records
            ],
        )
    )
    if next_before is not None:
        out.print(Text(f"more: --before {next_before}"))


def stats(records: Sequence[TypeStats], as_json: bool) -> None:
    """``taskmill stats``: recent outcomes per task type."""
    if as_json:
        print_json({"types": [r.to_dict() for r in records]})
        return
    console().print(
        table(
            "Recent history by type",
            ["type", "records", "outcomes", "failure rate", "mean", "p95", "newest"],
            [
                (
                    r.type,
                    r.count,
                    " ".join(f"{k}={v}" for k, v in sorted(r.by_status.items())),
                    None if r.failure_rate is None else f"{r.failure_rate:.0%}",
                    seconds(r.mean_duration),
                    seconds(r.p95_duration),
                    when(r.newest),
                )
                for r in records
            ],
        )
    )


def schedules(records: Sequence[ScheduleRecord], as_json: bool) -> None:
    """``taskmill schedules``: active and paused recurring schedules."""
    if as_json:
        print_json({"schedules": [r.to_dict() for r in records]})
        return
    console().print(
        table(
            "Schedules",
            ["id", "type", "key", "every / cron", "status", "occurrences", "next", "current task"],
            [
                (
                    r.id,
                    r.type,
                    r.key,
                    f"every {r.every:g} s"
                    if r.every is not None
                    else f"{r.cron} ({r.tz or 'UTC'})",
                    r.status,
                    r.occurrences
                    if r.max_occurrences is None
                    else f"{r.occurrences}/{r.max_occurrences}",
                    when(r.next_at),
                    r.current_task,
                )
                for r in records
            ],
        )
    )


def _io(budget: IoBudget) -> str | None:
    parts = [
        (name, value)
        for name, value in (
            ("read", budget.disk_read),
            ("write", budget.disk_write),
            ("rx", budget.net_rx),
            ("tx", budget.net_tx),
        )
        if value
    ]
    return " ".join(f"{name} {value} B" for name, value in parts) or None
