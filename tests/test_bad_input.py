"""Bad input gets a specific error whose message says how to fix it; nothing stored changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from taskmill import (
    AmbiguousTaskTypeError,
    DatabaseAccessError,
    DatabaseCorruptError,
    Domain,
    Inserted,
    InvalidPriorityError,
    NotADatabaseError,
    PayloadEncodeError,
    PayloadTooLargeError,
    PayloadValidationError,
    Scheduler,
    SchemaVersionError,
    Submission,
    TaskmillError,
    UnknownTaskTypeError,
    WrongDomainError,
)
from taskmill.store.schema import latest_version


@dataclass
class Photo:
    path: str
    size: int = 0


@dataclass
class Song:
    title: str


@dataclass
class Unregistered:
    x: int


class Opaque:
    """A class msgspec does not know how to encode."""


@dataclass
class Holder:
    thing: object


media = Domain("media")
music = Domain("music")


@media.task("thumbnail")
async def thumbnail(photo: Photo) -> None:
    """Does nothing."""


@media.task("hold")
async def hold(holder: Holder) -> None:
    """Does nothing."""


@music.task("play")
async def play(song: Song) -> None:
    """Does nothing."""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def stored_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, type, key, priority FROM tasks ORDER BY id").fetchall()


@pytest.fixture
async def scheduler(db_path: Path) -> Scheduler:
    sched = Scheduler(db_path, domains=[media, music], max_payload_bytes=1 << 20)
    await sched.open()
    await sched.domain(media).submit(Photo("/existing.jpg"))
    yield sched  # type: ignore[misc]
    await sched.close()


async def assert_unchanged(scheduler: Scheduler, db_path: Path, before: list[object]) -> None:
    assert await stored_rows(db_path) == before


async def test_oversized_payload(scheduler: Scheduler, db_path: Path) -> None:
    """A payload over max_payload_bytes is refused with its size and the limit."""
    before = await stored_rows(db_path)
    with pytest.raises(PayloadTooLargeError, match=r"1\.0 MiB.*max_payload_bytes \(1\.0 MiB\)"):
        await scheduler.domain(media).submit(Photo("x" * (1 << 20)))
    await assert_unchanged(scheduler, db_path, before)


async def test_payload_limit_is_configurable(db_path: Path) -> None:
    """max_payload_bytes is read: a small limit refuses a small payload."""
    async with Scheduler(db_path, domains=[media], max_payload_bytes=64) as scheduler:
        with pytest.raises(PayloadTooLargeError, match="64 bytes"):
            await scheduler.domain(media).submit(Photo("p" * 100))
        await scheduler.domain(media).submit(Photo("short"))
        assert len(await stored_rows(db_path)) == 1


async def test_unencodable_payload(scheduler: Scheduler, db_path: Path) -> None:
    """A payload msgspec cannot encode is a PayloadEncodeError (a TypeError) with advice."""
    before = await stored_rows(db_path)
    with pytest.raises(PayloadEncodeError, match="pass file paths or ids") as info:
        await scheduler.domain(media).submit(Holder(Opaque()))
    assert isinstance(info.value, TypeError)
    await assert_unchanged(scheduler, db_path, before)


async def test_payload_not_matching_its_type(scheduler: Scheduler, db_path: Path) -> None:
    """A payload whose fields have the wrong types is refused at submit, not at run time."""
    before = await stored_rows(db_path)
    with pytest.raises(PayloadValidationError, match=r"Photo.*\$\.size"):
        await scheduler.domain(media).submit(Photo("/a.jpg", size="big"))  # type: ignore[arg-type]
    await assert_unchanged(scheduler, db_path, before)


async def test_unknown_task_type(scheduler: Scheduler, db_path: Path) -> None:
    """A payload type no task takes is an UnknownTaskTypeError naming the type."""
    before = await stored_rows(db_path)
    with pytest.raises(UnknownTaskTypeError, match="Unregistered"):
        await scheduler.domain(media).submit(Unregistered(1))
    with pytest.raises(UnknownTaskTypeError, match="no task named 'resize'"):
        await scheduler.domain(media).submit(Photo("/a"), task="resize")
    await assert_unchanged(scheduler, db_path, before)


async def test_payload_of_another_domain(scheduler: Scheduler, db_path: Path) -> None:
    """Submitting a payload through the wrong domain names the right one."""
    before = await stored_rows(db_path)
    with pytest.raises(WrongDomainError, match=r"scheduler\.domain\('music'\)"):
        await scheduler.domain(media).submit(Song("x"))
    with pytest.raises(WrongDomainError, match="music::play"):
        await scheduler.domain(media).submit(Song("x"), task=play)
    await assert_unchanged(scheduler, db_path, before)


async def test_plain_dict_needs_a_task_name(scheduler: Scheduler) -> None:
    """A dict payload cannot select a task by its type: the error says to pass task=."""
    with pytest.raises(AmbiguousTaskTypeError, match="pass task="):
        await scheduler.domain(media).submit({"path": "/a"})


async def test_unregistered_domain(scheduler: Scheduler) -> None:
    """Asking for a domain the scheduler does not run is refused."""
    with pytest.raises(UnknownTaskTypeError, match="Scheduler"):
        scheduler.domain(Domain("other"))


@pytest.mark.parametrize("priority", [-1, 256, 1.5, "high", True])
async def test_priority_out_of_range(scheduler: Scheduler, db_path: Path, priority: object) -> None:
    """Priorities outside 0..255 (or not integers) are refused with the valid range."""
    before = await stored_rows(db_path)
    with pytest.raises(InvalidPriorityError, match=r"0\.\.255") as info:
        await scheduler.domain(media).submit(Photo("/new"), priority=priority)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    await assert_unchanged(scheduler, db_path, before)


async def test_one_bad_item_refuses_the_whole_batch(scheduler: Scheduler, db_path: Path) -> None:
    """Batch items are all validated before anything is written."""
    before = await stored_rows(db_path)
    with pytest.raises(InvalidPriorityError):
        await scheduler.domain(media).submit_many(
            [Photo("/1"), Submission(Photo("/2"), priority=999), Photo("/3")]
        )
    await assert_unchanged(scheduler, db_path, before)


async def test_file_that_is_not_a_database(db_path: Path) -> None:
    """A file that is not SQLite is refused and left byte for byte as it was."""
    db_path.write_bytes(b"these are my holiday notes, not a database\n" * 200)
    before = digest(db_path)
    with pytest.raises(NotADatabaseError, match="not a SQLite database"):
        async with Scheduler(db_path, domains=[media]):
            pass
    assert digest(db_path) == before
    assert not Path(f"{db_path}-wal").exists()


async def test_database_of_another_application(db_path: Path) -> None:
    """A SQLite database that taskmill did not create is refused, unmodified."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('ada')")
    conn.close()
    before = digest(db_path)
    with pytest.raises(NotADatabaseError, match="another application"):
        async with Scheduler(db_path, domains=[media]):
            pass
    assert digest(db_path) == before


async def test_database_from_a_newer_taskmill(db_path: Path) -> None:
    """A schema newer than this library's is refused with advice to upgrade; file unchanged."""
    writer = Scheduler(db_path, domains=[media])
    await writer.open()  # open without dispatching: the task stays queued
    await writer.domain(media).submit(Photo("/kept.jpg"))
    await writer.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    before = digest(db_path)
    with pytest.raises(SchemaVersionError, match="Upgrade taskmill"):
        async with Scheduler(db_path, domains=[media]):
            pass
    assert digest(db_path) == before
    with sqlite3.connect(db_path) as conn:
        assert conn.execute(
            "SELECT json_extract(payload, '$.path'), status FROM tasks"
        ).fetchall() == [("/kept.jpg", "pending")]
    conn.close()


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot create files in (immutable when running as root)."""
    directory = tmp_path / "locked"
    directory.mkdir()
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        assert chattr, "running as root needs chattr to make a read-only directory"
        subprocess.run([chattr, "+i", str(directory)], check=True)
        immutable = True
    else:
        directory.chmod(0o555)
    try:
        assert not os.access(directory, os.W_OK), "could not make the directory read-only"
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


async def test_path_in_a_read_only_directory(readonly_dir: Path) -> None:
    """A database path in a read-only directory says which directory and what to do."""
    with pytest.raises(DatabaseAccessError, match="not writable") as info:
        async with Scheduler(readonly_dir / "tasks.db", domains=[media]):
            pass
    assert isinstance(info.value, PermissionError)
    assert list(readonly_dir.iterdir()) == []


async def test_missing_directory(tmp_path: Path) -> None:
    """A database path whose directory does not exist is refused, not created."""
    with pytest.raises(DatabaseAccessError, match="does not exist"):
        async with Scheduler(tmp_path / "nope" / "tasks.db", domains=[media]):
            pass
    assert not (tmp_path / "nope").exists()


async def test_a_directory_as_the_database_path(tmp_path: Path) -> None:
    """It used to blame permissions; it says the path is a directory, and what to pass."""
    with pytest.raises(NotADatabaseError) as raised:
        async with Scheduler(tmp_path, domains=[media]):
            pass
    assert str(raised.value) == (
        f"{str(tmp_path)!r} is a directory; pass the path of a database file in it, such as "
        f"{str(tmp_path / 'tasks.db')!r}"
    )
    assert list(tmp_path.iterdir()) == []


async def test_a_damaged_file_is_named_and_left_untouched(db_path: Path) -> None:
    """Overwritten pages: a specific error with advice, and not one byte written."""
    async with Scheduler(db_path, domains=[media]) as scheduler:
        await scheduler.pause()
        await scheduler.domain(media).submit_many([Photo(f"/p/{i}.jpg") for i in range(300)])
    page_size = 4096
    data = bytearray(db_path.read_bytes())
    assert len(data) > 4 * page_size
    data[page_size:] = b"\xa5" * (len(data) - page_size)  # every page but the header page
    db_path.write_bytes(bytes(data))
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(DatabaseCorruptError) as raised:
        async with Scheduler(db_path, domains=[media]):
            pass
    message = str(raised.value)
    assert "is damaged (database disk image is malformed)" in message
    assert "restore it from a backup" in message
    assert ".recover" in message
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_errors_share_one_base() -> None:
    """Every error raised above is a TaskmillError, so one except clause catches them all."""
    for error in (
        PayloadTooLargeError,
        PayloadEncodeError,
        PayloadValidationError,
        UnknownTaskTypeError,
        WrongDomainError,
        InvalidPriorityError,
        NotADatabaseError,
        SchemaVersionError,
        DatabaseAccessError,
    ):
        assert issubclass(error, TaskmillError)


def test_msgspec_is_the_codec() -> None:
    """Payloads are JSON (msgspec), never pickle: the stored bytes are readable JSON."""
    assert msgspec.json.decode(msgspec.json.encode(Photo("/a", 2))) == {"path": "/a", "size": 2}


@dataclass
class Measure:
    ratio: float
    note: str | None = None


@pytest.mark.parametrize(
    ("task", "payload", "where", "shown"),
    [
        ("measure", Measure(float("nan")), "payload['ratio']", "nan"),
        ("anything", {"scores": [1.0, float("inf")]}, "payload['scores'][1]", "inf"),
        ("anything", [{"x": -float("inf")}], "payload[0]['x']", "-inf"),
    ],
    ids=["nan-in-a-float-field", "inf-in-json", "-inf-nested"],
)
async def test_non_finite_floats_are_refused_naming_the_field(
    db_path: Path, task: str, payload: object, where: str, shown: str
) -> None:
    """NaN and infinities used to be stored as null: the value changed silently."""
    lab = Domain("lab")

    @lab.task("measure")
    async def measure(item: Measure) -> None: ...

    @lab.task("anything")
    async def anything(item: Any) -> None: ...

    async with Scheduler(db_path, domains=[lab]) as scheduler:
        await scheduler.pause()
        with pytest.raises(PayloadEncodeError) as raised:
            await scheduler.domain(lab).submit(payload, task=task)
        message = str(raised.value)
        assert f"lab::{task}: {where} is {shown}," in message
        assert "JSON has no NaN or infinity" in message
        assert await scheduler.count_by_status() == {}
        # None and finite numbers (and nulls the caller meant) still go through
        ok = await scheduler.domain(lab).submit({"scores": [1.5, None]}, task="anything")
        assert isinstance(ok, Inserted)
