"""The op loop of one process: workers pick ops by weight until a bound is reached.

Closed loop by default: ``concurrency`` workers each pick an op, run it and record
its latency. With ``io_rate`` a scheduler sets the start times and workers take them
from a queue, so latency is recorded both from the scheduled start and from the send.

The loop knows the router and the pools it is given, nothing of how they were made:
the engine runs it in its own process, and each worker process runs one of its own.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import monotonic  # the op loop's one clock (uvloop's loop.time() is coarse)
from typing import TYPE_CHECKING, Any

from pytest_sai3.cpu import CpuSampler
from pytest_sai3.dataset import Payloads, Pool, glob_regex, listing_for
from pytest_sai3.endpoints.deadlines import mark_worker
from pytest_sai3.endpoints.router import RequestError, Router
from pytest_sai3.metrics import (
    LatencyHistogram,
    OpStats,
    RunMetrics,
    class_totals,
    sampled_classes,
)
from pytest_sai3.site import PlannedOp
from pytest_sai3.sizes import bucket_index

if TYPE_CHECKING:
    from pytest_sai3.engine import RunResult
    from pytest_sai3.scenario import Scenario

log = logging.getLogger("pytest_sai3.workload")

Progress = Callable[[dict[str, Any]], None]
Key = tuple[str, "int | None"]
#: The rest of an op that began without a coroutine: it gives (bytes moved,
#: object size), or for a get, the data read.
Pending = Awaitable["tuple[int, int] | bytes | memoryview"]

#: At most this many error messages are kept per run.
ERROR_SAMPLES = 10


@dataclass
class OpState:
    """A workload op with what it draws from: its pool and its concurrency cap."""

    planned: PlannedOp
    pool: Pool | None = None
    limit: asyncio.Semaphore | None = None
    exhausted: bool = False
    #: A read op whose pattern matched nothing before the run: the mix's own puts
    #: fill its pool, and it sits out the draws until the first one lands.
    fed_by_puts: bool = False
    #: Set by the op loop that runs the op: how it starts without a coroutine
    #: (None: it always runs as one), and its stats (None until its first record).
    start: Callable[[OpState, random.Random, bool], Any] | None = None
    stats: OpStats | None = None


@dataclass
class Ledger:
    """The keys a run created and deleted, so that cleanup removes the rest."""

    created: list[Key] = field(default_factory=list)
    dirs: list[Key] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def to_clean(self) -> list[Key]:
        """Created objects that the workload has not deleted already."""
        return [item for item in self.created if item[0] not in self.deleted]

    def absorb(self, other: Ledger) -> None:
        """Add another process's keys."""
        self.created.extend(other.created)
        self.dirs.extend(other.dirs)
        self.deleted.update(other.deleted)


@dataclass
class Coordination:
    """How the op loop of one worker process hears of the others.

    :param stopped: whether another process (or the parent) asked to stop.
    :param add_error: count one error for the whole run; returns the run's total.
    """

    stopped: Callable[[], bool]
    add_error: Callable[[], int]


class OpLoop:
    """The op loop of one process, for one round.

    Ops are recorded in :attr:`metrics`, a fresh :class:`RunMetrics` the caller adds
    to the run's totals; run-level facts (stop reason, errors seen, listings) go to
    ``result``.
    """

    def __init__(
        self,
        scenario: Scenario,
        router: Router,
        states: list[OpState],
        result: RunResult,
        ledger: Ledger,
        *,
        seed: int,
        token: str,
        progress: Progress | None = None,
        coordination: Coordination | None = None,
    ) -> None:
        self.scenario = scenario
        self.router = router
        self.states = states
        self.result = result
        self.ledger = ledger
        self.seed = seed
        self.token = token
        self.progress = progress
        self.coordination = coordination
        self.metrics = RunMetrics()
        self.handling = scenario.error_handling
        self.payloads = Payloads(max_object_size(scenario), random.Random(seed + 1))
        self.issued = 0
        #: How many ops the scenario counts at most (None: the duration bounds it).
        self.budget = scenario.ops
        self.errors = 0
        self.stop = False
        self.warming = scenario.warmup > 0
        self.start = 0.0
        self.deadline: float | None = None
        self.counter = itertools.count()
        self.feeds = _put_feeds(states, scenario.dynamic_put_pool)
        #: Whether new objects join pools (see _put_landed).
        self._put_feeds = bool(self.feeds) or scenario.dynamic_put_pool
        self.rated = bool(scenario.io_rate is not None and scenario.io_rate.iops)
        self.isolated = router.isolated
        # The live ops and their cumulative weights; None when a pool has run
        # dry or been refilled since (see _live_mix).
        self._mix: tuple[list[OpState], list[float]] | None = None
        # Each op path's key prefix for new objects and directories.
        self._key_bases: dict[tuple[str, str], str] = {}
        # The perf log's last sample (when, the op count then), and the machine's
        # CPU use since it; a loop runs once, so they start with it.
        self._sampled_at = 0.0
        self._sampled_ops = 0
        self._cpu = CpuSampler()
        self._executors: dict[str, Callable[[OpState, random.Random], Any]] = {
            "get": self._get,
            "put": self._put,
            "stat": self._stat,
            "list": self._list,
            "delete": self._delete,
            "mkdir": self._mkdir,
            "rmdir": self._rmdir,
        }
        # The op types that may run without a coroutine (see _worker); an op
        # with a concurrency cap of its own always runs as one.
        starts = {"get": self._start_get, "put": self._start_put}
        for state in states:
            state.stats = None
            state.start = None
            if state.limit is None:
                state.start = starts.get(state.planned.op.kind)

    async def run(self) -> None:
        """Run until a bound is reached, then hand the endpoint counters over."""
        self.start = self._sampled_at = monotonic()
        if self.scenario.duration is not None:
            self.deadline = self.start + self.scenario.warmup + self.scenario.duration
        helpers = self._helpers()
        queue = self._queue(helpers)
        workers = [
            asyncio.create_task(self._worker(number, queue))
            for number in range(self.scenario.concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            self.stop = True
            for task in [*workers, *helpers]:
                task.cancel()
            await asyncio.gather(*workers, *helpers, return_exceptions=True)

        # The last, partial interval, so that the samples add up to the run.
        self._take_sample()
        self._take_inline_ops()  # also where that interval was empty
        measured_from = self.start + self.scenario.warmup
        self.metrics.elapsed_s = max(monotonic() - measured_from, 1e-9)
        self.metrics.endpoints = self.router.reset_stats()
        self._note_stop()

    def _helpers(self) -> list[asyncio.Task[None]]:
        helpers = [asyncio.create_task(self._sample())]
        if self.warming:
            helpers.append(asyncio.create_task(self._end_warmup()))
        if self.coordination is not None:
            helpers.append(asyncio.create_task(self._watch(self.coordination)))
        return helpers

    def _queue(
        self, helpers: list[asyncio.Task[None]]
    ) -> asyncio.Queue[float | None] | None:
        rate = self.scenario.io_rate
        if rate is None or not rate.iops:
            return None
        queue: asyncio.Queue[float | None] = asyncio.Queue()
        schedule = self._schedule(queue, rate.iops, rate.distribution)
        helpers.append(asyncio.create_task(schedule))
        return queue

    async def _end_warmup(self) -> None:
        await asyncio.sleep(self.scenario.warmup)
        # No await between the flag and the reset: an op is counted exactly when
        # its first request lands in the fresh endpoint counters.
        self.warming = False
        self.router.reset_stats()

    async def _watch(self, coordination: Coordination) -> None:
        while not self.stop:
            if coordination.stopped():
                self.stop = True
                self.result.stop_reason = self.result.stop_reason or "stopped"
                return
            await asyncio.sleep(0.02)

    def _note_stop(self) -> None:
        ops = self.scenario.ops
        if not self.result.stop_reason:
            if ops is not None and self.issued >= ops:
                self.result.stop_reason = f"op count reached ({ops})"
            else:
                self.result.stop_reason = "duration reached"
        for state in self.states:
            if state.exhausted and state.planned.op.kind == "delete":
                note = (
                    f"the delete pool of {state.planned.op.path!r} was exhausted: "
                    "later ops ran the rest of the mix"
                )
                if note not in self.result.notes:
                    self.result.notes.append(note)

    def _live_mix(self) -> tuple[list[OpState], list[float]]:
        """The ops whose pools hold keys, and their cumulative weights (kept
        until a pool runs dry or is refilled)."""
        live = [s for s in self.states if not s.exhausted and s.planned.op.weight > 0]
        weights = list(itertools.accumulate(s.planned.op.weight for s in live))
        self._mix = (live, weights)
        return self._mix

    def _set_exhausted(self, state: OpState, exhausted: bool) -> None:
        if state.exhausted is not exhausted:
            state.exhausted = exhausted
            self._mix = None

    async def _schedule(
        self, queue: asyncio.Queue[float | None], iops: float, distribution: str
    ) -> None:
        rng = random.Random(self.seed + 2)
        due = monotonic()
        # Lateness never accumulates: each start time is computed from the last
        # one, not from when the sleep ended.
        while not self.stop:
            due += _gap(rng, iops, distribution)
            delay = due - monotonic()
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
        """Run ops one after the other until a bound is reached.

        A get or a put starts without a coroutine (its ``start``): where its
        request completes inline (a file in the page cache), the op is over
        there, and the router counts it for the op table too (``as_op``), with
        the latency it timed for the endpoint; :meth:`_take_inline_ops` records
        those ops a batch at a time. Otherwise the rest of it (its request, its
        retries and its record) is awaited in :meth:`_attempts`, timed from
        when the op began.
        """
        mark_worker()
        rng = random.Random(self.seed * 1009 + number)
        # Inline file calls never yield: give the other workers their turn
        # between ops, outside the request's timed window.
        yielding, rated = self.router.inline, self.rated
        budget = math.inf if self.budget is None else self.budget
        deadline = math.inf if self.deadline is None else self.deadline
        draw, bisect_right = rng.random, bisect.bisect
        while True:
            scheduled = None
            if queue is not None:
                scheduled = await queue.get()
                if scheduled is None:
                    return
            # Whether one more op may start: stop, deadline, op budget.
            now = monotonic()
            counted = not self.warming
            if self.stop or now >= deadline or (counted and self.issued >= budget):
                self.stop = self.stop or queue is not None
                return
            # The op, drawn by weight among the ops whose pools hold keys.
            live, weights = self._mix or self._live_mix()
            if len(live) > 1:
                state = live[bisect_right(weights, draw() * weights[-1])]
            elif live:
                state = live[0]
            else:
                self.result.stop_reason = "every op's pool is exhausted"
                self.stop = True
                return
            start = state.start
            if start is None:
                await self._run_op(state, rng, scheduled or now)
            else:
                self.issued += counted
                try:
                    outcome = start(state, rng, counted)
                except _Exhausted:
                    self.issued -= counted
                except RequestError as err:
                    await self._attempts(
                        state, rng, scheduled or now, now, counted, err
                    )
                else:
                    if not isinstance(outcome, tuple):
                        await self._attempts(
                            state, rng, scheduled or now, now, counted, outcome
                        )
                    elif rated and counted:
                        self._record_scheduled(state, scheduled or now, monotonic())
            if self.stop:
                return
            if yielding:
                await asyncio.sleep(0)

    def _take_budget(self) -> bool | None:
        """Take one op from the op budget as an op starts.

        :returns: whether the op counts (False while warming up), or None when
            the budget is spent and the op must not start.
        """
        if self.warming:
            return False
        if self.budget is not None and self.issued >= self.budget:
            return None
        self.issued += 1
        return True

    async def _run_op(
        self, state: OpState, rng: random.Random, scheduled: float
    ) -> None:
        """Run one op, again after a failure as error_handling says, and record
        it, timed from its first attempt's send."""
        limit = state.limit
        if limit is not None:
            await limit.acquire()
        try:
            counted = self._take_budget()
            if counted is None:
                return
            sent = monotonic()
            await self._attempts(state, rng, scheduled, sent, counted, None)
        finally:
            if limit is not None:
                limit.release()

    async def _attempts(
        self,
        state: OpState,
        rng: random.Random,
        scheduled: float,
        sent: float,
        counted: bool,
        first: Pending | RequestError | None,
    ) -> None:
        """An op's attempts until one succeeds or error_handling gives up, and
        its record.

        :param first: the first attempt where it has begun already: its
            outcome still to await, or its error; None to begin with a fresh one.
        """
        execute = self._executors[state.planned.op.kind]
        retries = 0
        delay = self.handling.initial_retry_delay_ms / 1000
        pending = first
        while True:
            try:
                if pending is None:
                    nbytes, size = await execute(state, rng)
                elif isinstance(pending, RequestError):
                    raise pending
                else:
                    nbytes, size = _moved(await pending)
            except _Exhausted:
                self.issued -= counted
                return
            except RequestError as err:
                pending = None
                if not self._may_retry(retries):
                    if counted:
                        self._record_failure(state, retries, err)
                    return
                retries += 1
                delay = await self._back_off(delay, rng)
                continue
            if counted:
                self._record(state, sent, scheduled, nbytes, size, retries)
            return

    def _may_retry(self, retries: int) -> bool:
        handling = self.handling
        return (
            handling.retry_on_error and retries < handling.max_retries and not self.stop
        )

    async def _back_off(self, delay: float, rng: random.Random) -> float:
        """Wait before a retry; returns the base delay of the next one."""
        handling = self.handling
        jitter = 1 + rng.uniform(-1, 1) * handling.retry_jitter_factor
        await asyncio.sleep(min(delay, handling.max_retry_delay_ms / 1000) * jitter)
        return delay * handling.retry_backoff_multiplier

    def _record(
        self,
        state: OpState,
        sent: float,
        scheduled: float,
        nbytes: int,
        size: int,
        retries: int,
    ) -> None:
        """Record a successful op, timed from its first attempt's send."""
        end = monotonic()
        stats = state.stats or self._stats_of(state)
        if retries:
            stats.record_retry(retries)
        stats.record(int((end - sent) * 1e6), nbytes, bucket_index(size))
        if self.rated:
            self._record_scheduled(state, scheduled, end)

    def _record_scheduled(self, state: OpState, scheduled: float, end: float) -> None:
        """Record an op's latency from its scheduled start (with ``io_rate``)."""
        kind = state.planned.op.kind
        hist = self.result.scheduled.setdefault(kind, LatencyHistogram())
        hist.record(int((end - scheduled) * 1e6))

    def _stats_of(self, state: OpState) -> OpStats:
        """The stats of an op's type in this loop's metrics (made on first use)."""
        state.stats = self.metrics.op(state.planned.op.kind)
        return state.stats

    def _record_failure(
        self, state: OpState, retries: int, error: RequestError
    ) -> None:
        """Record an op that failed on its last attempt."""
        stats = self.metrics.op(state.planned.op.kind)
        stats.record_retry(retries)
        stats.record_error(error.kind)
        self._on_error(state.planned.op.kind, state, error)

    def _on_error(self, kind: str, state: OpState, error: RequestError) -> None:
        self.errors += 1
        total = self.errors
        if self.coordination is not None:
            total = self.coordination.add_error()
        if len(self.result.error_samples) < ERROR_SAMPLES:
            self.result.error_samples.append(f"{kind} {state.planned.op.path}: {error}")
        limit = self.handling.max_total_errors
        if limit > 0 and total >= limit and not self.result.aborted:
            self.stop = True
            self.result.aborted = (
                f"max_total_errors reached: {total} errors "
                f"(error_handling.max_total_errors={limit})"
            )
            self.result.stop_reason = "max_total_errors reached"

    # One coroutine per op type: each returns (bytes moved, object size).

    async def _get(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        return await _settled(self._start_get(state, rng, False))

    def _start_get(
        self, state: OpState, rng: random.Random, as_op: bool
    ) -> tuple[int, int] | Pending:
        """Start a get: its (bytes, size) where its request completed inline,
        else the rest of it to await (which gives the data read: its length is
        both). The ``_start_*`` methods all say so.

        :param as_op: the request is the whole op, and where it completes
            inline, the router counts it as one (see :meth:`_worker`).
        """
        pool = state.pool
        assert pool is not None
        index = int(rng.random() * len(pool.keys))  # pool.pick, inline
        data = self.router.get_now(pool.keys[index], pool.endpoints[index], as_op)
        if isinstance(data, bytes):
            size = len(data)
            return size, size
        return data

    async def _stat(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        key, endpoint = _pool(state).pick(rng)
        await self.router.stat(key, endpoint)
        return 0, 0

    async def _list(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        prefix, recursive = listing_for(state.planned.key)
        entries = await self.router.list(prefix, recursive)
        self.result.list_items += len(entries)
        return 0, 0

    async def _mkdir(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        key = self._new_key(state.planned.key, "dir")
        endpoint = await self.router.mkdir(key)
        self.ledger.dirs.append((key, self._held(endpoint)))
        return 0, 0

    async def _put(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        return await _settled(self._start_put(state, rng, False))

    def _start_put(
        self, state: OpState, rng: random.Random, as_op: bool
    ) -> tuple[int, int] | Pending:
        op = state.planned.op
        assert op.size is not None
        size = op.size.draw(rng)
        key = self._new_key(state.planned.key, "obj")
        payload = self.payloads.make(
            size, rng, "random", op.dedup_factor, op.compress_factor
        )
        router = self.router
        index = router.choose()
        waiting = router.put_now(key, payload, index, as_op)
        if waiting is not None:
            return self._put_landing(waiting, key, index, size)
        if self._put_feeds:
            self._put_landed(key, index)
        else:  # _put_landed, inline: the ledger only
            self.ledger.created.append((key, index if self.isolated else None))
        return size, size

    async def _put_landing(
        self, waiting: Awaitable[None], key: str, index: int, size: int
    ) -> tuple[int, int]:
        await waiting
        self._put_landed(key, index)
        return size, size

    def _put_landed(self, key: str, endpoint: int) -> None:
        """Note a new object: the ledger, and the pools that read new objects."""
        held = endpoint if self.isolated else None
        self.ledger.created.append((key, held))
        if self.scenario.dynamic_put_pool:
            self._grow_read_pools(key, held)
        if self.feeds:
            self._feed_pools(key, held)

    async def _delete(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        pool = _pool(state)
        if not pool:
            self._set_exhausted(state, True)
            raise _Exhausted
        # The key leaves the pool when its delete is issued, so no later op of
        # this process targets an object that is gone.
        key, endpoint = pool.take(rng)
        if not pool:
            self._set_exhausted(state, True)
        await self.router.delete(key, endpoint)
        self.ledger.deleted.add(key)
        return 0, 0

    async def _rmdir(self, state: OpState, rng: random.Random) -> tuple[int, int]:
        dirs = self.ledger.dirs
        if not dirs:
            self._set_exhausted(state, True)
            raise _Exhausted
        key, endpoint = dirs.pop(rng.randrange(len(dirs)))
        await self.router.rmdir(key, state.planned.op.recursive, endpoint)
        return 0, 0

    def _held(self, endpoint: int) -> int | None:
        return endpoint if self.isolated else None

    def _new_key(self, path: str, stem: str) -> str:
        base = self._key_bases.get((path, stem))
        if base is None:
            directory = path.rstrip("/")
            directory = f"{directory}/" if directory else ""
            base = self._key_bases[path, stem] = f"{directory}{stem}_{self.token}"
        return f"{base}{next(self.counter):08x}"

    def _grow_read_pools(self, key: str, endpoint: int | None) -> None:
        for state in self.states:
            if state.planned.op.kind in ("get", "stat") and state.pool is not None:
                directory = state.planned.key
                if directory.endswith("/") and key.startswith(directory):
                    state.pool.add(key, endpoint)

    def _feed_pools(self, key: str, endpoint: int | None) -> None:
        fed: set[int] = set()
        for state, matches in self.feeds:
            if state.pool is not None and matches(key):
                # Read ops on one pattern share one pool: add the key once.
                if id(state.pool) not in fed:
                    state.pool.add(key, endpoint)
                    fed.add(id(state.pool))
                self._set_exhausted(state, False)

    async def _sample(self) -> None:
        interval = self.scenario.perf_log.interval if self.scenario.perf_log else 1.0
        while True:
            await asyncio.sleep(interval)
            self._take_sample()

    def _take_inline_ops(self) -> None:
        """Record the ops whose requests completed inline since the last take:
        the router counted them (see :meth:`_worker`), each alike batch once."""
        for (kind, nbytes, latency), times in self.router.take_inline_ops().items():
            stats = self.metrics.op(kind)
            stats.record_many(latency, nbytes, bucket_index(nbytes), times)

    def _take_sample(self) -> None:
        """Log the interval since the last sample (the last one may be short)."""
        now = monotonic()
        span = now - self._sampled_at
        if span <= 0:
            return
        self._take_inline_ops()
        total = self.metrics.total_ops
        row = {
            "elapsed_s": now - self.start,
            "timestamp": time.time(),
            "ops": total - self._sampled_ops,
            "total_ops": total,
            "errors": self.metrics.total_errors,
            "ops_per_s": (total - self._sampled_ops) / span,
            "left_s": max(self.deadline - now, 0.0) if self.deadline else None,
            "cpu": self._cpu.sample(),
        }
        self._sampled_at, self._sampled_ops = now, total
        totals = class_totals(self.metrics.ops)
        self.result.perf_log.append({**row, "classes": sampled_classes(totals)})
        if self.progress is not None:
            # The whole histograms, for a parent process to merge; the perf log
            # keeps a few numbers per class only.
            self.progress({**row, "class_totals": totals})


def _gap(rng: random.Random, iops: float, distribution: str) -> float:
    """Seconds to the next scheduled start, for an aggregate rate of ``iops``."""
    if distribution == "exponential":
        return rng.expovariate(iops)
    if distribution == "uniform":
        return rng.uniform(0.0, 2.0 / iops)
    return 1.0 / iops


async def _settled(outcome: tuple[int, int] | Pending) -> tuple[int, int]:
    """What a ``_start_*`` method gave, awaited where it has to be."""
    if isinstance(outcome, tuple):
        return outcome
    return _moved(await outcome)


def _moved(outcome: tuple[int, int] | bytes | memoryview) -> tuple[int, int]:
    """(bytes moved, object size) of what a started op's rest gave: the data
    a get read (one coroutine less per read than sizing it in one), or the pair.
    """
    if isinstance(outcome, tuple):
        return outcome
    return len(outcome), len(outcome)


def _pool(state: OpState) -> Pool:
    assert state.pool is not None
    return state.pool


def _put_feeds(
    states: list[OpState], dynamic_put_pool: bool
) -> list[tuple[OpState, Callable[[str], bool]]]:
    """Ops whose pools the objects written by the workload's puts join.

    Delete ops: objects this run writes are live objects nobody else reads, so
    deleting them is safe; without them a delete pool runs dry and the mix drifts
    from its weights. With ``dynamic_put_pool`` new objects are read too, so
    deletes leave them alone. Read ops that matched nothing before the run
    (``fed_by_puts``) read what the puts write.
    """
    feeds = []
    for state in states:
        kind = state.planned.op.kind
        deletes = kind == "delete" and not dynamic_put_pool
        if state.pool is not None and (deletes or state.fed_by_puts):
            feeds.append((state, matcher(state.planned.key)))
    return feeds


def fed_by_puts(planned: PlannedOp, ops: tuple[PlannedOp, ...]) -> bool:
    """Whether some put of the mix writes keys that a read op's pattern matches."""
    matches = matcher(planned.key)
    return any(
        other.op.kind == "put" and matches(f"{other.key.rstrip('/')}/obj_0")
        for other in ops
    )


def matcher(path: str) -> Callable[[str], bool]:
    """A test of whether a key falls under an op path (glob, prefix or exact key)."""
    if "*" in path:
        regex: re.Pattern[str] = glob_regex(path)
        return lambda key: regex.match(key) is not None
    if path.endswith("/") or not path:
        return lambda key: key.startswith(path) and "/" not in key[len(path) :]
    return lambda key: key == path


def max_object_size(scenario: Scenario) -> int:
    """The largest object a scenario writes (for the payload buffer)."""
    sizes = [op.size.max_size for op in scenario.workload if op.size]
    if scenario.prepare:
        sizes += [e.size.max_size for e in scenario.prepare.ensure_objects]
    return max(sizes, default=4096)


class _Exhausted(RequestError):
    def __init__(self) -> None:
        super().__init__("pool_exhausted", -1, RuntimeError("pool exhausted"))
