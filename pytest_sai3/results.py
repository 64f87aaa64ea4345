"""The results folder: sai3-bench's TSVs, a strict JSON summary, the scenario.

With ``--sai3-results=DIR`` each scenario item gets ``DIR/<item name>/``:

``workload_results.tsv``, ``prepare_results.tsv``
    sai3-bench's columns and rows. Op types are grouped in its classes GET,
    PUT and META (list, stat, delete, mkdir, rmdir), whose histograms are ours
    merged exactly; one row per non-empty size bucket, then an ``ALL`` row per
    class that ran (bucket_idx META 97, GET 98, PUT 99), stably sorted by
    bucket_idx. The prepare file holds PUT rows only.
``workload_endpoint_stats.tsv``, ``prepare_endpoint_stats.tsv``
    sai3-bench's ten columns, then three of ours, ``p50_us p99_us max_us``
    per endpoint (sai3-bench documents per-endpoint latency but writes none).
    Written for single-endpoint runs too: every folder holds the same files.
``perf_log.tsv``
    sai3-bench's 30 columns, one row per sampled interval of the workload,
    stage ``Workload``, agent ``local``. As in sai3-bench, each class's ops
    and bytes are the interval's (successful ops), its latencies cumulative
    since the workload started, and the CPU columns the whole machine's use
    over the interval (from ``/proc/stat``; 0.0 where there is none);
    ``errors`` holds the interval's new errors. MB/s columns are MiB/s, as
    in the results TSVs.
``summary.json``
    The plan, every phase's :meth:`RunMetrics.to_dict` (histograms
    included), the gates, the stop reason, notes and error samples.
``config.yaml``
    The effective scenario (overrides applied) in our model's fields: a
    record of what ran, not a sai3-bench config to run again.
``metadata.json``
    sai3-bench's run metadata (version, test name, config path, times,
    command line, host) plus the Python and package versions and the event
    loop the run went on (``uvloop`` or ``asyncio``).

Empty figures: a TSV cell with nothing to measure (the latency of an idle
endpoint, a rate without elapsed time) reads ``0.00``, as sai3-bench writes
for an empty histogram; JSON says ``null``. No file holds NaN or infinity.

Secrets: mapping keys named like credentials become ``***``
(:func:`pytest_sai3.site.redact`), so does the user-info of any URI
(``s3://KEY:SECRET@host`` becomes ``s3://***@host``), and the plan's
credentials are never written.

Each file is written under a temporary name and renamed into place: an
interrupted run leaves the previous file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import math
import os
import platform
import re
import secrets
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pytest_sai3.embedded import safe_prefix
from pytest_sai3.expect import GateResult, evaluate
from pytest_sai3.metrics import (
    CLASS_SAMPLE_LATENCIES,
    OP_CLASSES,
    LatencyHistogram,
    RunMetrics,
    share_pct,
)
from pytest_sai3.site import redact
from pytest_sai3.sizes import BUCKET_NAMES, FixedSize, LognormalSize, UniformSize

if TYPE_CHECKING:
    from pytest_sai3.engine import RunResult
    from pytest_sai3.report import ScenarioReport

log = logging.getLogger("pytest_sai3.results")

MIB = 1048576

# The headers as sai3-bench writes them (REFERENCE.md section 1.10).
RESULTS_HEADER = tuple(
    "operation size_bucket bucket_idx mean_us p50_us p90_us p95_us p99_us max_us "
    "avg_bytes ops_per_sec throughput_mibps count".split()
)
#: sai3-bench's endpoint columns, then our three latency columns.
ENDPOINT_HEADER = tuple(
    "endpoint_idx endpoint_uri total_requests bytes_read bytes_written error_count "
    "active_requests request_pct read_pct write_pct p50_us p99_us max_us".split()
)
PERF_LOG_HEADER = tuple(
    "agent_id timestamp_epoch_ms elapsed_s stage "
    "get_ops get_bytes get_iops get_mbps "
    "get_mean_us get_p50_us get_p90_us get_p99_us "
    "put_ops put_bytes put_iops put_mbps "
    "put_mean_us put_p50_us put_p90_us put_p99_us "
    "meta_ops meta_iops meta_mean_us meta_p50_us meta_p90_us meta_p99_us "
    "cpu_user_pct cpu_system_pct cpu_iowait_pct errors".split()
)

_MIB = 1024 * 1024

#: The bucket_idx of each class's ``ALL`` row; the order rows are collected in.
AGGREGATE_INDEX = {"META": 97, "GET": 98, "PUT": 99}
WORKLOAD_CLASSES = ("GET", "PUT", "META")

#: Packages whose versions metadata.json records (null when not installed).
PACKAGES = (
    "pytest",
    "pytest-benchmark",
    "fsspec",
    "s3fs",
    "obstore",
    "uvloop",
    "hdrhistogram",
    "PyYAML",
)

_SIZE_TYPES = {
    FixedSize: "fixed",
    UniformSize: "uniform",
    LognormalSize: "lognormal",
}
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def write_results(root: Path, report: ScenarioReport) -> Path:
    """Write one scenario's results folder and return it.

    Works for every outcome: a run that failed before it started (no result)
    gets its metadata, scenario and summary, and TSVs holding only their header.

    :param root: the ``--sai3-results`` folder; created if needed.
    :param report: the scenario's report, complete or partial.
    :raises OSError: when the folder or a file cannot be written.
    """
    folder = results_folder(root, report)
    folder.mkdir(parents=True, exist_ok=True)
    result = report.result
    workload = result.workload if result is not None else None
    prepare = result.prepare if result is not None else None

    files = {
        "workload_results.tsv": results_tsv(workload, WORKLOAD_CLASSES),
        "prepare_results.tsv": results_tsv(prepare, ("PUT",)),
        "workload_endpoint_stats.tsv": endpoint_stats_tsv(workload),
        "prepare_endpoint_stats.tsv": endpoint_stats_tsv(prepare),
        "perf_log.tsv": perf_log_tsv(result),
        "config.yaml": config_yaml(report),
        "summary.json": dump_json(summary(report)),
        # Last: a folder's metadata.json names the item the folder belongs to.
        "metadata.json": dump_json(run_metadata(report)),
    }
    for name, text in files.items():
        write_atomic(folder / name, text)
    log.debug("results of %s written to %s", report.nodeid, folder)
    return folder


def results_folder(root: Path, report: ScenarioReport) -> Path:
    """The folder of one item: its name, or its node id when the name is taken.

    Items of different files may share a name: the folder belongs to the item
    its ``metadata.json`` names, and another item of that name uses its node
    id.
    """
    folder = root / safe_prefix(report.name)
    owner = _owner(folder / "metadata.json")
    if owner is not None and owner != report.nodeid:
        return root / safe_prefix(report.nodeid)
    return folder


def _owner(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    owner = data.get("test_name") if isinstance(data, dict) else None
    return owner if isinstance(owner, str) else None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    :param path: the file to replace.
    :param text: its new content, written as UTF-8 with ``\\n`` line ends.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # "x" honours the umask, unlike mkstemp's 0600.
        with open(temporary, "x", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# -- workload_results.tsv and prepare_results.tsv ------------------------------


@dataclass
class OpClass:
    """One of sai3-bench's op classes: its op types' buckets merged."""

    name: str
    buckets: dict[int, LatencyHistogram] = field(default_factory=dict)
    bucket_bytes: dict[int, int] = field(default_factory=dict)

    def combined(self) -> LatencyHistogram:
        """Every bucket of the class in one histogram."""
        histogram = LatencyHistogram()
        for bucket in self.buckets.values():
            histogram.merge(bucket)
        return histogram


def op_classes(metrics: RunMetrics) -> dict[str, OpClass]:
    """Merge a phase's op types into sai3-bench's classes GET, PUT and META."""
    classes = {name: OpClass(name) for name in AGGREGATE_INDEX}
    for op, stats in metrics.ops.items():
        target = classes[OP_CLASSES.get(op, "META")]
        for index, histogram in stats.buckets.items():
            if index not in target.buckets:
                target.buckets[index] = LatencyHistogram()
                target.bucket_bytes[index] = 0
            target.buckets[index].merge(histogram)
            target.bucket_bytes[index] += stats.bucket_bytes.get(index, 0)
    return classes


def results_tsv(metrics: RunMetrics | None, classes: Iterable[str]) -> str:
    """A ``*_results.tsv`` file: header, bucket rows, ``ALL`` rows.

    :param metrics: the phase, or ``None`` for a header only.
    :param classes: the classes to write, of GET, PUT and META.
    """
    lines = ["\t".join(RESULTS_HEADER)]
    if metrics is None:
        return _lines(lines)

    wanted = [name for name in WORKLOAD_CLASSES if name in set(classes)]
    merged = op_classes(metrics)
    elapsed = metrics.elapsed_s
    rows: list[tuple[int, str]] = []
    for name in wanted:
        op_class = merged[name]
        for index, histogram in sorted(op_class.buckets.items()):
            if histogram.count:
                label, nbytes = BUCKET_NAMES[index], op_class.bucket_bytes[index]
                row = _row(name, label, index, histogram, nbytes, elapsed)
                rows.append((index, row))
    for name, index in AGGREGATE_INDEX.items():
        histogram = merged[name].combined()
        if name in wanted and histogram.count:
            nbytes = sum(merged[name].bucket_bytes.values())
            row = _row(name, "ALL", index, histogram, nbytes, elapsed)
            rows.append((index, row))

    rows.sort(key=lambda row: row[0])
    return _lines(lines + [text for _, text in rows])


def _row(
    name: str,
    label: str,
    index: int,
    histogram: LatencyHistogram,
    nbytes: int,
    elapsed: float,
) -> str:
    count = histogram.count
    figures = (
        histogram.mean_us,
        histogram.percentile(50),
        histogram.percentile(90),
        histogram.percentile(95),
        histogram.percentile(99),
        histogram.max_us,
    )
    cells = [name, label, str(index), *(_f2(value) for value in figures)]
    cells += [
        f"{nbytes / count:.0f}" if count else "0",
        _f2(_rate(count, elapsed)),
        _f2(_rate(nbytes / MIB, elapsed)),
        str(count),
    ]
    return "\t".join(cells)


# -- *_endpoint_stats.tsv ------------------------------------------------------


def endpoint_stats_tsv(metrics: RunMetrics | None) -> str:
    """A ``*_endpoint_stats.tsv`` file: one row per endpoint, 1-based.

    Shares come from :func:`pytest_sai3.metrics.share_pct`, so each share column
    adds up to exactly 100.00 when its total is positive.

    :param metrics: the phase, or ``None`` for a header only.
    """
    lines = ["\t".join(ENDPOINT_HEADER)]
    endpoints = metrics.endpoints if metrics is not None else []
    shares = zip(
        share_pct([ep.requests for ep in endpoints]),
        share_pct([ep.bytes_read for ep in endpoints]),
        share_pct([ep.bytes_written for ep in endpoints]),
        strict=True,
    )
    for number, (ep, pcts) in enumerate(zip(endpoints, shares, strict=True), 1):
        latency = ep.latency
        cells = [
            str(number),
            scrub_uri(ep.uri),
            str(ep.requests),
            str(ep.bytes_read),
            str(ep.bytes_written),
            str(ep.error_count),
            str(ep.in_flight),
            *(f"{pct:.2f}" for pct in pcts),
            _f2(latency.percentile(50)),
            _f2(latency.percentile(99)),
            _f2(latency.max_us),
        ]
        lines.append("\t".join(cells))
    return _lines(lines)


# -- perf_log.tsv --------------------------------------------------------------


def perf_log_tsv(result: RunResult | None) -> str:
    """``perf_log.tsv``: the workload's sampled intervals (see the module)."""
    lines = ["\t".join(PERF_LOG_HEADER)]
    if result is None:
        return _lines(lines)

    before: dict[str, dict[str, Any]] = {}
    previous_elapsed = 0.0
    previous_errors = 0
    for row in result.perf_log:
        elapsed = _number(row.get("elapsed_s"))
        interval = elapsed - previous_elapsed
        classes: dict[str, dict[str, Any]] = row.get("classes") or {}
        cells = [
            "local",
            str(int(_number(row.get("timestamp")) * 1000)),
            f"{elapsed:.3f}",
            "Workload",
        ]
        for name in ("GET", "PUT", "META"):
            now = classes.get(name, {})
            cells += _perf_class(name, now, before.get(name, {}), interval)
        cpu = row.get("cpu") or {}
        cells += [f"{_number(cpu.get(key)):.1f}" for key in CPU_KEYS]
        errors = int(_number(row.get("errors")))
        cells.append(str(max(errors - previous_errors, 0)))
        lines.append("\t".join(cells))
        before = classes or before
        previous_elapsed, previous_errors = elapsed, errors
    return _lines(lines)


#: The ``cpu`` keys of a perf_log row, in the TSV's column order.
CPU_KEYS = ("user_pct", "system_pct", "iowait_pct")


def _perf_class(
    name: str, now: dict[str, Any], before: dict[str, Any], interval: float
) -> list[str]:
    """One class's cells: interval ops (and bytes), rates, cumulative latency."""
    ops = int(_number(now.get("ops"))) - int(_number(before.get("ops")))
    nbytes = int(_number(now.get("bytes"))) - int(_number(before.get("bytes")))
    iops = ops / interval if interval > 0 else 0.0
    cells = [str(ops)]
    if name != "META":
        mibps = nbytes / _MIB / interval if interval > 0 else 0.0
        cells += [str(nbytes), f"{iops:.1f}", f"{mibps:.2f}"]
    else:
        cells.append(f"{iops:.1f}")
    for key in CLASS_SAMPLE_LATENCIES:
        value = now.get(key)
        cells.append(f"{value:.0f}" if value is not None else "0")
    return cells


# -- summary.json, config.yaml, metadata.json ----------------------------------


def summary(report: ScenarioReport) -> dict[str, Any]:
    """What ``summary.json`` holds: the plan, every phase, the gates."""
    scenario = report.plan.scenario
    result = report.result
    gates = [dataclasses.asdict(gate) for gate in gates_of(report)]
    data: dict[str, Any] = {
        "test_name": report.nodeid,
        "name": report.name,
        "params": {key: to_plain(value) for key, value in scenario.params},
        "dry_run": report.dry_run,
        "ran": result is not None,
        "plan": report.plan.describe(),
        "gates": gates,
        "gates_passed": all(g["passed"] for g in gates) if gates else None,
        "warnings": [warning.render() for warning in scenario.warnings],
    }
    # The same keys for every outcome, so that readers need no special cases.
    if result is None:
        return data | {
            "stop_reason": None,
            "aborted": None,
            "created": None,
            "existed": None,
            "list_items": None,
            "notes": [],
            "error_samples": [],
            "prepare": None,
            "workload": None,
            "cleanup": None,
            "scheduled": {},
        }
    cleanup = result.cleanup
    return data | {
        "stop_reason": result.stop_reason or None,
        "aborted": result.aborted,
        "created": result.created,
        "existed": result.existed,
        "list_items": result.list_items,
        "notes": list(result.notes),
        "error_samples": list(result.error_samples),
        "prepare": result.prepare.to_dict(),
        "workload": result.workload.to_dict(),
        "cleanup": cleanup.to_dict() if cleanup is not None else None,
        "scheduled": {op: h.summary() for op, h in result.scheduled.items()},
    }


def gates_of(report: ScenarioReport) -> list[GateResult]:
    """The report's gates; evaluated here when the workload finished unjudged.

    The runner writes results before it applies the gates, so that a failing
    gate still leaves its folder; the verdicts are the same.
    """
    result = report.result
    expect = report.plan.scenario.expect
    if report.gates or result is None or expect is None or not result.stop_reason:
        return list(report.gates)
    return evaluate(expect, result.workload)


def config_yaml(report: ScenarioReport) -> str:
    """The effective scenario as YAML, secrets redacted."""
    scenario = to_plain(report.plan.scenario)
    scenario.pop("warnings", None)
    scenario["params"] = {
        key: to_plain(value) for key, value in report.plan.scenario.params
    }
    head = (
        f"# Effective scenario of {scrub_uri(report.nodeid)} (pytest-sai3), "
        "secrets redacted.\n# A record of what ran, not a scenario file.\n"
    )
    text = yaml.safe_dump(redact(scenario), sort_keys=False, allow_unicode=True)
    return head + text


def run_metadata(report: ScenarioReport) -> dict[str, Any]:
    """What ``metadata.json`` holds: sai3-bench's fields plus versions."""
    started, finished = report.started, report.finished
    ended = finished if finished >= started > 0 else None
    return {
        "version": _version("pytest-sai3"),
        "test_name": report.nodeid,
        "config_path": str(report.plan.scenario.source),
        "start_time": _iso(started),
        "end_time": _iso(ended) if ended is not None else None,
        "duration_secs": ended - started if ended is not None else None,
        "command_line": list(sys.argv),
        "hostname": socket.gethostname(),
        "distributed": False,
        "agents": None,
        "python_version": platform.python_version(),
        "event_loop": report.result.event_loop if report.result else None,
        "packages": {name: _version(name) for name in PACKAGES},
    }


def dump_json(data: Any) -> str:
    """Strict JSON, redacted: non-finite numbers become null, never NaN."""
    return json.dumps(redact(to_plain(data)), indent=2, allow_nan=False) + "\n"


def to_plain(value: Any) -> Any:
    """Plain, JSON- and YAML-safe data from our dataclasses and containers.

    Size distributions become ``{type, ..., describe}``; paths become strings;
    private fields are left out; URIs lose their user-info; non-finite floats
    become ``None``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return scrub_uri(value)
    if isinstance(value, Path):
        return scrub_uri(str(value))
    if isinstance(value, FixedSize | UniformSize | LognormalSize):
        return {
            "type": _SIZE_TYPES[type(value)],
            **_fields(value),
            "describe": value.describe(),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(item) for item in value]
    return scrub_uri(str(value))


def _fields(value: Any) -> dict[str, Any]:
    return {
        f.name: to_plain(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if not f.name.startswith("_")
    }


def scrub_uri(text: str) -> str:
    """``text`` with the user-info of every URI in it replaced by ``***``."""
    return _USERINFO.sub("***@", text)


# -- small helpers -------------------------------------------------------------


def _lines(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _f2(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "0.00"
    return f"{value:.2f}"


def _rate(amount: float, elapsed_s: float) -> float | None:
    if not (elapsed_s > 0.0 and math.isfinite(elapsed_s)):
        return None
    return amount / elapsed_s


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    return 0.0


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.astimezone().isoformat()


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


__all__ = [
    "ENDPOINT_HEADER",
    "PERF_LOG_HEADER",
    "RESULTS_HEADER",
    "endpoint_stats_tsv",
    "perf_log_tsv",
    "results_tsv",
    "write_results",
]
