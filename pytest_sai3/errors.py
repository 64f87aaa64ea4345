"""The plugin's warning category and its failure exception."""

from __future__ import annotations

import pytest


class Sai3Warning(pytest.PytestWarning):
    """A scenario key that has no effect, or that pytest-sai3 does not know."""

    __module__ = "pytest_sai3"


class Sai3Failure(Exception):
    """A scenario that ran and failed: gates not met, or the run aborted.

    :param title: one line saying what failed.
    :param rows: (gate, expected, measured) rows to show as a table.
    """

    def __init__(
        self, title: str, rows: list[tuple[str, str, str]] | None = None
    ) -> None:
        self.title = title
        self.rows = rows or []
        super().__init__(title)

    def render(self) -> str:
        """The failure as a short table."""
        if not self.rows:
            return self.title
        from tabulate import tabulate

        table = tabulate(self.rows, headers=("gate", "expected", "measured"))
        return f"{self.title}\n{table}"
