"""The ``taskmill`` command group: its commands, how errors become exit statuses.

Exit statuses, the same for every command:

- 0: done;
- 1: not found (``show`` of an id that is neither in the queue nor in history);
- 2: usage error or bad input (an unknown option, a malformed ``--tag``, an unknown status);
- 3: the database cannot be opened or read (missing, not a taskmill database, schema of
  another version, unreadable).

Errors are one line on standard error, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

import click
import rich  # noqa: F401 - fail here, in the entry point's import, when the extra is missing

from taskmill import (
    ConfigurationError,
    TaskmillError,
    TaskNotFoundError,
    __version__,
)
from taskmill.cli import inspect

OK, NOT_FOUND, USAGE, CANNOT_OPEN = 0, 1, 2, 3
INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

EPILOG = (
    "Exit status: 0 done, 1 not found, 2 usage error or bad input, "
    "3 database cannot be opened (missing, not a taskmill database, other schema version)."
)


class Failure(click.ClickException):
    """A taskmill error, shown as one line on standard error, with its exit status."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``taskmill: error: <message>`` on standard error."""
        click.echo(f"taskmill: error: {self.format_message()}", err=True, file=file)


class NotFound(Failure):
    """What was asked for does not exist."""

    exit_code = NOT_FOUND


class BadInput(Failure):
    """An option's value was refused by taskmill (an unknown status, a malformed tag)."""

    exit_code = USAGE


class CannotOpen(Failure):
    """The database cannot be opened or read."""

    exit_code = CANNOT_OPEN


class TaskmillGroup(click.Group):
    """The command group: it turns taskmill errors into exit statuses (module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the chosen command; a taskmill error becomes a :class:`Failure`."""
        try:
            return super().invoke(ctx)
        except TaskNotFoundError as exc:
            raise NotFound(str(exc)) from None
        except ConfigurationError as exc:
            raise BadInput(str(exc)) from None
        except TaskmillError as exc:  # StoreError and its kind: the file cannot be used
            raise CannotOpen(str(exc)) from None


@click.group(
    cls=TaskmillGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(
    __version__, "--version", prog_name="taskmill", message="%(prog)s %(version)s"
)
def cli() -> None:
    """A persistent, priority-aware task scheduler on one SQLite file.

    The inspection commands open the database read-only: they work while an application
    runs a scheduler on it, and never change it. Each takes --json for one JSON document.
    """


@cli.command(epilog=EPILOG)
@click.option(
    "--db",
    metavar="PATH",
    help="database file to use and keep (default: taskmill-demo-<timestamp>.db here)",
)
@click.option("--fast", is_flag=True, help="shorten every act (about 15 s instead of 30 s)")
@click.option(
    "--no-crash",
    is_flag=True,
    help="skip the act that kills a worker process and recovers its tasks",
)
@click.option("--no-io", is_flag=True, help="skip the act that floods the disk")
@click.option(
    "--plain/--screen",
    default=None,
    help="plain text lines, or the live screen (default: the screen on a terminal)",
)
def demo(db: str | None, fast: bool, no_crash: bool, no_io: bool, plain: bool | None) -> None:
    """Show what the scheduler does, act by act, on a live screen.

    Priorities and preemption, deduplication, retries and a dead letter, IO-aware
    throttling during a real disk flood from another process, a group cap, and a worker
    killed with SIGKILL whose tasks are recovered. The database is kept; the demo ends
    with the commands that inspect it. Off a terminal it prints plain lines. Ctrl-C
    stops it (exit status 130), keeping the database.
    """
    import asyncio
    from pathlib import Path

    from taskmill.cli.demo import default_path, interrupted_message, run_demo

    path = (Path(db) if db else default_path()).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        status = asyncio.run(
            run_demo(path, crash=not no_crash, io=not no_io, fast=fast, plain=plain)
        )
    except KeyboardInterrupt:
        click.echo(interrupted_message(path))
        sys.exit(INTERRUPTED)
    if status:
        sys.exit(status)


for command in inspect.COMMANDS:
    command.epilog = EPILOG
    cli.add_command(command)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the group on ``argv`` (default: the process's arguments); return the exit status."""
    try:
        cli.main(args=None if argv is None else list(argv), prog_name="taskmill")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
