"""The engine's promises (DESIGN "Engine", "Statistics and reports").

Counted at the I/O, every figure adds up: per-endpoint requests to the ops issued
plus their retries, bytes to the op totals; prepare stays out of the workload;
rates divide by the workload's own time. Then the error handling, warmup, rate
control and the split over worker processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    files_under,
    plan_from,
    run,
    s3_credentials,
    s3_endpoints,
    shared_dirs,
)

from pytest_sai3.endpoints.clients import Credentials
from pytest_sai3.endpoints.deadlines import Deadlines, mark_worker
from pytest_sai3.engine import (
    EVENT_LOOP_VARIABLE,
    Engine,
    loop_factory,
    process_count,
)
from pytest_sai3.errors import Sai3Failure
from pytest_sai3.metrics import RunMetrics
from pytest_sai3.processes import _Ticks
from pytest_sai3.servers import SeaweedCluster

MIXED = [
    {"op": "get", "path": "data/*", "weight": 40},
    {"op": "stat", "path": "data/*", "weight": 15},
    {"op": "list", "path": "data/", "weight": 5},
    {"op": "put", "path": "data/", "object_size": 1024, "weight": 25},
    {"op": "delete", "path": "data/*", "weight": 15},
]

#: Reads of the prepared objects and writes of new ones, in one folder run.
GET_PUT_70_30 = [
    {"op": "get", "path": "data/*", "weight": 70},
    {"op": "put", "path": "new/", "object_size": 4096, "weight": 30},
]


@dataclass
class Store:
    """Four endpoints on one namespace, and what they need."""

    uris: list[str]
    credentials: Credentials | None = None


@pytest.fixture(params=["file", "s3"])
def shared4(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """SHARED4: four folder links to one folder, or four SeaweedFS gateways."""
    if request.param == "file":
        yield Store(shared_dirs(tmp_path))
        return
    cluster: SeaweedCluster = request.getfixturevalue("seaweed_shared")
    bucket = f"eng-{secrets.token_hex(4)}"
    yield Store(s3_endpoints(cluster, bucket), s3_credentials(cluster))
    cluster.delete_bucket(bucket)


def scenario(
    endpoints: list[str],
    workload: list[dict[str, Any]],
    count: int = 0,
    cleanup: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A round-robin scenario with ``count`` prepared 1 KiB objects under data/."""
    data: dict[str, Any] = {
        "seed": 5,
        "multi_endpoint": {"strategy": "round_robin", "endpoints": endpoints},
        "workload": workload,
        **extra,
    }
    if count:
        data["prepare"] = {
            "ensure_objects": [
                {"base_uri": "data/", "count": count, "size_spec": 1024}
            ],
            "cleanup": cleanup,
        }
    return data


def plain_file(tmp_path: Path, name: str = "plain") -> str:
    """An endpoint that is a regular file: every request to it fails."""
    (tmp_path / name).write_text("not a directory\n")
    return f"file://{tmp_path}/{name}/"


def requests(metrics: RunMetrics) -> int:
    return sum(endpoint.requests for endpoint in metrics.endpoints)


def retries(metrics: RunMetrics) -> int:
    return sum(stats.retries for stats in metrics.ops.values())


def stored_keys(plan_data: dict[str, Any], tmp_path: Path, store: Store) -> set[str]:
    """Every key under data/ on the store, listed through the engine's router."""
    with Engine(plan_from(tmp_path, plan_data, credentials=store.credentials)) as e:
        listing = e._runner.run(e.router.list("data/", True))
    return {key for key, _, _ in listing}


# -- Figures add up ---------------------------------------------------------------


def test_counters_add_up_at_the_io(tmp_path: Path, shared4: Store) -> None:
    data = scenario(shared4.uris, MIXED, 100, ops=800, concurrency=8)
    plan = plan_from(tmp_path, data, credentials=shared4.credentials)
    with Engine(plan) as engine:
        engine.prepare()
        engine.workload()
        result = engine.result

    workload, prepare = result.workload, result.prepare
    issued = workload.total_ops + workload.total_errors
    assert issued == 800
    assert requests(workload) == issued + retries(workload)
    assert [ep.requests for ep in workload.endpoints] == [200] * 4
    reads = sum(ep.bytes_read for ep in workload.endpoints)
    writes = sum(ep.bytes_written for ep in workload.endpoints)
    assert reads == workload.bytes_read == 1024 * workload.ops["get"].count
    assert writes == workload.bytes_written == 1024 * workload.ops["put"].count
    assert prepare.ops["put"].count == result.created == 200
    assert requests(prepare) == prepare.total_ops + prepare.total_errors
    assert sum(ep.bytes_written for ep in prepare.endpoints) == 200 * 1024


def test_rates_divide_by_the_workloads_own_time(tmp_path: Path) -> None:
    data = scenario(
        shared_dirs(tmp_path),
        [{"op": "get", "path": "data/*", "weight": 100}],
        10000,
        duration="1s",
        concurrency=4,
    )
    result = run(plan_from(tmp_path, data))

    workload = result.workload
    figures = workload.to_dict()
    # A prepare long enough that counting it in would show.
    assert result.prepare.elapsed_s > 0.2
    assert workload.elapsed_s == pytest.approx(1.0, abs=0.2)
    assert figures["ops_per_s"] * workload.elapsed_s == pytest.approx(
        workload.total_ops
    )
    assert figures["ops"]["get"]["ops_per_s"] == figures["ops_per_s"]


@pytest.mark.parametrize("distribution", ["exponential", "uniform", "deterministic"])
def test_io_rate_is_the_aggregate_rate(tmp_path: Path, distribution: str) -> None:
    (tmp_path / "ep1").mkdir()
    data = scenario(
        [f"file://{tmp_path}/ep1/"],
        [{"op": "get", "path": "data/*", "weight": 100}],
        50,
        duration="10s",
        concurrency=8,
        io_rate={"iops": 1000, "distribution": distribution},
    )
    result = run(plan_from(tmp_path, data))

    workload = result.workload
    assert workload.total_ops / workload.elapsed_s == pytest.approx(1000, rel=0.02)
    assert result.scheduled["get"].count == workload.ops["get"].count


def test_objects_that_existed_survive_cleanup(tmp_path: Path, shared4: Store) -> None:
    before = scenario(
        shared4.uris,
        [{"op": "put", "path": "data/", "object_size": 100, "weight": 1}],
        5,
        ops=3,
    )
    run(plan_from(tmp_path, before, credentials=shared4.credentials))
    existing = stored_keys(before, tmp_path, shared4)
    mix = [
        {"op": "get", "path": "data/*", "weight": 50},
        {"op": "put", "path": "data/", "object_size": 1024, "weight": 50},
    ]
    data = scenario(shared4.uris, mix, 20, cleanup=True, ops=200, concurrency=4)
    result = run(plan_from(tmp_path, data, credentials=shared4.credentials))

    assert len(existing) == 8
    assert result.existed == 5
    assert result.created == 15
    assert stored_keys(before, tmp_path, shared4) == existing


# -- Errors, warmup ----------------------------------------------------------------


def test_retries_are_counted_apart_from_ops(tmp_path: Path) -> None:
    data = scenario(
        [plain_file(tmp_path)],
        [{"op": "put", "path": "data/", "object_size": 1024, "weight": 1}],
        ops=5,
        concurrency=1,
        error_handling={
            "retry_on_error": True,
            "max_retries": 2,
            "initial_retry_delay_ms": 1,
        },
    )
    result = run(plan_from(tmp_path, data))

    puts = result.workload.ops["put"]
    assert (puts.count, puts.error_count, puts.retries) == (0, 5, 10)
    assert requests(result.workload) == 5 + 10
    assert result.workload.endpoints[0].error_count == 15


def test_a_retry_may_succeed_on_the_next_endpoint(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    endpoints = [f"file://{tmp_path}/good/", plain_file(tmp_path)]
    data = scenario(
        endpoints,
        [{"op": "put", "path": "data/", "object_size": 1024, "weight": 1}],
        ops=20,
        concurrency=1,
        error_handling={"retry_on_error": True, "initial_retry_delay_ms": 1},
    )
    result = run(plan_from(tmp_path, data))

    workload = result.workload
    assert workload.ops["put"].count == 20
    assert workload.total_errors == 0
    assert retries(workload) == workload.endpoints[1].error_count == 19
    assert requests(workload) == 20 + 19
    assert len(files_under(tmp_path / "good")) == 20


def test_an_op_past_op_timeout_is_a_timeout_of_its_endpoint(
    tmp_path: Path, slow: Callable[[str, float], None]
) -> None:
    store = tmp_path / "store"
    (store / "data").mkdir(parents=True)
    endpoints = []
    for number in (1, 2):
        (tmp_path / f"ep{number}").symlink_to(store, target_is_directory=True)
        endpoints.append(f"slowfile://{tmp_path}/ep{number}/")
    for index in range(4):
        (store / "data" / f"obj{index}").write_bytes(b"x" * 1024)
    data = scenario(
        endpoints,
        [{"op": "get", "path": "data/*", "weight": 1}],
        ops=6,
        concurrency=2,
        error_handling={"op_timeout": "100ms"},
    )
    plan = plan_from(tmp_path, data)
    slow("all", 0.6)

    result = run(plan)

    gets = result.workload.ops["get"]
    assert (gets.count, gets.errors) == (0, {"timeout": 6})
    assert [ep.errors for ep in result.workload.endpoints] == [{"timeout": 3}] * 2
    assert [ep.in_flight for ep in result.workload.endpoints] == [0, 0]
    # Each op was given up after 0.1 s (and up to a watchdog period of 10 ms),
    # not after its 0.6 s read: 3 rounds of 2 ops, far under 3 x 0.6 s.
    assert result.workload.elapsed_s < 1.2
    assert all("timeout" in sample for sample in result.error_samples)


def test_request_deadlines_hold_on_each_event_loop_in_turn() -> None:
    # A router outlives event loops (one per asyncio.run); the watchdog of the
    # first loop dies with it, and the next loop's requests must get their own.
    deadlines = Deadlines(0.05)

    async def slow_request(worker: bool) -> list[str]:
        if worker:  # one slot for all its requests, as the op loop's workers
            mark_worker()
        outcomes = []
        for pause in (0.0, 2.0, 0.0, 2.0):
            slot = deadlines.enter(time.perf_counter_ns())
            try:
                await asyncio.sleep(pause)
                outcomes.append("answered")
            except asyncio.CancelledError:
                assert deadlines.expired(slot)
                outcomes.append("timed out")
            finally:
                deadlines.leave(slot)
        return outcomes

    for worker in (False, True, False, True):
        start = time.perf_counter()
        assert asyncio.run(slow_request(worker)) == ["answered", "timed out"] * 2
        assert time.perf_counter() - start < 1.5


def test_max_total_errors_aborts_the_run(tmp_path: Path) -> None:
    data = scenario(
        [plain_file(tmp_path)],
        [{"op": "put", "path": "data/", "object_size": 1024, "weight": 1}],
        ops=1000,
        concurrency=1,
        error_handling={"max_total_errors": 5},
    )
    result = run(plan_from(tmp_path, data))

    assert result.aborted is not None
    assert "max_total_errors=5" in result.aborted
    assert result.stop_reason == "max_total_errors reached"
    assert result.workload.total_errors == 5


def test_warmup_ops_are_left_out(tmp_path: Path) -> None:
    data = scenario(
        shared_dirs(tmp_path),
        [{"op": "get", "path": "data/*", "weight": 1}],
        20,
        ops=300,
        concurrency=2,
        warmup_period="0.5s",
    )
    with Engine(plan_from(tmp_path, data)) as engine:
        engine.prepare()
        sent = 0
        original = engine.router.get_now

        def counted(*args: Any) -> Any:
            nonlocal sent
            sent += 1
            return original(*args)

        engine.router.get_now = counted  # type: ignore[method-assign]
        began = time.monotonic()
        engine.workload()
        wall = time.monotonic() - began
        workload = engine.result.workload

    assert workload.ops["get"].count == 300
    assert requests(workload) == 300
    assert sent > 300
    assert workload.elapsed_s < wall - 0.4


def test_an_inline_op_and_its_request_share_one_latency(tmp_path: Path) -> None:
    # On folders every get and put here completes inline: the router times
    # each request once, and that figure is the op's too, so the op table and
    # the endpoint table hold the same latencies, warmup left out of both.
    data = scenario(
        shared_dirs(tmp_path),
        GET_PUT_70_30,
        50,
        ops=3000,
        concurrency=4,
        warmup_period="0.2s",
    )
    with Engine(plan_from(tmp_path, data)) as engine:
        engine.prepare()
        engine.workload()
        workload = engine.result.workload

    ops, endpoints = workload.ops, workload.endpoints
    assert ops["get"].count + ops["put"].count == 3000
    for kind in ("get", "put"):
        served = [endpoint.requests_by_op.get(kind, 0) for endpoint in endpoints]
        assert sum(served) == ops[kind].count
    assert [endpoint.requests for endpoint in endpoints] == [750] * 4
    assert (
        sum(ep.bytes_read for ep in endpoints)
        == ops["get"].bytes
        == 1024 * (ops["get"].count)
    )
    assert sum(ep.bytes_written for ep in endpoints) == ops["put"].bytes
    by_op, by_endpoint = RunMetrics(), RunMetrics()
    for kind in ("get", "put"):
        by_op.op("all").latency.merge(ops[kind].latency)
    for endpoint in endpoints:
        by_endpoint.op("all").latency.merge(endpoint.latency)
    assert by_op.op("all").latency.encode() == by_endpoint.op("all").latency.encode()
    assert by_op.op("all").latency.sum_us == by_endpoint.op("all").latency.sum_us


# -- Worker processes --------------------------------------------------------------


def test_a_workers_late_last_sample_still_gets_a_row() -> None:
    # Worker 1 ends at 2.01 s and its last sample is logged with worker 2's
    # one before last; worker 2 ended at 2.00 s, and its last sample comes in
    # after that row. Its ops are still logged, so the rows add up to the run.
    rows: list[dict[str, Any]] = []
    ticks = _Ticks(0.25, rows.append)

    def sample(elapsed: float, total: int) -> dict[str, Any]:
        return {"elapsed_s": elapsed, "total_ops": total, "errors": 0}

    ticks.latest = {0: sample(1.9, 100), 1: sample(1.9, 90)}
    ticks.emit()
    ticks.latest = {0: sample(2.01, 110), 1: sample(1.9, 90)}
    ticks.emit()
    ticks.latest[1] = sample(2.0, 97)
    ticks.emit()
    ticks.emit()  # nothing new: no row

    assert [row["ops"] for row in rows] == [190, 10, 7]
    assert rows[-1]["total_ops"] == 207
    assert [row["elapsed_s"] for row in rows] == [1.9, 2.01, 2.01]
    assert all(row["ops_per_s"] > 0 for row in rows)


def test_processes_split_the_workers_and_merge_exactly(
    tmp_path: Path, shared4: Store
) -> None:
    mix = [op for op in MIXED if op["op"] != "list"]
    data = scenario(
        shared4.uris, mix, 100, cleanup=True, ops=400, concurrency=4, processes=2
    )
    result = run(plan_from(tmp_path, data, credentials=shared4.credentials))

    workload = result.workload
    assert result.processes == 2
    assert "workers split over 2 processes" in result.notes
    assert result.stop_reason == "op count reached (400)"
    assert workload.total_ops == 400
    assert workload.total_errors == 0
    # Each process runs its own round robin over its 200 requests.
    assert [ep.requests for ep in workload.endpoints] == [100] * 4
    for name, stats in workload.ops.items():
        assert stats.latency.count == stats.count, name
    assert sum(ep.latency.count for ep in workload.endpoints) == 400
    assert stored_keys(data, tmp_path, shared4) == set()


def test_processes_share_one_error_budget(tmp_path: Path) -> None:
    data = scenario(
        [plain_file(tmp_path)],
        [{"op": "put", "path": "data/", "object_size": 1024, "weight": 1}],
        ops=1000,
        concurrency=2,
        processes=2,
        error_handling={"max_total_errors": 10},
    )
    result = run(plan_from(tmp_path, data))

    assert result.aborted is not None
    assert result.stop_reason == "max_total_errors reached"
    # The other process may finish the one op it had in flight.
    assert 10 <= result.workload.total_errors <= 11


def test_ctrl_c_stops_the_workers_and_still_cleans_up(tmp_path: Path) -> None:
    mix = [
        {"op": "get", "path": "data/*", "weight": 50},
        {"op": "put", "path": "data/", "object_size": 1024, "weight": 50},
    ]
    data = scenario(
        shared_dirs(tmp_path),
        mix,
        50,
        cleanup=True,
        duration="30s",
        concurrency=4,
        processes=2,
    )
    engine = Engine(plan_from(tmp_path, data))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt), engine:
        engine.prepare()
        pids = engine._fleet.pids
        began = time.monotonic()
        timer.start()
        try:
            engine.workload()
        finally:
            timer.cancel()
    stopped_after = time.monotonic() - began

    assert len(pids) == 2
    assert stopped_after < 10
    assert multiprocessing.active_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert engine.result.stop_reason == "interrupted"
    assert engine.result.workload.ops["put"].count > 0
    assert files_under(tmp_path / "shared") == []


@pytest.mark.parametrize(
    ("processes", "concurrency", "ops", "expected"),
    [
        (None, 8, None, 1),
        (4, 2, None, 2),
        (4, 8, 3, 3),
        ("auto", 1000, None, os.cpu_count() or 1),
    ],
)
def test_process_count(
    tmp_path: Path,
    processes: int | str | None,
    concurrency: int,
    ops: int | None,
    expected: int,
) -> None:
    extra: dict[str, Any] = {"concurrency": concurrency}
    if processes is not None:
        extra["processes"] = processes
    if ops is not None:
        extra["ops"] = ops
    data = scenario([f"file://{tmp_path}/"], [{"op": "list", "path": ""}], **extra)
    plan = plan_from(tmp_path, data)

    assert process_count(plan.scenario) == expected


# -- Event loop --------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_a_run_goes_on_the_event_loop_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str
) -> None:
    # The same mixed folder run on either loop: it runs on the one asked for,
    # and on both its figures add up at the I/O and on disk.
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, choice)
    data = scenario(
        shared_dirs(tmp_path),
        GET_PUT_70_30,
        20,
        ops=800,
        concurrency=4,
        duration="30s",
    )
    with Engine(plan_from(tmp_path, data)) as engine:
        loop = engine._runner.get_loop()
        engine.prepare()
        engine.workload()
        workload = engine.result.workload

    assert type(loop).__module__.split(".")[0] == choice
    assert engine.result.event_loop == choice
    ops = workload.ops
    assert ops["get"].count + ops["put"].count == 800
    assert [endpoint.requests for endpoint in workload.endpoints] == [200] * 4
    written = files_under(tmp_path / "shared" / "new")
    assert len(written) == ops["put"].count
    assert sum(path.stat().st_size for path in written) == ops["put"].bytes
    assert 0 < workload.elapsed_s < 30


def test_an_unknown_event_loop_is_named_with_the_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "trio")
    data = scenario([f"file://{tmp_path}/"], [{"op": "list", "path": ""}], ops=1)
    with pytest.raises(Sai3Failure) as failure:
        Engine(plan_from(tmp_path, data)).__enter__()
    assert str(failure.value) == (
        "SAI3_EVENT_LOOP='trio': expected auto, uvloop or asyncio"
    )
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "asyncio")
    assert loop_factory() is None
