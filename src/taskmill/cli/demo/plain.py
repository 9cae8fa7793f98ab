"""The demo as plain text, for pipes, logs and CI: one line per act and per notable event.

No colour and no escape sequences; each line is stamped with the seconds since the start.
"""

from __future__ import annotations

import time
from typing import TextIO

from taskmill import Scheduler


class PlainStage:
    """Prints what the acts tell it (see :class:`~taskmill.cli.demo.stage.Stage`).

    Args:
        out: Where to print (standard output).
        acts: How many acts the show has, for the headings.
    """

    def __init__(self, out: TextIO, acts: int) -> None:
        self.out = out
        self.acts = acts
        self.start = time.perf_counter()

    async def __aenter__(self) -> PlainStage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def act(self, number: int, title: str, blurb: str) -> None:
        """Print the heading of an act and what to look for."""
        self._print(f"\n== Act {number}/{self.acts}: {title} ==")
        self.say(blurb)

    def say(self, text: str) -> None:
        """Print one line, stamped with the elapsed time."""
        self._print(f"[{time.perf_counter() - self.start:6.2f}s] {text}")

    def aside(self, text: str | None) -> None:
        """Nothing: asides are for the live screen, the log has the facts."""

    def watch(self, scheduler: Scheduler | None) -> None:
        """Nothing: plain text does not draw snapshots."""

    def end(self, lines: list[str]) -> None:
        """Print the closing lines."""
        self._print("")
        for line in lines:
            self._print(line)
