"""`taskmill demo`: plain text through a pipe, and the live screen on a pseudo-terminal.

The plain run goes through every act with `--fast` (about 17 s: act four watches a real
disk flood and the IO limit's recovery, which moves once a second whatever the timings).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from click.testing import CliRunner

from taskmill.cli.app import cli
from taskmill.cli.demo.acts import TITLES

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def taskmill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `taskmill` command as a process with its output piped."""
    return subprocess.run(
        [sys.executable, "-m", "taskmill", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_plain_demo_runs_every_act_and_keeps_its_database(tmp_path: Path) -> None:
    """Piped, the demo prints every act in order with its key facts, and keeps its database."""
    db = tmp_path / "demo.db"
    result = taskmill("demo", "--fast", "--db", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out
    headings = [f"== Act {n}/6: {title} ==" for n, title in enumerate(TITLES, 1)]
    assert [line for line in out.splitlines() if line.startswith("== Act")] == headings
    # 1: the only BACKGROUND scan among the four running gives way to the REALTIME preview
    assert "submit   preview IMG_0042.jpg (REALTIME) -> Inserted #8" in out
    assert out.count("paused   scan Archive 2019 #4: preempted by #8, no retry charged") == 1
    assert "preempted #4 (scan Archive 2019), the least important running task, for #8" in out
    # 2: duplicates coalesce
    assert "thumbnail IMG_0006.jpg again (queued) -> Duplicate #14" in out
    assert "thumbnail IMG_0008.jpg again at HIGH -> Upgraded #16" in out
    assert "thumbnail IMG_0001.jpg again (running) -> Requeued #9" in out
    # 3: backoff, a permanent failure, a dead letter retried
    assert "failed   upload holiday.mov #17: Retry: connection reset by peer, retry in 0.12s" in out
    assert "failed   upload gone.txt #18: PermanentError: /docs/gone.txt does not exist" in out
    assert "dead     upload huge.mov #19: dead letter after 3 attempts" in out
    assert "dead letter #19 retried as #20" in out
    assert "done     upload huge.mov #20" in out
    # 4: the IO limit and the disk's readings during a real flood. Whether the disk congests
    # depends on the machine (a tmpfs or a very fast disk may shrug a 256 MiB flood off), so
    # the limit must fall below its cap exactly when congested readings were seen.
    assert "flood over: 256 MiB written, fsynced and deleted" in out
    io = re.search(
        r"IO limit: (\d+) of (\d+) before the flood, lowest (\d+) during it, (\d+) after; "
        r"(\d+) congested readings",
        out,
    )
    assert io is not None, out
    before, cap, lowest, _, congested = map(int, io.groups())
    assert cap == 4
    assert lowest <= before <= cap
    if congested:
        assert lowest < cap
    assert not list(tmp_path.glob(".taskmill-demo-io-*"))  # flood and exports deleted
    # 5: the group cap
    assert "group album:holiday: at most 2 of its 6 uploads ran at once" in out
    act5 = out[out.index(headings[4]) : out.index(headings[5])]
    assert re.search(r"\] waiting: .*cap", act5), act5  # why the other uploads waited
    # 6: SIGKILL, then recovery without a retry charged
    assert "worker killed (exit status -9); reopening the database" in out
    assert re.search(r"recovered 3 tasks: (#\d+ pending \(retries 0\)(, )?){3}\n", out), out
    # the end: the database is kept, with the commands that show it
    for command in ("status", "tasks", "history", "top"):
        assert f"\n  taskmill {command} {db}\n" in out + "\n"
    assert db.exists()
    status = taskmill("status", str(db), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["counts"] == {
        "pending": 0, "running": 0, "paused": 0, "waiting": 0, "blocked": 0
    }  # fmt: skip
    assert (document["total"], document["dead_letters"]) == (0, 1)
    stats = json.loads(taskmill("stats", str(db), "--json", cwd=tmp_path).stdout)
    by_type = {t["type"]: t["by_status"] for t in stats["types"]}
    assert by_type.pop("photos::export")["completed"] >= 1
    assert by_type == {
        "cloud::upload": {"completed": 8, "dead_letter": 1, "failed": 1},
        "photos::preview": {"completed": 1},
        "photos::scan": {"completed": 7},
        "photos::thumbnail": {"completed": 11},
        "photos::transcode": {"completed": 3},
    }


def read_until(fd: int, seen: bytearray, done: re.Pattern[bytes], timeout: float = 30) -> bool:
    """Read a pty into `seen` until `done` matches it; False at end of output or timeout."""
    deadline = time.monotonic() + timeout
    while not done.search(seen):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        seen += chunk
    return True


def set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def test_live_screen_renders_survives_a_resize_and_quits_on_ctrl_c(tmp_path: Path) -> None:
    """On a terminal: the screen draws acts and bars, takes a resize, and Ctrl-C ends it cleanly."""
    db = tmp_path / "live.db"
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": os.pathsep.join(sys.path)}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "TERM_PROGRAM"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "taskmill", "demo", "--fast", "--no-io", "--no-crash"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 100 x 30, then the demo
        set_size(0, 30, 100)
        os.execve(sys.executable, [*argv, "--db", str(db)], env)
    seen = bytearray()
    try:
        assert read_until(fd, seen, re.compile(rb"Act 1/6: Priorities and preemption")), seen
        assert read_until(fd, seen, re.compile("━".encode())), seen  # a progress bar
        set_size(fd, 40, 140)
        os.kill(pid, signal.SIGWINCH)
        assert read_until(fd, seen, re.compile(rb"Act 2/6: Deduplication")), seen
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal's line discipline
        read_until(fd, seen, re.compile(rb"(?!)"))  # everything, until the child closes it
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    out = bytes(seen).decode("utf-8", "replace")
    assert "\x1b[?1049h" in out  # the alternate screen was entered...
    end = out.rindex("\x1b[?1049l")  # ...and left,
    assert "\x1b[?25h" in out[end - 40 : end + 40]  # with the cursor shown again
    tail = ANSI.sub("", out[end:]).replace("\r", "")
    assert f"taskmill demo: interrupted; the database is kept: {db}\n" in tail
    assert f"  taskmill status {db}\n" in tail
    assert "Traceback" not in out
    assert db.exists()


def test_demo_options() -> None:
    """`demo --help` lists its options."""
    out = CliRunner().invoke(cli, ["demo", "--help"]).output
    for option in ("--db PATH", "--fast", "--no-crash", "--no-io", "--plain / --screen"):
        assert option in out
