"""A real disk flood from another process, bounded in bytes and time, that cleans up after.

Act four needs a disk that is really congested, by someone other than taskmill, the way a
backup or a large download congests it. :class:`Flood` starts a Python process that runs
:func:`main` with ``DIRECTORY BUDGET SECONDS``: a few threads write files of 16 MiB to
``DIRECTORY`` in 1 MiB writes spread evenly over ``SECONDS``, fsync each file and delete
it, until ``BUDGET`` bytes are written, ``SECONDS`` have passed, or a line arrives on
standard input. At most one file per
thread exists at a time (64 MiB on disk), and the directory is removed at the end, also
when the process is killed (by the parent, see :meth:`Flood.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
import time
from pathlib import Path

MIB = 1 << 20
FILE_MIB = 16
THREADS = 4
MAX_BUDGET = 512 * MIB
"""The most the flood ever writes, whatever it is asked: the demo must not fill a disk."""


class Flood:
    """The flood process, seen from the demo.

    Args:
        directory: Where to write (a directory of its own, removed afterwards).
        budget: Bytes to write at most (capped at :data:`MAX_BUDGET`).
        seconds: How long to flood at most.
    """

    def __init__(self, directory: Path, budget: int, seconds: float) -> None:
        self.directory = directory
        self.budget = min(budget, MAX_BUDGET)
        self.seconds = seconds
        self.written = 0
        """Bytes the flood reported written so far."""
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the process; it floods at once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from taskmill.cli.demo.flood import main; main(sys.argv[1:])",
            str(self.directory),
            str(self.budget),
            str(self.seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C on the terminal is the demo's to handle
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            with contextlib.suppress(ValueError):
                self.written = int(line)

    @property
    def running(self) -> bool:
        """Whether the process still floods."""
        return self._process is not None and self._process.returncode is None

    async def wait(self) -> None:
        """Wait until the flood ends by itself (budget or time spent)."""
        if self._process is not None:
            await self._process.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        """End the flood now (politely, then by force) and delete what it left."""
        process = self._process
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            with contextlib.suppress(OSError):
                process.stdin.write(b"stop\n")
                await process.stdin.drain()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await self._reader
        shutil.rmtree(self.directory, ignore_errors=True)

    def kill(self) -> None:
        """End the flood at once, without waiting (for interrupted runs); delete its files."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def flood(directory: Path, budget: int, seconds: float, stop: threading.Event) -> int:
    """Write, fsync and delete files in ``directory`` from a few threads; return bytes written.

    Args:
        directory: Where to write.
        budget: Bytes to write at most.
        seconds: Time to flood at most.
        stop: Set to end the flood early.
    """
    started = time.monotonic()
    deadline = started + seconds
    pace = budget / seconds / THREADS  # bytes per second per thread: spread over the time
    lock = threading.Lock()
    written = [0]  # claimed, so that the threads never pass the budget together
    done = [0]
    chunk = b"\1" * MIB

    def more() -> bool:
        with lock:
            if stop.is_set() or time.monotonic() >= deadline or written[0] >= budget:
                return False
            written[0] += FILE_MIB * MIB
            return True

    def writer(n: int) -> None:
        path = directory / f"flood-{n}.bin"
        mine = 0
        while more():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for _ in range(FILE_MIB):
                    os.write(fd, chunk)
                    mine += MIB
                    stop.wait(max(0.0, started + mine / pace - time.monotonic()))
                os.fsync(fd)
            finally:
                os.close(fd)
                path.unlink()
            with lock:
                done[0] += FILE_MIB * MIB
                print(done[0], flush=True)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0]


def main(argv: list[str]) -> None:
    """The flood process: ``DIRECTORY BUDGET SECONDS``; a line on standard input stops it."""
    directory, budget, seconds = Path(argv[0]), min(int(argv[1]), MAX_BUDGET), float(argv[2])
    stop = threading.Event()

    def listen() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=listen, daemon=True).start()
    try:
        flood(directory, budget, seconds, stop)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
