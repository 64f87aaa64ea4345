"""The engine: prepare, run the weighted op mix, measure every op, clean up.

Closed loop by default: ``concurrency`` workers each pick an op by weight, run it and
record its latency, until the deadline or the op budget. ``io_rate`` makes it open
loop: ops start on a schedule, and latency is recorded both from the scheduled start
and from the send, so queueing is never hidden.

The engine knows nothing of pytest: it is given a plan and returns a result.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pytest_sai3.dataset import (
    DELETABLE,
    PREPARED,
    NamespaceError,
    Payloads,
    Pool,
    PoolError,
    cleanup,
    prepare_pool,
    probe_shared,
    resolve_pool,
    run_token,
)
from pytest_sai3.endpoints.clients import make_backend
from pytest_sai3.endpoints.router import RequestError, Router
from pytest_sai3.metrics import LatencyHistogram, RunMetrics
from pytest_sai3.scenario import has_delete_with_reads
from pytest_sai3.site import Plan, PlannedOp
from pytest_sai3.sizes import bucket_index

log = logging.getLogger("pytest_sai3.engine")

Progress = Callable[[dict[str, Any]], None]


class RunAborted(RuntimeError):
    """The run stopped early for a reason the scenario asked for (errors)."""


@dataclass
class RunResult:
    """Everything a run measured, phase by phase."""

    plan: Plan
    prepare: RunMetrics
    workload: RunMetrics
    cleanup: RunMetrics | None = None
    created: int = 0
    existed: int = 0
    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    perf_log: list[dict[str, Any]] = field(default_factory=list)
    scheduled: dict[str, LatencyHistogram] = field(default_factory=dict)
    list_items: int = 0
    started: float = 0.0
    ended: float = 0.0
    aborted: str | None = None


@dataclass
class _OpState:
    planned: PlannedOp
    pool: Pool | None = None
    limit: asyncio.Semaphore | None = None
    exhausted: bool = False


class Engine:
    """Runs one plan in this process.

    :param plan: the scenario bound to its endpoints.
    :param progress: called about once a second with live figures.
    """

    def __init__(self, plan: Plan, progress: Progress | None = None) -> None:
        self.plan = plan
        self.scenario = plan.scenario
        self.progress = progress
        seed = self.scenario.seed
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.token = run_token()
        self._created: list[tuple[str, int | None]] = []
        self._dirs: list[tuple[str, int | None]] = []
        self._cleaned = False
        self._states: list[_OpState] = []
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, self.scenario.concurrency), thread_name_prefix="sai3-io"
        )

    def build_router(self) -> Router:
        """One client per endpoint, one router for the whole run."""
        backends = [
            make_backend(
                spec,
                client=self.plan.client,
                credentials=self.plan.credentials,
                pool_size=self.scenario.concurrency,
                executor=self._executor,
            )
            for spec in self.plan.endpoints
        ]
        timeout = self.scenario.error_handling.op_timeout
        return Router(backends, self.plan.strategy, self.plan.namespace, timeout)

    def __enter__(self) -> Engine:
        self._runner = asyncio.Runner()
        self.result = RunResult(
            self.plan, RunMetrics(), RunMetrics(), started=time.time()
        )
        self.router = self._runner.run(self._open())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.cleanup()
        finally:
            try:
                self._runner.run(self.router.close())
            finally:
                self._runner.close()
                self._executor.shutdown(wait=True, cancel_futures=True)
                self.result.ended = time.time()

    async def _open(self) -> Router:
        router = self.build_router()
        if router.namespace == "shared":
            try:
                await probe_shared(router)
            except BaseException:
                await router.close()
                raise
            router.reset_stats()
        return router

    def prepare(self) -> None:
        """Create the dataset and resolve every op's pool (the untimed setup)."""
        start = time.perf_counter()
        self._states = self._runner.run(self._prepare(self.router, self.result))
        prepare = self.result.prepare
        prepare.elapsed_s += time.perf_counter() - start
        for stats in self.router.reset_stats():
            prepare.endpoint(stats.uri).merge(stats)

    def workload(self) -> None:
        """Run the op mix once (one round, the timed part)."""
        self._runner.run(self._workload(self.router, self._states, self.result))

    def cleanup(self) -> None:
        """Delete what the run created, if the scenario asks for cleanup."""
        if not self._cleaned:
            self._cleaned = True
            self._runner.run(self._cleanup(self.router, self.result))

    def run(self) -> RunResult:
        """Prepare, run every round, clean up; cleanup also runs on failure."""
        with self:
            for _ in range(self.scenario.rounds):
                self.prepare()
                self.workload()
        return self.result

    async def _prepare(self, router: Router, result: RunResult) -> list[_OpState]:
        prepare = self.scenario.prepare
        payloads = Payloads(self._max_size(), random.Random(self.seed))
        if prepare is not None and not prepare.cleanup_only:
            pools = [(p, PREPARED) for p in self.plan.pools]
            if has_delete_with_reads(self.scenario):
                pools += [(p, DELETABLE) for p in self.plan.pools]
            for planned, prefix in pools:
                outcome = await prepare_pool(
                    router,
                    planned.spec,
                    planned.base,
                    prefix=prefix,
                    seed=self.seed,
                    concurrency=self.scenario.concurrency,
                    payloads=payloads,
                    shards=prepare.key_prefix_shards,
                    tree=prepare.directory_structure if prefix == PREPARED else None,
                    skip_verification=prepare.skip_verification,
                    force_overwrite=prepare.force_overwrite,
                    metrics=result.prepare,
                )
                result.created += outcome.created
                result.existed += outcome.existed
                self._created.extend(outcome.created_keys)
                result.error_samples.extend(outcome.errors[:5])
            if result.created and prepare.post_prepare_delay:
                await asyncio.sleep(prepare.post_prepare_delay)
        return await self._resolve(router, result.prepare)

    def _max_size(self) -> int:
        sizes = [op.size.max_size for op in self.scenario.workload if op.size]
        if self.scenario.prepare:
            sizes += [e.size.max_size for e in self.scenario.prepare.ensure_objects]
        return max(sizes, default=4096)

    async def _resolve(self, router: Router, metrics: RunMetrics) -> list[_OpState]:
        states = []
        split = has_delete_with_reads(self.scenario)
        cache: dict[tuple[str, str | None, str | None], Pool] = {}
        for planned in self.plan.ops:
            state = _OpState(planned)
            kind = planned.op.kind
            if kind in ("get", "stat", "delete"):
                exclude = DELETABLE if split and kind != "delete" else None
                only = DELETABLE if split and kind == "delete" else None
                cache_key = (planned.key, exclude, only)
                if cache_key not in cache or kind == "delete":
                    pool = await resolve_pool(
                        router, planned.key, exclude, only, metrics
                    )
                    if kind != "delete":
                        cache[cache_key] = pool
                else:
                    pool = cache[cache_key]
                if not pool and kind != "delete":
                    raise PoolError(
                        f"{self.scenario.source}:{planned.op.line}: path: no objects "
                        f"match {planned.op.path!r} for the {kind} op"
                    )
                state.pool = pool
                state.exhausted = not pool
            if (
                planned.op.concurrency
                and planned.op.concurrency < self.scenario.concurrency
            ):
                state.limit = asyncio.Semaphore(planned.op.concurrency)
            states.append(state)
        return states

    async def _workload(
        self, router: Router, states: list[_OpState], result: RunResult
    ) -> None:
        runner = _Workload(self, router, states, result)
        await runner.run()

    async def _cleanup(self, router: Router, result: RunResult) -> None:
        prepare = self.scenario.prepare
        if prepare is None or not prepare.cleanup:
            return
        router.reset_stats()
        start = time.perf_counter()
        deleted, errors = await cleanup(
            router,
            self._created,
            prepare.cleanup_mode,
            self.scenario.concurrency,
            self._dirs,
        )
        metrics = RunMetrics()
        metrics.elapsed_s = time.perf_counter() - start
        metrics.endpoints = router.reset_stats()
        result.cleanup = metrics
        result.notes.append(f"cleanup deleted {deleted} objects created by this run")
        if errors:
            result.error_samples.extend(errors[:5])
            result.notes.append(
                f"cleanup: {len(errors)} errors ({prepare.cleanup_mode})"
            )


class _Workload:
    """The op loop of one process."""

    def __init__(
        self, engine: Engine, router: Router, states: list[_OpState], result: RunResult
    ) -> None:
        self.engine = engine
        self.router = router
        self.states = states
        self.result = result
        self.metrics = result.workload
        self.scenario = engine.scenario
        self.handling = self.scenario.error_handling
        self.payloads = Payloads(engine._max_size(), random.Random(engine.seed + 1))
        self.issued = 0
        self.errors = 0
        self.stop = False
        self.start = 0.0
        self.deadline: float | None = None
        self.warmup_end = 0.0
        self.counter = itertools.count()

    async def run(self) -> None:
        concurrency = self.scenario.concurrency
        loop = asyncio.get_running_loop()
        self.start = loop.time()
        self.warmup_end = self.start + self.scenario.warmup
        if self.scenario.duration is not None:
            self.deadline = self.warmup_end + self.scenario.duration
        rate = self.scenario.io_rate
        queue: asyncio.Queue[float | None] | None = None
        tasks = []
        if rate is not None and rate.iops:
            queue = asyncio.Queue()
            tasks.append(
                asyncio.create_task(self._schedule(queue, rate.iops, rate.distribution))
            )
        workers = [
            asyncio.create_task(self._worker(i, queue)) for i in range(concurrency)
        ]
        sampler = asyncio.create_task(self._sample())
        if self.scenario.warmup:
            tasks.append(asyncio.create_task(self._end_warmup()))
        try:
            await asyncio.gather(*workers)
        finally:
            self.stop = True
            for task in [*tasks, sampler]:
                task.cancel()
            await asyncio.gather(*tasks, sampler, return_exceptions=True)
        end = loop.time()
        measured_from = self.warmup_end if self.scenario.warmup else self.start
        self.metrics.elapsed_s = max(end - measured_from, 1e-9)
        self.metrics.endpoints = self.router.stats
        self._note_stop()

    async def _end_warmup(self) -> None:
        await asyncio.sleep(self.scenario.warmup)
        self.router.reset_stats()

    def _note_stop(self) -> None:
        if not self.result.stop_reason:
            if self.scenario.ops is not None and self.issued >= self.scenario.ops:
                self.result.stop_reason = f"op count reached ({self.scenario.ops})"
            else:
                self.result.stop_reason = "duration reached"
        for state in self.states:
            if state.exhausted and state.planned.op.kind == "delete":
                self.result.notes.append(
                    f"the delete pool of {state.planned.op.path!r} was exhausted: "
                    "later ops ran the rest of the mix"
                )

    def _claim(self) -> bool:
        """Whether one more op may start (deadline, op budget, errors)."""
        if self.stop:
            return False
        if (
            self.deadline is not None
            and asyncio.get_running_loop().time() >= self.deadline
        ):
            return False
        if self.scenario.ops is not None:
            if self.issued >= self.scenario.ops:
                return False
        self.issued += 1
        return True

    def _choose(self, rng: random.Random) -> _OpState | None:
        live = [s for s in self.states if not s.exhausted and s.planned.op.weight > 0]
        if not live:
            return None
        weights = list(itertools.accumulate(s.planned.op.weight for s in live))
        return rng.choices(live, cum_weights=weights)[0]

    async def _schedule(
        self, queue: asyncio.Queue[float | None], iops: float, distribution: str
    ) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(self.engine.seed + 2)
        due = loop.time()
        while not self.stop:
            if distribution == "exponential":
                gap = rng.expovariate(iops)
            elif distribution == "uniform":
                gap = rng.uniform(0.0, 2.0 / iops)
            else:
                gap = 1.0 / iops
            due += gap
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.deadline is not None and due >= self.deadline:
                break
            queue.put_nowait(due)
        for _ in range(self.scenario.concurrency):
            queue.put_nowait(None)

    async def _worker(
        self, number: int, queue: asyncio.Queue[float | None] | None
    ) -> None:
        rng = random.Random(self.engine.seed * 1009 + number)
        loop = asyncio.get_running_loop()
        while True:
            scheduled = None
            if queue is not None:
                scheduled = await queue.get()
                if scheduled is None:
                    return
            if not self._claim():
                if queue is None:
                    return
                self.stop = True
                return
            state = self._choose(rng)
            if state is None:
                self.result.stop_reason = "every op's pool is exhausted"
                self.stop = True
                return
            await self._run_op(
                state, rng, loop.time() if scheduled is None else scheduled
            )
            if self.stop:
                return

    async def _run_op(
        self, state: _OpState, rng: random.Random, scheduled: float
    ) -> None:
        limit = state.limit
        if limit is not None:
            await limit.acquire()
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            kind, nbytes, size, retries, error = await self._attempt(state, rng)
        except _Exhausted:
            self.issued -= 1
            return
        finally:
            if limit is not None:
                limit.release()
        end = loop.time()
        if self.scenario.warmup and sent < self.warmup_end:
            return
        stats = self.metrics.op(kind)
        stats.retries += retries
        if error is not None:
            stats.record_error(error)
            self.errors += 1
            if len(self.result.error_samples) < 10:
                self.result.error_samples.append(
                    f"{kind} {state.planned.op.path}: {error}"
                )
            if self.errors >= self.handling.max_total_errors > 0:
                self.stop = True
                self.result.aborted = (
                    f"max_total_errors reached: {self.errors} errors "
                    f"(error_handling.max_total_errors="
                    f"{self.handling.max_total_errors})"
                )
                self.result.stop_reason = "max_total_errors reached"
            return
        latency = int((end - sent) * 1e6)
        stats.record(latency, nbytes, bucket_index(size))
        if self.scenario.io_rate is not None and self.scenario.io_rate.iops:
            hist = self.result.scheduled.setdefault(kind, LatencyHistogram())
            hist.record(int((end - scheduled) * 1e6))

    async def _attempt(
        self, state: _OpState, rng: random.Random
    ) -> tuple[str, int, int, int, str | None]:
        retries = 0
        delay = self.handling.initial_retry_delay_ms / 1000
        while True:
            try:
                nbytes, size = await self._execute(state, rng)
                return state.planned.op.kind, nbytes, size, retries, None
            except _Exhausted:
                raise
            except RequestError as err:
                if (
                    not self.handling.retry_on_error
                    or retries >= self.handling.max_retries
                ):
                    return state.planned.op.kind, 0, 0, retries, err.kind
                retries += 1
                jitter = 1 + rng.uniform(-1, 1) * self.handling.retry_jitter_factor
                await asyncio.sleep(
                    min(delay, self.handling.max_retry_delay_ms / 1000) * jitter
                )
                delay *= self.handling.retry_backoff_multiplier

    async def _execute(self, state: _OpState, rng: random.Random) -> tuple[int, int]:
        op = state.planned.op
        router = self.router
        if op.kind == "get":
            assert state.pool is not None
            key, endpoint = state.pool.pick(rng)
            data, _ = await router.get(key, endpoint)
            return len(data), len(data)
        if op.kind == "put":
            assert op.size is not None
            size = op.size.draw(rng)
            key = self._new_key(state.planned.key, "obj")
            payload = self.payloads.make(
                size, rng, "random", op.dedup_factor, op.compress_factor
            )
            endpoint = await router.put(key, payload)
            self.engine._created.append((key, endpoint if router.isolated else None))
            if self.scenario.dynamic_put_pool:
                self._grow_pools(key, endpoint)
            return size, size
        if op.kind == "stat":
            assert state.pool is not None
            key, endpoint = state.pool.pick(rng)
            await router.stat(key, endpoint)
            return 0, 0
        if op.kind == "delete":
            assert state.pool is not None
            if not state.pool:
                state.exhausted = True
                raise _Exhausted
            key, endpoint = state.pool.take(rng)
            if not state.pool:
                state.exhausted = True
            await router.delete(key, endpoint)
            return 0, 0
        if op.kind == "list":
            from pytest_sai3.dataset import listing_for

            prefix, recursive = listing_for(state.planned.key)
            entries = await router.list(prefix, recursive)
            self.result.list_items += len(entries)
            return 0, 0
        if op.kind == "mkdir":
            key = self._new_key(state.planned.key, "dir")
            endpoint = await router.mkdir(key)
            self.engine._dirs.append((key, endpoint if router.isolated else None))
            return 0, 0
        dirs = self.engine._dirs
        if not dirs:
            state.exhausted = True
            raise _Exhausted
        key, endpoint = dirs.pop(rng.randrange(len(dirs)))
        await router.rmdir(key, op.recursive, endpoint)
        return 0, 0

    def _new_key(self, path: str, stem: str) -> str:
        base = path.rstrip("/")
        base = f"{base}/" if base else ""
        return f"{base}{stem}_{self.engine.token}{next(self.counter):08x}"

    def _grow_pools(self, key: str, endpoint: int) -> None:
        for state in self.states:
            if state.planned.op.kind in ("get", "stat") and state.pool is not None:
                directory = state.planned.key
                if directory.endswith("/") and key.startswith(directory):
                    state.pool.add(key, endpoint if self.router.isolated else None)

    async def _sample(self) -> None:
        interval = self.scenario.perf_log.interval if self.scenario.perf_log else 1.0
        loop = asyncio.get_running_loop()
        last_ops = 0
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            total = self.metrics.total_ops
            row = {
                "elapsed_s": now - self.start,
                "ops": total - last_ops,
                "total_ops": total,
                "errors": self.metrics.total_errors,
                "ops_per_s": (total - last_ops) / interval,
                "left_s": (self.deadline - now) if self.deadline else None,
            }
            last_ops = total
            self.result.perf_log.append(row)
            if self.engine.progress is not None:
                self.engine.progress(row)


class _Exhausted(RequestError):
    def __init__(self) -> None:
        super().__init__("pool_exhausted", -1, RuntimeError("pool exhausted"))


def run_plan(plan: Plan, progress: Progress | None = None) -> RunResult:
    """Run a plan to completion in this process.

    :raises NamespaceError: when a shared namespace's endpoints disagree.
    :raises PoolError: when an op path matches no object.
    """
    return Engine(plan, progress).run()


__all__ = [
    "Engine",
    "NamespaceError",
    "PoolError",
    "RunAborted",
    "RunResult",
    "run_plan",
]
