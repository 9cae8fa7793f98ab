"""``ctx.io``: paced files that record bytes, flush in chunks and wait for grants."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import ConfigurationError, Domain, Scheduler, TaskContext, TaskStatus
from taskmill.scheduler import task_io
from taskmill.scheduler.pacing import Pacer
from taskmill.scheduler.task_io import FALLBACK_CHUNKS

KIB = 1024
CHUNK = 512 * KIB


@dataclass
class Save:
    path: str
    kib: int


def context(pacer: Pacer | None = None, priority: int = 128) -> TaskContext:
    return TaskContext(
        id=1, type="d::t", key="k", label="", priority=priority, attempt=1, pacer=pacer
    )


class RangedFlushes:
    """Stands in for sync_file_range: records (offset, length, flags) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, fd: int, offset: int, nbytes: int, flags: int) -> None:
        self.calls.append((offset, nbytes, flags))


WRITE, WAIT = 2, 1 | 2 | 4


def test_written_data_is_flushed_chunk_by_chunk_and_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk's writeback starts as it fills; the one before is waited for; close waits all."""
    flushes = RangedFlushes()
    monkeypatch.setattr(task_io, "sync_file_range", flushes)
    ctx = context()
    with ctx.io.open(tmp_path / "out.bin", "wb") as f:
        f.write(b"x" * (3 * CHUNK + 100))
    assert flushes.calls == [
        (0, CHUNK, WRITE),
        (CHUNK, CHUNK, WRITE),
        (0, CHUNK, WAIT),
        (2 * CHUNK, CHUNK, WRITE),
        (CHUNK, CHUNK, WAIT),
        (0, 0, WAIT),  # close: whatever is left, the whole file
    ]
    assert (tmp_path / "out.bin").stat().st_size == 3 * CHUNK + 100
    assert ctx.actual_io.disk_write == 3 * CHUNK + 100


def test_without_ranged_flushes_data_is_fdatasynced_every_few_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where sync_file_range is missing, fdatasync runs every 8 chunks and at close."""
    synced: list[int] = []
    monkeypatch.setattr(task_io, "sync_file_range", None)
    monkeypatch.setattr(task_io, "_datasync", synced.append)
    ctx = context()
    with ctx.io.open(tmp_path / "out.bin", "wb") as f:
        for _ in range(FALLBACK_CHUNKS * 2 + 1):
            f.write(b"y" * CHUNK)
        assert len(synced) == 2
    assert len(synced) == 3


def test_a_filesystem_refusing_ranged_flushes_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sync_file_range failing (EINVAL on some filesystems) switches that file to fdatasync."""

    def refuse(fd: int, offset: int, nbytes: int, flags: int) -> None:
        raise OSError(22, "Invalid argument")

    synced: list[int] = []
    monkeypatch.setattr(task_io, "sync_file_range", refuse)
    monkeypatch.setattr(task_io, "_datasync", synced.append)
    with context().io.open(tmp_path / "out.bin", "wb") as f:
        f.write(b"z" * (2 * CHUNK))
    assert len(synced) == 1  # at close: the data written since the switch
    assert (tmp_path / "out.bin").read_bytes() == b"z" * (2 * CHUNK)


def test_reads_are_recorded_and_text_mode_works(tmp_path: Path) -> None:
    """A JSON file written and read back in text mode: both directions recorded in bytes."""
    ctx = context()
    with ctx.io.open(tmp_path / "data.json", "w", encoding="utf-8") as f:
        json.dump({"ok": "é"}, f)
    with ctx.io.open(tmp_path / "data.json", encoding="utf-8") as f:
        assert json.load(f) == {"ok": "é"}
    size = (tmp_path / "data.json").stat().st_size
    assert (ctx.actual_io.disk_write, ctx.actual_io.disk_read) == (size, size)


def test_libraries_that_take_file_objects_accept_a_paced_file(tmp_path: Path) -> None:
    """shutil.copyfileobj writes into it; fileno() works for os.fsync."""
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(3 * CHUNK))
    ctx = context()
    with source.open("rb") as reader, ctx.io.open(tmp_path / "dst.bin", "wb") as writer:
        shutil.copyfileobj(reader, writer)
        writer.flush()
        os.fsync(writer.fileno())
    assert (tmp_path / "dst.bin").read_bytes() == source.read_bytes()


def test_copy_moves_the_bytes_records_both_ways_and_reports_progress(tmp_path: Path) -> None:
    """copy() returns the size, records it read and written, and ends at byte progress 1.0."""
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(CHUNK + 12345))
    ctx = context()
    copied = ctx.io.copy(source, tmp_path / "dst.bin")
    assert copied == CHUNK + 12345
    assert (ctx.actual_io.disk_read, ctx.actual_io.disk_write) == (copied, copied)
    assert (ctx.progress.bytes_done, ctx.progress.bytes_total, ctx.progress.fraction) == (
        copied,
        copied,
        1.0,
    )
    assert (tmp_path / "dst.bin").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("mode", ["rw", "wbt", "q", "rr", ""])
def test_a_mode_open_would_refuse_is_refused(tmp_path: Path, mode: str) -> None:
    """A mode that open() does not take raises ConfigurationError naming it; nothing is made."""
    with pytest.raises(ConfigurationError, match="invalid file mode"):
        context().io.open(tmp_path / "f", mode)
    assert not (tmp_path / "f").exists()


def test_unbuffered_text_is_refused(tmp_path: Path) -> None:
    """``buffering=0`` needs a binary mode, as with open()."""
    with pytest.raises(ConfigurationError, match="binary"):
        context().io.open(tmp_path / "f", "w", buffering=0)


class Signal:
    """A cancel token double that tells the test when a grant starts waiting."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.cancelled = False

    def raise_if_cancelled(self) -> None:
        self.waiting.set()
        if self.cancelled:
            raise asyncio.CancelledError("cancelled")


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_congested_disk_spaces_grants_by_a_halving_rate() -> None:
    """10 MB granted in the period before congestion: 5 MB/s, then 2.5 MB/s; clean frees it."""
    ticks = Ticks()
    pacer = Pacer(chunk=CHUNK, interval=0.1, exempt=64, monotonic=ticks)
    pacer.update(1, congested=False)
    with pacer.grant(1_000_000, 128, Signal()):
        pass
    ticks.now = 0.1
    pacer.update(1, congested=True)
    assert pacer.rate == pytest.approx(max(CHUNK / 0.1, 1_000_000 / 0.1 / 2))
    ticks.now = 0.2
    pacer.update(1, congested=True)
    assert pacer.rate == pytest.approx(max(CHUNK / 0.1, 1_000_000 / 0.1 / 4))
    pacer.update(1, congested=False)
    assert pacer.rate is None


def test_a_grant_waits_while_congested_until_a_clean_reading(tmp_path: Path) -> None:
    """Paced by a congested disk, a second chunk blocks; the first clean reading lets it go."""
    ticks = Ticks()
    pacer = Pacer(chunk=CHUNK, interval=0.1, exempt=64, monotonic=ticks)
    pacer.update(2, congested=True)  # the floor: 2 chunks per 100 ms
    first = Signal()
    with pacer.grant(CHUNK, 128, first):  # the first grant goes at once
        pass
    second = Signal()
    done = threading.Event()

    def writer() -> None:
        with pacer.grant(10 * CHUNK, 128, second):
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert second.waiting.wait(5)
    assert not done.is_set()  # the clock stands still: its tokens never come
    pacer.update(2, congested=False)
    thread.join(5)
    assert done.is_set()


def test_the_limit_caps_chunks_in_flight_even_on_a_clean_disk() -> None:
    """With limit 1, a second writer waits for the first one's chunk to end."""
    pacer = Pacer(chunk=CHUNK, interval=0.1, exempt=64)
    pacer.update(1, congested=False)
    order: list[str] = []
    second = Signal()

    def writer() -> None:
        with pacer.grant(CHUNK, 200, second):
            order.append("second")

    with pacer.grant(CHUNK, 200, Signal()):
        thread = threading.Thread(target=writer)
        thread.start()
        assert second.waiting.wait(5)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]


def test_exempt_priorities_and_no_limit_never_wait() -> None:
    """HIGH chunks pass a busy, congested pacer; without a limit nothing is paced."""
    pacer = Pacer(chunk=CHUNK, interval=0.1, exempt=64, monotonic=Ticks())
    pacer.update(1, congested=True)
    with pacer.grant(CHUNK, 200, Signal()), pacer.grant(CHUNK, 64, Signal()):
        pass  # the HIGH grant did not wait for the background one
    free = Pacer(chunk=CHUNK, interval=0.1, exempt=64)
    with free.grant(CHUNK, 255, Signal()), free.grant(CHUNK, 255, Signal()):
        pass


def test_a_cancelled_task_stops_waiting_for_its_grant() -> None:
    """A waiting grant raises CancelledError once the task's token is cancelled."""
    pacer = Pacer(chunk=CHUNK, interval=0.01, exempt=64)
    pacer.update(1, congested=False)
    token = Signal()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with pacer.grant(CHUNK, 200, token):
                pass
        except asyncio.CancelledError as exc:
            failure.append(exc)

    with pacer.grant(CHUNK, 200, Signal()):
        thread = threading.Thread(target=writer)
        thread.start()
        assert token.waiting.wait(5)
        token.cancelled = True
        thread.join(5)
    assert len(failure) == 1
    assert pacer.waiting == 0


# --- in a scheduler --------------------------------------------------------------------

media = Domain("media")
started = threading.Event()


@media.task("save")
def save(job: Save, ctx: TaskContext) -> None:
    """Write ``kib`` KiB through ctx.io, in 64 KiB writes."""
    with ctx.io.open(job.path, "wb") as f:
        for _ in range(job.kib // 64):
            f.write(b"s" * (64 * KIB))


@media.task("forever")
def forever(job: Save, ctx: TaskContext) -> None:
    """Write through ctx.io until cancelled (ctx.io raises at the next chunk)."""
    with ctx.io.open(job.path, "wb") as f:
        started.set()
        while True:
            f.write(b"f" * CHUNK)
            f.seek(0)


@media.task("export")
async def export(job: Save, ctx: TaskContext) -> None:
    """An async executor: writes with open_async, then copies with copy_async."""
    async with ctx.io.open_async(job.path, "wb") as f:
        await f.write(b"a" * (job.kib * KIB))
    await ctx.io.copy_async(job.path, job.path + ".copy")


async def test_a_task_records_what_it_wrote_through_ctx_io(tmp_path: Path) -> None:
    """The history record holds the bytes the executor wrote, without any record_* call."""
    async with Scheduler(":memory:", domains=[media]) as scheduler:
        outcome = await scheduler.domain(media).submit(
            Save(str(tmp_path / "a.bin"), 1024), task="save"
        )
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.actual_io.disk_write == 1024 * KIB


async def test_async_executors_use_the_async_helpers(tmp_path: Path) -> None:
    """open_async and copy_async run on worker threads; bytes and progress are recorded."""
    async with Scheduler(":memory:", domains=[media]) as scheduler:
        outcome = await scheduler.domain(media).submit(
            Save(str(tmp_path / "e.bin"), 700), task="export"
        )
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.status is TaskStatus.COMPLETED
    assert (record.actual_io.disk_write, record.actual_io.disk_read) == (1400 * KIB, 700 * KIB)
    assert (tmp_path / "e.bin.copy").read_bytes() == b"a" * (700 * KIB)


async def test_a_cancelled_thread_executor_stops_at_its_next_chunk(tmp_path: Path) -> None:
    """Cancelling a plain-function executor that writes through ctx.io ends it: cancelled."""
    started.clear()
    async with Scheduler(":memory:", domains=[media]) as scheduler:
        outcome = await scheduler.domain(media).submit(
            Save(str(tmp_path / "f.bin"), 0), task="forever"
        )
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        assert await scheduler.cancel(outcome.id)
        await scheduler.wait_idle()
        [record] = await scheduler.get_history(outcome.id)
    assert record.status is TaskStatus.CANCELLED
