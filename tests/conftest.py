"""Shared fixtures: a fake clock, database paths, and a small domain of test tasks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import MemoryStore, SqliteStore, Store
from taskmill.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when the test advances it."""
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a database file that does not exist yet."""
    return tmp_path / "tasks.db"


@pytest.fixture(params=["file", "memory"])
def database(request: pytest.FixtureRequest, db_path: Path) -> str:
    """The scheduler's database: a SQLite file, or the in-memory store."""
    return str(db_path) if request.param == "file" else ":memory:"


@pytest.fixture(params=["sqlite", "memory"])
def store_factory(request: pytest.FixtureRequest, db_path: Path) -> Callable[[], Store]:
    """Makes the store under test: the SQLite file store and the in-memory store."""
    if request.param == "sqlite":
        return lambda: SqliteStore(db_path)
    return MemoryStore


@pytest.fixture
async def store(store_factory: Callable[[], Store]) -> AsyncIterator[Store]:
    """An open store of each kind, closed after the test."""
    opened = store_factory()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


HOLDER = Path(__file__).with_name("live_holder.py")


@dataclass(frozen=True)
class Live:
    """The database of a running app (tests/live_holder.py) and its blocking task's id."""

    path: Path
    held: int


def start_holder(path: Path) -> tuple[subprocess.Popen[str], int]:
    """Start the app on ``path``; return it and the id of its running task once ready."""
    child = subprocess.Popen(
        [sys.executable, str(HOLDER), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("ready "), line
    return child, int(line.split()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A database held open by a scheduler running in another process."""
    path = tmp_path_factory.mktemp("live") / "tasks.db"
    child, held = start_holder(path)
    try:
        yield Live(path, held)
    finally:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.close()
        assert child.wait(timeout=30) == 0
        child.stdout.close()
