"""Tasks of types no domain of this scheduler registers: they wait, visibly, and can be ended."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskmill import ConfigurationError, Domain, Scheduler, TaskStatus


@dataclass
class Photo:
    path: str


@dataclass
class Song:
    title: str


def domains() -> tuple[Domain, Domain]:
    media, music = Domain("media"), Domain("music")

    @media.task("thumbnail")
    async def thumbnail(photo: Photo) -> None: ...

    @music.task("play")
    async def play(song: Song) -> None: ...

    return media, music


async def fill(db_path: Path) -> None:
    """Store two music tasks and one media task, as a process running both domains would."""
    media, music = domains()
    writer = Scheduler(db_path, domains=[media, music])
    await writer.open()  # open, not dispatching: the tasks stay pending
    await writer.domain(music).submit_many([Song("a"), Song("b")])
    await writer.domain(media).submit(Photo("/p.jpg"))
    await writer.close()


async def test_they_are_named_at_open_counted_in_the_snapshot_and_cancelled_by_type(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await fill(db_path)
    media, _ = domains()
    with caplog.at_level(logging.WARNING, logger="taskmill"):
        async with Scheduler(db_path, domains=[media]) as scheduler:
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert warnings == [
                "taskmill: 2 tasks of music::play wait for a process that registers their "
                "types (no domain of this scheduler does); cancel_type() ends them if none "
                "ever will"
            ]
            await scheduler.wait_idle()  # the media task ran; the music tasks wait elsewhere
            snapshot = await scheduler.snapshot()
            assert snapshot.unregistered == {"music::play": 2}
            assert snapshot.counts == {"pending": 2}
            assert await scheduler.cancel_type("music::play") == 2
            assert (await scheduler.snapshot()).unregistered == {}
            history = await scheduler.list_history(limit=10)
    assert sorted((r.type, r.status) for r in history) == [
        ("media::thumbnail", TaskStatus.COMPLETED),
        ("music::play", TaskStatus.CANCELLED),
        ("music::play", TaskStatus.CANCELLED),
    ]


async def test_cancel_type_takes_the_type_object_and_checks_names(db_path: Path) -> None:
    media, music = domains()
    async with Scheduler(db_path, domains=[media, music]) as scheduler:
        await scheduler.pause()
        await scheduler.domain(music).submit(Song("a"))
        assert await scheduler.cancel_type(music.tasks["play"]) == 1
        assert await scheduler.cancel_type("media::thumbnail") == 0
        with pytest.raises(ConfigurationError, match="qualified name 'domain::name'"):
            await scheduler.cancel_type("play")
        assert (await scheduler.snapshot()).unregistered == {}
