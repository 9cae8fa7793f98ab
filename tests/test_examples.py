"""The examples in examples/ and in docs/ run to completion: documentation must not rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def doc_programs() -> list[tuple[str, str]]:
    """Complete programs in the docs: python blocks that run themselves.

    That is, blocks calling asyncio.run, or using the synchronous scheduler in a ``with``.

    Blocks that need pydantic (not a dependency of taskmill) or a screen (tkinter) are left
    out.
    """
    programs = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        for number, block in enumerate(blocks):
            runs = "asyncio.run(" in block or re.search(r"^with Scheduler\(", block, re.M)
            if runs and "pydantic" not in block and "tkinter" not in block:
                programs.append((f"{page.stem}-{number}", block))
    return programs


DOC_PROGRAMS = doc_programs()


def run_program(path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python program in `cwd` as a user would, and capture what it prints."""
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_docs_have_programs() -> None:
    """Every capability page contributes runnable programs (a broken regex would hide them)."""
    pages = {name.rsplit("-", 1)[0] for name, _ in DOC_PROGRAMS}
    assert {"index", "tasks", "retries", "persistence", "events", "queries", "errors"} <= pages


@pytest.mark.parametrize(("name", "source"), DOC_PROGRAMS, ids=[n for n, _ in DOC_PROGRAMS])
def test_doc_program_runs(name: str, source: str, tmp_path: Path) -> None:
    """Each program in the docs exits 0."""
    program = tmp_path / f"{name}.py"
    program.write_text(source, encoding="utf-8")
    result = run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr


def test_examples_exist() -> None:
    """The examples folder is not empty (a wrong path would make the next test vacuous)."""
    assert [p.name for p in EXAMPLES] == [
        "events_to_web.py",
        "qt_app.py",
        "quickstart.py",
        "retries_and_events.py",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    """Each example exits 0 and prints what it promises."""
    # a server: read once, exit; a window: offscreen, run its tasks, exit
    args = {"events_to_web.py": ["--check"], "qt_app.py": ["--check"]}.get(example.name, [])
    result = run_program(example, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    expected = {
        "events_to_web.py": "stream: snapshot, snapshot-data, dispatched, progress, completed",
        "qt_app.py": "6 tasks: done, done, done, done, done, done",
        "quickstart.py": "task 1 completed: read 4096 bytes",
        "retries_and_events.py": "fetch https://example.com/down: dead_letter after 1 retries",
    }[example.name]
    assert expected in result.stdout


def test_readme_first_program_prints_what_it_shows(tmp_path: Path) -> None:
    """The README's first program, run in an empty directory, prints exactly what it shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"## A first program\n\n```python\n(.*?)```\n\nIn an empty directory it prints:\n\n"
        r"```text\n(.*?)```",
        readme,
        re.S,
    )
    assert match is not None
    program = tmp_path / "first.py"
    program.write_text(match.group(1), encoding="utf-8")
    result = run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == match.group(2)
    assert run_program(program, tmp_path).stdout.splitlines()[0] == "Inserted(id=2)"
