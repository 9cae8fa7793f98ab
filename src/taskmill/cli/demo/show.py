"""Runs the demo: picks the live screen or plain text, and ends with what to look at next."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from taskmill.cli.demo.acts import FAST, NORMAL, TITLES, Show
from taskmill.cli.demo.plain import PlainStage
from taskmill.cli.demo.stage import commands


def default_path() -> Path:
    """A new database in the current directory: ``taskmill-demo-<timestamp>.db``."""
    return Path.cwd() / f"taskmill-demo-{time.strftime('%Y%m%d-%H%M%S')}.db"


def closing_lines(db: Path, history: Counter[str]) -> list[str]:
    """What the demo prints at its end: the history, where the database is, what to run."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(history.items()))
    return [
        f"history: {counts}",
        f"the database is kept: {db}",
        "look at it with:",
        *(f"  {command}" for command in commands(db)),
    ]


def interrupted_message(db: Path) -> str:
    """What an interrupted demo prints: the database is kept, and how to look at it."""
    return (
        f"taskmill demo: interrupted; the database is kept: {db}\n"
        "tasks that were running are stored pending and run again when it is reopened\n"
        f"  {commands(db)[0]}"
    )


async def run_demo(
    db: Path,
    *,
    crash: bool = True,
    io: bool = True,
    fast: bool = False,
    plain: bool | None = None,
) -> int:
    """Run the show on ``db``; return the process exit status.

    Args:
        db: The database file, an absolute path in an existing directory; created if
            missing, kept afterwards.
        crash: Whether to run the act that kills a worker process.
        io: Whether to run the act that floods the disk.
        fast: Shorten the timings (for tests).
        plain: Plain text instead of the live screen (``None``: plain unless standard
            output is a terminal).
    """
    if plain is None:
        plain = not sys.stdout.isatty()
    timing = FAST if fast else NORMAL
    if plain:
        stage = PlainStage(sys.stdout, len(TITLES))
        print(f"taskmill demo: tasks are stored in {db}", flush=True)
        async with stage:
            history = await Show(db, stage, timing=timing, io=io, crash=crash).run()
        stage.end(closing_lines(db, history))
        return 0
    from taskmill.cli.demo.screen import Screen

    screen = Screen(db, len(TITLES))
    async with screen:
        history = await Show(db, screen, timing=timing, io=io, crash=crash).run()
    screen.end(closing_lines(db, history))
    return 0
