"""The results folder: sai3-bench's TSV formats byte for byte, strict JSON, no secret.

Unit tests build real metrics by recording latencies; pytester runs check the
folder a real scenario leaves, including for failed items.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import assert_finite_tsv, load_strict, plan_from, run, shared_dirs

from pytest_sai3.engine import RunResult
from pytest_sai3.expect import GateResult
from pytest_sai3.metrics import ClassTotals, LatencyHistogram, RunMetrics
from pytest_sai3.report import ScenarioReport
from pytest_sai3.results import (
    endpoint_stats_tsv,
    perf_log_tsv,
    results_tsv,
    to_plain,
    write_atomic,
    write_results,
)

RESULTS_HEADER = (
    "operation\tsize_bucket\tbucket_idx\tmean_us\tp50_us\tp90_us\tp95_us\tp99_us\t"
    "max_us\tavg_bytes\tops_per_sec\tthroughput_mibps\tcount\n"
)
ENDPOINT_HEADER = (
    "endpoint_idx\tendpoint_uri\ttotal_requests\tbytes_read\tbytes_written\t"
    "error_count\tactive_requests\trequest_pct\tread_pct\twrite_pct\t"
    "p50_us\tp99_us\tmax_us\n"
)
PERF_LOG_HEADER = (
    "agent_id\ttimestamp_epoch_ms\telapsed_s\tstage\tget_ops\tget_bytes\tget_iops\t"
    "get_mbps\tget_mean_us\tget_p50_us\tget_p90_us\tget_p99_us\tput_ops\tput_bytes\t"
    "put_iops\tput_mbps\tput_mean_us\tput_p50_us\tput_p90_us\tput_p99_us\tmeta_ops\t"
    "meta_iops\tmeta_mean_us\tmeta_p50_us\tmeta_p90_us\tmeta_p99_us\tcpu_user_pct\t"
    "cpu_system_pct\tcpu_iowait_pct\terrors\n"
)
FILES = {
    "workload_results.tsv",
    "prepare_results.tsv",
    "workload_endpoint_stats.tsv",
    "prepare_endpoint_stats.tsv",
    "perf_log.tsv",
    "summary.json",
    "config.yaml",
    "metadata.json",
}
SECRET_ID = "AKIAPYTESTSAI3SECRETID"
SECRET_KEY = "pytest-sai3-secret-key-0123456789"


def table(text: str) -> list[dict[str, str]]:
    """The rows of a TSV file as mappings of header to cell."""
    header, *rows = text.splitlines()
    names = header.split("\t")
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


def phase(elapsed_s: float = 2.0) -> RunMetrics:
    """A workload of every op class over two size buckets."""
    metrics = RunMetrics(elapsed_s=elapsed_s)
    for latency in (100, 200, 300):
        metrics.op("get").record(latency, 1024, 1)
    metrics.op("get").record(5000, 10_000, 2)
    metrics.op("put").record(700, 2048, 1)
    metrics.op("stat").record(50, 0, 0)
    metrics.op("list").record(80, 0, 0)
    metrics.op("delete").record(90_000, 0, 0)
    return metrics


def key(row: dict[str, str]) -> tuple[str, str, str]:
    return row["operation"], row["size_bucket"], row["bucket_idx"]


# -- workload_results.tsv / prepare_results.tsv ------------------------------------


def test_results_header_is_sai3_benchs_byte_for_byte() -> None:
    assert results_tsv(None, ("GET", "PUT", "META")) == RESULTS_HEADER
    assert results_tsv(phase(), ("GET",)).startswith(RESULTS_HEADER)


def test_bucket_rows_then_all_rows_stably_sorted_by_bucket_idx() -> None:
    rows = table(results_tsv(phase(), ("GET", "PUT", "META")))

    assert [key(row) for row in rows] == [
        ("META", "zero", "0"),
        ("GET", "1B-8KiB", "1"),
        ("PUT", "1B-8KiB", "1"),
        ("GET", "8KiB-64KiB", "2"),
        ("META", "ALL", "97"),
        ("GET", "ALL", "98"),
        ("PUT", "ALL", "99"),
    ]


def test_row_figures_follow_sai3_benchs_formulas() -> None:
    rows = {key(row)[:2]: row for row in table(results_tsv(phase(), ("GET",)))}

    bucket = rows["GET", "1B-8KiB"]
    assert bucket["count"] == "3"
    assert bucket["mean_us"] == "200.00"
    assert bucket["p50_us"] == "200.00"
    assert bucket["max_us"] == "300.00"
    assert bucket["avg_bytes"] == "1024"
    assert bucket["ops_per_sec"] == "1.50"  # 3 ops / 2 s
    assert bucket["throughput_mibps"] == f"{3 * 1024 / 1048576 / 2:.2f}"

    total = rows["GET", "ALL"]
    assert total["count"] == "4"
    assert total["mean_us"] == f"{(100 + 200 + 300 + 5000) / 4:.2f}"
    assert total["avg_bytes"] == f"{(3 * 1024 + 10_000) / 4:.0f}"
    assert total["ops_per_sec"] == "2.00"


def test_meta_class_merges_the_op_histograms_exactly() -> None:
    expected = LatencyHistogram()
    for latency in (50, 80, 90_000):
        expected.record(latency)

    rows = {key(row)[:2]: row for row in table(results_tsv(phase(), ("META",)))}
    meta = rows["META", "ALL"]

    assert meta["count"] == "3"
    for column, q in (("p50_us", 50), ("p90_us", 90), ("p99_us", 99)):
        assert meta[column] == f"{expected.percentile(q):.2f}"
    assert meta["max_us"] == "90000.00"
    assert rows["META", "zero"]["count"] == "3"
    assert {row["operation"] for row in rows.values()} == {"META"}


def test_prepare_file_holds_put_rows_only() -> None:
    prepare = RunMetrics(elapsed_s=1.0)
    prepare.op("list").record(40, 0, 0)
    for _ in range(8):
        prepare.op("put").record(300, 1024, 1)

    rows = table(results_tsv(prepare, ("PUT",)))

    assert [key(row) for row in rows] == [
        ("PUT", "1B-8KiB", "1"),
        ("PUT", "ALL", "99"),
    ]
    assert rows[1]["count"] == "8"


def test_empty_phases_give_no_rows_and_never_nan() -> None:
    errors_only = RunMetrics(elapsed_s=1.0)
    errors_only.op("get").record_error("NotFound")
    no_time = phase(elapsed_s=0.0)

    assert results_tsv(RunMetrics(), ("GET", "PUT", "META")) == RESULTS_HEADER
    assert results_tsv(errors_only, ("GET", "PUT", "META")) == RESULTS_HEADER
    text = results_tsv(no_time, ("GET", "PUT", "META"))
    assert_finite_tsv(text)
    assert {row["ops_per_sec"] for row in table(text)} == {"0.00"}


# -- endpoint stats ----------------------------------------------------------------


def endpoints(requests: list[int]) -> RunMetrics:
    metrics = RunMetrics(elapsed_s=1.0)
    for number, count in enumerate(requests, 1):
        stats = metrics.endpoint(f"file:///tmp/ep{number}/")
        for _ in range(count):
            stats.begin("get")
            stats.end("get", 100 * number, bytes_read=1024)
    return metrics


def test_endpoint_header_is_sai3_benchs_then_ours() -> None:
    assert endpoint_stats_tsv(None) == ENDPOINT_HEADER
    assert endpoint_stats_tsv(endpoints([1])).startswith(ENDPOINT_HEADER)


def test_endpoint_shares_add_up_to_exactly_100() -> None:
    rows = table(endpoint_stats_tsv(endpoints([1, 1, 1])))

    assert [row["endpoint_idx"] for row in rows] == ["1", "2", "3"]
    assert [row["request_pct"] for row in rows] == ["33.34", "33.33", "33.33"]
    assert sum(float(row["read_pct"]) for row in rows) == pytest.approx(100.0)
    assert {row["write_pct"] for row in rows} == {"0.00"}
    assert [row["p50_us"] for row in rows] == ["100.00", "200.00", "300.00"]


def test_idle_endpoint_has_zero_shares_and_zero_latency_cells() -> None:
    rows = table(endpoint_stats_tsv(endpoints([1, 1, 0, 0])))

    idle = rows[2]
    assert idle["total_requests"] == "0"
    assert (idle["request_pct"], idle["read_pct"]) == ("0.00", "0.00")
    assert (idle["p50_us"], idle["p99_us"], idle["max_us"]) == ("0.00",) * 3


def test_endpoint_uri_loses_its_user_info() -> None:
    metrics = RunMetrics()
    metrics.endpoint(f"s3://{SECRET_ID}:{SECRET_KEY}@10.0.0.1:9000/bench/")

    text = endpoint_stats_tsv(metrics)

    assert SECRET_KEY not in text and SECRET_ID not in text
    assert "s3://***@10.0.0.1:9000/bench/" in text


# -- perf_log.tsv ------------------------------------------------------------------


def totals(nbytes: int, latencies: list[int]) -> dict[str, Any]:
    """A class's cumulative figures as a perf_log row keeps them."""
    histogram = LatencyHistogram()
    for us in latencies:
        histogram.record(us)
    return ClassTotals(nbytes, histogram).sample()


def test_perf_log_rows_hold_each_interval_per_class(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, scenario_data(shared_dirs(tmp_path)))
    result = RunResult(plan, RunMetrics(), RunMetrics(elapsed_s=2.0))
    cpu = {"user_pct": 12.5, "system_pct": 7.25, "iowait_pct": 0.5}
    result.perf_log = [
        {
            "elapsed_s": 1.0,
            "timestamp": 1700000000.25,
            "errors": 1,
            "classes": {"GET": totals(10 * 1024, [100] * 10)},
            "cpu": cpu,
        },
        {
            "elapsed_s": 2.0,
            "timestamp": 1700000001.25,
            "errors": 3,
            "classes": {
                "GET": totals(14 * 1024, [100] * 10 + [300] * 4),
                "PUT": totals(2 * 1048576, [5000, 5000]),
                "META": totals(0, [50] * 6),
            },
            "cpu": cpu,
        },
    ]

    text = perf_log_tsv(result)
    first, second = table(text)

    assert text.startswith(PERF_LOG_HEADER)
    assert len(PERF_LOG_HEADER.split("\t")) == 30
    assert (first["get_ops"], second["get_ops"]) == ("10", "4")
    assert (first["get_bytes"], second["get_bytes"]) == ("10240", "4096")
    assert (first["get_iops"], second["get_iops"]) == ("10.0", "4.0")
    # Latencies are cumulative since the start: the second row holds all 14.
    assert (first["get_mean_us"], second["get_mean_us"]) == ("100", "157")
    assert (first["get_p99_us"], second["get_p99_us"]) == ("100", "300")
    assert (second["put_ops"], second["put_mbps"], second["put_p50_us"]) == (
        "2",
        "2.00",
        "5000",
    )
    assert (first["meta_ops"], second["meta_ops"], second["meta_iops"]) == (
        "0",
        "6",
        "6.0",
    )
    assert [row["errors"] for row in (first, second)] == ["1", "2"]
    assert first["timestamp_epoch_ms"] == "1700000000250"
    cpu_cells = (
        first["cpu_user_pct"],
        first["cpu_system_pct"],
        first["cpu_iowait_pct"],
    )
    assert cpu_cells == ("12.5", "7.2", "0.5")
    assert {(row["agent_id"], row["stage"]) for row in (first, second)} == {
        ("local", "Workload")
    }


@pytest.mark.parametrize("processes", [1, 2])
def test_perf_log_of_a_real_mixed_run(tmp_path: Path, processes: int) -> None:
    data = scenario_data(
        shared_dirs(tmp_path),
        ops=None,
        duration="2s",
        processes=processes,
        perf_log={"interval": "250ms"},
        workload=[
            {"op": "get", "path": "data/*", "weight": 60},
            {"op": "put", "path": "data/", "object_size": 2048, "weight": 30},
            {"op": "stat", "path": "data/*", "weight": 10},
        ],
    )
    del data["ops"]
    started = time.time()
    result = run(plan_from(tmp_path, data))

    rows = table(perf_log_tsv(result))
    workload = result.workload
    # The samples a run keeps are plain numbers (no histograms), so a long run's
    # memory stays flat.
    json.dumps(result.perf_log, allow_nan=False)

    assert len(rows) >= 6
    for column, op in (("get_ops", "get"), ("put_ops", "put"), ("meta_ops", "stat")):
        # Every op in one interval, the last partial one included.
        assert sum(int(row[column]) for row in rows) == workload.ops[op].count
    put_bytes = sum(int(row["put_bytes"]) for row in rows)
    assert put_bytes == 2048 * sum(int(row["put_ops"]) for row in rows)
    stamps = [int(row["timestamp_epoch_ms"]) / 1000 for row in rows]
    assert started < stamps[0] and stamps == sorted(stamps) and stamps[-1] < time.time()
    for row in rows:
        for column in ("cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct"):
            assert 0.0 <= float(row[column]) <= 100.0
    assert any(float(row["cpu_user_pct"]) > 0 for row in rows)
    assert int(rows[-1]["get_p50_us"]) > 0


# -- JSON, atomic writes -----------------------------------------------------------


def test_plain_data_has_no_non_finite_numbers() -> None:
    data = to_plain({"a": math.nan, "b": [math.inf, 1.5], "c": Path("/x")})

    assert data == {"a": None, "b": [None, 1.5], "c": "/x"}
    json.dumps(data, allow_nan=False)


def test_an_interrupted_write_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old\n")

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new\n")

    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_run_that_never_started_still_gets_its_folder(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, scenario_data(shared_dirs(tmp_path)))
    report = ScenarioReport("x.yaml::res", "res", plan, finished=0.0)

    folder = write_results(tmp_path / "results", report)

    assert {p.name for p in folder.iterdir()} == FILES
    assert (folder / "workload_results.tsv").read_text() == RESULTS_HEADER
    assert (folder / "perf_log.tsv").read_text() == PERF_LOG_HEADER
    summary = load_strict(folder / "summary.json")
    assert summary["ran"] is False and summary["workload"] is None
    assert load_strict(folder / "metadata.json")["end_time"] is None


def test_reported_gates_are_written_as_they_are(tmp_path: Path) -> None:
    plan = plan_from(tmp_path, scenario_data(shared_dirs(tmp_path)))
    gate = GateResult("errors", "<= 0", "3", False)
    report = ScenarioReport("x.yaml::res", "res", plan, gates=[gate])

    folder = write_results(tmp_path / "results", report)

    summary = load_strict(folder / "summary.json")
    assert summary["gates"] == [
        {"gate": "errors", "expected": "<= 0", "measured": "3", "passed": False}
    ]
    assert summary["gates_passed"] is False


# -- real runs through pytester ----------------------------------------------------


def scenario_data(uris: list[str], **extra: Any) -> dict[str, Any]:
    """The brief's scenario: 4 endpoints, 8 objects of 1 KiB, 20 GETs."""
    return {
        "name": "res",
        "ops": 20,
        "concurrency": 2,
        "seed": 3,
        "multi_endpoint": {"strategy": "round_robin", "endpoints": uris},
        "prepare": {
            "ensure_objects": [{"base_uri": "data/", "count": 8, "size_spec": 1024}]
        },
        "workload": [{"op": "get", "path": "data/*", "weight": 100}],
        **extra,
    }


def endpoint_dirs(pytester: pytest.Pytester) -> list[str]:
    """Four endpoints on one folder (SHARED4) inside the pytester folder."""
    root = pytester.mkdir("store")
    return shared_dirs(root)


def run_scenario(
    pytester: pytest.Pytester, data: dict[str, Any] | list[dict[str, Any]], *args: str
) -> tuple[pytest.RunResult, Path]:
    documents = data if isinstance(data, list) else [data]
    text = yaml.safe_dump_all(documents, sort_keys=False)
    path = pytester.makefile(".yaml", bench=text)
    results = pytester.path / "results"
    outcome = pytester.runpytest(
        str(path), f"--sai3-results={results}", "-p", "no:cacheprovider", *args
    )
    return outcome, results


def test_a_real_run_writes_every_file(pytester: pytest.Pytester) -> None:
    uris = endpoint_dirs(pytester)
    outcome, results = run_scenario(pytester, scenario_data(uris))
    outcome.assert_outcomes(passed=1)
    folder = results / "res"

    assert {p.name for p in folder.iterdir()} == FILES
    workload = table((folder / "workload_results.tsv").read_text())
    assert [key(row) for row in workload] == [
        ("GET", "1B-8KiB", "1"),
        ("GET", "ALL", "98"),
    ]
    assert workload[1]["count"] == "20"
    assert workload[1]["avg_bytes"] == "1024"
    prepare = table((folder / "prepare_results.tsv").read_text())
    assert [key(row) for row in prepare][-1] == ("PUT", "ALL", "99")
    assert prepare[-1]["count"] == "8"

    stats = table((folder / "workload_endpoint_stats.tsv").read_text())
    assert [row["endpoint_uri"] for row in stats] == uris
    assert sum(int(row["total_requests"]) for row in stats) == 20
    for column in ("request_pct", "read_pct"):
        hundredths = sum(round(float(row[column]) * 100) for row in stats)
        assert hundredths == 10_000, column
    assert {row["write_pct"] for row in stats} == {"0.00"}

    summary = load_strict(folder / "summary.json")
    assert summary["workload"]["total_ops"] == 20
    assert summary["created"] + summary["existed"] == 8
    assert summary["plan"]["endpoints"] == uris
    metadata = load_strict(folder / "metadata.json")
    assert metadata["test_name"].endswith("bench.yaml::res")
    assert metadata["duration_secs"] >= 0
    assert metadata["packages"]["pytest"] == pytest.__version__
    uvloop = importlib.util.find_spec("uvloop") is not None
    assert metadata["event_loop"] == ("uvloop" if uvloop else "asyncio")
    assert yaml.safe_load((folder / "config.yaml").read_text())["ops"] == 20


def test_idle_endpoints_stay_valid_json_case_9(pytester: pytest.Pytester) -> None:
    data = scenario_data(endpoint_dirs(pytester), ops=2, concurrency=1)
    data["prepare"]["ensure_objects"][0]["count"] = 4
    outcome, results = run_scenario(pytester, data)
    outcome.assert_outcomes(passed=1)
    folder = results / "res"

    stats = table((folder / "workload_endpoint_stats.tsv").read_text())
    assert sorted(int(row["total_requests"]) for row in stats) == [0, 0, 1, 1]
    idle = [row for row in stats if row["total_requests"] == "0"]
    assert {(row["request_pct"], row["p50_us"]) for row in idle} == {("0.00", "0.00")}

    summary = load_strict(folder / "summary.json")
    for endpoint in summary["workload"]["endpoints"]:
        if endpoint["requests"] == 0:
            assert endpoint["share_pct"] == 0.0
            assert endpoint["latency"]["p50_us"] is None
            assert endpoint["latency"]["max_us"] is None
    for path in folder.glob("*.tsv"):
        assert_finite_tsv(path.read_text())
    for path in folder.glob("*.json"):
        load_strict(path)


def test_results_are_written_when_a_gate_fails(pytester: pytest.Pytester) -> None:
    data = scenario_data(
        endpoint_dirs(pytester),
        expect={"throughput": {"min_ops_per_s": 1e12}},
    )
    outcome, results = run_scenario(pytester, data)
    outcome.assert_outcomes(failed=1)

    summary = load_strict(results / "res" / "summary.json")
    assert summary["workload"]["total_ops"] == 20
    assert [g["gate"] for g in summary["gates"]] == ["throughput ops/s"]
    assert summary["gates_passed"] is False


def test_no_secret_reaches_any_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SECRET_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    site = pytester.makefile(
        ".yml",
        site=yaml.safe_dump(
            {
                "credentials": {
                    "access_key_id": SECRET_ID,
                    "secret_access_key": SECRET_KEY,
                }
            }
        ),
    )
    data = scenario_data(endpoint_dirs(pytester))
    outcome, results = run_scenario(pytester, data, f"--sai3-config={site}")
    outcome.assert_outcomes(passed=1)

    files = list((results / "res").iterdir())
    assert {p.name for p in files} == FILES
    for path in files:
        text = path.read_text()
        assert SECRET_ID not in text, path.name
        assert SECRET_KEY not in text, path.name


def test_parametrized_and_plain_scenarios_case_35(pytester: pytest.Pytester) -> None:
    uris = endpoint_dirs(pytester)
    param = scenario_data(
        uris,
        parametrize={"multi_endpoint.strategy": ["round_robin", "least_connections"]},
    )
    plain = scenario_data(uris, name="plain")
    outcome, results = run_scenario(pytester, [param, plain])
    outcome.assert_outcomes(passed=3)

    params = {}
    for folder in results.iterdir():
        params[folder.name] = load_strict(folder / "summary.json")["params"]
    assert params == {
        "res_multi_endpoint.strategy=round_robin": {
            "multi_endpoint.strategy": "round_robin"
        },
        "res_multi_endpoint.strategy=least_connections": {
            "multi_endpoint.strategy": "least_connections"
        },
        "plain": {},
    }


def test_same_name_in_two_files_gets_two_folders(pytester: pytest.Pytester) -> None:
    data = scenario_data(endpoint_dirs(pytester), ops=2)
    text = yaml.safe_dump(data)
    first = pytester.makefile(".yaml", one=text)
    second = pytester.makefile(".yaml", two=text)
    results = pytester.path / "results"
    outcome = pytester.runpytest(
        str(first), str(second), f"--sai3-results={results}", "-p", "no:cacheprovider"
    )
    outcome.assert_outcomes(passed=2)

    owners = {
        load_strict(folder / "metadata.json")["test_name"]
        for folder in results.iterdir()
    }
    assert owners == {"one.yaml::res", "two.yaml::res"}
