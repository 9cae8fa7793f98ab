"""Expected durations of task types, and progress extrapolated from them.

A task that reports nothing still gets a moving progress bar: elapsed time over its type's
recent mean duration. A task that reports is carried forward between reports at the pace
its own reports and its type's mean suggest. Either way the estimate stops at
:data:`CAP` until the task really ends.
"""

from __future__ import annotations

from collections.abc import Mapping

CAP = 0.99
"""The most an extrapolated estimate reaches; only the task's own report of 1.0 goes beyond."""

SMOOTHING = 0.3
"""Weight of the newest duration in a type's moving mean."""


class Durations:
    """The recent mean duration of each task type that completed.

    Seeded at open from the newest completed tasks in history, then moved by each completion
    (an exponentially weighted mean, so it follows a type whose tasks get slower or faster).
    """

    def __init__(self) -> None:
        self._means: dict[str, float] = {}

    def remember(self, means: Mapping[str, float]) -> None:
        """Start from the means recovered from history."""
        self._means.update(means)

    def learn(self, task_type: str, duration: float) -> None:
        """Take the duration of a completed attempt into its type's mean."""
        mean = self._means.get(task_type)
        self._means[task_type] = (
            duration if mean is None else SMOOTHING * duration + (1 - SMOOTHING) * mean
        )

    def mean(self, task_type: str) -> float | None:
        """The type's mean duration in seconds (``None``: none completed yet)."""
        return self._means.get(task_type)

    @property
    def means(self) -> dict[str, float]:
        """Every known mean, by task type."""
        return dict(self._means)


def estimate(
    elapsed: float,
    reported: float | None,
    reported_after: float | None,
    mean: float | None,
) -> float | None:
    """Estimated fraction done of an attempt running for ``elapsed`` seconds.

    Args:
        elapsed: Seconds since the attempt started.
        reported: The latest fraction the task reported, if any.
        reported_after: Seconds after the start at which it reported it.
        mean: The recent mean duration of the task's type, if known.

    Returns:
        Without a report: ``elapsed / mean`` (``None`` if the mean is unknown). With one, the
        reported fraction plus the share of the remaining work that the expected time left
        says is done since (the expected time left averages what the task's own pace and the
        type's mean predict). Never above :data:`CAP` unless the task itself reported more.
    """
    if reported is None or reported_after is None:
        if not mean:
            return None
        return min(CAP, max(0.0, elapsed / mean))
    left: list[float] = []
    if reported > 0.0:
        left.append(reported_after * (1.0 - reported) / reported)
    if mean is not None and mean > reported_after:
        left.append(mean - reported_after)
    expected_left = sum(left) / len(left) if left else 0.0
    if expected_left <= 0.0 or reported >= CAP:
        return reported
    since = max(0.0, elapsed - reported_after)
    return min(CAP, reported + (1.0 - reported) * min(1.0, since / expected_left))
