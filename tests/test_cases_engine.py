"""Field cases of ``../shared/cases/cases.md`` that the engine answers for.

Each test names its case; the expected values are the case's. Folders stand in
for ``/tmp/ep*`` and SeaweedFS for the cases' local S3 servers.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    Store,
    files_under,
    listing_sizes,
    plan_from,
    returns,
    run,
    s3_credentials,
    s3_endpoints,
    separate_dirs,
    shared_dirs,
    spy,
)

from pytest_sai3.dataset import PoolError
from pytest_sai3.endpoints.clients import Credentials, make_backend
from pytest_sai3.endpoints.uris import parse_endpoint
from pytest_sai3.engine import Engine, RunResult
from pytest_sai3.metrics import LatencyHistogram, RunMetrics
from pytest_sai3.runner import summary_of

PERCENTILES = ("min_us", "p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us")


def scenario(
    endpoints: list[str],
    workload: list[dict[str, Any]],
    count: int = 0,
    size: int = 1024,
    **extra: Any,
) -> dict[str, Any]:
    """A scenario over ``endpoints``; ``count`` prepared objects under data/."""
    data: dict[str, Any] = {
        "seed": 7,
        "multi_endpoint": {"strategy": "round_robin", "endpoints": endpoints},
        "workload": workload,
        **extra,
    }
    if count:
        data["prepare"] = {
            "ensure_objects": [{"base_uri": "data/", "count": count, "size_spec": size}]
        }
    return data


def put_objects(store: Store, keys: list[str]) -> None:
    """Write one small object per key through the first endpoint."""
    spec = parse_endpoint(store.uris[0])
    with ThreadPoolExecutor(2) as executor:
        backend = make_backend(
            spec,
            client=None,
            credentials=store.credentials or Credentials(),
            pool_size=4,
            executor=executor,
        )

        async def put_all() -> None:
            for key in keys:
                await backend.put(key, b"1\n")
            await backend.close()

        asyncio.run(put_all())


def assert_strict_json(result: RunResult) -> None:
    text = json.dumps(summary_of(result), allow_nan=False)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite {c}"))


# -- C. Listing, caches and globs -----------------------------------------------


def test_case22_no_get_of_a_key_deleted_a_moment_earlier(tmp_path: Path) -> None:
    mix = [
        {"op": "get", "path": "data/*", "weight": 45},
        {"op": "stat", "path": "data/*", "weight": 25},
        {"op": "delete", "path": "data/*", "weight": 15},
        {"op": "put", "path": "data/", "object_size": 1024, "weight": 15},
    ]
    data = scenario(shared_dirs(tmp_path), mix, 50, ops=2000, concurrency=16)
    with Engine(plan_from(tmp_path, data)) as engine:
        engine.prepare()
        engine.workload()
        result = engine.result
        on_disk = len(files_under(tmp_path / "shared" / "data"))

    ops = result.workload.ops
    assert sum(stats.errors.get("not_found", 0) for stats in ops.values()) == 0
    assert result.workload.total_errors == 0
    # sai3-bench's mixed-pool rule: deletes draw from a second pool of 50.
    assert result.created == 100
    assert on_disk == result.created + ops["put"].count - ops["delete"].count


@pytest.fixture(params=["file", "s3"])
def one_endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """One endpoint: a folder, or one SeaweedFS gateway on a fresh bucket."""
    if request.param == "file":
        (tmp_path / "ep1").mkdir()
        return Store([f"file://{tmp_path}/ep1/"])
    cluster = request.getfixturevalue("seaweed_shared")
    name = request.getfixturevalue("bucket")
    return Store(s3_endpoints(cluster, name)[:1], s3_credentials(cluster))


def test_case24_listing_past_1000_keys(tmp_path: Path, one_endpoint: Store) -> None:
    lists = scenario(
        one_endpoint.uris,
        [{"op": "list", "path": "data/", "weight": 100}],
        1500,
        size=1,
        ops=5,
        concurrency=16,
    )
    with Engine(plan_from(tmp_path, lists, credentials=one_endpoint.credentials)) as (
        engine
    ):
        engine.prepare()
        listed = returns(engine, "list")
        engine.workload()
        first = engine.result
    gets = scenario(
        one_endpoint.uris,
        [{"op": "get", "path": "data/*", "weight": 100}],
        ops=3000,
        concurrency=16,
    )
    plan = plan_from(tmp_path, gets, credentials=one_endpoint.credentials)
    with Engine(plan) as engine:
        engine.prepare()
        read = spy(engine, "get_now")
        engine.workload()
        targets = sorted(engine._states[0].pool.keys)  # type: ignore[union-attr]

    assert first.created == 1500
    assert first.workload.ops["list"].count == 5
    assert [len(entries) for _, entries in listed] == [1500] * 5
    assert first.list_items == 5 * 1500
    assert len(targets) == 1500
    assert len(read) == 3000
    beyond = [key for _, key in read if key not in set(targets[:1000])]
    assert len(beyond) >= 800


@pytest.fixture(params=["file", "s3"])
def sparse_isolated(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Case 25's stores: INDEP4 with 2 objects, or 2 SeaweedFS stores with 1."""
    if request.param == "file":
        return Store(separate_dirs(tmp_path))
    cluster = request.getfixturevalue("seaweed_isolated")
    name = f"case-{secrets.token_hex(4)}"
    request.addfinalizer(lambda: cluster.delete_bucket(name))
    return Store(s3_endpoints(cluster, name)[:2], s3_credentials(cluster))


def test_case25_listing_an_empty_or_missing_prefix(
    tmp_path: Path, sparse_isolated: Store
) -> None:
    endpoints = sparse_isolated.uris
    data = scenario(
        endpoints,
        [{"op": "list", "path": "data/", "weight": 100}],
        count=len(endpoints) // 2,
        ops=40,
        concurrency=1,
    )
    data["multi_endpoint"]["namespace"] = "isolated"
    plan = plan_from(tmp_path, data, credentials=sparse_isolated.credentials)
    with Engine(plan) as engine:
        engine.prepare()
        sizes = listing_sizes(engine)
        engine.workload()
        workload = engine.result.workload

    holders = len(endpoints) // 2
    assert workload.ops["list"].count == 40
    assert workload.total_errors == 0
    assert sizes[:holders] == [[1] * 40] * holders
    assert sizes[holders:] == [[0] * 40] * (len(endpoints) - holders)
    assert all(ep.error_count == 0 for ep in workload.endpoints)


SEED_FILES = [
    "data/a.1.dat",
    "data/ab.dat",
    "data/myfile.backup",
    "data/sub1/x/leaf-1.dat",
    "data/sub2/x/leaf-2.dat",
    "data/sub2/y/leaf-3.dat",
]
GLOBS = {
    "data/a.*.dat": {"data/a.1.dat"},
    "data/*/x/*.dat": {"data/sub1/x/leaf-1.dat", "data/sub2/x/leaf-2.dat"},
    "data/**/*.dat": {
        "data/a.1.dat",
        "data/ab.dat",
        "data/sub1/x/leaf-1.dat",
        "data/sub2/x/leaf-2.dat",
        "data/sub2/y/leaf-3.dat",
    },
}


@pytest.fixture(params=["file", "s3"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """SHARED4 (folders or SeaweedFS gateways) holding case 26's six files."""
    if request.param == "file":
        store = Store(shared_dirs(tmp_path))
    else:
        cluster = request.getfixturevalue("seaweed_shared")
        name = request.getfixturevalue("bucket")
        store = Store(s3_endpoints(cluster, name), s3_credentials(cluster))
    put_objects(store, SEED_FILES)
    return store


def test_case26_glob_patterns(tmp_path: Path, seeded: Store) -> None:
    for pattern, expected in GLOBS.items():
        data = scenario(
            seeded.uris, [{"op": "get", "path": pattern, "weight": 100}], ops=50
        )
        with Engine(plan_from(tmp_path, data, credentials=seeded.credentials)) as e:
            e.prepare()
            read = spy(e, "get_now")
            e.workload()
            targets = set(e._states[0].pool.keys)  # type: ignore[union-attr]

        assert targets == expected, pattern
        assert {key for _, key in read} <= expected, pattern
        assert e.result.workload.ops["get"].count == 50, pattern


def test_case26_a_glob_matching_nothing_stops_before_the_run(
    tmp_path: Path, seeded: Store
) -> None:
    data = scenario(
        seeded.uris, [{"op": "get", "path": "data/*myfile", "weight": 100}], ops=50
    )
    engine = Engine(plan_from(tmp_path, data, credentials=seeded.credentials))

    with pytest.raises(PoolError, match="no objects match 'data/\\*myfile'"):
        engine.run()

    assert engine.result.workload.total_ops == 0
    assert not engine.result.workload.endpoints


# -- D. Statistics, timing and configuration -------------------------------------


def rows(metrics: RunMetrics) -> Iterator[tuple[str, LatencyHistogram]]:
    for name, stats in metrics.ops.items():
        yield name, stats.latency
    for endpoint in metrics.endpoints:
        yield endpoint.uri, endpoint.latency


def assert_ordered(name: str, histogram: LatencyHistogram) -> None:
    summary = histogram.summary()
    values = [summary[key] for key in PERCENTILES]
    assert all(value is not None for value in values), name
    assert values == sorted(values), (name, summary)
    assert histogram.percentile(0) == summary["min_us"], name
    assert histogram.percentile(100) == summary["max_us"], name
    assert summary["min_us"] <= summary["mean_us"] <= summary["max_us"], name


@pytest.mark.parametrize(
    ("ops", "mix"),
    [
        (1, {"get": 100}),
        (5, {"get": 100}),
        (1000, {"get": 50, "put": 30, "stat": 20}),
    ],
    ids=["a-one-op", "b-five-ops", "c-mixed"],
)
def test_case28_percentiles_ordered_and_within_min_max(
    tmp_path: Path, ops: int, mix: dict[str, int]
) -> None:
    (tmp_path / "ep1").mkdir()
    workload = [
        {"op": op, "path": "data/", "object_size": 1024, "weight": weight}
        if op == "put"
        else {"op": op, "path": "data/*", "weight": weight}
        for op, weight in mix.items()
    ]
    data = scenario([f"file://{tmp_path}/ep1/"], workload, 10, ops=ops, concurrency=8)
    result = run(plan_from(tmp_path, data))

    assert result.workload.total_ops == ops
    for name, histogram in rows(result.workload):
        assert_ordered(name, histogram)
        if ops == 1:
            summary = histogram.summary()
            assert len({summary[key] for key in PERCENTILES}) == 1, name


def test_case30a_the_slow_tail_is_in_the_percentiles(
    tmp_path: Path, slow: Callable[[str, float], None]
) -> None:
    (tmp_path / "ep1").mkdir()
    data = scenario(
        [f"slowfile://{tmp_path}/ep1/"],
        [{"op": "get", "path": "data/*", "weight": 100}],
        100,
        ops=5000,
        concurrency=1,
    )
    plan = plan_from(tmp_path, data)
    slow("after:4900", 0.02)
    result = run(plan)

    latency = result.workload.ops["get"].latency
    assert latency.count == 5000
    assert latency.percentile(99) >= 20_000  # type: ignore[operator]
    assert latency.percentile(50) < 20_000  # type: ignore[operator]


def test_case30b_eight_samples_give_nearest_rank_percentiles(tmp_path: Path) -> None:
    (tmp_path / "ep1").mkdir()
    data = scenario(
        [f"file://{tmp_path}/ep1/"],
        [{"op": "get", "path": "data/*", "weight": 100}],
        100,
        ops=8,
        concurrency=1,
    )
    result = run(plan_from(tmp_path, data))

    summary = result.workload.ops["get"].latency.summary()
    assert summary["count"] == 8
    assert all(math.isfinite(summary[key]) for key in PERCENTILES)  # type: ignore[arg-type]
    assert summary["p95_us"] == summary["p99_us"] == summary["max_us"]


def test_case30c_every_op_type_run_has_percentiles(tmp_path: Path) -> None:
    (tmp_path / "ep1").mkdir()
    mix = [
        {"op": "get", "path": "data/*", "weight": 30},
        {"op": "put", "path": "data/", "object_size": 1024, "weight": 20},
        {"op": "stat", "path": "data/*", "weight": 20},
        {"op": "list", "path": "data/", "weight": 15},
        {"op": "delete", "path": "data/*", "weight": 15},
    ]
    data = scenario([f"file://{tmp_path}/ep1/"], mix, 20, ops=50, concurrency=16)
    result = run(plan_from(tmp_path, data))

    assert result.workload.total_ops == 50
    for name, stats in result.workload.ops.items():
        assert stats.count > 0, name
        summary = stats.latency.summary()
        assert all(summary[key] is not None for key in PERCENTILES), name


def test_case31a_a_one_op_run_has_a_finite_rate(tmp_path: Path) -> None:
    (tmp_path / "ep1").mkdir()
    data = scenario(
        [f"file://{tmp_path}/ep1/"],
        [{"op": "stat", "path": "data/*", "weight": 100}],
        1,
        ops=1,
    )
    result = run(plan_from(tmp_path, data))

    rate = result.workload.to_dict()["ops_per_s"]
    assert rate is not None and math.isfinite(rate) and rate > 0
    assert_strict_json(result)


def test_case31b_no_op_starts_after_the_deadline(tmp_path: Path) -> None:
    data = scenario(
        shared_dirs(tmp_path),
        [{"op": "get", "path": "data/*", "weight": 100}],
        20,
        duration="3s",
        concurrency=4,
    )
    with Engine(plan_from(tmp_path, data)) as engine:
        engine.prepare()
        started = spy(engine, "get_now")
        engine.workload()
        workload = engine.result.workload

    first = started[0][0]
    assert workload.elapsed_s == pytest.approx(3.0, abs=0.3)
    assert max(when for when, _ in started) < first + 3.0 + 0.01
    assert workload.ops["get"].count == len(started)
    assert engine.result.stop_reason == "duration reached"


def test_case31c_an_op_slower_than_the_duration_is_drained(
    tmp_path: Path, slow: Callable[[str, float], None]
) -> None:
    (tmp_path / "ep1").mkdir()
    data = scenario(
        [f"slowfile://{tmp_path}/ep1/"],
        [{"op": "get", "path": "data/prepared-00000000.dat", "weight": 100}],
        1,
        duration="1s",
        concurrency=1,
    )
    plan = plan_from(tmp_path, data)
    slow("all", 3.0)
    began = time.monotonic()
    result = run(plan)
    wall = time.monotonic() - began

    assert result.workload.ops["get"].count == 1
    assert result.workload.elapsed_s == pytest.approx(3.0, abs=0.4)
    assert wall < 5.0
    assert_strict_json(result)


def weighted(endpoints: list[str], weights: tuple[float, ...], **extra: Any) -> Any:
    put, get, delete = weights
    mix = [
        {"op": "put", "path": "data/", "object_size": 1024, "weight": put},
        {"op": "get", "path": "data/*", "weight": get},
        {"op": "delete", "path": "data/*", "weight": delete},
    ]
    return scenario(endpoints, mix, 500, concurrency=8, **extra)


def attempted_shares(result: RunResult) -> dict[str, float]:
    """Each op type's share of the ops attempted, as the report states it."""
    ops = json.loads(json.dumps(result.workload.to_dict(), allow_nan=False))["ops"]
    return {name: row["share_pct"] for name, row in ops.items()}


@pytest.mark.parametrize(
    "weights", [(47, 36, 17), (4.7, 3.6, 1.7)], ids=["a-integers", "b-decimals"]
)
def test_case32ab_op_mix_follows_the_weights(
    tmp_path: Path, weights: tuple[float, ...]
) -> None:
    data = weighted(shared_dirs(tmp_path), weights, ops=10000)
    result = run(plan_from(tmp_path, data))

    shares = attempted_shares(result)
    assert "stat" not in shares and "list" not in shares
    assert shares["put"] == pytest.approx(47, abs=1.5)
    assert shares["get"] == pytest.approx(36, abs=1.5)
    assert shares["delete"] == pytest.approx(17, abs=1.2)
    assert result.workload.total_errors == 0


def test_case32c_errors_apart_from_the_mix_shares(tmp_path: Path) -> None:
    endpoints = shared_dirs(tmp_path)
    (tmp_path / "ep3").unlink()
    (tmp_path / "ep3").touch()
    data = weighted(
        endpoints,
        (47, 36, 17),
        ops=10000,
        error_handling={"max_total_errors": 100000},
    )
    result = run(plan_from(tmp_path, data))

    shares = attempted_shares(result)
    workload = result.workload
    assert round(sum(shares.values()), 6) == 100.0
    assert {name: stats.error_count > 0 for name, stats in workload.ops.items()} == {
        "put": True,
        "get": True,
        "delete": True,
    }
    assert shares["put"] == pytest.approx(47, abs=1.5)
    assert shares["get"] == pytest.approx(36, abs=1.5)
    assert shares["delete"] == pytest.approx(17, abs=1.2)
    assert workload.total_ops + workload.total_errors == 10000
    assert workload.endpoints[2].error_count == workload.total_errors > 0
    assert any("pre-flight" in note and "ep3" in note for note in result.notes)


@pytest.mark.parametrize(
    ("bounds", "reason"),
    [
        ({"ops": 1000, "duration": "60s"}, "op count reached (1000)"),
        ({"ops": 10**9, "duration": "1s"}, "duration reached"),
    ],
    ids=["d-op-count-first", "d-duration-first"],
)
def test_case32d_the_first_bound_reached_stops_the_run(
    tmp_path: Path, bounds: dict[str, Any], reason: str
) -> None:
    data = weighted(shared_dirs(tmp_path), (47, 36, 17), **bounds)
    result = run(plan_from(tmp_path, data))

    assert result.stop_reason == reason
    assert result.workload.elapsed_s < 30
    if "1000" in reason:
        assert result.workload.total_ops == 1000
    else:
        assert result.workload.elapsed_s == pytest.approx(1.0, abs=0.3)


# -- E. pytest integration --------------------------------------------------------


def test_case35_report_mixes_parametrized_and_plain_items(
    pytester: pytest.Pytester,
) -> None:
    endpoints = shared_dirs(pytester.path)
    common = scenario(
        endpoints, [{"op": "get", "path": "data/*", "weight": 100}], 8, ops=20
    )
    param = {
        **common,
        "name": "param",
        "parametrize": {
            "multi_endpoint.strategy": ["round_robin", "least_connections"]
        },
    }
    plain = {**common, "name": "plain"}
    pytester.makefile(".yaml", rr=json.dumps(param) + "\n---\n" + json.dumps(plain))

    outcome = pytester.runpytest(
        "-p", "no:cacheprovider", "--benchmark-json=out.json", "rr.yaml"
    )

    outcome.assert_outcomes(passed=3)
    text = (pytester.path / "out.json").read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite {c}"))
    params = {bench["name"]: bench["params"] for bench in report["benchmarks"]}
    assert params == {
        "param[multi_endpoint.strategy=round_robin]": {
            "multi_endpoint.strategy": "round_robin"
        },
        "param[multi_endpoint.strategy=least_connections]": {
            "multi_endpoint.strategy": "least_connections"
        },
        "plain": None,
    }
