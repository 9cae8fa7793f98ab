"""taskmill.qt: scheduler events as Qt signals on the GUI thread (offscreen Qt)."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication exists

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import taskmill
from taskmill import (
    Completed,
    Domain,
    Event,
    Inserted,
    Progress,
    TaskContext,
    TaskStatus,
)
from taskmill.qt import SchedulerSignals
from taskmill.sync import Scheduler

ui = Domain("ui")
gate: dict[str, asyncio.Event] = {}


@dataclass
class Step:
    n: int


@ui.task("quick")
def quick(step: Step, ctx: TaskContext) -> None:
    ctx.progress.report(1.0)


@ui.task("reports_then_waits")
async def reports_then_waits(step: Step, ctx: TaskContext) -> None:
    for i in range(1, 10):
        ctx.progress.report(i / 10)
        await asyncio.sleep(0.005)  # spans several progress intervals: several events
    await asyncio.Event().wait()  # until the scheduler closes


def submitted_ids(outcomes: list[taskmill.SubmitOutcome]) -> list[int]:
    return [outcome.id for outcome in outcomes if isinstance(outcome, Inserted)]


class Recorder:
    """Slots that note what arrived and on which thread."""

    def __init__(self, signals: SchedulerSignals) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.threads: set[bool] = set()
        for name in ("started", "progress", "finished", "counts_changed"):
            getattr(signals, name).connect(lambda value, name=name: self.note(name, value))

    def note(self, name: str, value: object) -> None:
        self.threads.add(threading.current_thread() is threading.main_thread())
        self.calls.append((name, value))

    def of(self, name: str) -> list[Any]:
        return [value for kind, value in self.calls if kind == name]


def test_signals_arrive_on_the_gui_thread(qtbot: QtBot, qapp: QApplication, db_path: Path) -> None:
    with Scheduler(db_path, domains=[ui], max_concurrency=1) as scheduler:
        signals = SchedulerSignals(scheduler, interval=0.02)
        recorder = Recorder(signals)
        ids = submitted_ids(
            scheduler.domain(ui).submit_many([Step(i) for i in range(3)], task="quick")
        )
        qtbot.waitUntil(lambda: len(recorder.of("finished")) == 3, timeout=10_000)
        qtbot.waitUntil(lambda: recorder.of("counts_changed")[-1:] == [{}], timeout=10_000)
        signals.close()
    assert recorder.threads == {True}  # every slot ran on the GUI (main) thread
    assert [event.task.id for event in recorder.of("started")] == ids
    assert [event.task.id for event in recorder.of("finished")] == ids
    assert all(isinstance(event, Completed) for event in recorder.of("finished"))


def test_a_burst_is_one_delivery_in_order(qtbot: QtBot, qapp: QApplication, db_path: Path) -> None:
    # The GUI thread is busy (this test does not let it run) while five tasks start and end;
    # when it runs again, everything arrives in one delivery, in order.
    with Scheduler(db_path, domains=[ui], max_concurrency=1) as scheduler:
        signals = SchedulerSignals(scheduler, interval=0.05)
        recorder = Recorder(signals)
        anything: list[Event] = []
        signals.any_event.connect(anything.append)
        ids = submitted_ids(
            scheduler.domain(ui).submit_many([Step(i) for i in range(5)], task="quick")
        )
        scheduler.wait_idle(timeout=30)
    # close() delivered every event to the callback thread, which buffered them for the GUI
    qtbot.waitUntil(lambda: signals.deliveries == 1, timeout=10_000)
    assert [(type(e).__name__, e.task.id) for e in anything if not isinstance(e, Progress)] == [
        (kind, task_id) for task_id in ids for kind in ("Dispatched", "Completed")
    ]
    assert recorder.of("progress") == []  # the tasks ended: their progress is not worth showing
    assert recorder.of("counts_changed") == []  # the scheduler is closed: nothing to count


def test_only_the_latest_progress_of_a_running_task_is_shown(
    qtbot: QtBot, qapp: QApplication, db_path: Path
) -> None:
    scheduler = Scheduler(db_path, domains=[ui], progress_interval=0.001).start()
    signals = SchedulerSignals(scheduler, interval=0.05)
    recorder = Recorder(signals)
    reported = threading.Event()
    scheduler.subscribe(
        lambda event: (
            reported.set()
            if isinstance(event, Progress) and event.fraction == pytest.approx(0.9)
            else None
        )
    )
    (task_id,) = submitted_ids([scheduler.domain(ui).submit(Step(1), task="reports_then_waits")])
    assert reported.wait(timeout=30)
    scheduler.close(immediate=True)  # every event so far is buffered for the GUI
    qtbot.waitUntil(lambda: signals.deliveries == 1, timeout=10_000)
    assert [(e.task.id, e.fraction) for e in recorder.of("progress")] == [
        (task_id, pytest.approx(0.9))
    ]
    assert [e.task.id for e in recorder.of("started")] == [task_id]


def test_the_asyncio_scheduler_runs_on_a_qasync_loop(qapp: QApplication) -> None:
    loop = qasync.QEventLoop(qapp)

    async def main() -> list[tuple[int, TaskStatus]]:
        async with taskmill.Scheduler(":memory:", domains=[ui]) as scheduler:
            await scheduler.domain(ui).submit_many([Step(1), Step(2)], task="quick")
            await scheduler.wait_idle()
            return [(r.id, r.status) for r in await scheduler.list_history()]

    try:
        history = loop.run_until_complete(main())
    finally:
        loop.close()
        del loop
        # qasync's timers and notifiers are QObjects: let them go here, on the GUI thread,
        # not whenever the garbage collector next runs on some other thread
        gc.collect()
    assert sorted(history) == [(1, TaskStatus.COMPLETED), (2, TaskStatus.COMPLETED)]


def load_example() -> Any:
    path = Path(__file__).parent.parent / "examples" / "qt_app.py"
    spec = importlib.util.spec_from_file_location("qt_app_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def test_the_example_window(qtbot: QtBot, qapp: QApplication, db_path: Path) -> None:
    example = load_example()
    with Scheduler(db_path, domains=[example.photos], max_concurrency=1) as scheduler:
        window = example.Window(scheduler)
        qtbot.addWidget(window)
        window.show()
        qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
        assert window.statuses()[1:] == ["pending", "pending"]
        qtbot.waitUntil(lambda: window.statuses()[0] == "running", timeout=10_000)

        qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
        assert scheduler.pause_state().everything is True
        assert window.pause_button.text() == "Resume all"

        window.table.selectRow(2)  # a pending task
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.statuses()[2] == "cancelled", timeout=10_000)

        qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
        assert scheduler.pause_state().everything is False
        qtbot.waitUntil(lambda: window.statuses() == ["done", "done", "cancelled"], timeout=20_000)
        qtbot.waitUntil(lambda: window.counts.text() == "all done", timeout=10_000)
        window.signals.close()
