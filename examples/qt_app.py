"""A Qt window over a taskmill queue: a task list with progress bars, pause and cancel.

    pip install 'taskmill[qt]'
    python examples/qt_app.py                      # the window
    python examples/qt_app.py --check              # offscreen: run 6 tasks, print, exit
    python examples/qt_app.py --screenshot a.png   # offscreen: save a picture of the window

The scheduler is taskmill.sync.Scheduler (its own loop thread); SchedulerSignals brings its
events to the GUI thread, at most one delivery per 100 ms however chatty the tasks are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from taskmill import (
    Cancelled,
    Completed,
    Dispatched,
    Domain,
    Event,
    Inserted,
    Progress,
    TaskContext,
)
from taskmill.qt import SchedulerSignals
from taskmill.sync import Scheduler

photos = Domain("photos")


@dataclass
class Resize:
    """Resize one photo (simulated: twenty steps of 40 ms)."""

    name: str


@photos.task("resize", key=lambda job: job.name)
async def resize(job: Resize, ctx: TaskContext) -> None:
    for step in range(1, 21):
        await asyncio.sleep(0.04)
        ctx.progress.report(step / 20, f"{job.name}: step {step} of 20")


COLUMNS = ["id", "photo", "status", "progress"]


class Window(QMainWindow):
    """The task list, with buttons to add work, pause everything and cancel a task."""

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__()
        self.scheduler = scheduler
        self.setWindowTitle("taskmill: photo resizer")
        self.rows: dict[int, int] = {}  # task id -> table row
        self.added = 0

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.add_button = QPushButton("Add 3 photos")
        self.pause_button = QPushButton("Pause all")
        self.cancel_button = QPushButton("Cancel selected")
        self.counts = QLabel("no tasks yet")
        self.add_button.clicked.connect(self.add_photos)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel_selected)

        buttons = QHBoxLayout()
        for button in (self.add_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        layout = QVBoxLayout()
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        layout.addWidget(self.counts)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)
        self.resize(560, 360)

        self.signals = SchedulerSignals(scheduler, parent=self)
        self.signals.any_event.connect(self.show_event)
        self.signals.counts_changed.connect(self.show_counts)

    # --- actions (blocking calls: each is one commit) ---------------------------------------

    def add_photos(self) -> None:
        """Submit three photos in one commit and give each a row."""
        names = [f"IMG_{self.added + i:04d}.jpg" for i in range(1, 4)]
        self.added += 3
        for outcome, name in zip(
            self.scheduler.domain(photos).submit_many([Resize(n) for n in names]),
            names,
            strict=True,
        ):
            if isinstance(outcome, Inserted):
                self.add_row(outcome.id, name)

    def toggle_pause(self) -> None:
        """Pause everything, or resume it."""
        if self.scheduler.pause_state().everything:
            self.scheduler.resume()
            self.pause_button.setText("Pause all")
        else:
            self.scheduler.pause()
            self.pause_button.setText("Resume all")

    def cancel_selected(self) -> None:
        """Cancel the selected tasks (running ones get their cancel signal)."""
        for index in self.table.selectionModel().selectedRows():
            task_id = int(self.table.item(index.row(), 0).text())
            self.scheduler.cancel(task_id)

    # --- what the scheduler tells (on the GUI thread) --------------------------------------

    def add_row(self, task_id: int, name: str) -> None:
        """A new row: pending, no progress yet."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.rows[task_id] = row
        self.table.setItem(row, 0, QTableWidgetItem(str(task_id)))
        self.table.setItem(row, 1, QTableWidgetItem(name))
        self.table.setItem(row, 2, QTableWidgetItem("pending"))
        bar = QProgressBar()
        bar.setRange(0, 100)
        bar.setValue(0)
        self.table.setCellWidget(row, 3, bar)

    def show_event(self, event: Event) -> None:
        """Update the task's row: status and progress bar."""
        task = getattr(event, "task", None)
        if task is None or task.id not in self.rows:
            return
        row = self.rows[task.id]
        status = {Dispatched: "running", Completed: "done", Cancelled: "cancelled"}.get(type(event))
        if status is not None:
            self.table.item(row, 2).setText(status)
        bar = self.table.cellWidget(row, 3)
        assert isinstance(bar, QProgressBar)
        if isinstance(event, Progress) and event.fraction is not None:
            bar.setValue(round(event.fraction * 100))
        elif isinstance(event, Completed):
            bar.setValue(100)

    def show_counts(self, counts: dict[str, int]) -> None:
        """Show how many tasks are in which status."""
        shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.counts.setText(shown or "all done")

    def statuses(self) -> list[str]:
        """The status column, top to bottom."""
        return [self.table.item(row, 2).text() for row in range(self.table.rowCount())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="offscreen: run 6 tasks and exit")
    parser.add_argument("--screenshot", metavar="PNG", help="offscreen: save the window")
    args = parser.parse_args()
    if args.check or args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication(sys.argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Scheduler(Path(tmp) / "photos.db", domains=[photos], max_concurrency=2) as scheduler,
    ):
        window = Window(scheduler)
        window.show()
        if args.check or args.screenshot:
            window.add_photos()
            window.add_photos()
            done = "all done" if args.check else ""

            def look() -> None:
                running = window.statuses().count("running")
                if (args.check and window.counts.text() == done) or (
                    args.screenshot and running == 2 and _midway(window)
                ):
                    if args.screenshot:
                        window.grab().save(args.screenshot)
                    app.quit()
                else:
                    QTimer.singleShot(20, look)

            QTimer.singleShot(0, look)
        app.exec()
        if args.check:
            print(f"{len(window.statuses())} tasks: {', '.join(window.statuses())}")
        window.signals.close()
    return 0


def _midway(window: Window) -> bool:
    bars = [window.table.cellWidget(row, 3) for row in range(window.table.rowCount())]
    return any(isinstance(bar, QProgressBar) and 40 <= bar.value() <= 60 for bar in bars)


if __name__ == "__main__":
    sys.exit(main())
