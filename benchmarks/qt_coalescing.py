"""How many GUI wake-ups a chatty queue costs through taskmill.qt.SchedulerSignals.

Eight tasks report progress every millisecond for two seconds (``progress_interval=0.001``)
on a taskmill.sync.Scheduler; a plain callback subscription counts the progress events
published (the baseline: one GUI wake-up each without coalescing), and SchedulerSignals counts
its deliveries to the GUI thread. Runs offscreen.

    pip install -e '.[qt]'
    python benchmarks/qt_coalescing.py [--interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from taskmill import Domain, Event, Progress, TaskContext
from taskmill.qt import SchedulerSignals
from taskmill.sync import Scheduler

chatty = Domain("chatty")


@dataclass
class Spin:
    n: int


@chatty.task("spin")
async def spin(job: Spin, ctx: TaskContext) -> None:
    end = time.monotonic() + 2.0
    step = 0
    while time.monotonic() < end:
        step += 1
        ctx.progress.report((step % 1000) / 1000)
        await asyncio.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    app = QApplication(sys.argv)
    published = 0
    progress_signals = 0

    def count(event: Event) -> None:
        nonlocal published
        published += isinstance(event, Progress)

    def count_signal(event: Progress) -> None:
        nonlocal progress_signals
        progress_signals += 1

    with Scheduler(
        ":memory:", domains=[chatty], max_concurrency=8, progress_interval=0.001
    ) as scheduler:
        signals = SchedulerSignals(scheduler, interval=args.interval)
        signals.progress.connect(count_signal)
        scheduler.subscribe(count)
        start = time.monotonic()
        scheduler.domain(chatty).submit_many([Spin(i) for i in range(8)])
        QTimer.singleShot(2500, app.quit)
        app.exec()
        elapsed = time.monotonic() - start
        signals.close()
    print(f"8 tasks x 2 s of progress every 1 ms, SchedulerSignals(interval={args.interval})")
    print(f"progress events published   {published:>7}  ({published / elapsed:,.0f}/s)")
    rate = signals.deliveries / elapsed
    print(f"GUI deliveries              {signals.deliveries:>7}  ({rate:.1f}/s)")
    print(f"progress signals            {progress_signals:>7}")
    print(
        f"wake-ups saved: {published / max(1, signals.deliveries):,.0f}x fewer than one per event"
    )


if __name__ == "__main__":
    main()
