"""Qt signals for a taskmill scheduler, delivered on the GUI thread (``taskmill[qt]``).

:class:`SchedulerSignals` subscribes to a :class:`taskmill.sync.Scheduler` and turns its
events into Qt signals of a ``QObject`` that lives on the GUI thread, so slots may touch
widgets::

    scheduler = taskmill.sync.Scheduler("tasks.db", domains=[media]).start()
    signals = SchedulerSignals(scheduler, parent=window)
    signals.progress.connect(lambda event: bars[event.task.id].setValue(...))
    signals.counts_changed.connect(status_bar.show_counts)

A burst costs the GUI one wake-up per ``interval``: the first event after a quiet spell is
shown at once, and whatever arrives in the next ``interval`` is shown together when it ends
— in order, with only the latest progress of each task still running.

Needs PySide6 (``pip install 'taskmill[qt]'``), and a ``QApplication`` (or
``QCoreApplication``) created before the first ``SchedulerSignals``.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal, Slot

from taskmill import (
    Cancelled,
    Completed,
    DeadLettered,
    Dispatched,
    Event,
    Failed,
    Progress,
    TaskEvent,
)
from taskmill.sync import Scheduler

__all__ = ["SchedulerSignals"]

_ENDS = (Completed, DeadLettered, Cancelled)
_ARRIVED = QEvent.Type(QEvent.registerEventType())


class SchedulerSignals(QObject):
    """A scheduler's events as Qt signals on the thread this object lives on (the GUI's).

    Signals (each event argument is the taskmill event object):

    - ``started(Dispatched)``: an attempt started.
    - ``progress(Progress)``: the latest progress of a running task, at most once per
      ``interval`` per task.
    - ``finished(Completed)``, ``failed(Failed)`` (an attempt failed; a retry may follow),
      ``dead_lettered(DeadLettered)``, ``cancelled(Cancelled)``.
    - ``any_event(Event)``: every event delivered, the ones above included (pauses, schedules,
      dependencies, ...).
    - ``counts_changed(dict)``: active tasks by status (``{"pending": 3, "running": 2}``),
      after every burst that started or ended a task.

    Args:
        scheduler: A started :class:`taskmill.sync.Scheduler`.
        interval: Least seconds between two deliveries to the GUI.
        parent: The usual Qt parent (the object is deleted with it); without one, the
            application is the parent.
    """

    started = Signal(object)
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    dead_lettered = Signal(object)
    cancelled = Signal(object)
    any_event = Signal(object)
    counts_changed = Signal(dict)

    def __init__(
        self, scheduler: Scheduler, *, interval: float = 0.1, parent: QObject | None = None
    ) -> None:
        # Owned by Qt, never by Python alone: the callback thread refers to this object, and
        # a QObject that Python collected on that thread would be deleted off its own thread.
        super().__init__(parent if parent is not None else QCoreApplication.instance())
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._buffer: list[Event] = []
        self._cooldown = QTimer(self)
        self._cooldown.setSingleShot(True)
        self._cooldown.setInterval(round(interval * 1000))
        self._cooldown.timeout.connect(self._on_cooldown_end)
        self.deliveries = 0
        """How many times buffered events were delivered to the GUI thread."""
        self._subscription = scheduler.subscribe(self._collect)

    def close(self) -> None:
        """Stop listening (also done when the scheduler closes)."""
        self._subscription.close()
        self._cooldown.stop()

    # --- callback thread -----------------------------------------------------------------

    def _collect(self, event: Event) -> None:
        with self._lock:
            first = not self._buffer
            self._buffer.append(event)
        if first:  # postEvent is Qt's thread-safe way to reach an object on another thread
            QCoreApplication.postEvent(self, QEvent(_ARRIVED))

    # --- GUI thread ----------------------------------------------------------------------

    def customEvent(self, event: QEvent) -> None:
        """Events were buffered: show them now, or when the current interval ends."""
        if event.type() != _ARRIVED:
            super().customEvent(event)
        elif not self._cooldown.isActive():  # leading edge: show the first event at once
            self._deliver()
            self._cooldown.start()

    @Slot()
    def _on_cooldown_end(self) -> None:
        if self._deliver():  # trailing edge: what came during the interval, in one go
            self._cooldown.start()

    def _deliver(self) -> bool:
        with self._lock:
            events, self._buffer = self._buffer, []
        if not events:
            return False
        self.deliveries += 1
        lifecycle = False
        ended = {e.task.id for e in events if isinstance(e, _ENDS)}
        latest: dict[int, Progress] = {}
        for event in events:
            if isinstance(event, Progress):
                if event.task.id not in ended:
                    latest[event.task.id] = event
                continue
            lifecycle = lifecycle or isinstance(event, (Dispatched, Failed, *_ENDS))
            self._emit(event)
        for progress in latest.values():
            self.progress.emit(progress)
            self.any_event.emit(progress)
        if lifecycle and self._scheduler.running:  # events may still arrive after close()
            counts = self._scheduler.count_by_status()
            self.counts_changed.emit({str(status): n for status, n in counts.items()})
        return True

    def _emit(self, event: Event) -> None:
        signal: Any = None
        if isinstance(event, TaskEvent):
            signal = {
                Dispatched: self.started,
                Completed: self.finished,
                Failed: self.failed,
                DeadLettered: self.dead_lettered,
                Cancelled: self.cancelled,
            }.get(type(event))
        if signal is not None:
            signal.emit(event)
        self.any_event.emit(event)
