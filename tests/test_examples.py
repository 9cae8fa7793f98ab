"""The examples in examples/ run to completion (they are documentation that must not rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_examples_exist() -> None:
    """The examples folder is not empty (a wrong path would make the next test vacuous)."""
    assert [p.name for p in EXAMPLES] == ["quickstart.py", "retries_and_events.py"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    """Each example exits 0 and prints what it promises."""
    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = {
        "quickstart.py": "task 1 completed: read 4096 bytes",
        "retries_and_events.py": "fetch https://example.com/down: dead_letter after 1 retries",
    }[example.name]
    assert expected in result.stdout
