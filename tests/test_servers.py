"""The embedded SeaweedFS: namespaces, credentials, request counters, ports, stop.

Real ``weed`` processes throughout, from the session fixtures in conftest.py;
only ``test_store_stop_leaves_nothing_behind`` starts a store of its own.
"""

from __future__ import annotations

import glob
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sai3.servers import (
    SeaweedCluster,
    SeaweedStartupError,
    SeaweedStore,
    find_weed,
)

botocore_session = pytest.importorskip("botocore.session")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

_session = botocore_session.Session()  # loads the S3 model once for all clients


def s3_client(endpoint_url: str, access_key: str, secret_key: str) -> Any:
    """A botocore S3 client that never retries, so each call is one request."""
    return _session.create_client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )


def clients(cluster: SeaweedCluster) -> list[Any]:
    key, secret = cluster.access_key, cluster.secret_key
    return [s3_client(url, key, secret) for url in cluster.endpoint_urls]


def http_status(err: ClientError) -> int:
    return int(err.response["ResponseMetadata"]["HTTPStatusCode"])


def counts_moved(
    cluster: SeaweedCluster, bucket: str, before: list[dict[str, int]]
) -> list[dict[str, int]]:
    after = cluster.request_counts(bucket)
    pairs = zip(after, before, strict=True)
    return [dict(Counter(now) - Counter(then)) for now, then in pairs]


def assert_counts_move(
    cluster: SeaweedCluster,
    bucket: str,
    before: list[dict[str, int]],
    expected: list[dict[str, int]],
) -> None:
    """Assert each gateway's counts moved by ``expected``, waiting up to 2 s.

    A gateway counts a request when its handler returns, which may be a moment
    after the client has the response.
    """
    deadline = time.monotonic() + 2.0
    while (moved := counts_moved(cluster, bucket, before)) != expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert moved == expected


def declared_ports(store: SeaweedStore) -> list[int]:
    added = store.gateways[1:]  # the first is the mini's own, in store.ports
    return [
        *store.ports.values(),
        *(gateway.port for gateway in added),
        *(gateway.grpc_port for gateway in added),
        *(gateway.metrics_port for gateway in added),
    ]


def listening_on(pid: int) -> set[tuple[str, int]]:
    """The (address, port) of each TCP socket process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            if table == "tcp":
                address = socket.inet_ntoa(bytes.fromhex(address)[::-1])
            found.add((address, int(port, 16)))
    return found


@pytest.fixture
def shared_bucket(seaweed_shared: SeaweedCluster) -> Iterator[str]:
    yield from _fresh_bucket(seaweed_shared)


@pytest.fixture
def isolated_bucket(seaweed_isolated: SeaweedCluster) -> Iterator[str]:
    yield from _fresh_bucket(seaweed_isolated)


def _fresh_bucket(cluster: SeaweedCluster) -> Iterator[str]:
    name = f"sai3-test-{uuid.uuid4().hex[:12]}"
    cluster.create_bucket(name)
    yield name
    cluster.delete_bucket(name)


def test_find_weed_prefers_the_interpreters_bin_folder() -> None:
    beside_python = Path(sys.executable).parent / "weed"
    if not beside_python.exists():
        pytest.skip("weed is not installed next to this interpreter")

    assert find_weed() == str(beside_python)


def test_shared_gateways_serve_one_namespace(
    seaweed_shared: SeaweedCluster, shared_bucket: str
) -> None:
    writer, *readers = clients(seaweed_shared)

    writer.put_object(Bucket=shared_bucket, Key="obj", Body=b"written through gw1")

    for reader in readers:
        body = reader.get_object(Bucket=shared_bucket, Key="obj")["Body"].read()
        assert body == b"written through gw1"


def test_isolated_stores_keep_their_own_keys(
    seaweed_isolated: SeaweedCluster, isolated_bucket: str
) -> None:
    first, *others = clients(seaweed_isolated)

    first.put_object(Bucket=isolated_bucket, Key="obj", Body=b"only on store 1")

    for other in others:
        with pytest.raises(ClientError) as excinfo:
            other.head_object(Bucket=isolated_bucket, Key="obj")
        assert http_status(excinfo.value) == 404
    body = first.get_object(Bucket=isolated_bucket, Key="obj")["Body"].read()
    assert body == b"only on store 1"


def test_request_counts_follow_each_gateways_requests(
    seaweed_shared: SeaweedCluster, shared_bucket: str
) -> None:
    gw1, gw2, gw3, gw4 = clients(seaweed_shared)
    before = seaweed_shared.request_counts(shared_bucket)

    for i in range(3):
        gw1.put_object(Bucket=shared_bucket, Key=f"k{i}", Body=b"x")
    for _ in range(5):
        gw2.get_object(Bucket=shared_bucket, Key="k0")["Body"].read()
    for _ in range(2):
        gw3.head_object(Bucket=shared_bucket, Key="k1")
    gw4.list_objects_v2(Bucket=shared_bucket)
    gw4.delete_object(Bucket=shared_bucket, Key="k2")

    # SeaweedFS counts a HEAD as a GET.
    expected = [{"PUT": 3}, {"GET": 5}, {"GET": 2}, {"LIST": 1, "DELETE": 1}]
    assert_counts_move(seaweed_shared, shared_bucket, before, expected)


def test_request_counts_per_store_when_isolated(
    seaweed_isolated: SeaweedCluster, isolated_bucket: str
) -> None:
    s1, s2, _, s4 = clients(seaweed_isolated)
    before = seaweed_isolated.request_counts(isolated_bucket)

    s1.put_object(Bucket=isolated_bucket, Key="k", Body=b"x")
    s1.put_object(Bucket=isolated_bucket, Key="k", Body=b"y")
    s2.list_objects_v2(Bucket=isolated_bucket)
    s4.delete_objects(Bucket=isolated_bucket, Delete={"Objects": [{"Key": "k"}]})

    expected = [{"PUT": 2}, {"LIST": 1}, {}, {"DELETE": 1}]
    assert_counts_move(seaweed_isolated, isolated_bucket, before, expected)


def test_a_bad_secret_gets_403_on_every_gateway(
    seaweed_shared: SeaweedCluster, shared_bucket: str
) -> None:
    for url in seaweed_shared.endpoint_urls:
        client = s3_client(url, seaweed_shared.access_key, "not-the-secret")

        with pytest.raises(ClientError) as excinfo:
            client.put_object(Bucket=shared_bucket, Key="k", Body=b"x")

        assert http_status(excinfo.value) == 403


def test_delete_bucket_frees_the_disk_at_once(seaweed_shared: SeaweedCluster) -> None:
    bucket = f"sai3-test-{uuid.uuid4().hex[:12]}"
    seaweed_shared.create_bucket(bucket)
    seaweed_shared.create_bucket(bucket)  # already there: no error
    client = clients(seaweed_shared)[1]
    for i in range(4):
        client.put_object(Bucket=bucket, Key=f"mb{i}", Body=os.urandom(1 << 20))
    volumes = str(seaweed_shared.stores[0].data_dir / f"{bucket}_*.dat")
    assert sum(os.path.getsize(path) for path in glob.glob(volumes)) >= 4 << 20

    seaweed_shared.delete_bucket(bucket)

    assert glob.glob(volumes) == []
    seaweed_shared.delete_bucket(bucket)  # already gone: no error


def test_delete_bucket_reaches_every_isolated_store(
    seaweed_isolated: SeaweedCluster,
) -> None:
    bucket = f"sai3-test-{uuid.uuid4().hex[:12]}"
    seaweed_isolated.create_bucket(bucket)
    store_clients = clients(seaweed_isolated)
    for client in store_clients:
        client.put_object(Bucket=bucket, Key="k", Body=b"x")

    seaweed_isolated.delete_bucket(bucket)

    for client in store_clients:
        with pytest.raises(ClientError) as excinfo:
            client.head_bucket(Bucket=bucket)
        assert http_status(excinfo.value) == 404


@pytest.mark.skipif(
    not Path("/proc/self/net/tcp").exists(), reason="reads sockets from /proc"
)
def test_every_port_is_distinct_and_on_loopback(
    seaweed_shared: SeaweedCluster, seaweed_isolated: SeaweedCluster
) -> None:
    stores = seaweed_shared.stores + seaweed_isolated.stores

    declared = [port for store in stores for port in declared_ports(store)]

    assert len(declared) == len(set(declared))
    for store in stores:
        listening = {addr for pid in store.pids for addr in listening_on(pid)}
        assert listening == {("127.0.0.1", port) for port in declared_ports(store)}


def test_store_stop_leaves_nothing_behind(weed_path: str, tmp_path: Path) -> None:
    store = SeaweedStore(tmp_path / "store", weed=weed_path)
    with store:
        gateway = store.add_gateway()
        pids, ports = store.pids, declared_ports(store)
        assert pids == [store.gateways[0].pid, gateway.pid]

    assert not store.running
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    left = [
        path for port in ports for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock")
    ]
    assert left == []
    store.stop()  # again: nothing to do


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("echo 'bind: no luck'; exit 3", "exited with code 3 before answering"),
        ("echo 'thinking'; exec sleep 30", "did not answer within 0.5 s"),
    ],
)
def test_startup_failure_shows_the_log(
    tmp_path: Path, script: str, problem: str
) -> None:
    fake_weed = tmp_path / "weed"
    fake_weed.write_text(f"#!/bin/sh\n{script}\n")
    fake_weed.chmod(0o755)
    store = SeaweedStore(tmp_path / "store", weed=str(fake_weed))

    with pytest.raises(SeaweedStartupError, match=problem) as excinfo:
        store.start(timeout=0.5)

    message = str(excinfo.value)
    assert str(tmp_path / "store" / "weed-mini.log") in message
    assert script.split("'")[1] in message  # the log's tail
    assert not store.running and store.pids == []
