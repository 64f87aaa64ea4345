"""``processes: N``: the workload's workers split over spawned processes.

The parent prepares the dataset, resolves every op's pool and cleans up; each worker
process gets its share of the workers, of the op budget and of the rate, a copy of
the read pools and its own part of each delete pool (so no two processes delete the
same object), builds its own clients and router, and runs the op loop. Processes are
spawned, never forked: async clients are not fork-safe.

Workers start together (the parent waits until all are ready, then says go) and
send back their metrics, which merge exactly: histograms add, counters add, the
per-endpoint counters add by endpoint URI. One error count is shared by all, so
``max_total_errors`` is a limit for the run, not per process. A Ctrl-C in the
parent stops the workers, collects what they did (so cleanup deletes what they
wrote) and leaves no process behind; workers ignore SIGINT and wait to be told.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from pytest_sai3.cpu import CpuSampler
from pytest_sai3.dataset import Pool
from pytest_sai3.metrics import (
    CLASS_NAMES,
    ClassTotals,
    LatencyHistogram,
    RunMetrics,
    sampled_classes,
)
from pytest_sai3.workload import ERROR_SAMPLES, Coordination, Ledger

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized
    from multiprocessing.synchronize import Event

    from pytest_sai3.engine import Engine
    from pytest_sai3.site import Plan

#: Seconds a worker process may take to start and build its clients.
START_TIMEOUT = 120.0
#: Seconds stopped workers get to finish their ops and report.
DRAIN_TIMEOUT = 10.0
#: Seconds an exiting worker gets before it is terminated, then killed.
EXIT_TIMEOUT = 5.0


class WorkerError(RuntimeError):
    """A worker process that failed or vanished."""


@dataclass
class Share:
    """What one worker process is given."""

    index: int
    plan: Plan
    seed: int
    token: str
    pools: list[Pool | None]


@dataclass
class ShareOutcome:
    """What one worker process sends back."""

    index: int
    metrics: RunMetrics
    ledger: Ledger
    issued: int = 0
    stop_reason: str = ""
    aborted: str | None = None
    notes: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    scheduled: dict[str, LatencyHistogram] = field(default_factory=dict)
    list_items: int = 0


def shares_of(engine: Engine, parts: int) -> list[Share]:
    """Deal a prepared engine's workload into ``parts`` shares."""
    from pytest_sai3.engine import share_plan

    dealt: list[list[Pool | None]] = []
    for state in engine._states:
        pool = state.pool
        if pool is None:
            dealt.append([None] * parts)
        elif state.planned.op.kind == "delete":
            dealt.append(list(pool.split(parts)))
        else:
            dealt.append([pool] * parts)
    return [
        Share(
            index,
            share_plan(engine.plan, index, parts),
            engine.seed + 1_000_003 * (index + 1),
            f"{engine.token}p{index}",
            [pools[index] for pools in dealt],
        )
        for index in range(parts)
    ]


class Fleet:
    """Worker processes of one round, from start to exit."""

    def __init__(self, interval: float) -> None:
        self._context = multiprocessing.get_context("spawn")
        self.go = self._context.Event()
        self.stop = self._context.Event()
        self.errors = self._context.Value("q", 0)
        self.interval = interval
        self.procs: list[Any] = []
        self.conns: list[Connection] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [proc.pid for proc in self.procs if proc.pid is not None]

    @classmethod
    def start(cls, shares: list[Share], timeout: float = START_TIMEOUT) -> Fleet:
        """Spawn one worker per share and wait until every one is ready.

        :raises WorkerError: if a worker fails to start.
        """
        perf_log = shares[0].plan.scenario.perf_log
        fleet = cls(perf_log.interval if perf_log else 1.0)
        try:
            for share in shares:
                fleet._spawn(share)
            fleet._await_ready(timeout)
        except BaseException:
            fleet.close()
            raise
        return fleet

    def _spawn(self, share: Share) -> None:
        ours, theirs = self._context.Pipe()
        proc = self._context.Process(
            target=work,
            args=(share, theirs, self.go, self.stop, self.errors),
            name=f"sai3-worker-{share.index + 1}",
            daemon=True,
        )
        proc.start()
        theirs.close()
        self.procs.append(proc)
        self.conns.append(ours)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for index, conn in enumerate(self.conns):
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise WorkerError(f"worker process {index + 1} did not start")
            kind, payload = self._receive(index, conn)
            if kind == "error":
                raise WorkerError(f"worker process {index + 1} failed:\n{payload}")

    def _receive(self, index: int, conn: Connection) -> tuple[str, Any]:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            code = self.procs[index].exitcode
            raise WorkerError(
                f"worker process {index + 1} ended without a result (exit code {code})"
            ) from None
        return kind, payload

    def run(
        self,
        on_outcome: Callable[[ShareOutcome], None],
        on_row: Callable[[dict[str, Any]], None],
    ) -> None:
        """Start the workload everywhere and collect each worker's outcome.

        On any exception (a Ctrl-C too) the workers are told to stop and what they
        did is still collected, before the exception goes on.
        """
        pending = {conn: index for index, conn in enumerate(self.conns)}
        ticks = _Ticks(self.interval, on_row)
        self.go.set()
        try:
            while pending:
                for conn in wait(list(pending), timeout=ticks.wait_s()):
                    assert isinstance(conn, Connection)
                    self._handle(conn, pending, on_outcome, ticks)
                ticks.emit_due()
            # Every worker's last sample came before its outcome: log the rest.
            ticks.emit()
        except BaseException:
            self.stop.set()
            self._drain(pending, on_outcome)
            raise

    def _handle(
        self,
        conn: Connection,
        pending: dict[Connection, int],
        on_outcome: Callable[[ShareOutcome], None],
        ticks: _Ticks,
    ) -> None:
        index = pending[conn]
        kind, payload = self._receive(index, conn)
        if kind == "tick":
            ticks.latest[index] = payload
        elif kind == "done":
            del pending[conn]
            if payload.aborted:
                self.stop.set()
            on_outcome(payload)
        elif kind == "error":
            raise WorkerError(f"worker process {index + 1} failed:\n{payload}")

    def _drain(
        self,
        pending: dict[Connection, int],
        on_outcome: Callable[[ShareOutcome], None],
    ) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while pending and time.monotonic() < deadline:
            for conn in wait(list(pending), timeout=deadline - time.monotonic()):
                assert isinstance(conn, Connection)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    del pending[conn]
                    continue
                if kind != "tick":
                    del pending[conn]
                if kind == "done":
                    on_outcome(payload)

    def close(self) -> None:
        """Stop every worker and wait for it; terminate those that do not exit."""
        self.stop.set()
        deadline = time.monotonic() + EXIT_TIMEOUT
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()


class _Ticks:
    """The parent's live figures: the workers' latest counts, summed per interval."""

    def __init__(
        self, interval: float, on_row: Callable[[dict[str, Any]], None]
    ) -> None:
        self.interval = interval
        self.on_row = on_row
        self.latest: dict[int, dict[str, Any]] = {}
        self.last_total = 0
        self.last_elapsed = 0.0
        self.due = time.monotonic() + interval
        self.emitted_at = time.monotonic()
        self.cpu = CpuSampler()

    def wait_s(self) -> float:
        return max(0.0, self.due - time.monotonic())

    def emit_due(self) -> None:
        if time.monotonic() < self.due:
            return
        self.due += self.interval
        self.emit()

    def emit(self) -> None:
        """Log the workers' latest figures as one row (the last may be short)."""
        if not self.latest:
            return
        rows = list(self.latest.values())
        elapsed = max(row["elapsed_s"] for row in rows)
        span = elapsed - self.last_elapsed
        total = sum(row["total_ops"] for row in rows)
        if span <= 0:
            if total == self.last_total:
                return
            # A worker's last sample came after a row that went past its end
            # (another worker ran a little longer): its ops still get a row,
            # over the time since that row.
            elapsed = self.last_elapsed
            span = max(time.monotonic() - self.emitted_at, 1e-6)
        lefts = [row["left_s"] for row in rows if row.get("left_s") is not None]
        classes = {name: ClassTotals() for name in CLASS_NAMES}
        for row in rows:
            for name, totals in row.get("class_totals", {}).items():
                classes[name].add(totals)
        self.on_row(
            {
                "elapsed_s": elapsed,
                "timestamp": time.time(),
                "ops": total - self.last_total,
                "total_ops": total,
                "errors": sum(row["errors"] for row in rows),
                "ops_per_s": (total - self.last_total) / span,
                "left_s": min(lefts) if lefts else None,
                "classes": sampled_classes(classes),
                "cpu": self.cpu.sample(),
            }
        )
        self.last_total = total
        self.last_elapsed = elapsed
        self.emitted_at = time.monotonic()


def work(
    share: Share,
    conn: Connection,
    go: Event,
    stop: Event,
    errors: Synchronized[int],
) -> None:
    """A worker process: build the clients, wait for go, run the share, report."""
    # A terminal's Ctrl-C reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = _run_share(share, conn, go, stop, errors)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    else:
        conn.send(("done", outcome))
    finally:
        conn.close()


def _run_share(
    share: Share,
    conn: Connection,
    go: Event,
    stop: Event,
    errors: Synchronized[int],
) -> ShareOutcome:
    from pytest_sai3.engine import Engine

    engine = Engine(share.plan, seed=share.seed, token=share.token, worker=True)
    with engine:
        conn.send(("ready", None))
        while not go.wait(0.05):
            if stop.is_set():
                return ShareOutcome(share.index, RunMetrics(), Ledger())
        engine.progress = partial(_send_tick, conn)
        coordination = Coordination(stop.is_set, partial(_add_error, errors))
        engine.run_share(share.pools, coordination)
    result = engine.result
    return ShareOutcome(
        share.index,
        result.workload,
        engine.ledger,
        engine.issued,
        result.stop_reason,
        result.aborted,
        result.notes,
        result.error_samples,
        result.scheduled,
        result.list_items,
    )


def _send_tick(conn: Connection, row: dict[str, Any]) -> None:
    conn.send(("tick", row))


def _add_error(errors: Synchronized[int]) -> int:
    with errors.get_lock():
        errors.value += 1
        return int(errors.value)


def merge_shares(
    engine: Engine, outcomes: list[ShareOutcome], interrupted: bool = False
) -> None:
    """Fold the workers' outcomes into the engine's result and ledger."""
    from pytest_sai3.engine import add_round

    result = engine.result
    round_ = RunMetrics()
    issued = 0
    reasons = []
    for outcome in sorted(outcomes, key=lambda item: item.index):
        round_.merge(outcome.metrics)
        engine.ledger.absorb(outcome.ledger)
        issued += outcome.issued
        reasons.append(outcome.stop_reason)
        result.list_items += outcome.list_items
        for kind, histogram in outcome.scheduled.items():
            result.scheduled.setdefault(kind, LatencyHistogram()).merge(histogram)
        room = ERROR_SAMPLES - len(result.error_samples)
        result.error_samples.extend(outcome.error_samples[: max(room, 0)])
        result.notes.extend(n for n in outcome.notes if n not in result.notes)
        result.aborted = result.aborted or outcome.aborted
    add_round(result.workload, round_)
    engine.issued += issued
    if not result.stop_reason:
        result.stop_reason = _overall_reason(engine, reasons, interrupted)
    note = f"workers split over {engine.processes} processes"
    if note not in result.notes:
        result.notes.append(note)


def _overall_reason(engine: Engine, reasons: list[str], interrupted: bool) -> str:
    ops = engine.scenario.ops
    if engine.result.aborted:
        return "max_total_errors reached"
    if interrupted:
        return "interrupted"
    if ops is not None and engine.issued >= ops:
        return f"op count reached ({ops})"
    if "every op's pool is exhausted" in reasons:
        return "every op's pool is exhausted"
    return "duration reached"
