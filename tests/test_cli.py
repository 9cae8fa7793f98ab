"""The `taskmill` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskmill import __version__
from taskmill.cli import main


def test_demo_runs_every_act_and_recovers_the_crash(tmp_path: Path) -> None:
    """`taskmill demo` runs its three acts and ends with a clean summary."""
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "taskmill", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("1. Priorities", "2. Retries", "3. Crash recovery", "Summary"):
        assert heading in out
    assert "-> duplicate #5" in out
    assert out.count("preempted by #10, no retry charged") == 1
    assert out.count("recovered transcode") == 3
    assert "history: 15 completed, 1 dead_letter, 1 failed" in out
    assert db.exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`taskmill --version` prints the package version."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, the usage is printed and the status is 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
