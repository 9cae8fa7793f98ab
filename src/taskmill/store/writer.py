"""One thread that owns the write connection and commits queued writes in groups.

Callers on the event loop hand the writer a function of the connection and get an asyncio
future. The thread takes everything queued, runs it inside one ``BEGIN IMMEDIATE ... COMMIT``
(group commit: one commit, and with ``synchronous=FULL`` one fsync, for many writers) and
answers the loop with a single ``call_soon_threadsafe``. Requests of one kind can also be
*combined*, so that many queued submissions cost one pass over the index instead of one each.
If one request fails the transaction is rolled back and the requests are replayed one by one,
so a bad request only fails itself. Requests must therefore keep all their effects inside
the transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from taskmill.model.errors import StoreClosedError

T = TypeVar("T")

Operation = Callable[[sqlite3.Connection], T]
ErrorMapper = Callable[[BaseException], BaseException]


Combined = Callable[[sqlite3.Connection, list[Any]], list[Any]]
"""Runs several requests of one kind in one call: items in, one result per item out."""


class _Request(Generic[T]):
    __slots__ = ("combined", "future", "item", "operation")

    def __init__(
        self,
        future: asyncio.Future[T],
        operation: Operation[T] | None = None,
        combined: Combined | None = None,
        item: object = None,
    ) -> None:
        self.future = future
        self.operation = operation
        self.combined = combined
        self.item = item


# What the thread sends back per request: (future, succeeded, value-or-exception).
_Answer = tuple["asyncio.Future[Any]", bool, Any]


class Writer:
    """Owns a SQLite connection on a dedicated thread and group-commits writes to it."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        map_error: ErrorMapper,
        on_close: Operation[object] | None = None,
        name: str = "taskmill-writer",
    ) -> None:
        self._connect = connect
        self._map_error = map_error
        self._on_close = on_close
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.on_commit: Callable[[float], None] | None = None
        """Told how many seconds each commit took (called on the writer thread)."""

    # --- called on the event loop ------------------------------------------------------

    async def start(self) -> None:
        """Start the thread and open the connection; raise what opening raised."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._started = loop.create_future()
        self._stopped = loop.create_future()
        self._thread.start()
        await self._started

    def submit(self, operation: Operation[T]) -> asyncio.Future[T]:
        """Queue ``operation`` for the next group commit; its result arrives on the future.

        Call it from the loop the writer was started on.
        """
        return self._enqueue(operation=operation)

    def submit_combined(self, combined: Combined, item: object) -> asyncio.Future[Any]:
        """Queue ``item`` for ``combined``, which handles adjacent queued items in one call.

        ``combined(conn, items)`` must return one result per item, in order, and behave as
        if the items had been handled one after another.
        """
        return self._enqueue(combined=combined, item=item)

    def _enqueue(
        self,
        operation: Operation[Any] | None = None,
        combined: Combined | None = None,
        item: object = None,
    ) -> asyncio.Future[Any]:
        assert self._loop is not None, "Writer.start() was not awaited"
        future: asyncio.Future[Any] = self._loop.create_future()
        if self._closing:
            future.set_exception(StoreClosedError("the task store is closed"))
            return future
        self._queue.put(_Request(future, operation, combined, item))
        return future

    async def close(self) -> None:
        """Run everything already queued, then ``on_close``, close the connection and stop."""
        if self._closing:
            if self._stopped is not None:
                await asyncio.shield(self._stopped)
            return
        self._closing = True
        if self._stopped is None or not self._thread.is_alive():
            return
        self._queue.put(None)
        await asyncio.shield(self._stopped)

    def __del__(self) -> None:
        if self._thread.is_alive() and not self._closing:
            warnings.warn(
                "taskmill store was never closed; use 'async with Scheduler(...)' or "
                "await scheduler.close()",
                ResourceWarning,
                stacklevel=1,
            )

    # --- the thread --------------------------------------------------------------------

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._signal(self._started, self._map_error(exc))
            self._signal(self._stopped, None)
            return
        self._signal(self._started, None)
        try:
            self._serve(conn)
        finally:
            try:
                if self._on_close is not None:
                    self._on_close(conn)
            except sqlite3.Error:
                pass  # best effort: a failed checkpoint leaves a valid WAL behind
            conn.close()
            self._signal(self._stopped, None)

    def _serve(self, conn: sqlite3.Connection) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            first = get()
            if first is None:
                return
            batch = [first]
            stop = False
            while True:
                try:
                    request = get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    stop = True
                    break
                batch.append(request)
            self._answer(self._commit(conn, batch))
            if stop:
                return

    def _commit(self, conn: sqlite3.Connection, batch: list[_Request[Any]]) -> list[_Answer]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = _run(conn, batch)
            on_commit = self.on_commit
            if on_commit is None:
                conn.execute("COMMIT")
            else:
                began = time.perf_counter()
                conn.execute("COMMIT")
                on_commit(time.perf_counter() - began)
        except Exception as exc:
            if conn.in_transaction:
                conn.rollback()
            if len(batch) == 1:
                return [(batch[0].future, False, self._map_error(exc))]
            # Replay alone, so that only the request that failed fails.
            answers: list[_Answer] = []
            for request in batch:
                answers.extend(self._commit(conn, [request]))
            return answers
        return [(r.future, True, value) for r, value in zip(batch, results, strict=True)]

    def _answer(self, answers: list[_Answer]) -> None:
        loop = self._loop
        assert loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_resolve, answers)

    def _signal(self, future: asyncio.Future[None] | None, error: BaseException | None) -> None:
        if future is not None:
            self._answer([(future, error is None, error)])


def _run(conn: sqlite3.Connection, batch: list[_Request[Any]]) -> list[Any]:
    """Run the requests in order; adjacent requests of one combined kind run in one call."""
    results: list[Any] = []
    start = 0
    while start < len(batch):
        request = batch[start]
        combined = request.combined
        if combined is None:
            assert request.operation is not None
            results.append(request.operation(conn))
            start += 1
            continue
        end = start + 1
        while end < len(batch) and batch[end].combined is combined:
            end += 1
        outcomes = combined(conn, [r.item for r in batch[start:end]])
        assert len(outcomes) == end - start, "a combined operation must answer every item"
        results.extend(outcomes)
        start = end
    return results


def _resolve(answers: list[_Answer]) -> None:
    for future, ok, value in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
