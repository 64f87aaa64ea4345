"""Every request of every op type balanced over the endpoints, counted at the I/O.

Our per-endpoint counts are checked against independent ones: SeaweedFS's own
request counters on each gateway, and the files on disk.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    files_under,
    plan_from,
    run,
    s3_credentials,
    s3_endpoints,
    separate_dirs,
    shared_dirs,
)

from pytest_sai3.engine import Engine
from pytest_sai3.servers import SeaweedCluster

MIXED = [
    {"op": "get", "path": "data/*", "weight": 40},
    {"op": "stat", "path": "data/*", "weight": 20},
    {"op": "list", "path": "data/", "weight": 10},
    {"op": "put", "path": "data/", "object_size": 1024, "weight": 20},
    {"op": "delete", "path": "data/*", "weight": 10},
]
OP_TYPES = {"get", "stat", "list", "put", "delete"}


def mixed(endpoints: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "mixed",
        "ops": 1000,
        "concurrency": 8,
        "seed": 11,
        "multi_endpoint": {"strategy": "round_robin", "endpoints": endpoints},
        "prepare": {
            "ensure_objects": [{"base_uri": "data/", "count": 200, "size_spec": 1024}],
            "cleanup": True,
        },
        "workload": MIXED,
        **extra,
    }


def server_totals(cluster: SeaweedCluster) -> list[int]:
    return [sum(counts.values()) for counts in cluster.request_counts()]


def test_round_robin_over_four_gateways_matches_server_counters(
    tmp_path: Path, seaweed_shared: SeaweedCluster
) -> None:
    bucket = f"bal-{secrets.token_hex(4)}"
    uris = s3_endpoints(seaweed_shared, bucket)
    plan = plan_from(tmp_path, mixed(uris), credentials=s3_credentials(seaweed_shared))
    with Engine(plan) as engine:
        engine.prepare()
        before = server_totals(seaweed_shared)
        engine.workload()
        after = server_totals(seaweed_shared)
        workload = engine.result.workload
    seaweed_shared.delete_bucket(bucket)

    ours = [ep.requests for ep in workload.endpoints]
    theirs = [b - a for a, b in zip(before, after, strict=True)]
    assert ours == [250, 250, 250, 250]
    assert theirs == ours
    assert workload.total_ops + workload.total_errors == 1000
    assert workload.total_errors == 0
    for ep in workload.endpoints:
        assert set(ep.requests_by_op) == OP_TYPES, ep.uri
        assert ep.bytes_read > 0


def test_round_robin_over_four_directories(tmp_path: Path) -> None:
    uris = shared_dirs(tmp_path)
    plan = plan_from(tmp_path, mixed(uris))
    with Engine(plan) as engine:
        engine.prepare()
        engine.workload()
        result = engine.result
        on_disk = len(files_under(tmp_path / "shared" / "data"))
        puts = result.workload.ops["put"].count
        deletes = result.workload.ops["delete"].count

    workload = result.workload
    assert [ep.requests for ep in workload.endpoints] == [250, 250, 250, 250]
    assert on_disk == result.created + puts - deletes
    assert sum(ep.bytes_written for ep in workload.endpoints) == puts * 1024
    assert sum(ep.bytes_read for ep in workload.endpoints) == (
        workload.ops["get"].count * 1024
    )
    for ep in workload.endpoints:
        assert set(ep.requests_by_op) == OP_TYPES, ep.uri
    assert files_under(tmp_path / "shared") == []


def isolated(endpoints: list[str]) -> dict[str, Any]:
    return {
        "name": "isolated",
        "ops": 400,
        "concurrency": 4,
        "seed": 3,
        "multi_endpoint": {
            "strategy": "round_robin",
            "namespace": "isolated",
            "endpoints": endpoints,
        },
        "prepare": {
            "ensure_objects": [{"base_uri": "data/", "count": 8, "size_spec": 1024}],
        },
        "workload": [
            {"op": "get", "path": "data/*", "weight": 80},
            {"op": "stat", "path": "data/*", "weight": 20},
        ],
    }


def test_isolated_directories_read_from_the_holder(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    result = run(plan_from(tmp_path, isolated(uris)))

    workload = result.workload
    assert workload.total_errors == 0
    assert workload.total_ops == 400
    for number, ep in enumerate(workload.endpoints, start=1):
        held = files_under(tmp_path / f"ep{number}" / "data")
        assert len(held) == 2
        assert ep.bytes_read == 1024 * ep.requests_by_op.get("get", 0)


def test_isolated_stores_read_from_the_holder(
    tmp_path: Path, seaweed_isolated: SeaweedCluster
) -> None:
    bucket = f"iso-{secrets.token_hex(4)}"
    uris = s3_endpoints(seaweed_isolated, bucket)
    plan = plan_from(
        tmp_path, isolated(uris), credentials=s3_credentials(seaweed_isolated)
    )
    with Engine(plan) as engine:
        engine.prepare()
        before = seaweed_isolated.request_counts(bucket)
        engine.workload()
        after = seaweed_isolated.request_counts(bucket)
        workload = engine.result.workload
    seaweed_isolated.delete_bucket(bucket)

    assert workload.total_errors == 0
    for ep, old, new in zip(workload.endpoints, before, after, strict=True):
        served = sum(new.values()) - sum(old.values())
        assert served == ep.requests
        assert ep.requests > 0


def test_a_shared_run_over_separate_stores_is_stopped(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    plan = plan_from(tmp_path, mixed(uris))

    with pytest.raises(Exception, match="namespace: isolated"):
        run(plan)

    assert all(files_under(tmp_path / f"ep{n}") == [] for n in range(1, 5))
