"""README.md and .ci/run agree: CI runs the README's commands exactly as typed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def shell_blocks(text: str) -> list[str]:
    """The contents of the ```sh blocks of a Markdown text."""
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_has_its_two_commands() -> None:
    commands = [line for block in shell_blocks(README) for line in block.splitlines()]

    assert "pip install -e '.[test]' && pytest scenarios/" in commands
    assert "pip install -e '.[test]' && pytest" in commands


def test_ci_runs_the_readmes_test_command_as_typed() -> None:
    lines = [line.strip() for line in CI.splitlines()]

    assert "pip install -e '.[test]' && pytest" in lines
    assert "python3 -m venv .venv" in lines


def test_files_the_readme_names_exist() -> None:
    for name in re.findall(r"`((?:examples|docs|scenarios|bench)/[\w./-]+)`", README):
        assert (ROOT / name).exists(), name
