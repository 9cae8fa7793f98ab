"""IO budgets in the running scheduler: the capacity a sampler saw, and what tasks expect.

The ledger knows how many bytes may be in flight on each axis (``io_budget`` of ``io_window``
seconds of the highest throughput the sampler has seen), what the running tasks are expected
to move (declared, or learned from what their type recorded), and keeps the learned means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from taskmill.admission.policy import Candidate
from taskmill.model.errors import ConfigurationError
from taskmill.model.io import NO_IO, IoBudget
from taskmill.resources.sampler import Sampler
from taskmill.store.protocol import ClaimedTask

_AXES = ("disk_read", "disk_write", "net_rx", "net_tx")
LEARNING_RATE = 0.3
"""Weight of the newest completed task in its type's mean IO."""


class IoLedger:
    """Capacity, expected and learned IO; IO budgets are off without a sampler."""

    def __init__(
        self, sampler: Sampler | None, *, io_budget: float = 0.8, io_window: float = 2.0
    ) -> None:
        if not _number(io_budget) or not 0 < io_budget <= 1:
            raise ConfigurationError(f"io_budget is a fraction in (0, 1], got {io_budget!r}")
        if not _number(io_window) or not 0 < io_window < math.inf:
            raise ConfigurationError(f"io_window must be > 0 seconds, got {io_window!r}")
        self.sampler = sampler
        """Where observed throughput comes from (``None``: no IO budgets)."""
        self.io_budget = io_budget
        self.io_window = io_window
        self._learned: dict[str, IoBudget] = {}

    @property
    def enabled(self) -> bool:
        """Whether IO budgets are enforced (a sampler is set)."""
        return self.sampler is not None

    @property
    def learned(self) -> dict[str, IoBudget]:
        """A copy of the mean recorded IO by task type."""
        return dict(self._learned)

    def capacity(self) -> IoBudget | None:
        """Bytes that may be in flight per axis; ``None`` without monitoring."""
        if self.sampler is None:
            return None
        sample = self.sampler.latest()
        scale = self.io_budget * self.io_window
        return IoBudget.of(
            int(scale * sample.peak_disk_read),
            int(scale * sample.peak_disk_write),
            int(scale * sample.peak_net_rx),
            int(scale * sample.peak_net_tx),
        )

    def expected(self, task: ClaimedTask) -> IoBudget:
        """What a running task is expected to move: declared, else learned for its type."""
        if task.expected_io is not NO_IO:
            return task.expected_io
        return self._learned.get(task.type, NO_IO)

    def in_flight(self, running: Iterable[ClaimedTask]) -> IoBudget:
        """The expected IO of the running tasks."""
        total = NO_IO
        for task in running:
            expected = self.expected(task)
            if expected is not NO_IO:
                total = total + expected
        return total

    def with_learned(self, candidates: list[Candidate]) -> list[Candidate]:
        """Give candidates that declare no IO the mean IO their type recorded lately."""
        learned = self._learned
        if not learned:
            return candidates
        return [
            replace(c, io=learned[c.type]) if c.io is NO_IO and c.type in learned else c
            for c in candidates
        ]

    def learn(self, task_type: str, actual: IoBudget) -> None:
        """Fold the IO a completed task recorded into its type's running mean."""
        known = self._learned.get(task_type)
        if known is None:
            self._learned[task_type] = actual
            return
        self._learned[task_type] = IoBudget.of(
            *(
                round(
                    LEARNING_RATE * getattr(actual, axis)
                    + (1 - LEARNING_RATE) * getattr(known, axis)
                )
                for axis in _AXES
            )
        )

    def remember(self, learned: Mapping[str, IoBudget]) -> None:
        """Start from the IO means recovered from history."""
        self._learned.update(learned)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
