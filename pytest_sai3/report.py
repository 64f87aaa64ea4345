"""What people read: the plan, a live status line, and the summary tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from pytest_sai3.metrics import RunMetrics, share_pct
from pytest_sai3.scenario import has_delete_with_reads
from pytest_sai3.sizes import format_size

if TYPE_CHECKING:
    import pytest

    from pytest_sai3.engine import RunResult
    from pytest_sai3.expect import GateResult
    from pytest_sai3.site import Plan

MIB = 1048576


@dataclass
class ScenarioReport:
    """One scenario's outcome, kept for the terminal summary and results folder."""

    nodeid: str
    name: str
    plan: Plan
    described: str | None = None
    result: RunResult | None = None
    gates: list[GateResult] = field(default_factory=list)
    dry_run: bool = False
    plan_text: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0


def plan_lines(plan: Plan, described: str | None) -> list[str]:
    """The plan of a scenario, line by line (``--sai3-dry-run``)."""
    scenario = plan.scenario
    n = len(plan.endpoints)
    where = described or ", ".join(spec.uri for spec in plan.endpoints)
    lines = [
        f"endpoints ({n}, from {plan.source}): {where}",
        f"strategy: {plan.strategy}; namespace: {plan.namespace}",
    ]
    if described:
        lines += [
            f"  endpoint {i + 1}: {spec.uri}" for i, spec in enumerate(plan.endpoints)
        ]
    for pool in plan.pools:
        spec = pool.spec
        placement = (
            f"object i on endpoint (i mod {n})"
            if plan.namespace == "isolated"
            else f"{plan.strategy} over {n} endpoints"
        )
        lines.append(
            f"prepare: {spec.count} objects under '{pool.base or '/'}' "
            f"({spec.size.describe()}, fill {spec.fill}); placement: {placement}"
        )
        if has_delete_with_reads(scenario):
            lines.append(
                f"prepare: {spec.count} more under '{pool.base or '/'}' for the "
                "deletes to draw from (deletable-NNNNNNNN.dat, sai3-bench's rule "
                "when deletes mix with reads)"
            )
    total = sum(p.op.weight for p in plan.ops) or 1.0
    for planned in plan.ops:
        op = planned.op
        size = f", {op.size.describe()}" if op.size else ""
        lines.append(
            f"op {op.kind}: {100 * op.weight / total:.1f}% on '{planned.key}'{size}"
        )
    bounds = []
    if scenario.duration is not None:
        bounds.append(f"duration {scenario.duration:g}s")
    if scenario.ops is not None:
        bounds.append(f"{scenario.ops} ops")
    rate = "closed loop"
    if scenario.io_rate is not None and scenario.io_rate.iops:
        rate = f"{scenario.io_rate.iops:g} ops/s {scenario.io_rate.distribution}"
    lines.append(
        f"bounds: {' or '.join(bounds)}; concurrency {scenario.concurrency}; {rate}"
    )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.3f}"


def op_rows(metrics: RunMetrics) -> list[list[Any]]:
    """Rows of the op table: count, rates, latency percentiles, errors."""
    elapsed = metrics.elapsed_s or 0.0
    rows = []
    for name in sorted(metrics.ops):
        stats = metrics.ops[name]
        hist = stats.latency
        rows.append(
            [
                name,
                stats.count,
                f"{stats.count / elapsed:.1f}" if elapsed > 0 else "0.0",
                f"{stats.bytes / MIB / elapsed:.2f}" if elapsed > 0 else "0.00",
                _ms(hist.mean_us),
                _ms(hist.percentile(50)),
                _ms(hist.percentile(90)),
                _ms(hist.percentile(99)),
                _ms(hist.percentile(99.9)),
                _ms(hist.max_us),
                stats.error_count,
            ]
        )
    return rows


OP_HEADERS = (
    "op",
    "count",
    "ops/s",
    "MiB/s",
    "mean ms",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "errors",
)
EP_HEADERS = (
    "endpoint",
    "requests",
    "share",
    "read",
    "written",
    "errors",
    "p50 ms",
    "p99 ms",
)


def endpoint_rows(metrics: RunMetrics) -> list[list[Any]]:
    """Rows of the per-endpoint table."""
    shares = share_pct([ep.requests for ep in metrics.endpoints])
    return [
        [
            ep.uri,
            ep.requests,
            f"{share:.2f}%",
            format_size(ep.bytes_read),
            format_size(ep.bytes_written),
            ep.error_count,
            _ms(ep.latency.percentile(50)),
            _ms(ep.latency.percentile(99)),
        ]
        for ep, share in zip(metrics.endpoints, shares, strict=True)
    ]


def one_line(report: ScenarioReport) -> str:
    """The ``-q`` form of a scenario's outcome."""
    result = report.result
    if report.dry_run or result is None:
        return f"{report.name}: planned, not run"
    w = result.workload
    rate = w.total_ops / w.elapsed_s if w.elapsed_s else 0.0
    shares = share_pct([ep.requests for ep in w.endpoints])
    spread = "/".join(f"{s:.0f}" for s in shares)
    failed = sum(not g.passed for g in report.gates)
    gates = (
        f", gates {len(report.gates) - failed}/{len(report.gates)} passed"
        if (report.gates)
        else ""
    )
    return (
        f"{report.name}: {w.total_ops} ops in {w.elapsed_s:.1f}s ({rate:.0f} "
        f"ops/s), {w.total_errors} errors, endpoints {spread}%{gates}"
    )


def scenario_lines(report: ScenarioReport, verbose: int) -> list[str]:
    """The full summary of one scenario."""
    if report.dry_run:
        return report.plan_text
    result = report.result
    if result is None:
        return ["not run"]
    w = result.workload
    lines = [one_line(report)]
    if result.created or result.existed:
        p = result.prepare
        lines.append(
            f"prepare: {result.created} objects created, {result.existed} "
            f"existed, in {p.elapsed_s:.2f}s (not counted as workload)"
        )
    lines.append(f"stopped: {result.stop_reason}")
    lines += result.notes
    lines.append(tabulate(op_rows(w), headers=OP_HEADERS, disable_numparse=True))
    if w.endpoints:
        lines.append(
            tabulate(endpoint_rows(w), headers=EP_HEADERS, disable_numparse=True)
        )
        if result.plan.strategy == "least_connections":
            lines.append(
                "least_connections: faster endpoints legitimately take more requests"
            )
    gates = report.gates if verbose > 0 else [g for g in report.gates if not g.passed]
    if gates:
        lines.append(
            tabulate(
                [
                    (g.gate, g.expected, g.measured, "ok" if g.passed else "FAILED")
                    for g in gates
                ],
                headers=("gate", "expected", "measured", ""),
            )
        )
    elif report.gates:
        lines.append(f"gates: all {len(report.gates)} passed (-v lists them)")
    return lines


def write_summary(tr: pytest.TerminalReporter, reports: list[ScenarioReport]) -> None:
    """The ``sai3`` section of the terminal summary."""
    verbose = tr.config.get_verbosity()
    tr.write_sep("=", "sai3 scenarios")
    for report in reports:
        if verbose < 0:
            tr.write_line(one_line(report))
            continue
        tr.write_sep("-", report.name)
        for line in scenario_lines(report, verbose):
            tr.write_line(line)


class StatusLine:
    """A live status line on a terminal, refreshed at most once a second.

    Nothing is written when the output is not a terminal (a log or a pipe).
    """

    def __init__(
        self, config: pytest.Config, name: str, duration: float | None
    ) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        self._tr = (
            reporter
            if reporter is not None
            and getattr(reporter, "isatty", False)
            and config.get_verbosity() >= 0
            else None
        )
        # While an item runs, pytest captures the output file descriptors: a line
        # for the terminal is written with capturing suspended, as live logs are.
        self._capture = config.pluginmanager.get_plugin("capturemanager")
        self._name = name
        self._shown = False
        self._last = 0.0

    def _write(self, text: str) -> None:
        assert self._tr is not None
        if self._capture is None:
            self._tr.write(text, flush=True)
            return
        with self._capture.global_and_fixture_disabled():
            self._tr.write(text, flush=True)

    def update(self, row: dict[str, Any]) -> None:
        """Show the latest figures."""
        if self._tr is None or time.monotonic() - self._last < 1.0:
            return
        self._last = time.monotonic()
        left = row.get("left_s")
        left_text = f", {max(left, 0):.0f}s left" if left is not None else ""
        text = (
            f"sai3 {self._name}: {row['elapsed_s']:.0f}s{left_text}, "
            f"{row['ops_per_s']:.0f} ops/s, {row['errors']} errors"
        )
        self._write("\r" + text.ljust(79)[:79])
        self._shown = True

    def clear(self) -> None:
        """Remove the status line."""
        if self._tr is not None and self._shown:
            self._write("\r" + " " * 79 + "\r")
            self._shown = False
