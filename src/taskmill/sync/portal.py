"""An asyncio event loop on a thread of its own, and blocking calls into it.

:class:`LoopThread` owns the loop; :func:`blocking` turns a coroutine method of the asyncio
API into a plain method that runs it on that loop and waits for the result. The wrapped
method keeps its parameters, its return type (for type checkers) and its docstring, so the
synchronous facade has no second copy of the API to drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from taskmill import SchedulerStateError, WrongThreadError

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")


class LoopThread:
    """An event loop running on a thread of its own until :meth:`stop`.

    The thread is a daemon: a program that forgets to close its scheduler still exits (the
    scheduler's own ``atexit`` hook closes it first).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop runs and takes calls."""
        loop = self.loop
        return loop is not None and loop.is_running() and not loop.is_closed()

    def in_loop_thread(self) -> bool:
        """Whether the calling thread is the loop's own."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def start(self) -> None:
        """Start the thread and return once its loop runs."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                _finish(loop)

        self.loop = loop
        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    def call(self, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Run the awaitable ``make()`` returns on the loop; block until its result.

        ``make`` is called on the loop thread, so an awaitable never exists without a loop
        to run it (no "never awaited" warnings when a call is refused).

        Raises:
            WrongThreadError: called from the loop's own thread, where it would wait for
                itself forever.
            SchedulerStateError: the loop is not running (not started, or closed).
            TimeoutError: ``timeout`` seconds passed; the call was cancelled.
        """
        if self.in_loop_thread():
            raise WrongThreadError(
                "a blocking taskmill.sync call from the scheduler's own event loop thread (an "
                "async executor, or code running on that loop) would wait for itself forever; "
                "there, use the asyncio scheduler: `scheduler.aio`"
            )
        loop = self.loop
        if loop is None or not self.running:
            raise SchedulerStateError(
                "the scheduler is not running: use 'with taskmill.sync.Scheduler(...)' or call "
                "start() first (a closed scheduler cannot be started again)"
            )

        async def run() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and wait for its thread (unless called from that thread)."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # already closed: nothing to stop
            loop.call_soon_threadsafe(loop.stop)
        if thread.ident != threading.get_ident():
            thread.join()


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop``, let it unwind, and close the loop."""
    try:
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class Blocking:
    """Base of the facade classes: an asyncio object and the loop thread it lives on."""

    _target: Any
    _portal: LoopThread


def blocking(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Blocking, P], R]:
    """Make a blocking method of a coroutine method of the asyncio API (same parameters)."""

    def call(self: Blocking, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(lambda: method(self._target, *args, **kwargs))

    call.__name__ = method.__name__
    call.__qualname__ = method.__qualname__
    call.__doc__ = method.__doc__
    call.__wrapped__ = method  # type: ignore[attr-defined]  # inspect.signature follows it
    return call


def takes_arguments_of(
    target: Callable[P, object],
) -> Callable[[Callable[Concatenate[S, P], None]], Callable[Concatenate[S, P], None]]:
    """Give an ``__init__(self, *args, **kwargs)`` the parameters of ``target``, for typing.

    The facade's constructor forwards its arguments to the asyncio class; this keeps the
    one list of options (and type checkers still check every call).
    """

    def decorate(init: Callable[Concatenate[S, P], None]) -> Callable[Concatenate[S, P], None]:
        signature = inspect.signature(target)
        self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        init.__signature__ = signature.replace(  # type: ignore[attr-defined]  # for help()
            parameters=[self, *signature.parameters.values()], return_annotation=None
        )
        return init

    return decorate
