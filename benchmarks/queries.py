"""Queries at depth: snapshot, per-type stats and history pages over 1 000 000 history rows.

A taskmill database file gets N history rows (default 1 000 000) written straight into its
history table by one SQL statement: 10 task types, one finished every 10 ms, 3 % failed and
0.5 % dead-lettered, durations and IO varying per row. 1 000 tasks are pending, 4 of them
run (blocked executors) while the queries are timed. Then, on the opened scheduler, each
query is timed ``--repeats`` times and its median printed beside a baseline measured on the
same file in the same run, on a plain sqlite3 connection: either the bare SQL floor of the
same answer (the first page, the snapshot's count of tasks) or the same answer computed the
straightforward way, reading all of history (a GROUP BY over the table, an OFFSET page, a
scan filtered by key).

Target (issue 7): snapshot, stats and a history page each <= 50 ms at 1 000 000 rows.
Last, the queue is filled to ``--pending`` tasks (default 1 000 000, by submit_many) and the
snapshot timed again, beside the bare GROUP BY status over the tasks table.

Usage: python benchmarks/queries.py [--rows 1000000] [--repeats 7] [--pending 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from taskmill import Domain, Scheduler

TYPES = 10
TARGET_MS = 50.0

work = Domain("work")
release = asyncio.Event()


@work.task("hold")
async def hold(n: int) -> None:
    await release.wait()


def fill_history(path: Path, rows: int, now: float) -> None:
    """Write ``rows`` history records, the newest finishing at ``now``."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
            INSERT INTO history (id, type, key, label, priority, status, payload, retry_count,
                                 created_at, started_at, finished_at, last_error,
                                 io_read, io_write, io_rx, io_tx,
                                 actual_read, actual_write, actual_rx, actual_tx, duration)
            SELECT 1000000000 + i, 'bench::type' || (i % ?2), 'key-' || i, 'task ' || i,
                   128, CASE WHEN i % 200 = 0 THEN 'dead_letter'
                             WHEN i % 33 = 0 THEN 'failed' ELSE 'completed' END,
                   CAST('{"n":' || i || '}' AS BLOB), 0,
                   ?3 - (?1 - i) * 0.01 - 1.0, ?3 - (?1 - i) * 0.01 - (i % 97) * 0.01,
                   ?3 - (?1 - i) * 0.01,
                   CASE WHEN i % 33 = 0 OR i % 200 = 0 THEN 'Error: boom' END,
                   0, 0, 0, 0, (i % 13) * 4096, 0, 0, 0, (i % 97) * 0.01
            FROM n
            """,
            (rows, TYPES, now),
        )


async def timed(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeats`` calls (after one warm-up), and the last result."""
    result = await call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = await call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), result


def bare(path: Path, sql: str, params: tuple[Any, ...], repeats: int) -> float:
    """Median milliseconds of a plain sqlite3 query over history, fetched in full."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.execute(sql, params).fetchall()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            conn.execute(sql, params).fetchall()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


NAIVE_STATS = """
SELECT type, count(*), avg(duration), avg(actual_read),
       sum(status IN ('failed', 'dead_letter')) * 1.0 / count(*)
FROM history GROUP BY type
"""
NAIVE_COUNTS = "SELECT status, count(*) FROM history GROUP BY status"
TASK_COUNTS = "SELECT status, count(*) FROM tasks GROUP BY status"
NAIVE_LOOKUP = "SELECT * FROM history WHERE type = ? AND key = ? ORDER BY seq DESC"
OFFSET_PAGE = "SELECT * FROM history ORDER BY seq DESC LIMIT 50 OFFSET ?"
NAIVE_FAILURES = (
    "SELECT * FROM history WHERE status = 'dead_letter' ORDER BY finished_at DESC LIMIT 50"
)


async def main(rows: int, repeats: int, pending: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queries.db"
        async with Scheduler(path, domains=[work]):
            pass  # creates the schema
        start = time.perf_counter()
        fill_history(path, rows, time.time())
        print(f"filled {rows:,} history rows in {time.perf_counter() - start:.1f} s")

        async with Scheduler(path, domains=[work], max_concurrency=4) as scheduler:
            await scheduler.domain(work).submit_many(range(1000), task="hold")
            while scheduler.running_count < 4:
                await asyncio.sleep(0.01)  # let the dispatcher start the four holders
            middle = (await scheduler.list_history(limit=1))[0].seq - rows // 2
            figures = [
                ("snapshot()", scheduler.snapshot, TASK_COUNTS, ()),
                ("type_stats() of 10 types", scheduler.type_stats, NAIVE_STATS, ()),
                ("list_history() first page", lambda: scheduler.list_history(limit=50),
                 OFFSET_PAGE, (0,)),
                ("list_history() page at 500 000", lambda: scheduler.list_history(
                    limit=50, before=middle), OFFSET_PAGE, (rows // 2,)),
                ("list_history(task_type=)", lambda: scheduler.list_history(
                    task_type="bench::type3", limit=50), OFFSET_PAGE, (0,)),
                ("dead letters page", lambda: scheduler.list_history(
                    status="dead_letter", limit=50), NAIVE_FAILURES, ()),
                ("throughput(60 s)", lambda: scheduler.throughput(60), NAIVE_COUNTS, ()),
                ("lookup(type, key)", lambda: scheduler.lookup(
                    "bench::type7", f"key-{rows - 3}"), NAIVE_LOOKUP,
                 ("bench::type7", f"key-{rows - 3}")),
            ]  # fmt: skip
            print(f"\n{'query':34} {'taskmill':>10} {'baseline':>10} {'ratio':>7}  target")
            for name, call, baseline_sql, params in figures:
                ms, _ = await timed(call, repeats)
                base = bare(path, baseline_sql, params, max(3, repeats // 2))
                verdict = "PASS" if ms <= TARGET_MS else "MISS"
                print(f"{name:34} {ms:8.2f}ms {base:8.2f}ms {ms / base:6.3f}x  <= 50 ms {verdict}")
            if pending > 1000:  # a deep queue: counts must not read it
                for first in range(1000, pending, 100_000):
                    batch = range(first, min(first + 100_000, pending))
                    await scheduler.domain(work).submit_many(batch, task="hold")
                ms, snapshot = await timed(scheduler.snapshot, repeats)
                base = bare(path, TASK_COUNTS, (), max(3, repeats // 2))
                verdict = "PASS" if ms <= TARGET_MS else "MISS"
                name = f"snapshot(), {sum(snapshot.counts.values()):,} tasks"
                print(f"{name:34} {ms:8.2f}ms {base:8.2f}ms {ms / base:6.3f}x  <= 50 ms {verdict}")
            release.set()
    print(
        "\nbaselines (plain sqlite3 on the same file): snapshot vs its bare count of tasks by "
        "status; stats vs a GROUP BY type over all history;\nthroughput vs a GROUP BY status "
        "over all history; pages vs LIMIT/OFFSET; dead letters vs a scan ordered by "
        "finished_at;\nlookup vs a scan filtering type and key."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pending", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.repeats, args.pending))
