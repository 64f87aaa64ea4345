"""Running one scenario item: bind it, run the engine, report, apply the gates."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_sai3.dataset import NamespaceError, PoolError
from pytest_sai3.embedded import StorageUnavailable, embedded_storage, safe_prefix
from pytest_sai3.endpoints.clients import MissingPackage
from pytest_sai3.engine import Engine, RunResult
from pytest_sai3.errors import Sai3Failure
from pytest_sai3.expect import DistributionGate, Expect, evaluate
from pytest_sai3.plugin import STATE, PluginState
from pytest_sai3.report import ScenarioReport, StatusLine, plan_lines
from pytest_sai3.scenario import Scenario
from pytest_sai3.site import Plan, bind, env_endpoints
from pytest_sai3.yamlfile import ConfigError

if TYPE_CHECKING:
    from pytest_sai3.collect import ScenarioItem

log = logging.getLogger("pytest_sai3.runner")


def effective_scenario(scenario: Scenario, state: PluginState) -> Scenario:
    """The scenario with command-line gate overrides applied."""
    expect = scenario.expect
    if state.tolerance is not None:
        base = expect or Expect()
        gate = base.distribution or DistributionGate(state.tolerance)
        expect = dataclasses.replace(
            base, distribution=dataclasses.replace(gate, tolerance=state.tolerance)
        )
    if state.max_errors is not None:
        expect = dataclasses.replace(expect or Expect(), max_errors=state.max_errors)
    return dataclasses.replace(scenario, expect=expect)


def needs_default(scenario: Scenario, state: PluginState) -> bool:
    """Whether nothing but the embedded default can give this scenario endpoints."""
    multi = scenario.multi_endpoint
    if (
        (multi is not None and multi.endpoints)
        or state.site.endpoints
        or (env_endpoints())
    ):
        return False
    return scenario.target is None


def plain_s3_target(scenario: Scenario, state: PluginState) -> bool:
    """A ``s3://bucket/`` target with no server named anywhere: served embedded."""
    import os

    target = scenario.target or ""
    if not target.startswith("s3://") or scenario.multi_endpoint is not None:
        return False
    host = target[5:].split("/", 1)[0]
    named = (
        ":" in host or state.site.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    )
    return not named and not state.site.endpoints and not env_endpoints()


def namespace_of(scenario: Scenario, state: PluginState) -> str:
    """The namespace a scenario asks for."""
    if scenario.multi_endpoint is not None and scenario.multi_endpoint.namespace != (
        "shared"
    ):
        return scenario.multi_endpoint.namespace
    return state.site.namespace or "shared"


def make_plan(
    item: ScenarioItem, scenario: Scenario, state: PluginState, dry_run: bool
) -> tuple[Plan, str | None]:
    """Bind the scenario; start the embedded storage only when it is needed."""
    default = None
    described = None
    storage = scenario.storage or "s3"
    namespace = namespace_of(scenario, state)
    embedded = needs_default(scenario, state) or plain_s3_target(scenario, state)
    if embedded:
        if plain_s3_target(scenario, state):
            storage = "s3"
        store = embedded_storage(state)
        described = store.describe(storage, namespace)
        if dry_run:
            # Stand-ins named as such: the real ports and folders are chosen
            # when the storage starts, and a dry run starts nothing.
            prefix = safe_prefix(item.nodeid)
            default = [
                f"file:///embedded-folder/ep{n}/{prefix}/"
                if storage == "file"
                else f"s3://embedded-gateway-{n}:8333/sai3-bench/{prefix}/"
                for n in range(1, 5)
            ]
        else:
            default = store.endpoints(storage, namespace, item.nodeid)
    credentials = state.embedded.credentials if embedded and state.embedded else None
    plan = bind(scenario, state.site, default, credentials)
    _check_gates(scenario, plan)
    return plan, described


def _check_gates(scenario: Scenario, plan: Plan) -> None:
    expect = scenario.expect
    if expect is None or expect.distribution is None:
        return
    gate = expect.distribution
    if plan.strategy == "least_connections" and gate.shares is None:
        raise ConfigError(
            scenario.source,
            scenario.line,
            "expect.distribution",
            "expected explicit shares under least_connections: it sends more "
            "requests to faster endpoints by design, so an even split is not a "
            "promise it makes (give shares: [...] or use round_robin)",
        )
    if gate.shares is not None and len(gate.shares) != len(plan.endpoints):
        raise ConfigError(
            scenario.source,
            scenario.line,
            "expect.distribution.shares",
            f"expected one share per endpoint ({len(plan.endpoints)}), found "
            f"{len(gate.shares)}",
        )


def run_item(item: ScenarioItem, benchmark: Any) -> None:
    """The body of a scenario item."""
    state = item.config.stash[STATE]
    scenario = effective_scenario(item.scenario, state)
    try:
        plan, described = make_plan(item, scenario, state, state.dry_run)
    except StorageUnavailable as err:
        pytest.skip(str(err))
    report = ScenarioReport(item.nodeid, item.name, plan, described)
    state.reports.append(report)
    if state.dry_run:
        report.dry_run = True
        report.plan_text = plan_lines(plan, described)
        return
    benchmark.group = item.path.name
    if scenario.params:
        # pytest-benchmark reads params from a callspec, which scenario items do
        # not have: give it ours, so reports tell parametrized items apart.
        benchmark.params = dict(scenario.params)
        benchmark.param = item.name.partition("[")[2].rstrip("]")
    status = StatusLine(item.config, item.name, scenario.duration)
    engine = Engine(plan, status.update)
    try:
        _run_engine(engine, scenario, benchmark, report)
    except (NamespaceError, PoolError, MissingPackage) as err:
        raise Sai3Failure(str(err)) from None
    finally:
        status.clear()
        report.finished = time.time()
        if state.results_dir is not None:
            from pytest_sai3.results import write_results

            write_results(state.results_dir, report)
    _apply_gates(scenario, report)
    _fill_extra_info(benchmark, report)


def _run_engine(
    engine: Engine, scenario: Scenario, benchmark: Any, report: ScenarioReport
) -> None:
    with engine:
        report.result = engine.result
        benchmark.pedantic(
            engine.workload, setup=engine.prepare, rounds=scenario.rounds, iterations=1
        )


def _apply_gates(scenario: Scenario, report: ScenarioReport) -> None:
    result = report.result
    assert result is not None
    if scenario.expect is not None:
        report.gates = evaluate(scenario.expect, result.workload)
    failed = [g for g in report.gates if not g.passed]
    if result.aborted:
        raise Sai3Failure(
            f"run aborted: {result.aborted}; first errors: "
            + "; ".join(result.error_samples[:3])
        )
    if failed:
        rows = [(g.gate, g.expected, g.measured) for g in failed]
        raise Sai3Failure(f"{len(failed)} of {len(report.gates)} gates failed", rows)


def _fill_extra_info(benchmark: Any, report: ScenarioReport) -> None:
    result = report.result
    if result is None:
        return
    summary = summary_of(result)
    benchmark.extra_info.update(summary)


def summary_of(result: RunResult) -> dict[str, Any]:
    """The figures pytest-benchmark's JSON carries in ``extra_info``."""
    workload = result.workload.to_dict()
    return {
        "sai3": {
            "plan": result.plan.describe(),
            "workload": workload,
            "prepare": result.prepare.to_dict(),
            "stop_reason": result.stop_reason,
            "notes": list(result.notes),
        }
    }
