"""``pytest --help``: the sai3 section reads as our help-text habit asks."""

from __future__ import annotations

import re

import pytest

GROUP = "storage benchmarks (pytest-sai3):"

# Option -> metavar (None for a flag).
OPTIONS = {
    "--sai3-config": "FILE",
    "--sai3-endpoints": "URI,...",
    "--sai3-duration": "DURATION",
    "--sai3-ops": "N",
    "--sai3-concurrency": "N",
    "--sai3-tolerance": "POINTS",
    "--sai3-max-errors": "N",
    "--sai3-results": "DIR",
    "--sai3-dry-run": None,
    "--sai3-strict": None,
}
INI_KEYS = {"sai3_scenarios": "linelist"}

_OPTION_LINE = re.compile(r"^  (--sai3-[a-z-]+)(?:=(\S+))?(?:\s{2,}(\S.*))?$")
_INI_LINE = re.compile(r"^  (sai3_[a-z_]+) \(([a-z]+)\):\s*(\S.*)?$")


def _entries(lines: list[str], pattern: re.Pattern[str]) -> dict[str, tuple[str, str]]:
    """Entries of a help listing: name -> (second field, help joined on one line)."""
    entries: dict[str, tuple[str, str]] = {}
    current = None
    for line in lines:
        match = pattern.match(line)
        if match:
            current = match[1]
            entries[current] = (match[2] or "", match[3] or "")
        elif current and line.startswith(" " * 10) and line.strip():
            field, text = entries[current]
            entries[current] = (field, f"{text} {line.strip()}".strip())
        else:
            current = None
    return entries


@pytest.fixture
def help_lines(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``pytest --help`` at a fixed width, line by line."""
    monkeypatch.setenv("COLUMNS", "100")
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    return result.stdout.lines


def _group(lines: list[str]) -> list[str]:
    start = lines.index(GROUP)
    end = lines.index("", start)
    return lines[start + 1 : end]


def test_every_option_is_in_one_group(help_lines: list[str]) -> None:
    options = _entries(_group(help_lines), _OPTION_LINE)

    assert {name: metavar or None for name, (metavar, _) in options.items()} == OPTIONS
    outside = [
        line
        for line in help_lines
        if "--sai3-" in line and line not in _group(help_lines)
    ]
    assert outside == []


def test_every_ini_key_is_listed(help_lines: list[str]) -> None:
    keys = _entries(help_lines, _INI_LINE)

    assert {name: kind for name, (kind, _) in keys.items()} == INI_KEYS


def _all_help(lines: list[str]) -> dict[str, tuple[str, str]]:
    return {**_entries(_group(lines), _OPTION_LINE), **_entries(lines, _INI_LINE)}


@pytest.mark.parametrize("name", [*OPTIONS, *INI_KEYS])
def test_help_text_habit(help_lines: list[str], name: str) -> None:
    _, text = _all_help(help_lines)[name]

    assert text, f"{name} has no help"
    assert text[0].isupper(), text
    assert not text.endswith("."), text
    assert "  " not in text, text


@pytest.mark.parametrize("name", [n for n, metavar in OPTIONS.items() if metavar])
def test_metavar_is_uppercase(help_lines: list[str], name: str) -> None:
    metavar, _ = _entries(_group(help_lines), _OPTION_LINE)[name]

    assert metavar == metavar.upper() == OPTIONS[name]


@pytest.mark.parametrize(
    "name", [*(n for n, metavar in OPTIONS.items() if metavar), *INI_KEYS]
)
def test_default_is_shown(help_lines: list[str], name: str) -> None:
    _, text = _all_help(help_lines)[name]

    assert re.search(r"\(default: [^)]+\)$", text), text
