"""Shared fixtures: a fake clock, database paths, and a small domain of test tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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
