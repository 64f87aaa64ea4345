"""The targets of issue 7, and the tables that hold the runs up against them.

Absolute figures drift between runs (up to 2x on a small shared machine), so a
target is a ratio of two sides of one repetition, which ran back to back; the
verdict is on the median of those ratios over the repetitions.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from bench.measure import Sample
from bench.workloads import WORKLOADS

# (storage, workload, side label, repetition) -> sample, or None when it failed.
Runs = dict[tuple[str, str, str, int], Sample | None]


@dataclass(frozen=True)
class Target:
    """One ratio and the bound it must meet.

    :param name: how the tables name it.
    :param numerator: the side label on top.
    :param denominator: the side label below.
    :param metric: ``ops_per_s`` or ``cpu_ms_per_op``.
    :param bound: the threshold.
    :param at_most: the ratio must be at most the bound (else at least).
    :param storage: only on this storage (None: every one).
    :param workload: only on this workload (None: every one).
    """

    name: str
    numerator: str
    denominator: str
    metric: str
    bound: float
    at_most: bool = False
    storage: str | None = None
    workload: str | None = None

    def applies(self, storage: str, workload: str) -> bool:
        """Whether this target is held against a cell."""
        return (self.storage in (None, storage)) and (self.workload in (None, workload))

    def passes(self, ratio: float) -> bool:
        """Whether a ratio meets the bound."""
        return ratio <= self.bound if self.at_most else ratio >= self.bound

    @property
    def rule(self) -> str:
        """The bound as text: ``>= 0.90``."""
        return f"{'<=' if self.at_most else '>='} {self.bound:.2f}"


def _same_client(plugin: str, bare: str) -> list[Target]:
    return [
        Target(
            f"{plugin}/{bare} ops/s",
            plugin,
            bare,
            "ops_per_s",
            0.90,
        ),
        Target(
            f"{plugin}/{bare} CPU/op",
            plugin,
            bare,
            "cpu_ms_per_op",
            1.15,
            at_most=True,
        ),
    ]


TARGETS: tuple[Target, ...] = (
    *_same_client("plugin", "bare"),
    *_same_client("plugin auto", "bare auto"),
    *_same_client("plugin s3fs", "bare s3fs"),
    Target("plugin/s3dlio ops/s", "plugin", "s3dlio", "ops_per_s", 1.0, storage="s3"),
    Target(
        "plugin/s3dlio ops/s",
        "plugin",
        "s3dlio",
        "ops_per_s",
        1.0,
        storage="file",
        workload="mix_4k",
    ),
    Target(
        "plugin auto/s3dlio ops/s",
        "plugin auto",
        "s3dlio",
        "ops_per_s",
        1.5,
        storage="file",
        workload="mix_4k",
    ),
)


def median(values: Iterable[float]) -> float | None:
    """The median, or None for no values."""
    found = list(values)
    return statistics.median(found) if found else None


def cells(runs: Runs) -> list[tuple[str, str, str]]:
    """Every (storage, workload, side) measured, in the order first run."""
    seen: dict[tuple[str, str, str], None] = {}
    for storage, workload, side, _ in runs:
        seen.setdefault((storage, workload, side), None)
    return list(seen)


def _samples(runs: Runs, storage: str, workload: str, side: str) -> list[Sample]:
    return [
        sample
        for (st, wl, sd, _), sample in runs.items()
        if (st, wl, sd) == (storage, workload, side) and sample is not None
    ]


def summary_rows(runs: Runs) -> list[dict[str, Any]]:
    """One row per (storage, workload, side): medians and the single runs."""
    rows = []
    for storage, workload, side in cells(runs):
        samples = _samples(runs, storage, workload, side)
        rows.append(
            {
                "storage": storage,
                "workload": workload,
                "side": side,
                "runs": len(samples),
                "ops_per_s": median(s.ops_per_s for s in samples),
                "cpu_ms_per_op": median(s.cpu_ms_per_op for s in samples),
                "ops_per_s_runs": [round(s.ops_per_s, 1) for s in samples],
                "cpu_ms_per_op_runs": [round(s.cpu_ms_per_op, 4) for s in samples],
                "errors": sum(s.errors for s in samples),
            }
        )
    return rows


def _ratios(runs: Runs, storage: str, workload: str, target: Target) -> list[float]:
    reps = sorted({rep for (st, wl, _, rep) in runs if (st, wl) == (storage, workload)})
    ratios = []
    for rep in reps:
        top = runs.get((storage, workload, target.numerator, rep))
        below = runs.get((storage, workload, target.denominator, rep))
        if top is None or below is None:
            continue
        low = getattr(below, target.metric)
        if low > 0:
            ratios.append(getattr(top, target.metric) / low)
    return ratios


def verdicts(runs: Runs) -> list[dict[str, Any]]:
    """Every target that applies to a measured cell, with its median ratio."""
    measured = {(st, wl) for st, wl, _ in cells(runs)}
    out = []
    for storage, workload in sorted(measured, key=lambda c: _order(*c)):
        for target in TARGETS:
            if not target.applies(storage, workload):
                continue
            ratios = _ratios(runs, storage, workload, target)
            if not ratios:
                continue
            ratio = median(ratios)
            assert ratio is not None
            out.append(
                {
                    "storage": storage,
                    "workload": workload,
                    "target": target.name,
                    "rule": target.rule,
                    "ratio": ratio,
                    "ratios": [round(r, 3) for r in ratios],
                    "passed": target.passes(ratio),
                }
            )
    return out


def _order(storage: str, workload: str) -> tuple[int, int]:
    names = list(WORKLOADS)
    return (0 if storage == "s3" else 1, names.index(workload))


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The medians as a text table."""
    body = [
        [
            row["storage"],
            WORKLOADS[row["workload"]].title,
            row["side"],
            _fmt(row["ops_per_s"], 0),
            _fmt(row["cpu_ms_per_op"], 3),
            " ".join(f"{v:.0f}" for v in row["ops_per_s_runs"]),
            row["errors"],
        ]
        for row in rows
    ]
    headers = ["storage", "workload", "side", "ops/s", "CPU ms/op", "ops/s runs", "err"]
    return tabulate(body, headers, disable_numparse=True)


def verdict_table(found: list[dict[str, Any]]) -> str:
    """The targets as a text table, PASS or FAIL each."""
    body = [
        [
            row["storage"],
            WORKLOADS[row["workload"]].title,
            row["target"],
            row["rule"],
            f"{row['ratio']:.3f}",
            " ".join(f"{r:.2f}" for r in row["ratios"]),
            "PASS" if row["passed"] else "FAIL",
        ]
        for row in found
    ]
    headers = ["storage", "workload", "ratio", "target", "median", "runs", ""]
    return tabulate(body, headers, disable_numparse=True)
