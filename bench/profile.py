"""Where a side spends its CPU per op: py-spy samples or a cProfile of one run.

Usage (from the repository root)::

    python -m bench.profile --storage s3 --workload get_1k --side plugin
    python -m bench.profile --storage file --workload mix_4k --side bare --tool cprofile

py-spy (``pip install py-spy``) samples every thread of the side process, the
thread pool's too; only stacks inside the measured op loop or on a pool thread
are kept, so start-up and prepare stay out. cProfile sees the event loop's
thread only, but counts calls, so it tells how many calls of each function an
op costs.
"""

from __future__ import annotations

import argparse
import json
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tabulate import tabulate

from bench.compare import REPO, Bench, Side
from bench.compare import parse_args as compare_args
from bench.measure import Sample
from bench.testbed import Testbed
from bench.workloads import WORKLOADS

#: A stack holding one of these frames is inside a measured op loop (the op
#: loops' tasks run under the event loop, so the frame that started it marks them).
WINDOW_MARKERS = (
    "Engine.workload (pytest_sai3/engine.py",
    "run_bare (bench/bare.py",
    "_bare_process (bench/bare.py",
    "run_s3dlio (bench/sides.py",
    "run_threads.<locals>.worker (bench/bare.py",
    "_worker (concurrent/futures/thread.py",
    # A Rust client's runtime threads waking the event loop up.
    "call_soon_threadsafe (asyncio/base_events.py",
)
NATIVE = "[a thread with no Python frame: a Rust client's runtime]"


SIDES = {
    "plugin": Side("plugin", "plugin"),
    "plugin-auto": Side("plugin auto", "plugin", processes="auto"),
    "plugin-s3fs": Side("plugin s3fs", "plugin", client="s3fs"),
    "bare": Side("bare", "bare"),
    "bare-s3fs": Side("bare s3fs", "bare", client="s3fs"),
    "s3dlio": Side("s3dlio", "s3dlio"),
    "threads": Side("threads", "threads"),
}


def _relative(frame: str) -> str:
    """A frame with the repository and library paths and the line cut off."""
    for root in (str(REPO) + "/", "site-packages/", "/lib/python3."):
        if root in frame:
            head, _, tail = frame.partition(root)
            if root.startswith("/lib/python3."):
                tail = tail.split("/", 1)[-1]
            frame = head + tail
    return re.sub(r":\d+\)$", ")", frame)


def summarize_raw(path: Path, ops: int, top: int) -> str:
    """Tables of a py-spy raw (collapsed stacks) file: self and inclusive."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_relative(frame) for frame in stack.split(";") if frame.strip()]
        if not frames:
            frames = [NATIVE]
        elif not any(m in f for f in frames for m in WINDOW_MARKERS):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "pytest_sai3/" in frame or "bench/" in frame:
                inclusive[frame] += count
    if not total:
        return "no samples inside the op loop"

    def rows(counter: Counter[str]) -> list[list[str]]:
        return [
            [f"{100 * n / total:5.1f}%", name] for name, n in counter.most_common(top)
        ]

    return (
        f"{total} samples in the op loop (and native threads over the whole run),"
        f" {ops} ops\n\n"
        + tabulate(rows(own), ["self", "function (leaf frames)"])
        + "\n\n"
        + tabulate(rows(inclusive), ["inclusive", "function (ours)"])
    )


def summarize_cprofile(path: Path, ops: int, top: int) -> str:
    """Tables of a cProfile dump: by own time, and ours with calls per op."""
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in entries.items():
        where = _relative(f"{name} ({filename}:{line})")
        rows.append((own, cumulative, calls, where))
    rows.sort(reverse=True)

    def table(chosen: list[tuple[float, float, int, str]]) -> str:
        body = [
            [
                f"{100 * own / total:5.1f}%",
                f"{1e6 * own / max(ops, 1):6.2f}",
                f"{1e6 * cum / max(ops, 1):7.2f}",
                f"{calls / max(ops, 1):5.2f}",
                where,
            ]
            for own, cum, calls, where in chosen[:top]
        ]
        headers = ["own", "own us/op", "cum us/op", "calls/op", "function"]
        return tabulate(body, headers, disable_numparse=True)

    ours = [row for row in rows if "pytest_sai3/" in row[3] or "bench/" in row[3]]
    ours.sort(key=lambda row: -row[1])
    return (
        f"{total:.2f} s profiled (event loop thread), {ops} ops\n\n"
        + table(rows)
        + "\n\nours, by cumulative time:\n"
        + table(ours)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--storage", choices=("s3", "file"), default="s3")
    parser.add_argument("--workload", choices=list(WORKLOADS), default="get_1k")
    parser.add_argument("--side", choices=list(SIDES), default="plugin")
    parser.add_argument("--tool", choices=("py-spy", "cprofile"), default="py-spy")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="Seconds of the run (5)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="Requests in flight (16)"
    )
    parser.add_argument(
        "--top", type=int, default=25, help="Rows per table (default: 25)"
    )
    parser.add_argument("--out", type=Path, help="Keep the raw profile here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Profile one side's run and print where its time goes."""
    args = parse_args(argv)
    workload = WORKLOADS[args.workload]
    side = SIDES[args.side]
    settings = compare_args(
        [f"--duration={args.duration}", f"--concurrency={args.concurrency}"]
    )
    with Testbed((args.storage,)) as testbed, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench = Bench(testbed, settings, work)
        bench.prepare(args.storage, workload)
        scenario = None
        if side.runner == "plugin":
            scenario = bench.scenario(args.storage, workload, side)
        out = args.out or work / ("profile.txt" if args.tool == "py-spy" else "prof")
        job = bench.job(args.storage, workload, side, scenario=scenario)
        command = [sys.executable, "-m", "bench.sides"]
        if args.tool == "py-spy":
            spy = shutil.which("py-spy") or "py-spy"
            command = [spy, "record", "-f", "raw", "-r", "250", "-o", str(out), "--"]
            command += [sys.executable, "-m", "bench.sides"]
        else:
            job.profile = str(out)
        done = subprocess.run(
            command,
            input=job.to_json(),
            capture_output=True,
            text=True,
            env=testbed.env(),
            cwd=REPO,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        line = [row for row in done.stdout.splitlines() if row.startswith("{")][-1]
        sample = Sample.from_dict(json.loads(line))
        print(
            f"{args.side} {args.storage}/{args.workload}: {sample.ops_per_s:.0f} "
            f"ops/s, {sample.cpu_ms_per_op:.3f} ms CPU/op\n"
        )
        if args.tool == "py-spy":
            print(summarize_raw(out, sample.ops, args.top))
        else:
            print(summarize_cprofile(out, sample.ops, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
