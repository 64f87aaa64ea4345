"""Scenario files and items: a YAML scenario becomes an ordinary pytest item."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_sai3.errors import Sai3Failure, Sai3Warning
from pytest_sai3.scenario import TOP_KEYS, Scenario, load_scenarios
from pytest_sai3.yamlfile import ConfigError, load_documents

# Keys common in other YAML files too (a conda environment.yml has a name, a GitHub
# action a description): alone they do not make a file a scenario.
GENERIC_KEYS = frozenset(
    ("name", "description", "tags", "target", "client", "storage", "seed", "rounds")
)
SCENARIO_KEYS = frozenset(TOP_KEYS) - GENERIC_KEYS


def is_scenario_document(path: Path) -> bool:
    """Whether a YAML file found in a directory looks like a scenario at all.

    Files in a collected directory that hold none of the scenario keys (CI configs,
    site files) are left alone; a file with any scenario key is validated fully.
    """
    try:
        documents = load_documents(path)
    except ConfigError:
        return True
    return any(
        isinstance(doc, dict) and any(key in doc for key in SCENARIO_KEYS)
        for doc, _ in documents
    )


class ScenarioFile(pytest.File):
    """A YAML file holding one or more scenarios."""

    def collect(self) -> list[ScenarioItem]:
        from pytest_sai3.plugin import STATE

        state = self.config.stash[STATE]
        scenarios = load_scenarios(self.path, state.overrides)
        items = []
        for scenario in scenarios:
            self._report_warnings(scenario, state.strict)
            item = ScenarioItem.from_parent(
                self,
                name=scenario.item_name,
                callobj=_scenario_test,
                scenario=scenario,
            )
            for tag in scenario.tags:
                # A tag is a marker of its own; registered so --strict-markers holds.
                self.config.addinivalue_line("markers", f"{tag}: scenario tag")
                item.add_marker(tag)
            items.append(item)
        return items

    def _report_warnings(self, scenario: Scenario, strict: bool) -> None:
        for warning in scenario.warnings:
            if strict:
                # An error, so not "ignored": say what the key is and why it fails.
                message = warning.message.replace("unknown key, ignored", "unknown key")
                raise ConfigError(
                    warning.path,
                    warning.line,
                    warning.key,
                    message + " (--sai3-strict)",
                )
            warnings.warn_explicit(
                Sai3Warning(warning.render()),
                Sai3Warning,
                str(warning.path),
                warning.line,
            )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        # Our own warnings, made errors with -W error, read like --sai3-strict ones.
        if isinstance(excinfo.value, ConfigError | Sai3Warning):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _scenario_test(request: pytest.FixtureRequest, benchmark: Any) -> None:
    """Run the scenario of this item (the body of every scenario item)."""
    item = request.node
    assert isinstance(item, ScenarioItem)
    from pytest_sai3.runner import run_item

    run_item(item, benchmark)


class ScenarioItem(pytest.Function):
    """One scenario (one document, one parametrize combination)."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.scenario.line - 1, 0), f"scenario {self.name}"

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        if isinstance(excinfo.value, Sai3Failure):
            return excinfo.value.render()
        if isinstance(excinfo.value, ConfigError):
            return excinfo.value.render()
        return super().repr_failure(excinfo)
