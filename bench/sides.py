"""One measured run of one side, in a process of its own.

``python -m bench.sides`` reads a job as JSON on stdin (it holds the S3 keys, which
have no business in a process listing), runs it and prints its :class:`Sample` as
one JSON line. Every run is a fresh process, so no side inherits another's warm
caches, runtime threads or heap, and start-up never falls in a measured window.

Sides:

- ``plugin``: the plugin's engine on a scenario file bound through a site file,
  exactly as a scenario item runs it (``Engine.prepare`` then ``Engine.workload``,
  the part pytest-benchmark times); CPU is measured around the workload only.
- ``bare``: :mod:`bench.bare`, the same client with nothing around it.
- ``threads``: plain threads doing open/read/write (folders; for information).
- ``s3dlio``: s3dlio's ``MultiEndpointStore``, round robin, the same number of
  asyncio tasks awaiting its async ``get``/``put``.
- ``prepare``: the plugin's prepare alone, to create a workload's dataset once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import CpuMeter, Sample, profiled
from bench.workloads import WORKLOADS, Workload
from pytest_sai3.engine import loop_factory


@dataclass
class Job:
    """What a side process is asked to run.

    :param side: ``plugin``, ``bare``, ``threads``, ``s3dlio`` or ``prepare``.
    :param storage: ``s3`` or ``file``.
    :param workload: a name from :data:`bench.workloads.WORKLOADS`.
    :param endpoints: the four endpoint URIs.
    :param duration: seconds of the measured run.
    :param concurrency: requests in flight, over all processes.
    :param processes: how many processes the bare loop is split over.
    :param client: ``obstore`` or ``s3fs`` (S3 only).
    :param scenario: the scenario file (plugin sides).
    :param site: the site file (plugin sides).
    :param credentials: the S3 key pair (bare sides).
    :param seed: the seed of the random key choices.
    :param profile: write a cProfile of the measured window (main thread) here.
    :param run: the run's name, which names the folder its PUTs write in.
    """

    side: str
    storage: str
    workload: str
    endpoints: list[str]
    duration: float
    concurrency: int
    processes: int = 1
    client: str = "obstore"
    scenario: str | None = None
    site: str | None = None
    credentials: dict[str, str] | None = field(default=None, repr=False)
    seed: int = 7
    profile: str | None = None
    run: str = "run"

    def to_json(self) -> str:
        """The job as one JSON argument."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Rebuild a job from :meth:`to_json`'s output."""
        return cls(**json.loads(text))


def _engine(job: Job) -> Any:
    from pytest_sai3.engine import Engine
    from pytest_sai3.scenario import load_scenarios
    from pytest_sai3.site import bind, load_site

    assert job.scenario is not None and job.site is not None
    scenario = load_scenarios(Path(job.scenario))[0]
    return Engine(bind(scenario, load_site(Path(job.site))))


def run_plugin(job: Job) -> Sample:
    """The plugin's engine: prepare untimed, the workload in the window."""
    engine = _engine(job)
    meter = CpuMeter()
    with engine:
        engine.prepare()
        meter.start()
        with profiled(job.profile):
            engine.workload()
        cpu = meter.stop()
    result = engine.result
    metrics = result.workload
    detail = {
        "requests": [stats.requests for stats in metrics.endpoints],
        "stop_reason": result.stop_reason,
        "error_samples": result.error_samples[:3],
    }
    return Sample(
        metrics.total_ops,
        metrics.total_errors,
        metrics.elapsed_s,
        cpu,
        engine.processes,
        detail,
    )


def run_prepare(job: Job) -> Sample:
    """Create a workload's dataset through the plugin's prepare."""
    engine = _engine(job)
    with engine:
        engine.prepare()
    result = engine.result
    detail = {"created": result.created, "existed": result.existed}
    return Sample(result.created, len(result.error_samples), 0.0, 0.0, 1, detail)


async def s3dlio_loop(
    store: Any,
    base: str,
    workload: Workload,
    *,
    duration: float,
    concurrency: int,
    seed: int,
    run: str,
) -> tuple[int, int, float]:
    """The op mix through a MultiEndpointStore; returns (ops, errors, elapsed).

    Every URI names the first endpoint: the store rewrites it to the endpoint
    its strategy picks.
    """
    loop = asyncio.get_running_loop()
    uris = [base + key for key in workload.keys()]
    payload = random.Random(seed).randbytes(workload.size)
    put_prefix = workload.put_prefix(run)
    names = itertools.count()
    done = [0, 0]
    deadline = loop.time() + duration

    async def worker(number: int) -> None:
        rng = random.Random(seed * 1009 + number)
        while loop.time() < deadline:
            try:
                if rng.random() * 100 < workload.get_weight:
                    await store.get(rng.choice(uris))
                else:
                    name = f"{put_prefix}s-{next(names):08x}"
                    await store.put(base + name, payload)
            except Exception:
                done[1] += 1
                continue
            done[0] += 1

    start = loop.time()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done[0], done[1], loop.time() - start


def run_s3dlio(job: Job) -> Sample:
    """s3dlio's MultiEndpointStore in this process (its Rust runtime's threads)."""
    import s3dlio

    store = s3dlio.create_multi_endpoint_store(job.endpoints, "round_robin")
    workload = WORKLOADS[job.workload]
    meter = CpuMeter()
    meter.start()
    with profiled(job.profile):
        # On the plugin's event loop, as the bare loop: the sides differ in
        # their clients and bookkeeping only.
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            ops, errors, elapsed = runner.run(
                s3dlio_loop(
                    store,
                    job.endpoints[0],
                    workload,
                    duration=job.duration,
                    concurrency=job.concurrency,
                    seed=job.seed,
                    run=job.run,
                )
            )
    cpu = meter.stop()
    stats = store.get_endpoint_stats()
    detail = {"requests": [row["total_requests"] for row in stats]}
    return Sample(ops, errors, elapsed, cpu, 1, detail)


def run_job(job: Job) -> Sample:
    """Run one job in this process."""
    from bench.bare import run_bare, run_threads

    runners = {
        "plugin": run_plugin,
        "bare": run_bare,
        "threads": run_threads,
        "s3dlio": run_s3dlio,
        "prepare": run_prepare,
    }
    return runners[job.side](job)


def main() -> int:
    """Entry point: run the job read from stdin, print the sample as JSON."""
    sample = run_job(Job.from_json(sys.stdin.read()))
    print(json.dumps(sample.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
