"""Token buckets keep their promises at real-world (epoch-sized) times, under a fake clock."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskmill import Domain, RateLimit, Scheduler, TaskContext, TaskStatus
from taskmill.admission.tokens import Bucket
from taskmill.testing import FakeClock, run_until


@given(
    now=st.floats(min_value=1e9, max_value=4e9),
    rate=st.floats(min_value=0.01, max_value=1000.0),
    tokens=st.floats(min_value=0.0, max_value=0.999999),
    age=st.floats(min_value=0.0, max_value=10.0),
)
def test_a_token_is_there_at_the_promised_instant(
    now: float, rate: float, tokens: float, age: float
) -> None:
    bucket = Bucket(RateLimit(per_second=rate, burst=1), tokens, now - age)
    promised = bucket.next_token_at(now)
    assert bucket.available(promised)
    if not bucket.available(now):
        assert promised > now  # a timer for it lies in the future: the loop can sleep


@dataclass
class Call:
    n: int


@pytest.mark.timeout(30)  # on the old arithmetic the dispatcher spun without yielding
async def test_rate_limited_tasks_run_on_time_under_a_fake_clock() -> None:
    api = Domain("api")
    started: list[float] = []
    clock = FakeClock()  # starts at 2026-01-01: epoch-sized floats, as in production

    @api.task("call", rate_limit=RateLimit(per_second=5))
    async def call(item: Call, ctx: TaskContext) -> None:
        started.append(clock.now())

    async with Scheduler(":memory:", domains=[api], clock=clock, max_concurrency=20) as s:
        t0 = clock.now()
        await s.domain(api).submit_many([Call(i) for i in range(20)])
        await run_until(s, clock, t0 + 10)
        history = await s.list_history(limit=50)
    assert [r.status for r in history] == [TaskStatus.COMPLETED] * 20
    # a burst of 5 (one second's worth), then one every 0.2 s
    assert [round(t - t0, 6) for t in started] == [0.0] * 5 + [
        round(0.2 * k, 6) for k in range(1, 16)
    ]


SPINNER = """
import asyncio
from dataclasses import dataclass

from taskmill import Domain, RateLimit, Scheduler, TaskContext, TaskStatus
from taskmill.admission.tokens import Bucket
from taskmill.testing import FakeClock

# A broken promise: "a token at now", forever.
Bucket.available = lambda self, now: False
Bucket.next_token_at = lambda self, now: now
api = Domain("api")


@dataclass
class Call:
    n: int


@api.task("call", rate_limit=RateLimit(per_second=5))
async def call(item: Call, ctx: TaskContext) -> None: ...


async def main() -> None:
    async with Scheduler(":memory:", domains=[api], clock=FakeClock()) as s:
        await s.domain(api).submit(Call(1))
        try:
            await asyncio.wait_for(s.wait_idle(include_delayed=False), timeout=0.3)
        except TimeoutError:
            print("timed out", await s.count_by_status())


asyncio.run(main())
"""


def test_the_dispatcher_yields_whatever_admission_promises(tmp_path: Path) -> None:
    # The dispatcher loops on the broken promise, but never without letting the event loop
    # run: wait_for times out and close() stops it. (In a subprocess: a loop that never
    # yields can only be stopped from outside.)
    done = subprocess.run(
        [sys.executable, "-c", SPINNER],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "timed out {<TaskStatus.PENDING: 'pending'>: 1}\n"
