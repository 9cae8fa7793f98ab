"""The demo's live screen: rich's ``Live`` redrawn from the scheduler's snapshot ~7 times a second.

Layout, top to bottom: the act's title and what to look for; running tasks with progress
bars beside the queue by priority tier and admission (pressure, the IO limit, the disk's
congestion, why tasks wait); the last notable events. Everything drawn comes from
``scheduler.snapshot()`` and ``list_tasks()``, the calls any application's UI would use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.layout import Layout
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from taskmill import Scheduler, Snapshot, TaskmillError
from taskmill.cli.demo.stage import TIERS, tier

REFRESH = 0.15
LOG_LINES = 8


@dataclass
class View:
    """Everything one frame shows.

    Attributes:
        db: The database file.
        acts: How many acts the show has.
        act: The current act's number (0 before the first).
        title: Its title.
        blurb: What to look for.
        aside: A line that stays until replaced (the flood's progress).
        log: The latest notable events.
        elapsed: Seconds since the show began.
        snapshot: The watched scheduler's snapshot (``None``: none is open).
        queued: Pending and paused tasks by tier and status.
    """

    db: Path
    acts: int
    act: int = 0
    title: str = "starting"
    blurb: str = ""
    aside: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    elapsed: float = 0.0
    snapshot: Snapshot | None = None
    queued: Counter[tuple[str, str]] = field(default_factory=Counter)


def render(view: View) -> Layout:
    """Lay out one frame of the screen."""
    layout = Layout(name="root")
    layout.split_column(
        Layout(_header(view), name="header", size=4),
        Layout(name="body", ratio=1),
        Layout(_log(view), name="log", size=LOG_LINES + 2),
    )
    layout["body"].split_row(
        Layout(_running(view), name="running", ratio=3),
        Layout(name="side", ratio=2, minimum_size=34),
    )
    layout["side"].split_column(
        Layout(_queue(view), name="queue", size=len(TIERS) + 4),
        Layout(_admission(view), name="admission", ratio=1),
    )
    return layout


def _header(view: View) -> Panel:
    act = f"Act {view.act}/{view.acts}: {view.title}" if view.act else view.title
    title = Text.assemble(("taskmill demo  ", "bold cyan"), (act, "bold"))
    lines: list[RenderableType] = [Text(view.blurb, style="italic")]
    if view.aside:
        lines.append(Text(view.aside, style="bold red"))
    return Panel(
        Group(*lines),
        title=title,
        title_align="left",
        subtitle=f"{view.elapsed:5.1f} s  ·  {escape(str(view.db))}",
        subtitle_align="right",
        border_style="cyan",
    )


def _running(view: View) -> Panel:
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("id", justify="right", style="dim", width=4)
    table.add_column("task", ratio=3, min_width=22, no_wrap=True)
    table.add_column("tier", width=10)
    table.add_column("progress", ratio=2, min_width=8)
    table.add_column("", width=4, justify="right")
    snapshot = view.snapshot
    running = () if snapshot is None else snapshot.running
    for task in running:
        done = task.progress
        bar = ProgressBar(total=1.0, completed=done or 0.0, pulse=done is None)
        table.add_row(
            str(task.task.id),
            escape(task.task.label),
            tier(task.task.priority),
            bar,
            "" if done is None else f"{done:.0%}",
        )
    slots = (
        ""
        if snapshot is None or snapshot.admission is None
        else (f" {len(running)}/{snapshot.admission.max_concurrency}")
    )
    body: RenderableType = table if running else Text("nothing running", style="dim")
    return Panel(body, title=f"Running{slots}", title_align="left", border_style="green")


def _queue(view: View) -> Panel:
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("tier")
    for column in ("running", "pending", "paused"):
        table.add_column(column, justify="right")
    running = Counter(
        tier(task.task.priority) for task in (view.snapshot.running if view.snapshot else ())
    )
    for name, _ in TIERS:
        table.add_row(
            name,
            str(running[name]),
            str(view.queued[name, "pending"]),
            str(view.queued[name, "paused"]),
        )
    return Panel(table, title="Queue by priority", title_align="left", border_style="blue")


def _admission(view: View) -> Panel:
    snapshot = view.snapshot
    admission = None if snapshot is None else snapshot.admission
    if admission is None:
        text = "no scheduler open here" if snapshot is None else "read-only view"
        return Panel(Text(text, style="dim"), title="Admission", title_align="left")
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    table.add_row("pressure", f"{admission.pressure:.2f}")
    io = admission.io_limit
    if io is None:
        table.add_row("IO limit", "off")
    else:
        table.add_row(
            "IO limit",
            Group(
                Text(f"{io.limit} of {io.cap}  ({io.running} running)"),
                ProgressBar(total=io.cap, completed=io.limit, width=20),
            ),
        )
        state = Text(
            "congested" if io.congested else "clear", "bold red" if io.congested else "green"
        )
        if io.source is not None:
            state.append(f"  level {io.level:.1f}  {io.source}", style="default")
        table.add_row("disk", state if io.watching else Text("not watched", style="dim"))
    table.add_row("waiting", escape(admission.summary()))
    return Panel(table, title="Admission", title_align="left", border_style="magenta")


def _log(view: View) -> Panel:
    text = Text("\n".join(view.log), no_wrap=True, overflow="ellipsis")
    return Panel(text, title="Events", title_align="left", border_style="yellow")


class Screen:
    """The live screen (a :class:`~taskmill.cli.demo.stage.Stage`); use ``async with``.

    Args:
        db: The database file, shown in the header.
        acts: How many acts the show has.
        console: Where to draw (default: standard output).
    """

    def __init__(self, db: Path, acts: int, console: Console | None = None) -> None:
        self.console = console if console is not None else Console()
        self.view = View(db, acts)
        self._scheduler: Scheduler | None = None
        self._start = time.perf_counter()
        self._live = Live(
            console=self.console, screen=True, auto_refresh=False, redirect_stderr=False
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Screen:
        self._live.start()
        self._task = asyncio.create_task(self._refresh())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._live.stop()

    def act(self, number: int, title: str, blurb: str) -> None:
        """Show a new act's title, and log it."""
        self.view.act, self.view.title, self.view.blurb = number, title, blurb
        self.say(f"— Act {number}: {title} —")

    def say(self, text: str) -> None:
        """Add a line to the event log."""
        self.view.log.append(f"{time.perf_counter() - self._start:6.2f}s  {text}")

    def aside(self, text: str | None) -> None:
        """Show (or with ``None`` remove) a line under the act's title."""
        self.view.aside = text

    def watch(self, scheduler: Scheduler | None) -> None:
        """Draw this scheduler's snapshot from now on."""
        self._scheduler = scheduler
        if scheduler is None:
            self.view.snapshot = None
            self.view.queued = Counter()

    def end(self, lines: list[str]) -> None:
        """Print the closing lines below the (now closed) screen."""
        for line in lines:
            self.console.print(line, markup=False, highlight=False)

    async def _refresh(self) -> None:
        while True:
            await self._read()
            self.view.elapsed = time.perf_counter() - self._start
            self._live.update(render(self.view), refresh=True)
            await asyncio.sleep(REFRESH)

    async def _read(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        try:
            snapshot = await scheduler.snapshot()
            queued = await scheduler.list_tasks(status=["pending", "paused"], limit=1000)
        except TaskmillError:  # closed under us between two frames: draw the last one
            return
        if scheduler is self._scheduler:
            self.view.snapshot = snapshot
            self.view.queued = Counter((tier(r.priority), str(r.status)) for r in queued)
