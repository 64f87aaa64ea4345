"""The engine: prepare the dataset, run the workload, clean up.

A run has three phases, each measured on its own: prepare (create the objects and
resolve every op's pool; untimed setup), the workload (the op loop of
:mod:`pytest_sai3.workload`, the timed part) and cleanup. With ``processes: N`` the
workload's workers are split over spawned processes (:mod:`pytest_sai3.processes`);
this process still prepares, resolves and cleans up.

The engine knows nothing of pytest: it is given a plan and returns a result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
from pytest_sai3.endpoints.clients import MissingPackage, make_backend
from pytest_sai3.endpoints.router import RequestError, Router
from pytest_sai3.errors import Sai3Failure
from pytest_sai3.metrics import LatencyHistogram, RunMetrics
from pytest_sai3.scenario import Scenario, has_delete_with_reads
from pytest_sai3.site import Plan, PlannedOp
from pytest_sai3.workload import (
    Coordination,
    Ledger,
    OpLoop,
    OpState,
    Progress,
    fed_by_puts,
    max_object_size,
)

if TYPE_CHECKING:
    from pytest_sai3.processes import Fleet, ShareOutcome

log = logging.getLogger("pytest_sai3.engine")

#: Which event loop runs a scenario: ``auto`` (uvloop where it is installed,
#: else asyncio's), ``uvloop`` or ``asyncio``, from this environment variable.
EVENT_LOOP_VARIABLE = "SAI3_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a run gets, as :class:`asyncio.Runner` takes it (None:
    asyncio's own).

    uvloop's loop costs about a fifth less CPU per S3 request than asyncio's
    (docs/benchmarks.md). Nothing is timed on its clock, which is coarse: the
    op loop and the router read ``time.monotonic`` and ``perf_counter_ns``.
    """
    choice = os.environ.get(EVENT_LOOP_VARIABLE, "auto") or "auto"
    if choice not in ("auto", "uvloop", "asyncio"):
        raise Sai3Failure(
            f"{EVENT_LOOP_VARIABLE}={choice!r}: expected auto, uvloop or asyncio"
        )
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise MissingPackage(
                f"{EVENT_LOOP_VARIABLE}=uvloop needs uvloop: "
                "pip install 'pytest-sai3[uvloop]'"
            ) from None
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


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
    processes: int = 1
    #: The event loop the run went on: ``uvloop`` or ``asyncio``.
    event_loop: str = ""


def process_count(scenario: Scenario) -> int:
    """How many processes the workload's workers are split over.

    ``processes: auto`` is one per CPU. Never more than the workers, nor than the
    op budget, so that every process has work.
    """
    wanted = scenario.processes
    if wanted is None:
        return 1
    count = (os.cpu_count() or 1) if wanted == "auto" else int(wanted)
    count = min(count, scenario.concurrency)
    if scenario.ops is not None:
        count = min(count, scenario.ops)
    return max(count, 1)


def add_round(total: RunMetrics, round_: RunMetrics) -> None:
    """Add one round's workload to the run's: counters add, so do elapsed times."""
    elapsed = total.elapsed_s + round_.elapsed_s
    total.merge(round_)
    total.elapsed_s = elapsed


class Engine:
    """Runs one plan: prepare, workload (in this process or split), cleanup.

    :param plan: the scenario bound to its endpoints.
    :param progress: called about once a second with live figures.
    :param seed: the run's seed (default: the scenario's, else a random one).
    :param token: makes this run's new keys unique (default: a random one).
    :param worker: a worker process's engine: no pre-flight probe, no cleanup
        (the parent does both).
    """

    def __init__(
        self,
        plan: Plan,
        progress: Progress | None = None,
        *,
        seed: int | None = None,
        token: str | None = None,
        worker: bool = False,
    ) -> None:
        self.plan = plan
        self.scenario = plan.scenario
        self.progress = progress
        if seed is None:
            seed = self.scenario.seed
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.token = token or run_token()
        self.worker = worker
        self.ledger = Ledger()
        self.processes = 1 if worker else process_count(self.scenario)
        self.issued = 0
        self._cleaned = worker
        self._states: list[OpState] = []
        self._fleet: Fleet | None = None
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
        self._runner = asyncio.Runner(loop_factory=loop_factory())
        self.result = RunResult(
            self.plan,
            RunMetrics(),
            RunMetrics(),
            started=time.time(),
            processes=self.processes,
        )
        loop = self._runner.get_loop()
        self.result.event_loop = type(loop).__module__.partition(".")[0]
        try:
            self.router = self._runner.run(self._open())
        except BaseException:
            self._close_runner()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._stop_fleet()
            self.cleanup()
        finally:
            try:
                self._runner.run(self.router.close())
            finally:
                self._close_runner()
                self.result.ended = time.time()

    def _close_runner(self) -> None:
        self._runner.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _open(self) -> Router:
        router = self.build_router()
        if router.namespace == "shared" and not self.worker:
            try:
                await probe_shared(router)
            except RequestError as err:
                # An endpoint that fails is the run's to count, not a reason to
                # refuse it: its requests will show up as its errors.
                self.result.notes.append(
                    f"pre-flight: {_uri(router, err)} failed the shared-namespace "
                    f"probe ({err.kind}); the run goes on and counts its errors"
                )
            except BaseException:
                await router.close()
                raise
            router.reset_stats()
        return router

    def prepare(self) -> None:
        """Create the dataset and resolve every op's pool (the untimed setup).

        With ``processes``, the worker processes are started here too, so that
        their start-up is not part of the timed workload.
        """
        start = time.perf_counter()
        self._states = self._runner.run(self._prepare(self.router, self.result))
        prepare = self.result.prepare
        prepare.elapsed_s += time.perf_counter() - start
        for stats in self.router.reset_stats():
            prepare.endpoint(stats.uri).merge(stats)
        if self.processes > 1:
            self._start_fleet()

    def workload(self) -> None:
        """Run the op mix once (one round, the timed part)."""
        if self.processes > 1:
            if self._fleet is None:
                self._start_fleet()
            self._run_fleet()
            return
        self._run_loop()

    def run_share(self, pools: list[Pool | None], coordination: Coordination) -> None:
        """Run a worker process's share of the workload on pools given to it."""
        self._states = self.adopt(pools)
        self._run_loop(coordination)

    def _run_loop(self, coordination: Coordination | None = None) -> None:
        loop = OpLoop(
            self.scenario,
            self.router,
            self._states,
            self.result,
            self.ledger,
            seed=self.seed,
            token=self.token,
            progress=self.progress,
            coordination=coordination,
        )
        try:
            self._runner.run(loop.run())
        finally:
            add_round(self.result.workload, loop.metrics)
            self.issued += loop.issued

    def adopt(self, pools: list[Pool | None]) -> list[OpState]:
        """Op states over pools resolved elsewhere (one per op, in plan order)."""
        states = []
        for planned, pool in zip(self.plan.ops, pools, strict=True):
            state = OpState(planned, pool, self._limit(planned))
            state.exhausted = pool is not None and not pool
            state.fed_by_puts = state.exhausted and planned.op.kind != "delete"
            states.append(state)
        return states

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

    async def _prepare(self, router: Router, result: RunResult) -> list[OpState]:
        prepare = self.scenario.prepare
        payloads = Payloads(max_object_size(self.scenario), random.Random(self.seed))
        if prepare is not None and not prepare.cleanup_only:
            pools = [(p, PREPARED) for p in self.plan.pools]
            if has_delete_with_reads(self.scenario):
                pools += [(p, DELETABLE) for p in self.plan.pools]
            failures: list[str] = []
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
                self.ledger.created.extend(outcome.created_keys)
                result.error_samples.extend(outcome.errors[:5])
                failures += outcome.errors
            if failures:
                self._note_failed_puts(failures, result)
            if result.created and prepare.post_prepare_delay:
                await asyncio.sleep(prepare.post_prepare_delay)
        return await self._resolve(router, result.prepare)

    def _note_failed_puts(self, failures: list[str], result: RunResult) -> None:
        """Say in the notes that prepare could not create some objects, and why.

        The run goes on with the objects that exist; the failed puts are the
        prepare phase's errors, charged to their endpoints.
        """
        kinds = result.prepare.op("put").errors
        counted = ", ".join(f"{kind} x{count}" for kind, count in kinds.items())
        first = failures[0].splitlines()[0]
        result.notes.append(
            f"prepare: {len(failures)} objects not created ({counted}); "
            f"first error: {first}"
        )

    def _limit(self, planned: PlannedOp) -> asyncio.Semaphore | None:
        cap = planned.op.concurrency
        if cap is None or cap >= self.scenario.concurrency:
            return None
        return asyncio.Semaphore(cap)

    async def _resolve(self, router: Router, metrics: RunMetrics) -> list[OpState]:
        states = []
        split = has_delete_with_reads(self.scenario)
        cache: dict[tuple[str, str | None, str | None], Pool] = {}
        for planned in self.plan.ops:
            state = OpState(planned, limit=self._limit(planned))
            kind = planned.op.kind
            if kind in ("get", "stat", "delete"):
                exclude = DELETABLE if split and kind != "delete" else None
                only = DELETABLE if split and kind == "delete" else None
                cache_key = (planned.key, exclude, only)
                pool = cache.get(cache_key)
                if pool is None or kind == "delete":
                    pool = await self._list_pool(
                        router, planned, exclude, only, metrics
                    )
                    if kind != "delete":
                        cache[cache_key] = pool
                if not pool and kind != "delete":
                    self._feed_from_puts(state)
                state.pool = pool
                state.exhausted = not pool
            states.append(state)
        return states

    def _feed_from_puts(self, state: OpState) -> None:
        """Let a read op that matches nothing yet read what the mix's puts write.

        :raises PoolError: when no put of the mix writes under its pattern either.
        """
        planned = state.planned
        if not fed_by_puts(planned, self.plan.ops):
            raise PoolError(
                f"{self.scenario.source}:{planned.op.line}: path: no objects "
                f"match {planned.op.path!r} for the {planned.op.kind} op"
            )
        state.fed_by_puts = True
        self.result.notes.append(
            f"{planned.op.kind} {planned.op.path!r}: no objects before the run; "
            "it reads the objects this run's puts write"
        )

    async def _list_pool(
        self,
        router: Router,
        planned: PlannedOp,
        exclude: str | None,
        only: str | None,
        metrics: RunMetrics,
    ) -> Pool:
        """Resolve a pool, asking the next endpoint when one fails or finds nothing.

        In a shared namespace every endpoint sees the same objects, so a listing
        that fails or comes back empty on one endpoint is asked again of the next
        (the strategy moves on by itself); an isolated listing already asks all.
        """
        attempts = 1 if router.isolated else len(router.backends)
        failure: RequestError | None = None
        pool = Pool()
        for _ in range(attempts):
            try:
                pool = await resolve_pool(router, planned.key, exclude, only, metrics)
            except RequestError as err:
                failure = err
                continue
            if pool:
                break
        if not pool and failure is not None:
            raise PoolError(
                f"{self.scenario.source}:{planned.op.line}: path: listing "
                f"{planned.op.path!r} failed on every endpoint ({failure})"
            ) from None
        return pool

    def _start_fleet(self) -> None:
        from pytest_sai3.processes import Fleet, shares_of

        self._stop_fleet()
        shares = shares_of(self, self.processes)
        self._fleet = Fleet.start(shares)

    def _run_fleet(self) -> None:
        from pytest_sai3.processes import merge_shares

        fleet, self._fleet = self._fleet, None
        assert fleet is not None
        outcomes: list[ShareOutcome] = []
        interrupted = False
        try:
            fleet.run(outcomes.append, self._progress_row)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            fleet.close()
            merge_shares(self, outcomes, interrupted)

    def _progress_row(self, row: dict[str, Any]) -> None:
        self.result.perf_log.append(row)
        if self.progress is not None:
            self.progress(row)

    def _stop_fleet(self) -> None:
        fleet, self._fleet = self._fleet, None
        if fleet is not None:
            fleet.close()

    async def _cleanup(self, router: Router, result: RunResult) -> None:
        prepare = self.scenario.prepare
        if prepare is None or not prepare.cleanup:
            return
        router.reset_stats()
        start = time.perf_counter()
        deleted, errors = await cleanup(
            router,
            self.ledger.to_clean(),
            prepare.cleanup_mode,
            self.scenario.concurrency,
            self.ledger.dirs,
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


def _uri(router: Router, err: RequestError) -> str:
    if 0 <= err.endpoint < len(router.backends):
        return f"endpoint {err.endpoint + 1} ({router.backends[err.endpoint].spec.uri})"
    return "an endpoint"


def share_counts(total: int, parts: int) -> list[int]:
    """``total`` dealt into ``parts`` shares differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def share_plan(plan: Plan, index: int, parts: int) -> Plan:
    """Process ``index``'s plan: its share of the workers, op budget and rate."""
    scenario = plan.scenario
    rate = scenario.io_rate
    if rate is not None and rate.iops:
        rate = dataclasses.replace(rate, iops=rate.iops / parts)
    ops = tuple(
        dataclasses.replace(
            planned,
            op=dataclasses.replace(
                planned.op, concurrency=share_cap(planned.op.concurrency, parts)
            ),
        )
        for planned in plan.ops
    )
    share = dataclasses.replace(
        scenario,
        concurrency=share_counts(scenario.concurrency, parts)[index],
        ops=None if scenario.ops is None else share_counts(scenario.ops, parts)[index],
        io_rate=rate,
        processes=None,
    )
    return dataclasses.replace(plan, scenario=share, ops=ops)


def share_cap(cap: int | None, parts: int) -> int | None:
    """A per-op concurrency cap shared by ``parts`` processes (rounded up)."""
    return None if cap is None else max(1, math.ceil(cap / parts))


def run_plan(plan: Plan, progress: Progress | None = None) -> RunResult:
    """Run a plan to completion.

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
    "process_count",
    "run_plan",
]
