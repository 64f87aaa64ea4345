"""Peak RSS of a long full-speed run against a short one, through pytest.

Usage (from the repository root)::

    python -m bench.memory                      # 10 s and 60 s, 70/30 4 KiB on S3
    python -m bench.memory --storage file --processes auto --json mem.json

Runs ``pytest SCENARIO --sai3-config=SITE`` as a user would (the plugin, pytest
and pytest-benchmark all in the measured process), once short and once long, and
samples the RSS of the pytest process and its workers every 0.1 s. What a run
keeps per op (records, keys, samples) shows up as the difference; what every
run needs (interpreter, clients, buffers) cancels out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from tabulate import tabulate

from bench.testbed import Testbed
from bench.workloads import WORKLOADS, scenario_data, write_scenario

MIB = 1024 * 1024


def tree_rss(process: psutil.Process) -> tuple[int, int]:
    """RSS of a process, and of it with all its descendants, in bytes."""
    try:
        own = process.memory_info().rss
        children = process.children(recursive=True)
    except psutil.Error:
        return 0, 0
    total = own
    for child in children:
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return own, total


def run_sampled(
    command: list[str], cwd: Path, interval: float = 0.1
) -> tuple[int, int, int, str]:
    """Run a command, sampling RSS; returns peak own, peak tree, exit code, output."""
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, text=True
        )
        watched = psutil.Process(proc.pid)
        peak_own = peak_tree = 0
        while proc.poll() is None:
            own, tree = tree_rss(watched)
            peak_own, peak_tree = max(peak_own, own), max(peak_tree, tree)
            time.sleep(interval)
        output.seek(0)
        return peak_own, peak_tree, proc.returncode, output.read()


def pytest_run(
    work: Path, site: Path, data: dict[str, Any], tag: str
) -> dict[str, Any]:
    """One pytest run of a scenario, with its peak RSS and its ops/s."""
    scenario = write_scenario(work / f"{tag}.yaml", data)
    figures = work / f"{tag}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(scenario),
        f"--sai3-config={site}",
        f"--benchmark-json={figures}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    began = time.perf_counter()
    peak_own, peak_tree, code, output = run_sampled(command, work)
    wall = time.perf_counter() - began
    if code != 0:
        raise RuntimeError(f"pytest failed ({code}):\n{output[-3000:]}")
    workload = json.loads(figures.read_text())["benchmarks"][0]["extra_info"]["sai3"]
    return {
        "run": tag,
        "duration_s": float(str(data["duration"]).rstrip("s")),
        "wall_s": wall,
        "ops": workload["workload"]["total_ops"],
        "ops_per_s": workload["workload"]["ops_per_s"],
        "peak_rss_mb": peak_own / MIB,
        "peak_tree_rss_mb": peak_tree / MIB,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--short", type=float, default=10.0, help="Seconds of the short run (10)"
    )
    parser.add_argument(
        "--long", type=float, default=60.0, help="Seconds of the long run (60)"
    )
    parser.add_argument(
        "--workload",
        choices=list(WORKLOADS),
        default="mix_4k",
        help="The workload (default: mix_4k)",
    )
    parser.add_argument(
        "--storage", choices=("s3", "file"), default="s3", help="Storage (s3)"
    )
    parser.add_argument(
        "--processes", default=None, metavar="N", help="N or auto (default: one)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="Requests in flight (16)"
    )
    parser.add_argument(
        "--limit-mb",
        type=float,
        default=50.0,
        help="Allowed growth of peak RSS in MB (default: 50)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="Also write the results as JSON"
    )
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start the storage, create the dataset, run short then long."""
    workload = WORKLOADS[args.workload]
    processes: int | str | None = args.processes
    if processes not in (None, "auto"):
        processes = int(processes)
    rows = []
    with Testbed((args.storage,)) as testbed, tempfile.TemporaryDirectory() as tmp:
        work, site = Path(tmp), testbed.site_file(args.storage)
        if workload.count:
            # The dataset is created first, so that neither measured run holds
            # its creation and both read the same objects.
            data = scenario_data(
                workload, duration=1, concurrency=args.concurrency, prepare_only=True
            )
            pytest_run(work, site, data, "prepare")
        for tag, seconds in (("short", args.short), ("long", args.long)):
            data = scenario_data(
                workload,
                duration=seconds,
                concurrency=args.concurrency,
                processes=processes,
                run=tag,
            )
            rows.append(pytest_run(work, site, data, tag))
            print(f"{tag}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure both runs; exit status 1 when the growth is over the limit."""
    args = parse_args(argv)
    rows = measure(args)
    short, long = rows
    # The whole tree: with processes, the workers hold their share of the keys.
    growth = long["peak_tree_rss_mb"] - short["peak_tree_rss_mb"]
    passed = growth <= args.limit_mb
    columns = [
        "run",
        "duration_s",
        "ops",
        "ops_per_s",
        "peak_rss_mb",
        "peak_tree_rss_mb",
    ]
    body = [[row[column] for column in columns] for row in rows]
    print(tabulate(body, columns, floatfmt=".1f"))
    verdict = "PASS" if passed else "FAIL"
    print(
        f"\npeak RSS growth {growth:.1f} MB (target <= {args.limit_mb:.0f}): {verdict}"
    )
    if args.json is not None:
        result = {"runs": rows, "growth_mb": growth, "passed": passed}
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
