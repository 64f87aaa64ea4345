"""Field cases of load balancing and per-endpoint statistics (cases.md, part A).

Each test is one case of ``../shared/cases/cases.md`` with the case's expected
values. The case's sketch schema maps to ours: ``op_count`` is ``ops``, the layouts
SHARED4 and INDEP4 are :func:`shared_dirs` and :func:`separate_dirs`, and MOTO is
SeaweedFS on 127.0.0.1 with a bucket of the test's own.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import (
    KIB,
    files_under,
    plan_from,
    run,
    s3_client,
    s3_credentials,
    s3_endpoints,
    scenario,
    separate_dirs,
    shared_dirs,
)

from pytest_sai3.engine import Engine, RunResult
from pytest_sai3.expect import DistributionGate, Expect, evaluate
from pytest_sai3.metrics import RunMetrics
from pytest_sai3.scenario import load_scenarios
from pytest_sai3.servers import SeaweedCluster
from pytest_sai3.site import Site, bind
from pytest_sai3.yamlfile import ConfigError

ALL_OPS = [
    {"op": "get", "path": "data/*", "weight": 40},
    {"op": "stat", "path": "data/*", "weight": 20},
    {"op": "list", "path": "data/", "weight": 10},
    {"op": "put", "path": "data/", "object_size": KIB, "weight": 20},
    {"op": "delete", "path": "data/*", "weight": 10},
]
GET_PUT = [
    {"op": "get", "path": "data/*", "weight": 70},
    {"op": "put", "path": "data/", "object_size": KIB, "weight": 30},
]
PUT_ONLY = [{"op": "put", "path": "data/", "object_size": KIB, "weight": 100}]
GET_ONLY = [{"op": "get", "path": "data/*", "weight": 100}]


def requests(metrics: RunMetrics) -> list[int]:
    """Requests per endpoint, in configuration order."""
    return [ep.requests for ep in metrics.endpoints]


def report(metrics: RunMetrics) -> dict[str, Any]:
    """The phase as a report has it, through strict JSON (no NaN, no infinity)."""
    return json.loads(json.dumps(metrics.to_dict(), allow_nan=False))


def ops_issued(metrics: RunMetrics) -> int:
    """Ops of the phase, failed ones included."""
    return metrics.total_ops + metrics.total_errors


def server_keys(cluster: SeaweedCluster, url: str, bucket: str, prefix: str) -> int:
    """How many keys the server at ``url`` lists under a prefix."""
    pages = (
        s3_client(cluster, url)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=prefix)
    )
    return sum(page.get("KeyCount", 0) for page in pages)


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket name; the test creates it where it needs it.

    It is deleted at the end from both session clusters the test used.
    """
    name = f"case-{secrets.token_hex(4)}"
    yield name
    for fixture in ("seaweed_shared", "seaweed_isolated"):
        if fixture in request.fixturenames:
            request.getfixturevalue(fixture).delete_bucket(name)


# -- case 1 ------------------------------------------------------------------------


def test_case1_every_op_type_goes_through_the_balancer(tmp_path: Path) -> None:
    data = scenario(shared_dirs(tmp_path), ALL_OPS, ops=400, objects=200)

    workload = run(plan_from(tmp_path, data)).workload

    assert requests(workload) == [100, 100, 100, 100]
    for ep in workload.endpoints:
        assert set(ep.requests_by_op) == {"get", "stat", "list", "put", "delete"}
        assert ep.bytes_read > 0, ep.uri


# -- case 2 ------------------------------------------------------------------------


def check_rows_add_up(result: RunResult) -> None:
    """Per-endpoint rows equal the op totals of the workload alone."""
    workload = result.workload
    gets, puts = workload.ops["get"].count, workload.ops["put"].count

    assert sum(requests(workload)) == ops_issued(workload) == 1000
    assert workload.total_errors == 0
    assert sum(ep.bytes_read for ep in workload.endpoints) == gets * KIB
    assert sum(ep.bytes_written for ep in workload.endpoints) == puts * KIB
    assert gets * KIB == workload.bytes_read
    assert puts * KIB == workload.bytes_written
    assert 0 not in requests(workload)


def test_case2a_four_endpoint_rows_add_up_to_the_totals(tmp_path: Path) -> None:
    data = scenario(
        shared_dirs(tmp_path), GET_PUT, ops=1000, concurrency=8, objects=100
    )

    result = run(plan_from(tmp_path, data))

    check_rows_add_up(result)
    assert len(result.workload.endpoints) == 4
    assert result.prepare.ops["put"].count == 100


def test_case2b_one_endpoint_row_equals_the_totals(tmp_path: Path) -> None:
    (first, *_) = separate_dirs(tmp_path, 1)
    data = scenario([first], GET_PUT, ops=1000, concurrency=8, objects=100)

    result = run(plan_from(tmp_path, data))

    check_rows_add_up(result)
    (row,) = report(result.workload)["endpoints"]
    assert row["requests"] == 1000
    assert row["share_pct"] == 100.0


def test_case2c_no_multi_endpoint_block_gives_one_full_row(tmp_path: Path) -> None:
    (first, *_) = separate_dirs(tmp_path, 1)
    data = scenario(None, GET_PUT, ops=1000, concurrency=8, objects=100, target=first)

    result = run(plan_from(tmp_path, data))

    check_rows_add_up(result)
    assert requests(result.workload) == [1000]


# -- case 3 ------------------------------------------------------------------------


def test_case3_reads_go_to_the_endpoint_holding_the_object(tmp_path: Path) -> None:
    data = scenario(
        separate_dirs(tmp_path),
        GET_ONLY,
        ops=80,
        concurrency=4,
        objects=8,
        namespace="isolated",
    )

    workload = run(plan_from(tmp_path, data)).workload

    for number in range(1, 5):
        assert len(files_under(tmp_path / f"ep{number}" / "data")) == 2
    assert workload.ops["get"].count == 80
    assert workload.total_errors == 0
    assert workload.bytes_read == 81920
    for ep in workload.endpoints:
        assert ep.bytes_read // KIB == ep.requests_by_op.get("get", 0), ep.uri
        assert ep.error_count == 0


# -- case 4 ------------------------------------------------------------------------


def test_case4a_prepare_deals_ten_objects_over_four_stores(tmp_path: Path) -> None:
    data = scenario(
        separate_dirs(tmp_path),
        [{"op": "stat", "path": "data/*", "weight": 100}],
        ops=1,
        objects=10,
        namespace="isolated",
    )

    run(plan_from(tmp_path, data))

    held = [len(files_under(tmp_path / f"ep{n}" / "data")) for n in range(1, 5)]
    assert sorted(held) == [2, 2, 3, 3]


def test_case4b_ten_puts_over_four_endpoints(tmp_path: Path) -> None:
    data = scenario(shared_dirs(tmp_path), PUT_ONLY, ops=10)

    workload = run(plan_from(tmp_path, data)).workload

    assert requests(workload) == [3, 3, 2, 2]
    shares = [row["share_pct"] for row in report(workload)["endpoints"]]
    assert shares == [30.0, 30.0, 20.0, 20.0]
    assert sum(shares) == 100.0


def test_case4c_three_puts_over_four_endpoints(tmp_path: Path) -> None:
    data = scenario(shared_dirs(tmp_path), PUT_ONLY, ops=3)

    workload = run(plan_from(tmp_path, data)).workload

    assert requests(workload) == [1, 1, 1, 0]
    shares = [row["share_pct"] for row in report(workload)["endpoints"]]
    assert shares == pytest.approx([33.3, 33.3, 33.3, 0.0], abs=0.05)
    assert sum(shares) == pytest.approx(100.0, abs=0.1)


def test_case4c_a_spread_of_one_request_passes_its_gate(tmp_path: Path) -> None:
    data = scenario(
        shared_dirs(tmp_path),
        PUT_ONLY,
        ops=3,
        expect={"distribution": {"max_spread": 1}},
    )
    plan = plan_from(tmp_path, data)
    workload = run(plan).workload
    assert plan.scenario.expect is not None

    gates = evaluate(plan.scenario.expect, workload)

    assert [(gate.gate, gate.passed) for gate in gates] == [("share spread", True)]
    assert gates[0].measured.startswith("1 (1 on ")
    # The same run misses a share tolerance: 33.3% is not 25% ± 2.
    even = evaluate(Expect(DistributionGate(2.0)), workload)
    assert [gate.passed for gate in even] == [False] * 4


# -- case 6 ------------------------------------------------------------------------


def test_case6_four_directories_are_four_rows(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    data = scenario(
        uris, GET_ONLY, ops=80, concurrency=4, objects=8, namespace="isolated"
    )

    workload = run(plan_from(tmp_path, data)).workload

    assert [ep.uri for ep in workload.endpoints] == uris
    assert sum(requests(workload)) == 80
    assert all(count < 80 for count in requests(workload))
    assert requests(workload) == pytest.approx([20] * 4, abs=10)


@pytest.mark.parametrize("client", ["obstore", "s3fs"])
def test_case6_two_buckets_on_one_server_are_two_rows(
    tmp_path: Path, seaweed_shared: SeaweedCluster, bucket: str, client: str
) -> None:
    other = f"{bucket}-2"
    uris = [s3_endpoints(seaweed_shared, name)[0] for name in (bucket, other)]
    data = scenario(
        uris, PUT_ONLY, ops=40, concurrency=4, namespace="isolated", client=client
    )
    plan = plan_from(tmp_path, data, credentials=s3_credentials(seaweed_shared))
    url = seaweed_shared.endpoint_urls[0]
    try:
        with Engine(plan) as engine:
            engine.prepare()
            engine.workload()
            workload = engine.result.workload
            held = [
                server_keys(seaweed_shared, url, b, "data/") for b in (bucket, other)
            ]
    finally:
        seaweed_shared.delete_bucket(other)

    assert [ep.uri for ep in workload.endpoints] == uris
    assert requests(workload) == [20, 20]
    assert held == [20, 20]
    assert workload.total_errors == 0


# -- case 7 ------------------------------------------------------------------------


class Listener:
    """A socket on 127.0.0.1 that counts the connections made to it, answering
    none: where a client would go if it ignored its endpoint."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def decoy_aws_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    """``AWS_ENDPOINT_URL`` set to a listener that counts who connects to it."""
    listener = Listener()
    monkeypatch.setenv("AWS_ENDPOINT_URL", listener.url)
    yield listener
    listener.close()


@pytest.mark.parametrize("client", ["obstore", "s3fs"])
def test_case7_each_server_gets_its_own_share(
    tmp_path: Path,
    seaweed_isolated: SeaweedCluster,
    bucket: str,
    decoy_aws_endpoint: Listener,
    client: str,
) -> None:
    uris = s3_endpoints(seaweed_isolated, bucket)[:2]
    urls = seaweed_isolated.endpoint_urls[:2]
    data = scenario(
        uris,
        PUT_ONLY,
        ops=40,
        concurrency=4,
        objects=20,
        size=4096,
        namespace="isolated",
        client=client,
    )
    data["workload"][0]["object_size"] = 4096
    plan = plan_from(tmp_path, data, credentials=s3_credentials(seaweed_isolated))

    result = run(plan)

    held = [server_keys(seaweed_isolated, url, bucket, "data/") for url in urls]
    assert held == [30, 30]
    workload = result.workload
    assert requests(workload) == [20, 20]
    assert [ep.bytes_written for ep in workload.endpoints] == [81920, 81920]
    assert result.prepare.total_errors == workload.total_errors == 0
    assert [spec.endpoint_url for spec in plan.endpoints] == urls
    assert decoy_aws_endpoint.connections == 0


# -- case 8 ------------------------------------------------------------------------


def write_scenario(tmp_path: Path, endpoints: list[str]) -> Path:
    path = tmp_path / "hygiene.yaml"
    data = scenario(
        endpoints,
        [{"op": "stat", "path": "data/*", "weight": 100}],
        ops=1,
        objects=8,
        namespace="isolated",
    )
    path.write_text(yaml.safe_dump(data))
    return path


def test_case8a_endpoint_uris_are_trimmed(tmp_path: Path) -> None:
    clean = [uri.rstrip("/") for uri in separate_dirs(tmp_path)]
    typed = [f" {clean[0]}/", f"{clean[1]}/ ", clean[2], f"{clean[3]}/"]

    (loaded,) = load_scenarios(write_scenario(tmp_path, typed))
    result = run(bind(loaded, Site()))

    assert [ep.uri for ep in result.workload.endpoints] == [
        f"{clean[0]}/",
        f"{clean[1]}/",
        clean[2],
        f"{clean[3]}/",
    ]
    assert len(files_under(tmp_path / "ep3" / "data")) == 2
    names = [p.name for p in tmp_path.rglob("*")]
    assert not [name for name in names if name.startswith("ep3") and name != "ep3"]
    assert not [name for name in names if name != name.strip()]


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        pytest.param([], "found an empty list", id="empty"),
        pytest.param(
            ["{d}/ep1/", "{d}/ep1/", "{d}/ep2/"], "found .* twice", id="duplicate"
        ),
        pytest.param(
            ["{d}/ep1/", "{d}/ep1", "{d}/ep2/"], "found .* twice", id="slash-duplicate"
        ),
        pytest.param(
            [f"{{d}}/e{n:02d}/" for n in range(33)], "at most 32", id="thirty-three"
        ),
    ],
)
def test_case8_bad_endpoint_lists_are_refused_at_load(
    tmp_path: Path, endpoints: list[str], message: str
) -> None:
    folder = tmp_path / "stores"
    folder.mkdir()
    for n in range(33):
        (folder / f"e{n:02d}").mkdir()
    uris = [uri.format(d=f"file://{folder}") for uri in endpoints]
    before = set(tmp_path.rglob("*"))

    with pytest.raises(ConfigError, match=message) as caught:
        load_scenarios(write_scenario(tmp_path, uris))

    assert "multi_endpoint.endpoints" in str(caught.value)
    assert set(tmp_path.rglob("*")) == {*before, tmp_path / "hygiene.yaml"}


def test_case8_the_same_folder_spelled_twice_is_refused(tmp_path: Path) -> None:
    ep1, ep2 = separate_dirs(tmp_path, 2)

    with pytest.raises(ConfigError, match="same endpoint"):
        plan_from(tmp_path, scenario([ep1, f"{ep1}./", ep2], PUT_ONLY, ops=1))

    assert files_under(tmp_path / "ep1") == files_under(tmp_path / "ep2") == []


# -- case 10 -----------------------------------------------------------------------


def test_case10_errors_are_charged_to_the_failing_endpoint(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    (tmp_path / "ep3").rmdir()
    (tmp_path / "ep3").touch()
    data = scenario(uris, PUT_ONLY, ops=40, namespace="isolated")

    result = run(plan_from(tmp_path, data))

    workload = result.workload
    assert requests(workload) == [10, 10, 10, 10]
    assert [ep.error_count for ep in workload.endpoints] == [0, 0, 10, 0]
    assert [ep.bytes_written for ep in workload.endpoints] == [10240, 10240, 0, 10240]
    assert workload.total_errors == 10
    assert workload.ops["put"].count == 30
    assert result.aborted is None
    assert all("endpoint 3" in sample for sample in result.error_samples)


def test_case10_the_distribution_gate_fails_on_the_failing_endpoint(
    tmp_path: Path,
) -> None:
    uris = separate_dirs(tmp_path)
    (tmp_path / "ep3").rmdir()
    (tmp_path / "ep3").touch()
    data = scenario(
        uris, PUT_ONLY, ops=40, namespace="isolated", expect={"distribution": {}}
    )
    plan = plan_from(tmp_path, data)
    assert plan.scenario.expect is not None

    gates = evaluate(plan.scenario.expect, run(plan).workload)

    failed = [gate for gate in gates if not gate.passed]
    assert [gate.gate for gate in gates] == [f"share {uri.strip()}" for uri in uris]
    assert any(
        gate.gate.endswith("/ep3/") and gate.measured == "0.00%" for gate in failed
    )
    # Served requests: 10, 10, 0, 10 (shares rounded to add up to 100).
    assert sorted(gate.measured for gate in gates) == [
        "0.00%",
        "33.33%",
        "33.33%",
        "33.34%",
    ]


# -- case 14 -----------------------------------------------------------------------

GET_STAT = [
    {"op": "get", "path": "data/*", "weight": 80},
    {"op": "stat", "path": "data/*", "weight": 20},
]


def test_case14_three_objects_sixteen_workers_one_store(tmp_path: Path) -> None:
    data = scenario(shared_dirs(tmp_path), GET_STAT, ops=200, concurrency=16, objects=3)

    workload = run(plan_from(tmp_path, data)).workload

    assert workload.total_ops == 200
    assert workload.total_errors == 0
    assert requests(workload) == [50, 50, 50, 50]


def test_case14_three_objects_on_four_stores(tmp_path: Path) -> None:
    data = scenario(
        separate_dirs(tmp_path),
        GET_STAT,
        ops=200,
        concurrency=16,
        objects=3,
        namespace="isolated",
    )

    workload = run(plan_from(tmp_path, data)).workload

    assert workload.total_ops == 200
    assert workload.total_errors == 0
    assert files_under(tmp_path / "ep4") == []
    assert requests(workload)[3] == 0
    idle = report(workload)["endpoints"][3]
    assert idle["share_pct"] == 0.0
    assert idle["error_count"] == 0
