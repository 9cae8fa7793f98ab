"""Wiring: the parts of an open scheduler, built once the store has recovered."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from taskmill.clock import Clock
from taskmill.model.config import SchedulerConfig
from taskmill.scheduler.completer import Completer
from taskmill.scheduler.control import Control
from taskmill.scheduler.dispatcher import Dispatcher
from taskmill.scheduler.estimates import Durations
from taskmill.scheduler.events import EventBus
from taskmill.scheduler.gate import AdmissionControl
from taskmill.scheduler.intake import Intake
from taskmill.scheduler.preemption import Preemptor
from taskmill.scheduler.registry import Registry
from taskmill.scheduler.runner import Runner
from taskmill.scheduler.state import Pauses, RunState
from taskmill.scheduler.timekeeper import Timekeeper
from taskmill.store.protocol import RecoveryReport, Store


@dataclass(slots=True)
class Parts:
    """Everything an open scheduler runs on."""

    state: RunState
    threads: ThreadPoolExecutor
    runner: Runner
    completer: Completer
    preemptor: Preemptor
    dispatcher: Dispatcher
    control: Control
    intake: Intake


def assemble(
    *,
    store: Store,
    registry: Registry,
    bus: EventBus,
    clock: Clock,
    config: SchedulerConfig,
    gate: AdmissionControl,
    durations: Durations,
    recovered: RecoveryReport,
) -> Parts:
    """Build the parts around the state the store recovered."""
    state = RunState(clock.now)
    state.bind(asyncio.get_running_loop())
    state.next_due = recovered.next_due
    state.next_fire = recovered.next_fire
    state.next_expiry = recovered.next_expiry
    state.next_unpause = min(
        (until for until in recovered.pauses.groups.values() if until is not None), default=None
    )
    state.pauses = Pauses.of(recovered.pauses)
    gate.attach(state)
    threads = ThreadPoolExecutor(
        config.sync_workers or config.max_concurrency, thread_name_prefix="taskmill-sync"
    )
    completer = Completer(store=store, state=state, bus=bus, gate=gate, durations=durations)
    runner = Runner(
        registry=registry,
        state=state,
        completer=completer,
        bus=bus,
        clock=clock,
        threads=threads,
        preempt_priority=config.preempt_priority,
        progress_interval=config.progress_interval,
    )
    runner.pacer = gate.pacer
    preemptor = Preemptor(store=store, state=state, runner=runner, registry=registry)
    dispatcher = Dispatcher(
        store=store,
        state=state,
        runner=runner,
        clock=clock,
        registry=registry,
        timekeeper=Timekeeper(store=store, state=state, bus=bus),
        preemptor=preemptor,
        gate=gate,
        pressure_poll=config.pressure_poll,
    )
    control = Control(
        store=store, state=state, runner=runner, bus=bus, clock=clock, registry=registry
    )
    intake = Intake(
        store=store,
        state=state,
        clock=clock,
        bus=bus,
        runner=runner,
        preemptor=preemptor,
        preempt_priority=config.preempt_priority,
    )
    return Parts(state, threads, runner, completer, preemptor, dispatcher, control, intake)


async def learn_from_history(store: Store, durations: Durations, gate: AdmissionControl) -> None:
    """Seed the types' expected durations and, for IO budgets, their learned IO."""
    means = await store.recent_means()
    durations.remember(
        {task_type: duration for task_type, (duration, _) in means.items() if duration}
    )
    if gate.io.enabled:
        gate.io.remember({task_type: io for task_type, (_, io) in means.items() if io is not None})
