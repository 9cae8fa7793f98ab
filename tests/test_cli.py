"""The `taskmill` command: the demo, and the read-only inspection commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import Live
from taskmill import Domain, PermanentError, Retry, RetryPolicy, Scheduler, TaskContext, __version__
from taskmill.cli import main
from taskmill.cli.app import cli
from taskmill.testing import FakeClock, run_until_idle

ESCAPE = "\x1b[31mred\x1b[0m [bold]not markup[/bold] \u202eevil"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
async def db(db_path: Path) -> Path:
    """A closed database: a parent with two children, a failure, a dead letter, a pending task."""
    clock = FakeClock()
    shop = Domain("shop", retry=RetryPolicy.never())

    @shop.task("order")
    async def order(payload: dict[str, Any], ctx: TaskContext) -> None:
        if payload.get("kids"):
            for n in range(payload["kids"]):
                await ctx.spawn({"n": n}, task="item")
        if payload.get("fail"):
            raise PermanentError("card declined")

    @shop.task("item")
    async def item(payload: dict[str, Any], ctx: TaskContext) -> None:
        pass

    @shop.task("ship", retry=RetryPolicy.fixed(0, max_retries=1))
    async def ship(payload: dict[str, Any], ctx: TaskContext) -> None:
        raise Retry("carrier down")

    async with Scheduler(db_path, domains=[shop], clock=clock) as scheduler:
        handle = scheduler.domain(shop)
        await scheduler.pause()  # ids in submission order, whatever the dispatcher's timing
        await handle.submit({"kids": 2}, task="order", tags={"user": "ann"})  # 1, children 4 5
        await handle.submit({"fail": True}, task="order")  # 2
        await handle.submit({"to": "x"}, task="ship")  # 3: dead letter after 2 attempts
        await scheduler.resume()
        await run_until_idle(scheduler, clock)
        await scheduler.pause()
        await handle.submit({"note": ESCAPE}, task="order", tags={"user": "bob"}, priority=7)
    return db_path


def test_status_counts_and_json(db: Path) -> None:
    """`status` shows counts by status; --json gives every active status and the dead letters."""
    result = invoke("status", str(db), "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["counts"] == {
        "pending": 0, "running": 0, "paused": 1, "waiting": 0, "blocked": 0
    }  # fmt: skip
    assert document["total"] == 1
    assert document["running"] == []
    assert document["pauses"] == {"everything": True, "domains": [], "groups": {}}
    assert (document["schedules"], document["dead_letters"]) == (0, 1)
    table = invoke("status", str(db)).output
    assert "│ paused  │ 1     │" in table
    assert "│ everything │" in table
    assert "schedules: 0   dead letters: 1" in table
    assert "\x1b" not in table  # no colour off a terminal


def test_tasks_filters_and_pages(db: Path) -> None:
    """`tasks` filters by status, domain and tag, and pages with --after."""
    document = json.loads(invoke("tasks", str(db), "--tag", "user", "--json").output)
    assert [t["id"] for t in document["tasks"]] == [6]
    assert document["tasks"][0]["tags"] == {"user": "bob"}
    assert document["next_after"] is None
    assert json.loads(invoke("tasks", str(db), "--domain", "other", "--json").output) == {
        "tasks": [],
        "next_after": None,
    }
    assert (
        json.loads(invoke("tasks", str(db), "--status", "pending", "--json").output)["tasks"] == []
    )
    table = invoke("tasks", str(db), "--type", "shop::order").output
    assert "│ 6  │ shop::order │ paused │ 7        │" in table


def test_show_renders_payload_safely_with_children_and_history(db: Path) -> None:
    """`show` escapes control characters and markup; lists attempts and children."""
    result = invoke("show", str(db), "6")
    assert result.exit_code == 0
    out = result.output
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert '"note": "\\u001b[31mred\\u001b[0m [bold]not markup[/bold] \\u202eevil"' in out
    parent = json.loads(invoke("show", str(db), "1", "--json").output)
    assert parent["task"] is None
    assert [(h["status"], h["tags"]) for h in parent["history"]] == [("completed", {"user": "ann"})]
    assert parent["children"] == [
        {"id": 4, "type": "shop::item", "status": "completed", "label": "shop::item"},
        {"id": 5, "type": "shop::item", "status": "completed", "label": "shop::item"},
    ]
    table = invoke("show", str(db), "1").output
    assert "│ 5  │ shop::item │ completed │ shop::item │" in table
    assert "│ tags        │ user=ann " in table


def test_history_failures_and_dead_letters(db: Path) -> None:
    """History lists newest first and pages; failures and dead letters pick their statuses."""
    every = json.loads(invoke("history", str(db), "--json").output)["history"]
    assert sorted((r["id"], r["status"]) for r in every) == [
        (1, "completed"),
        (2, "failed"),
        (3, "dead_letter"),
        (4, "completed"),
        (5, "completed"),
    ]
    assert [r["seq"] for r in every] == [5, 4, 3, 2, 1]
    first = json.loads(invoke("history", str(db), "--limit", "2", "--json").output)
    assert first == {"history": every[:2], "next_before": every[1]["seq"]}
    rest = json.loads(invoke("history", str(db), "--before", "4", "--json").output)
    assert rest == {"history": every[2:], "next_before": None}
    failures = json.loads(invoke("failures", str(db), "--json").output)["history"]
    assert sorted((r["id"], r["last_error"]) for r in failures) == [
        (2, "PermanentError: card declined"),
        (3, "Retry: carrier down"),
    ]
    dead = invoke("dead-letters", str(db)).output
    assert "│ 3  │ shop::ship │ dead_letter │ 1       │" in dead
    assert "Retry: carrier down" in dead


def test_stats_and_schedules(db: Path) -> None:
    """`stats` counts outcomes per type; `schedules` lists none here."""
    types = json.loads(invoke("stats", str(db), "--json").output)["types"]
    assert {t["type"]: t["by_status"] for t in types} == {
        "shop::item": {"completed": 2},
        "shop::order": {"completed": 1, "failed": 1},
        "shop::ship": {"dead_letter": 1},
    }
    assert "│ shop::order │ 2       │ completed=1 failed=1 │ 50%" in invoke("stats", str(db)).output
    assert json.loads(invoke("schedules", str(db), "--json").output) == {"schedules": []}


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["show", "{db}", "99"], 1, "taskmill: error: no task has id 99"),
        (["status", "{missing}"], 3, "does not exist; a read-only open never creates one"),
        (["tasks", "{text}"], 3, "is not a SQLite database"),
        (["tasks", "{db}", "--tag", "=x"], 2, "give KEY or KEY=VALUE"),
        (["tasks", "{db}", "--after", "x"], 2, "PRIORITY:ID"),
        (["tasks", "{db}", "--status", "done"], 2, "'done' is not one of"),
        (["history", "{db}", "--tag", "a", "--tag", "a=b"], 2, "given twice"),
    ],
)
def test_exit_statuses_and_one_line_errors(
    db: Path, tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    """1 not found, 2 bad input, 3 cannot open; the error is on stderr, without a traceback."""
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    paths = {"db": str(db), "missing": str(tmp_path / "missing.db"), "text": str(text)}
    result = CliRunner().invoke(cli, [a.format(**paths) for a in args])
    assert result.exit_code == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "missing.db").exists()


def test_status_json_of_a_live_database_in_a_real_process(live: Live) -> None:
    """`taskmill status DB --json`, run as a process, reads the database a running app holds."""
    result = subprocess.run(
        [sys.executable, "-m", "taskmill", "status", str(live.path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["counts"] == {
        "pending": 1, "running": 1, "paused": 1, "waiting": 0, "blocked": 0
    }  # fmt: skip
    assert [(r["id"], r["type"], r["priority"]) for r in document["running"]] == [
        (live.held, "live::hold", 64)
    ]
    assert document["pauses"]["groups"] == {"uploads": None}
    assert document["dead_letters"] == 0


def test_without_click_the_command_says_how_to_install_it() -> None:
    """Without the cli extra, `taskmill` prints the install command and exits with 2."""
    code = (
        "import sys\n"
        "sys.modules['click'] = None\n"
        "from taskmill.cli import main\n"
        "sys.exit(main(['status', 'tasks.db']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 2
    assert result.stderr == (
        "taskmill: the command line needs its extra: pip install 'taskmill[cli]' "
        "(click is missing)\n"
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`taskmill --version` prints the package version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"taskmill {__version__}\n"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, the usage is printed and the status is 2."""
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "demo" in captured.out + captured.err
    assert "status" in captured.out + captured.err
