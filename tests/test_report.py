"""What people read and gate on: the terminal tables, gates and pytest-benchmark.

Every run here is a real one over four directories that are views of one folder
(four symlinks), so round robin gives each endpoint a quarter of the requests.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCENARIO = """\
name: rr4
concurrency: 4
ops: {ops}
seed: 3
multi_endpoint:
  strategy: round_robin
  endpoints: [{endpoints}]
prepare:
  ensure_objects:
    - {{base_uri: data/, count: 20, size_spec: 1KiB}}
workload:
  - {{op: get, path: "data/*", weight: 70}}
  - {{op: put, path: "data/", object_size: 1024, weight: 30}}
{extra}
"""


def shared_endpoints(root: Path) -> list[str]:
    """Four endpoint URIs over one folder (four symlinks to it)."""
    store = root / "store"
    store.mkdir(exist_ok=True)
    uris = []
    for n in range(1, 5):
        link = root / f"ep{n}"
        if not link.exists():
            link.symlink_to(store, target_is_directory=True)
        uris.append(f"file://{link}/")
    return uris


def write_scenario(
    pytester: pytest.Pytester, extra: str = "", ops: int = 400, name: str = "rr4"
) -> Path:
    endpoints = ", ".join(shared_endpoints(pytester.path))
    text = SCENARIO.format(ops=ops, endpoints=endpoints, extra=extra)
    return pytester.makefile(".yaml", **{name: text})


def test_round_robin_within_two_points_passes(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester, "expect:\n  distribution: {tolerance: 2}\n")

    result = pytester.runpytest(str(path), "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*sai3 scenarios*",
            "rr4: 400 ops in *s (* ops/s), 0 errors, endpoints 25/25/25/25%, "
            "gates 4/4 passed",
            "op*count*ops/s*MiB/s*mean ms*p50*p90*p99*p99.9*max*errors",
            "endpoint*requests*share*read*written*errors*p50 ms*p99 ms",
            "file://*/ep1/*100*25.00%*",
            "file://*/ep4/*100*25.00%*",
            "gates: all 4 passed (-v lists them)",
        ]
    )


def test_shares_off_the_expected_fail_with_a_table(pytester: pytest.Pytester) -> None:
    gate = "expect:\n  distribution: {tolerance: 2, shares: [40, 20, 20, 20]}\n"
    path = write_scenario(pytester, gate)

    result = pytester.runpytest(str(path), "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*4 of 4 gates failed",
            "gate*expected*measured",
            "share file://*/ep1/*40.0% ± 2*25.00%",
            "share file://*/ep2/*20.0% ± 2*25.00%",
            "share file://*/ep4/*20.0% ± 2*25.00%",
        ]
    )


def test_only_the_endpoints_off_their_share_are_named(
    pytester: pytest.Pytester,
) -> None:
    # 25% each is 25 ± 5 for ep1 and ep2, but not 15 ± 5 nor 35 ± 5.
    gate = "expect:\n  distribution: {tolerance: 5, shares: [25, 25, 15, 35]}\n"
    path = write_scenario(pytester, gate)

    result = pytester.runpytest(str(path), "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "2 of 4 gates failed" in out
    failure = out.split("2 of 4 gates failed")[1].split("sai3 scenarios")[0]
    assert "/ep3/" in failure and "/ep4/" in failure
    assert "/ep1/" not in failure and "/ep2/" not in failure


def test_verbose_lists_the_gates_that_passed(pytester: pytest.Pytester) -> None:
    gates = "expect:\n  distribution: {tolerance: 2}\n  errors: 0\n"
    path = write_scenario(pytester, gates)

    result = pytester.runpytest(str(path), "-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "gate*expected*measured",
            "share file://*/ep1/*25.0% ± 2*25.00%*ok",
            "errors*<= 0*0*ok",
        ]
    )


def test_quiet_prints_one_line_per_scenario(pytester: pytest.Pytester) -> None:
    write_scenario(pytester, name="first")
    write_scenario(pytester, name="second")

    result = pytester.runpytest(
        "first.yaml", "second.yaml", "-q", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=2)
    lines = [line for line in result.outlines if line.startswith("rr4: ")]
    assert len(lines) == 2
    assert not any(line.startswith("op ") for line in result.outlines)
    assert not any(line.startswith("endpoint ") for line in result.outlines)


def test_every_gate_kind_fails_with_its_measure(pytester: pytest.Pytester) -> None:
    gates = (
        "expect:\n"
        "  throughput: {min_ops_per_s: 100000000, min_mib_per_s: 100000}\n"
        "  latency: {get: {p99: 0.000001}}\n"
        "  errors: {max: 0, max_pct: 0}\n"
    )
    path = write_scenario(pytester, gates)

    result = pytester.runpytest(str(path), "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*3 of 5 gates failed",
            "throughput ops/s*>= 1e+08*",
            "throughput MiB/s*>= 100000*",
            "get p99*<= 1e-06 ms*ms",
        ]
    )


def test_tolerance_from_the_command_line(pytester: pytest.Pytester) -> None:
    gate = "expect:\n  distribution: {tolerance: 2, shares: [40, 20, 20, 20]}\n"
    path = write_scenario(pytester, gate)

    result = pytester.runpytest(
        str(path), "--sai3-tolerance=16", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1)


def test_least_connections_without_shares_is_refused(
    pytester: pytest.Pytester,
) -> None:
    path = write_scenario(pytester, "expect:\n  distribution: {tolerance: 2}\n")
    path.write_text(path.read_text().replace("round_robin", "least_connections"))

    result = pytester.runpytest(str(path), "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*expect.distribution: expected explicit shares under least_connections*"]
    )
    assert "Traceback" not in result.stdout.str()


def benchmark_entries(path: Path) -> list[dict[str, object]]:
    data = json.loads(path.read_text())
    entries: list[dict[str, object]] = data["benchmarks"]
    return entries


def test_benchmark_json_holds_the_endpoint_figures(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester)
    out = pytester.path / "bench.json"

    result = pytester.runpytest(
        str(path), f"--benchmark-json={out}", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1)
    [entry] = benchmark_entries(out)
    assert entry["group"] == "rr4.yaml"
    figures = entry["extra_info"]["sai3"]["workload"]  # type: ignore[index]
    endpoints = figures["endpoints"]
    assert [ep["requests"] for ep in endpoints] == [100, 100, 100, 100]
    assert sum(ep["bytes_read"] for ep in endpoints) == figures["bytes_read"]
    assert sum(ep["bytes_written"] for ep in endpoints) == figures["bytes_written"]
    assert [ep["share_pct"] for ep in endpoints] == [25.0] * 4
    assert sum(o["count"] for o in figures["ops"].values()) == 400


def test_benchmark_disable_still_runs_and_gates(pytester: pytest.Pytester) -> None:
    gate = "expect:\n  distribution: {tolerance: 2, shares: [40, 20, 20, 20]}\n"
    path = write_scenario(pytester, gate)

    result = pytester.runpytest(
        str(path), "--benchmark-disable", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["rr4: 400 ops in *", "*4 of 4 gates failed"])


def test_compare_fail_catches_a_slower_run(pytester: pytest.Pytester) -> None:
    path = write_scenario(pytester, ops=60)
    store = pytester.path / "saved"
    saved = pytester.runpytest(
        str(path),
        "--benchmark-autosave",
        f"--benchmark-storage={store}",
        "-p",
        "no:cacheprovider",
    )
    saved.assert_outcomes(passed=1)
    assert len(list(store.rglob("*.json"))) == 1

    # The same scenario, throttled to 100 ops/s: 60 ops take about 0.6 s.
    path.write_text(path.read_text() + "\nio_rate: {iops: 100}\n")
    compared = pytester.runpytest(
        str(path),
        f"--benchmark-storage={store}",
        "--benchmark-compare",
        "--benchmark-compare-fail=mean:100%",
        "-p",
        "no:cacheprovider",
    )

    assert compared.ret != 0
    said = compared.stdout.str() + compared.stderr.str()
    assert "Performance has regressed" in said
    assert "rr4 (NOW)" in said


def test_status_line_on_a_terminal_only(pytester: pytest.Pytester) -> None:
    endpoints = ", ".join(shared_endpoints(pytester.path))
    text = SCENARIO.format(ops=1000000, endpoints=endpoints, extra="")
    text = text.replace("ops: 1000000", "duration: 2500ms\nio_rate: {iops: 200}")
    path = pytester.makefile(".yaml", live=text)
    command = [sys.executable, "-m", "pytest", str(path), "-p", "no:cacheprovider"]

    on_tty = run_on_a_terminal(command, pytester.path)
    piped = subprocess.run(
        command, cwd=pytester.path, capture_output=True, text=True, timeout=60
    ).stdout

    assert re.search(r"\rsai3 rr4: [12]s, [01]s left, \d+ ops/s, 0 errors", on_tty)
    assert "rr4: " in piped and "\r" not in piped


def run_on_a_terminal(command: list[str], cwd: Path) -> str:
    """Run a command with a pseudo-terminal as its output; return what it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        command, cwd=cwd, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the process ends
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_a_distribution_gate_per_op_type(pytester: pytest.Pytester) -> None:
    gates = "expect:\n  distribution: {tolerance: 8, op: get}\n  errors: 0\n"
    path = write_scenario(pytester, gates)

    result = pytester.runpytest(str(path), "-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["get share file://*/ep1/*25.0% ± 8*ok"])


def test_ctrl_c_still_writes_the_results(pytester: pytest.Pytester) -> None:
    endpoints = ", ".join(shared_endpoints(pytester.path))
    text = SCENARIO.format(ops=1000000, endpoints=endpoints, extra="")
    text = text.replace("ops: 1000000", "duration: 60s\nio_rate: {iops: 200}")
    path = pytester.makefile(".yaml", long=text)
    out = pytester.path / "out"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(path),
        f"--sai3-results={out}",
        "-p",
        "no:cacheprovider",
    ]
    process = subprocess.Popen(
        command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    said = process.communicate(timeout=60)[0].decode()

    assert "KeyboardInterrupt" in said
    [summary] = out.rglob("summary.json")
    figures = json.loads(summary.read_text())
    ops = figures["workload"]["total_ops"]
    assert 100 < ops < 1000, ops
    assert (summary.parent / "workload_results.tsv").read_text().count("\n") > 1
