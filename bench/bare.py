"""The bare loop: the plugin's clients driven directly, with nothing around them.

Each client is built with the settings the plugin gives it (connection pool,
retries off, path-style requests; folders go through the plugin's own local
client, inline where it runs calls inline), and
driven the way the plugin drives it: ``concurrency`` asyncio tasks, one shared
round-robin counter over the four endpoints, a random prepared key per GET and a
new key per PUT. What is left out is everything the plugin adds: op records,
histograms, endpoint counters, pools, budgets, timeouts, the status line.

With ``processes`` above 1 the tasks are split over spawned processes that start
together, as ``processes: auto`` splits the plugin's workers.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Protocol

from bench.measure import CpuMeter, Sample, profiled
from bench.workloads import WORKLOADS, Workload
from pytest_sai3.engine import loop_factory

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from bench.sides import Job


class BareClient(Protocol):
    """One endpoint's client, as the bare loop uses it."""

    async def get(self, key: str) -> int: ...
    async def put(self, key: str, data: bytes) -> None: ...
    async def close(self) -> None: ...


class ObstoreClient:
    """obstore's S3Store with the plugin's settings (retries off, path style)."""

    def __init__(self, uri: str, credentials: dict[str, str], pool_size: int) -> None:
        import obstore
        from obstore.store import S3Store

        host, bucket = uri.split("://", 1)[1].strip("/").split("/", 1)
        self._obs = obstore
        self.store = S3Store(
            bucket,
            config={
                "endpoint": f"http://{host}",
                "access_key_id": credentials["access_key_id"],
                "secret_access_key": credentials["secret_access_key"],
                "region": "us-east-1",
                "virtual_hosted_style_request": False,
            },
            client_options={
                "allow_http": True,
                "pool_max_idle_per_host": str(max(pool_size, 10)),
            },
            retry_config={
                "max_retries": 0,
                "retry_timeout": timedelta(seconds=30),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=1),
                    "base": 2,
                },
            },
        )

    async def get(self, key: str) -> int:
        result = await self._obs.get_async(self.store, key)
        return len(await result.bytes_async())

    async def put(self, key: str, data: bytes) -> None:
        await self._obs.put_async(self.store, key, data)

    async def close(self) -> None:
        return None


class S3fsClient:
    """s3fs's async API with the plugin's settings (no HEAD before a GET)."""

    def __init__(self, uri: str, credentials: dict[str, str], pool_size: int) -> None:
        import s3fs

        host, root = uri.split("://", 1)[1].strip("/").split("/", 1)
        self._root = root
        self.fs = s3fs.S3FileSystem(
            key=credentials["access_key_id"],
            secret=credentials["secret_access_key"],
            endpoint_url=f"http://{host}",
            asynchronous=True,
            skip_instance_cache=True,
            use_listings_cache=False,
            config_kwargs={"max_pool_connections": max(pool_size, 10)},
        )
        self._ready = False

    async def _session(self) -> None:
        if not self._ready:
            await self.fs.set_session()
            self._ready = True

    async def get(self, key: str) -> int:
        await self._session()
        data = await self.fs._cat_file(f"{self._root}/{key}", max_concurrency=1)
        return len(data)

    async def put(self, key: str, data: bytes) -> None:
        await self._session()
        await self.fs._pipe_file(f"{self._root}/{key}", data)

    async def close(self) -> None:
        if self._ready:
            await self.fs._s3.__aexit__(None, None, None)


class FileClient:
    """A folder through the plugin's own local client (inline where it may)."""

    def __init__(self, uri: str, executor: ThreadPoolExecutor) -> None:
        from pytest_sai3.endpoints.local import LocalBackend
        from pytest_sai3.endpoints.uris import parse_endpoint

        self.backend = LocalBackend(parse_endpoint(uri), executor)
        self.inline = self.backend.inline

    async def get(self, key: str) -> int:
        return len(await self.backend.get(key))

    async def put(self, key: str, data: bytes) -> None:
        await self.backend.put(key, data)

    async def close(self) -> None:
        return None


def read_file(path: str) -> int:
    """Read a whole file; returns its size."""
    with open(path, "rb") as handle:
        return len(handle.read())


def write_file(path: str, data: bytes) -> None:
    """Write a whole file."""
    with open(path, "wb") as handle:
        handle.write(data)


def make_clients(
    job: Job, concurrency: int, executor: ThreadPoolExecutor
) -> list[BareClient]:
    """One client per endpoint, for the job's storage and client."""
    if job.storage == "file":
        return [FileClient(uri, executor) for uri in job.endpoints]
    creds = job.credentials or {}
    if job.client == "s3fs":
        return [S3fsClient(uri, creds, concurrency) for uri in job.endpoints]
    return [ObstoreClient(uri, creds, concurrency) for uri in job.endpoints]


def make_put_dirs(job: Job, workload: Workload) -> None:
    """Create the folder PUTs write to (the plugin does it on its first PUT)."""
    if job.storage == "file" and workload.put_weight:
        for uri in job.endpoints:
            root = uri.split("://", 1)[1]
            os.makedirs(os.path.join(root, workload.put_prefix(job.run)), exist_ok=True)


async def bare_loop(
    clients: list[BareClient],
    workload: Workload,
    *,
    duration: float,
    concurrency: int,
    seed: int,
    token: str,
    run: str,
) -> tuple[int, int, float]:
    """Run the op mix until the deadline; returns (ops, errors, elapsed seconds)."""
    loop = asyncio.get_running_loop()
    keys = workload.keys()
    payload = random.Random(seed).randbytes(workload.size)
    put_prefix = workload.put_prefix(run)
    turn = itertools.count()
    names = itertools.count()
    count = len(clients)
    done = [0, 0]
    deadline = loop.time() + duration

    # As the plugin's op loop does: inline calls never yield, so yield between ops.
    yielding = any(getattr(client, "inline", False) for client in clients)

    async def worker(number: int) -> None:
        rng = random.Random(seed * 1009 + number)
        while loop.time() < deadline:
            client = clients[next(turn) % count]
            try:
                if rng.random() * 100 < workload.get_weight:
                    await client.get(rng.choice(keys))
                else:
                    key = f"{put_prefix}{token}-{next(names):08x}"
                    await client.put(key, payload)
            except Exception:
                done[1] += 1
                continue
            done[0] += 1
            if yielding:
                await asyncio.sleep(0)

    start = loop.time()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done[0], done[1], loop.time() - start


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


class _Side:
    """The clients and thread pool of one process's bare loop, built up front.

    The plugin builds its clients before its workload starts; so does this, so
    that neither side's measured window holds client construction.
    """

    def __init__(self, job: Job, concurrency: int) -> None:
        self.job = job
        self.concurrency = concurrency
        self.executor = ThreadPoolExecutor(
            max(4, concurrency), thread_name_prefix="bare-io"
        )
        self.clients = make_clients(job, concurrency, self.executor)

    def run(
        self, seed: int, token: str, meter: CpuMeter | None = None
    ) -> tuple[int, int, float, float]:
        """Run the loop once on a fresh event loop, of the kind the plugin runs
        on; returns ops, errors, elapsed seconds and the CPU seconds ``meter``
        read when the loop ended (0 without).
        """
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(self._run(seed, token, meter))

    async def _run(
        self, seed: int, token: str, meter: CpuMeter | None
    ) -> tuple[int, int, float, float]:
        try:
            ops, errors, elapsed = await bare_loop(
                self.clients,
                WORKLOADS[self.job.workload],
                duration=self.job.duration,
                concurrency=self.concurrency,
                seed=seed,
                token=token,
                run=self.job.run,
            )
            # Read before the clients close: the plugin closes its own after its
            # measured window too.
            cpu = meter.stop() if meter is not None else 0.0
        finally:
            for client in self.clients:
                await client.close()
        return ops, errors, elapsed, cpu

    def close(self) -> None:
        """Stop the thread pool."""
        self.executor.shutdown(wait=True)


def run_bare(job: Job) -> Sample:
    """The bare loop in this process, or split over ``job.processes`` processes."""
    make_put_dirs(job, WORKLOADS[job.workload])
    if job.processes > 1:
        return _run_split(job)
    side = _Side(job, job.concurrency)
    meter = CpuMeter()
    meter.start()
    try:
        with profiled(job.profile):
            ops, errors, elapsed, cpu = side.run(job.seed, "b", meter)
        return Sample(ops, errors, elapsed, cpu)
    finally:
        side.close()


def _bare_process(job: Job, index: int, conn: Connection, go: Event) -> None:
    """A bare worker process: build its clients, wait for go, run, report."""
    side = _Side(job, _share(job.concurrency, job.processes, index))
    conn.send("ready")
    go.wait()
    outcome = side.run(job.seed + 1_000_003 * (index + 1), f"b{index}")
    conn.send(outcome)
    conn.close()
    side.close()


def _run_split(job: Job) -> Sample:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    procs, conns = [], []
    for index in range(job.processes):
        ours, theirs = context.Pipe()
        proc = context.Process(
            target=_bare_process, args=(job, index, theirs, go), daemon=True
        )
        proc.start()
        theirs.close()
        procs.append(proc)
        conns.append(ours)
    for conn in conns:
        conn.recv()
    meter = CpuMeter()
    meter.start()
    go.set()
    outcomes = [conn.recv() for conn in conns]
    for proc in procs:
        proc.join()
    # Like the plugin's fleet, the workers' exit is in the window: the CPU of a
    # child process is only known once it has been waited for.
    cpu = meter.stop()
    ops = sum(o[0] for o in outcomes)
    errors = sum(o[1] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    return Sample(ops, errors, elapsed, cpu, job.processes)


def run_threads(job: Job) -> Sample:
    """Plain threads, each a synchronous open/read/write loop (folders only).

    Not the plugin's way of doing file I/O, so it is no target's baseline: it
    shows what the asyncio-and-thread-pool hand-off costs.
    """
    workload = WORKLOADS[job.workload]
    make_put_dirs(job, workload)
    roots = [uri.split("://", 1)[1].rstrip("/") for uri in job.endpoints]
    keys = workload.keys()
    payload = random.Random(job.seed).randbytes(workload.size)
    put_prefix = workload.put_prefix(job.run)
    turn, names = itertools.count(), itertools.count()
    counts = [[0, 0] for _ in range(job.concurrency)]
    meter = CpuMeter()
    meter.start()
    start = time.perf_counter()
    deadline = start + job.duration

    def worker(number: int) -> None:
        rng = random.Random(job.seed * 1009 + number)
        mine = counts[number]
        while time.perf_counter() < deadline:
            root = roots[next(turn) % len(roots)]
            try:
                if rng.random() * 100 < workload.get_weight:
                    read_file(f"{root}/{rng.choice(keys)}")
                else:
                    name = f"{put_prefix}t-{next(names):08x}"
                    write_file(f"{root}/{name}", payload)
            except OSError:
                mine[1] += 1
                continue
            mine[0] += 1

    threads = [
        threading.Thread(target=worker, args=(n,)) for n in range(job.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = meter.stop()
    return Sample(sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed, cpu)
