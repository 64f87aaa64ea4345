"""Gates: the ``expect:`` block turns measured figures into pass or fail.

Gates read a finished run's summary (see :func:`evaluate`); they know nothing of
clients or of pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_sai3.yamlfile import ConfigWarning, Section, describe, parse_duration

if TYPE_CHECKING:
    from pytest_sai3.metrics import EndpointStats, RunMetrics

from pytest_sai3.metrics import LatencyHistogram

PERCENTILES = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p999": 99.9,
    "p99.9": 99.9,
    "max": 100.0,
}
GATE_OPS = ("get", "put", "list", "stat", "delete", "mkdir", "rmdir", "all")
#: Tolerance of a distribution gate that gives neither it nor max_spread, in points.
DEFAULT_TOLERANCE = 2.0


@dataclass(frozen=True)
class DistributionGate:
    """How evenly the endpoints served the requests.

    Counted on served requests (those answered without an error), so an endpoint
    that fails its share does not pass for a balanced one. Each endpoint's share
    must be within ``tolerance`` points of expected (``shares``, or an even split
    when None), and the busiest endpoint may serve at most ``max_spread``
    requests more than the idlest; either check is off when None. ``op`` limits
    the gate to one op type.
    """

    tolerance: float | None
    shares: tuple[float, ...] | None = None
    op: str | None = None
    max_spread: int | None = None


@dataclass(frozen=True)
class LatencyGate:
    """A ceiling on one percentile of one op type, in milliseconds."""

    op: str
    percentile: str
    max_ms: float


@dataclass(frozen=True)
class Expect:
    """Every gate of a scenario."""

    distribution: DistributionGate | None = None
    min_ops_per_s: float | None = None
    min_mib_per_s: float | None = None
    latency: tuple[LatencyGate, ...] = ()
    max_errors: int | None = None
    max_error_pct: float | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: what was expected and what was measured."""

    gate: str
    expected: str
    measured: str
    passed: bool


def parse_expect(top: Section, warnings: list[ConfigWarning]) -> Expect:
    """Read the ``expect`` block of a scenario."""
    block = Section.of(top.raw("expect"), top.path, "expect", top.line_of("expect"))
    distribution = None
    if block.has("distribution"):
        distribution = _parse_distribution(block, warnings)
    min_ops = min_mib = None
    if block.has("throughput"):
        tput = Section.of(
            block.raw("throughput"),
            top.path,
            "expect.throughput",
            block.line_of("throughput"),
        )
        min_ops = tput.number("min_ops_per_s", None, 0.0)
        min_mib = tput.number("min_mib_per_s", None, 0.0)
        warnings.extend(tput.unknown(("min_ops_per_s", "min_mib_per_s")))
    latency = _parse_latency(block) if block.has("latency") else ()
    max_errors, max_pct = _parse_errors(block, warnings)
    warnings.extend(block.unknown(("distribution", "throughput", "latency", "errors")))
    return Expect(distribution, min_ops, min_mib, latency, max_errors, max_pct)


def _parse_distribution(
    block: Section, warnings: list[ConfigWarning]
) -> DistributionGate:
    raw = block.raw("distribution")
    gate = Section.of(
        raw, block.path, "expect.distribution", block.line_of("distribution")
    )
    tolerance = gate.number("tolerance", None, 0.0)
    max_spread = gate.integer("max_spread", None, 0)
    if tolerance is None and max_spread is None:
        tolerance = DEFAULT_TOLERANCE
    shares = None
    if gate.has("shares"):
        values = gate.raw("shares")
        if (
            not isinstance(values, list)
            or not values
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                for v in values
            )
        ):
            raise gate.error(
                "shares",
                f"expected a list of percentages such as "
                f"[40, 20, 20, 20], found {describe(values)}",
            )
        if abs(sum(values) - 100.0) > 0.01:
            raise gate.error(
                "shares",
                f"expected percentages adding up to 100, found {sum(values):g}",
            )
        shares = tuple(float(v) for v in values)
    op = gate.choice("op", "all", GATE_OPS)
    warnings.extend(gate.unknown(("tolerance", "shares", "op", "max_spread")))
    return DistributionGate(tolerance, shares, None if op == "all" else op, max_spread)


def _parse_latency(block: Section) -> tuple[LatencyGate, ...]:
    latency = Section.of(
        block.raw("latency"), block.path, "expect.latency", block.line_of("latency")
    )
    gates = []
    for op, ceilings in latency.items():
        if op not in GATE_OPS:
            raise latency.error(op, "expected an op type: " + ", ".join(GATE_OPS))
        per_op = Section.of(
            ceilings, block.path, f"expect.latency.{op}", latency.line_of(op)
        )
        for name, value in per_op.items():
            key = str(name)
            if key not in PERCENTILES:
                raise per_op.error(
                    key, "expected a percentile: " + ", ".join(PERCENTILES)
                )
            gates.append(LatencyGate(op, key, _as_ms(per_op, key, value)))
    return tuple(gates)


def _as_ms(section: Section, key: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise section.error(
            key, f"expected a latency such as 50ms or 2.5 (ms), found {describe(value)}"
        )
    return seconds * 1000.0


def _parse_errors(
    block: Section, warnings: list[ConfigWarning]
) -> tuple[int | None, float | None]:
    if not block.has("errors"):
        return None, None
    raw = block.raw("errors")
    if not isinstance(raw, dict):
        return block.integer("errors", None, 0), None
    errors = Section.of(raw, block.path, "expect.errors", block.line_of("errors"))
    max_errors = errors.integer("max", None, 0)
    max_pct = errors.number("max_pct", None, 0.0)
    warnings.extend(errors.unknown(("max", "max_pct")))
    return max_errors, max_pct


def expected_shares(gate: DistributionGate, endpoints: int) -> list[float]:
    """The share each endpoint should take, in percent."""
    if gate.shares is not None:
        return list(gate.shares)
    return [100.0 / endpoints] * endpoints


def evaluate(expect: Expect, metrics: RunMetrics) -> list[GateResult]:
    """Check every gate against a finished run."""
    results: list[GateResult] = []
    if expect.distribution is not None:
        results.extend(_check_distribution(expect.distribution, metrics))
    elapsed = metrics.elapsed_s or 0.0
    total_ops = metrics.total_ops
    if expect.min_ops_per_s is not None:
        rate = total_ops / elapsed if elapsed > 0 else 0.0
        results.append(
            GateResult(
                "throughput ops/s",
                f">= {expect.min_ops_per_s:g}",
                f"{rate:.1f}",
                rate >= expect.min_ops_per_s,
            )
        )
    if expect.min_mib_per_s is not None:
        moved = (metrics.bytes_read + metrics.bytes_written) / 1048576
        rate = moved / elapsed if elapsed > 0 else 0.0
        results.append(
            GateResult(
                "throughput MiB/s",
                f">= {expect.min_mib_per_s:g}",
                f"{rate:.2f}",
                rate >= expect.min_mib_per_s,
            )
        )
    for gate in expect.latency:
        results.append(_check_latency(gate, metrics))
    if expect.max_errors is not None:
        errors = metrics.total_errors
        results.append(
            GateResult(
                "errors",
                f"<= {expect.max_errors}",
                str(errors),
                errors <= expect.max_errors,
            )
        )
    if expect.max_error_pct is not None:
        attempted = total_ops + metrics.total_errors
        pct = 100.0 * metrics.total_errors / attempted if attempted else 0.0
        results.append(
            GateResult(
                "error rate",
                f"<= {expect.max_error_pct:g}%",
                f"{pct:.2f}%",
                pct <= expect.max_error_pct,
            )
        )
    return results


def _check_distribution(
    gate: DistributionGate, metrics: RunMetrics
) -> list[GateResult]:
    from pytest_sai3.metrics import share_pct

    endpoints = metrics.endpoints
    counts = [ep.served(gate.op) for ep in endpoints]
    label = "share" if gate.op is None else f"{gate.op} share"
    results = []
    if gate.tolerance is not None:
        expected = expected_shares(gate, len(endpoints))
        if len(expected) != len(endpoints):
            return [
                GateResult(
                    label,
                    f"{len(expected)} endpoints",
                    f"{len(endpoints)} endpoints",
                    False,
                )
            ]
        measured = share_pct(counts)
        for ep, want, got in zip(endpoints, expected, measured, strict=True):
            results.append(
                GateResult(
                    f"{label} {ep.uri}",
                    f"{want:.1f}% ± {gate.tolerance:g}",
                    f"{got:.2f}%",
                    abs(got - want) <= gate.tolerance,
                )
            )
    if gate.max_spread is not None and endpoints:
        results.append(_check_spread(gate.max_spread, label, endpoints, counts))
    return results


def _check_spread(
    max_spread: int, label: str, endpoints: list[EndpointStats], counts: list[int]
) -> GateResult:
    busiest = max(range(len(counts)), key=counts.__getitem__)
    idlest = min(range(len(counts)), key=counts.__getitem__)
    spread = counts[busiest] - counts[idlest]
    return GateResult(
        f"{label} spread",
        f"max - min <= {max_spread} requests",
        f"{spread} ({counts[busiest]} on {endpoints[busiest].uri}, "
        f"{counts[idlest]} on {endpoints[idlest].uri})",
        spread <= max_spread,
    )


def _check_latency(gate: LatencyGate, metrics: RunMetrics) -> GateResult:
    name = f"{gate.op} {gate.percentile}"
    hist: LatencyHistogram | None
    if gate.op == "all":
        hist = LatencyHistogram()
        for stats in metrics.ops.values():
            hist.merge(stats.latency)
    else:
        op_stats = metrics.ops.get(gate.op)
        hist = op_stats.latency if op_stats is not None else None
    value = None
    if hist is not None and hist.count:
        value = hist.percentile(PERCENTILES[gate.percentile])
    if value is None:
        return GateResult(name, f"<= {gate.max_ms:g} ms", "no ops", False)
    ms = value / 1000.0
    return GateResult(name, f"<= {gate.max_ms:g} ms", f"{ms:.3f} ms", ms <= gate.max_ms)
