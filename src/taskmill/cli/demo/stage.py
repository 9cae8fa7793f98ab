"""What the acts tell a rendering, and the words both renderings use.

The acts (:mod:`taskmill.cli.demo.acts`) drive the scheduler and tell a :class:`Stage` what
happens: a new act, a notable line, which scheduler to watch. The live screen
(:mod:`taskmill.cli.demo.screen`) also polls that scheduler's snapshot to draw progress
bars; the plain text (:mod:`taskmill.cli.demo.plain`) prints the lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from taskmill import (
    Cancelled,
    Completed,
    DeadLettered,
    Dispatched,
    Event,
    Failed,
    Preempted,
    Priority,
    Scheduler,
    TaskEvent,
)

TIERS: tuple[tuple[str, int], ...] = (
    ("REALTIME", Priority.REALTIME),
    ("HIGH", Priority.HIGH),
    ("NORMAL", Priority.NORMAL),
    ("BACKGROUND", Priority.BACKGROUND),
    ("IDLE", Priority.IDLE),
)
"""The named priority tiers, most urgent first; a priority belongs to the last one it reaches."""


def tier(priority: int) -> str:
    """The name of the tier a priority falls in (64..127 is ``HIGH``, 255 ``IDLE``, ...)."""
    name = TIERS[0][0]
    for candidate, floor in TIERS:
        if priority >= floor:
            name = candidate
    return name


class Stage(Protocol):
    """Where the acts report what happens; a rendering implements it."""

    def act(self, number: int, title: str, blurb: str) -> None:
        """A new act begins: its number, title and one sentence of what to look for."""

    def say(self, text: str) -> None:
        """A notable event, in one line."""

    def aside(self, text: str | None) -> None:
        """A line that stays on screen until replaced (``None``: remove it); not logged."""

    def watch(self, scheduler: Scheduler | None) -> None:
        """The scheduler whose snapshot to show (``None``: none is open)."""


QUIET_TYPES = frozenset({"photos::export"})
"""Task types whose starts and ends are not logged (dozens of them; the IO lines tell more)."""


def describe(event: Event) -> str | None:
    """One line about an event, or ``None`` for events the demo does not log."""
    if not isinstance(event, TaskEvent):
        return None
    task = f"{event.task.label} #{event.task.id}"
    if event.task.type in QUIET_TYPES and isinstance(event, Dispatched | Completed):
        return None
    if isinstance(event, Dispatched):
        again = f", attempt {event.attempt}" if event.attempt > 1 else ""
        return f"start    {task} ({tier(event.task.priority)}{again})"
    if isinstance(event, Completed):
        return f"done     {task} in {event.duration:.2f}s"
    if isinstance(event, Failed):
        after = f", retry in {event.retry_after:.2f}s" if event.will_retry else ""
        return f"failed   {task}: {event.error}{after}"
    if isinstance(event, DeadLettered):
        return f"dead     {task}: dead letter after {event.attempts} attempts"
    if isinstance(event, Preempted):
        return f"paused   {task}: preempted by #{event.by}, no retry charged"
    if isinstance(event, Cancelled):
        return f"cancelled {task}"
    return None


def commands(db: Path) -> list[str]:
    """The commands that show the demo's database afterwards."""
    import shlex

    where = shlex.quote(str(db))
    return [f"taskmill {name} {where}" for name in ("status", "tasks", "history", "top")]
