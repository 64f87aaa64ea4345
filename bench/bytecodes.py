"""Python bytecodes per op: the plugin's op loop against the bare loop, counted.

Usage (from the repository root)::

    python -m bench.bytecodes                  # 70/30 GET/PUT of 4 KiB, four folders
    python -m bench.bytecodes --top 20 --json bytecodes.json

Wall-clock ratios swing with the machine (docs/benchmarks.md); how many bytecodes
each side runs per op does not, so this is where a change to the op loop shows
first. Each side runs in this process twice, a short and a long run, with every
bytecode counted by the function it belongs to (``sys.settrace`` with opcode
events, in every thread); the difference of the two counts over the difference
of their ops is what one op costs, without the setup both runs share. The folders
are four links to one folder in memory (``/dev/shm``, else the temporary folder),
so reads are inline on both sides as in ``bench.compare --folder-root /dev/shm``.

Bytecodes are not all alike (a call costs more than a load), but both sides run
the same interpreter on the same client calls: their ratio is the share of the
Python work that is the plugin's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from tabulate import tabulate

from bench.sides import Job, run_job, run_prepare
from bench.testbed import Testbed
from bench.workloads import WORKLOADS, scenario_data, write_scenario

#: Seconds of the short and the long run of each side (under the tracer, a side
#: runs some 20 times slower than without it).
SHORT_S, LONG_S = 1.0, 3.0
CONCURRENCY = 16
SIDES = ("plugin", "bare")


def traced(run: Callable[[], Any]) -> tuple[Counter[CodeType], Any]:
    """Run ``run()`` with every bytecode it executes counted, by code object."""
    counts: Counter[CodeType] = Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts[frame.f_code] += 1
        return tracer

    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        result = run()
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    return counts, result


def _name(code: CodeType) -> str:
    return f"{Path(code.co_filename).name}:{code.co_qualname}"


def per_op(side: str, bed: Testbed, workload: str) -> tuple[dict[str, float], int]:
    """Bytecodes per op of one side, by function; and the ops of its long run."""
    runs = []
    for duration in (SHORT_S, LONG_S):
        run = f"{side}-{duration:g}s"
        job = _job(side, bed, workload, duration, run)
        counts, sample = traced(partial(run_job, job))
        if sample.errors:
            raise SystemExit(f"{side}: {sample.errors} ops failed")
        runs.append((counts, sample.ops))
    (short, short_ops), (long, long_ops) = runs
    ops = long_ops - short_ops
    if ops <= 0:
        raise SystemExit(f"{side}: the long run did no more ops than the short one")
    costs: dict[str, float] = {}
    for code in short.keys() | long.keys():
        name = _name(code)
        costs[name] = costs.get(name, 0.0) + (long[code] - short[code]) / ops
    return costs, long_ops


def _job(side: str, bed: Testbed, workload: str, duration: float, run: str) -> Job:
    data = scenario_data(
        WORKLOADS[workload], duration=duration, concurrency=CONCURRENCY, run=run
    )
    scenario = write_scenario(bed.root / f"{run}.yaml", data)
    return Job(
        side=side,
        storage="file",
        workload=workload,
        endpoints=bed.endpoints("file"),
        duration=duration,
        concurrency=CONCURRENCY,
        scenario=str(scenario),
        site=str(bed.site_file("file")),
        run=run,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bytecodes", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--workload",
        default="mix_4k",
        choices=sorted(WORKLOADS),
        help="Workload on the four folders (default: mix_4k)",
    )
    parser.add_argument(
        "--top", type=int, default=12, help="Functions listed per side (default: 12)"
    )
    parser.add_argument("--json", type=Path, help="Also write the counts as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Count both sides and print bytecodes per op, the top functions, the ratio."""
    args = parse_args(argv)
    memory = Path("/dev/shm")
    with Testbed(("file",), folder_root=memory if memory.is_dir() else None) as bed:
        # The dataset, untraced: both sides read the same objects.
        prepare = _job("prepare", bed, args.workload, SHORT_S, "prepare")
        run_prepare(prepare)
        costs = {}
        for side in SIDES:
            costs[side], ops = per_op(side, bed, args.workload)
            print(f"{side}: {sum(costs[side].values()):.1f} bytecodes/op ({ops} ops)")
    totals = {side: sum(costs[side].values()) for side in SIDES}
    for side in SIDES:
        rows = sorted(costs[side].items(), key=lambda item: -item[1])[: args.top]
        print()
        print(
            tabulate(
                [(name, f"{cost:.1f}") for name, cost in rows],
                headers=[f"{side}: function", "bytecodes/op"],
            )
        )
    ratio = totals["plugin"] / totals["bare"]
    print(
        f"\nplugin {totals['plugin']:.1f}, bare {totals['bare']:.1f} bytecodes/op: "
        f"plugin/bare {ratio:.3f}"
    )
    if args.json:
        report = {
            "workload": args.workload,
            "bytecodes_per_op": totals,
            "ratio": ratio,
            "by_function": costs,
        }
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
