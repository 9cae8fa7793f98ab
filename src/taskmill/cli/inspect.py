"""The commands that read a database: status, tasks, show, history, stats, schedules...

``status``, ``tasks``, ``show``, ``history``, ``failures``, ``dead-letters``, ``stats`` and
``schedules`` each open the database with ``Scheduler(path, read_only=True)``, so it works while an
application runs a scheduler on the file and never changes it, runs one or a few queries,
and prints a table (or, with ``--json``, one JSON document; its shape is documented in
``docs/cli.md`` and stays stable).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import click

from taskmill import (
    HistoryRecord,
    Scheduler,
    ScheduleRecord,
    Snapshot,
    TaskNotFoundError,
    TaskRecord,
    TaskStatus,
    TypeStats,
)

T = TypeVar("T")

ACTIVE = ("pending", "running", "paused", "waiting", "blocked")
"""The active statuses, in the order ``status`` shows them."""
TERMINAL = tuple(s.value for s in TaskStatus if s.value not in ACTIVE)
PAGE = 1000  # history records read per query when counting

database = click.argument("db", metavar="DB", type=click.Path(dir_okay=True, path_type=str))
as_json = click.option("--json", "as_json", is_flag=True, help="print one JSON document")


def read(db: str, query: Callable[[Scheduler], Awaitable[T]]) -> T:
    """Open ``db`` read-only, run ``query`` on it, close it."""
    import asyncio

    async def run() -> T:
        async with Scheduler(db, read_only=True) as view:
            return await query(view)

    return asyncio.run(run())


def parse_tags(values: Sequence[str]) -> dict[str, str | None] | None:
    """``--tag KEY`` (any value) and ``--tag KEY=VALUE`` options as a tag filter."""
    if not values:
        return None
    chosen: dict[str, str | None] = {}
    for text in values:
        key, equals, value = text.partition("=")
        if not key:
            raise click.BadParameter(f"{text!r}: give KEY or KEY=VALUE", param_hint="--tag")
        if key in chosen:
            raise click.BadParameter(f"tag key {key!r} given twice", param_hint="--tag")
        chosen[key] = value if equals else None
    return chosen


def parse_cursor(text: str | None) -> tuple[int, int] | None:
    """``--after PRIORITY:ID`` as the keyset cursor of ``list_tasks``."""
    if text is None:
        return None
    priority, _, task_id = text.partition(":")
    if not (priority.isdigit() and task_id.isdigit()):
        raise click.BadParameter(
            f"{text!r}: use the next_after value PRIORITY:ID printed by the previous page",
            param_hint="--after",
        )
    return int(priority), int(task_id)


def cursor(record: TaskRecord) -> str:
    """The ``--after`` value that continues after ``record``."""
    return f"{record.priority}:{record.id}"


async def count_history(view: Scheduler, status: str) -> int:
    """How many history records have ``status`` (read a page at a time)."""
    total, before = 0, None
    while page := await view.list_history(status=status, before=before, limit=PAGE):
        total += len(page)
        before = page[-1].seq
    return total


# --- status -------------------------------------------------------------------------------


@click.command()
@database
@as_json
def status(db: str, as_json: bool) -> None:
    """Counts by status, running tasks, pauses, schedules and dead letters."""

    async def query(view: Scheduler) -> tuple[Snapshot, int]:
        return await view.snapshot(), await count_history(view, "dead_letter")

    snapshot, dead = read(db, query)
    from taskmill.cli import render

    render.status(db, snapshot, dead, as_json)


# --- tasks --------------------------------------------------------------------------------


@click.command()
@database
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(ACTIVE),
    help="only tasks in this status (repeatable)",
)
@click.option("--type", "task_type", metavar="DOMAIN::NAME", help="only tasks of this type")
@click.option("--domain", metavar="NAME", help="only tasks of this domain")
@click.option("--group", metavar="NAME", help="only tasks of this group")
@click.option(
    "--tag",
    "tag_options",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="only tasks with this tag (repeatable; KEY alone: any value)",
)
@click.option("--key", metavar="KEY", help="only the task holding this dedup key")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="tasks per page"
)
@click.option(
    "--after", metavar="PRIORITY:ID", help="the next page: next_after of the previous one"
)
@as_json
def tasks(
    *, db: str, statuses: tuple[str, ...], task_type: str | None, domain: str | None,
    group: str | None, tag_options: tuple[str, ...], key: str | None, limit: int,
    after: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Active tasks in dispatch order (priority, then id)."""
    tag_filter, start = parse_tags(tag_options), parse_cursor(after)

    async def query(view: Scheduler) -> list[TaskRecord]:
        return await view.list_tasks(
            status=list(statuses) or None, task_type=task_type, domain=domain, group=group,
            tags=tag_filter, key=key, limit=limit + 1, after=start,
        )  # fmt: skip

    records = read(db, query)
    page, more = records[:limit], len(records) > limit
    from taskmill.cli import render

    render.tasks(page, cursor(page[-1]) if more else None, as_json)


# --- show ---------------------------------------------------------------------------------


@click.command()
@database
@click.argument("task_id", metavar="ID", type=int)
@as_json
def show(db: str, task_id: int, as_json: bool) -> None:
    """Everything known of one task: record, payload, attempts, children, tags."""

    async def query(
        view: Scheduler,
    ) -> tuple[TaskRecord | None, list[HistoryRecord], list[TaskRecord], list[HistoryRecord]]:
        record, history = await view.get_task(task_id), await view.get_history(task_id)
        children = await view.list_tasks(parent=task_id, limit=PAGE)
        ended = await view.list_history(parent=task_id, limit=PAGE)
        return record, history, children, ended

    record, history, children, ended = read(db, query)
    if record is None and not history:
        raise TaskNotFoundError(
            f"no task has id {task_id} in {db}: it is neither in the queue nor in history "
            f"(history may have been pruned); list ids with 'taskmill tasks' or 'taskmill history'"
        )
    from taskmill.cli import render

    render.show(record, history, children, ended, as_json)


# --- history ------------------------------------------------------------------------------


def _history_command(name: str, summary: str, fixed: tuple[str, ...] | None) -> click.Command:
    """A command listing history records, of the ``fixed`` statuses or chosen ones."""

    def run(
        *, db: str, statuses: tuple[str, ...] = (), task_type: str | None = None,
        key: str | None = None, tag_options: tuple[str, ...] = (), limit: int = 50,
        before: int | None = None, as_json: bool = False,
    ) -> None:  # fmt: skip
        tag_filter = parse_tags(tag_options)
        chosen = list(fixed or statuses) or None

        async def query(view: Scheduler) -> list[HistoryRecord]:
            return await view.list_history(
                status=chosen, task_type=task_type, key=key, tags=tag_filter,
                before=before, limit=limit + 1,
            )  # fmt: skip

        records = read(db, query)
        page, more = records[:limit], len(records) > limit
        from taskmill.cli import render

        render.history(page, page[-1].seq if more else None, as_json)

    options: list[Callable[[Any], Any]] = [database]
    if fixed is None:
        options.append(
            click.option(
                "--status",
                "statuses",
                multiple=True,
                type=click.Choice(TERMINAL),
                help="only records of this status (repeatable)",
            )
        )
    options += [
        click.option(
            "--type", "task_type", metavar="DOMAIN::NAME", help="only records of this type"
        ),
        click.option("--key", metavar="KEY", help="only records of this dedup key"),
        click.option(
            "--tag",
            "tag_options",
            multiple=True,
            metavar="KEY[=VALUE]",
            help="only records with this tag (repeatable; KEY alone: any value)",
        ),
        click.option(
            "--limit",
            type=click.IntRange(min=1),
            default=50,
            show_default=True,
            help="records per page",
        ),
        click.option(
            "--before",
            type=click.IntRange(min=1),
            metavar="SEQ",
            help="the next page: next_before of the previous one",
        ),
        as_json,
    ]
    for option in reversed(options):
        run = option(run)
    return click.command(name=name, help=summary)(run)


history = _history_command(
    "history", "Ended tasks, newest first (every terminal status, or those chosen).", None
)
failures = _history_command(
    "failures", "Tasks that failed or were dead-lettered, newest first.", ("failed", "dead_letter")
)
dead_letters = _history_command(
    "dead-letters",
    "Dead-lettered tasks (retries exhausted), newest first; retried ones name their new id.",
    ("dead_letter",),
)


# --- stats and schedules ------------------------------------------------------------------


@click.command()
@database
@click.option("--type", "task_type", metavar="DOMAIN::NAME", help="only this type")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="newest history records per type",
)
@as_json
def stats(db: str, task_type: str | None, sample: int, as_json: bool) -> None:
    """Outcomes, failure rate and durations of recent history, per task type."""

    async def query(view: Scheduler) -> list[TypeStats]:
        return await view.type_stats(task_type, sample=sample)

    records = read(db, query)
    from taskmill.cli import render

    render.stats(records, as_json)


@click.command()
@database
@as_json
def schedules(db: str, as_json: bool) -> None:
    """Recurring schedules that are active or paused."""

    async def query(view: Scheduler) -> list[ScheduleRecord]:
        return await view.list_schedules()

    records = read(db, query)
    from taskmill.cli import render

    render.schedules(records, as_json)


COMMANDS = (status, tasks, show, history, failures, dead_letters, stats, schedules)
