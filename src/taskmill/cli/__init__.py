"""The ``taskmill`` command line: ``demo``, and read-only views of a task database.

This module is the entry point only. The commands need click and rich, the ``cli`` extra
(``pip install 'taskmill[cli]'``); without them the command says so and exits with status 2.
The commands themselves live in :mod:`taskmill.cli.app` (the group, errors, exit codes),
:mod:`taskmill.cli.inspect` (reading a database) and :mod:`taskmill.cli.render` (tables and
JSON); :mod:`taskmill.cli.demo` is the demo. All of them use only the public ``taskmill`` API.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

INSTALL_HINT = "the command line needs its extra: pip install 'taskmill[cli]'"
USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``taskmill`` command with ``argv`` (default: the process's); return its status."""
    try:
        from taskmill.cli.app import run
    except ImportError as exc:
        if exc.name is not None and exc.name.partition(".")[0] in ("click", "rich"):
            print(f"taskmill: {INSTALL_HINT} ({exc.name} is missing)", file=sys.stderr)
            return USAGE_ERROR
        raise
    return run(argv)


def console_main() -> None:
    """Entry point of the ``taskmill`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
