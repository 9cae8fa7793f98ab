"""The ``taskmill`` command line: ``taskmill demo`` for now."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from taskmill import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``taskmill`` command."""
    parser = argparse.ArgumentParser(
        prog="taskmill",
        description="A persistent, priority-aware task scheduler on one SQLite file.",
    )
    parser.add_argument("--version", action="version", version=f"taskmill {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a small realistic workload and show what the scheduler does",
        description=(
            "Runs photo thumbnails and uploads on a database in a temporary directory: "
            "priorities, deduplication, retries, dead letters and crash recovery."
        ),
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help="database file to use (default: a fresh file in a temporary directory)",
    )
    demo.add_argument(
        "--no-crash",
        action="store_true",
        help="skip the part that kills a worker process and recovers its tasks",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``taskmill`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from taskmill.cli.demo import run_demo

        return asyncio.run(run_demo(db=args.db, crash=not args.no_crash))
    parser.print_help()
    return 2


def console_main() -> None:
    """Entry point of the ``taskmill`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
