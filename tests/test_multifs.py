"""MultiEndpointFileSystem on real storage: folders on disk and embedded SeaweedFS.

Our per-endpoint counts are checked against independent ones: the files on disk
and SeaweedFS's own request counters on each gateway.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pytest
from helpers import (
    files_under,
    s3_credentials,
    s3_endpoints,
    separate_dirs,
    shared_dirs,
)

from pytest_sai3.endpoints.clients import Credentials
from pytest_sai3.endpoints.multifs import MultiEndpointFileSystem
from pytest_sai3.servers import SeaweedCluster

KINDS = ["folders", "seaweed-obstore", "seaweed-s3fs"]
SEAWEED_KINDS = KINDS[1:]

# SeaweedFS's request types for our op types; it counts HEAD as GET.
SERVER_TYPES = {"put": "PUT", "get": "GET", "stat": "GET", "list": "LIST"}


@dataclass
class Storage:
    """Endpoints to open filesystems on, and what can count their requests."""

    endpoints: list[str]
    root: Path
    cluster: SeaweedCluster | None = None
    bucket: str = ""
    client: str | None = None
    credentials: Credentials | None = None
    opened: list[MultiEndpointFileSystem] = field(default_factory=list)

    def open(self, namespace: str, **kwargs: Any) -> MultiEndpointFileSystem:
        fs = MultiEndpointFileSystem(
            endpoints=self.endpoints,
            namespace=namespace,
            credentials=self.credentials,
            client=self.client,
            **kwargs,
        )
        self.opened.append(fs)
        return fs

    def server_counts(self) -> list[dict[str, int]]:
        assert self.cluster is not None
        return self.cluster.request_counts(self.bucket)

    def close(self) -> None:
        for fs in self.opened:
            if not fs.asynchronous:
                fs.close()
        if self.cluster is not None:
            self.cluster.delete_bucket(self.bucket)


def _storage(request: pytest.FixtureRequest, root: Path, layout: str) -> Storage:
    kind = request.param
    if kind == "folders":
        make_dirs = shared_dirs if layout == "shared" else separate_dirs
        return Storage(make_dirs(root), root)
    cluster: SeaweedCluster = request.getfixturevalue(f"seaweed_{layout}")
    bucket = f"mfs-{secrets.token_hex(5)}"
    return Storage(
        s3_endpoints(cluster, bucket, "fs"),
        root,
        cluster,
        bucket,
        client=kind.split("-", 1)[1],
        credentials=s3_credentials(cluster),
    )


@pytest.fixture(params=KINDS)
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Four endpoints onto one namespace: symlinked folders, or SeaweedFS gateways."""
    storage = _storage(request, tmp_path, "shared")
    yield storage
    storage.close()


@pytest.fixture(params=KINDS)
def isolated_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Storage]:
    """Four endpoints, four namespaces: separate folders, or SeaweedFS stores."""
    storage = _storage(request, tmp_path, "isolated")
    yield storage
    storage.close()


def seaweed_only(storage: Storage) -> None:
    if storage.cluster is None:
        pytest.skip("needs a server's own request counters")


def payload(number: int) -> bytes:
    return f"object {number} ".encode() * (number + 1)


def forty_calls(fs: MultiEndpointFileSystem) -> dict[str, bytes]:
    """Ten rounds of pipe, cat, info, ls: one request each, 40 in all."""
    written: dict[str, bytes] = {}
    for number in range(10):
        key = f"data/obj-{number}"
        written[key] = payload(number)
        fs.pipe_file(key, written[key])

        assert fs.cat_file(key) == written[key]
        assert fs.info(key)["size"] == len(written[key])
        assert fs.ls("data/", detail=False) == sorted(written)
    return written


def requests(fs: MultiEndpointFileSystem) -> list[int]:
    return [stats.requests for stats in fs.router.stats]


def as_server_types(fs: MultiEndpointFileSystem) -> list[dict[str, int]]:
    """Our per-endpoint counts under SeaweedFS's request types."""
    counted = []
    for stats in fs.router.stats:
        by_type: dict[str, int] = {}
        for op, count in stats.requests_by_op.items():
            kind = SERVER_TYPES[op]
            by_type[kind] = by_type.get(kind, 0) + count
        counted.append(by_type)
    return counted


def deltas(
    before: list[dict[str, int]], after: list[dict[str, int]]
) -> list[dict[str, int]]:
    changes = []
    for old, new in zip(before, after, strict=True):
        change = {kind: new[kind] - old.get(kind, 0) for kind in new}
        changes.append({kind: n for kind, n in change.items() if n})
    return changes


def test_round_robin_spreads_every_call(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")

    written = forty_calls(fs)

    counts = requests(fs)
    assert sum(counts) == 40
    assert max(counts) - min(counts) <= 1
    assert sum(stats.bytes_written for stats in fs.router.stats) == sum(
        len(data) for data in written.values()
    )
    assert all(stats.error_count == 0 for stats in fs.router.stats)


def test_round_robin_files_on_disk_match(tmp_path: Path) -> None:
    fs = MultiEndpointFileSystem(endpoints=shared_dirs(tmp_path))

    written = forty_calls(fs)
    fs.close()

    on_disk = {
        str(path.relative_to(tmp_path / "shared")): path.read_bytes()
        for path in files_under(tmp_path / "shared")
    }
    assert on_disk == written


@pytest.mark.parametrize("shared_storage", SEAWEED_KINDS, indirect=True)
def test_round_robin_counts_match_the_servers(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")
    before = shared_storage.server_counts()

    forty_calls(fs)

    theirs = deltas(before, shared_storage.server_counts())
    assert theirs == as_server_types(fs)
    assert [sum(counts.values()) for counts in theirs] == [10, 10, 10, 10]


def write_eight(fs: MultiEndpointFileSystem) -> dict[str, bytes]:
    written = {f"data/obj-{number}": payload(number) for number in range(8)}
    for key, data in written.items():
        fs.pipe_file(key, data)
    return written


def test_isolated_reads_go_to_the_holder(isolated_storage: Storage) -> None:
    fs = isolated_storage.open("isolated")
    written = write_eight(fs)

    read = {key: fs.cat_file(key) for key in written}
    listed = fs.ls("data/", detail=False)

    assert read == written
    assert listed == sorted(written)
    assert all(stats.error_count == 0 for stats in fs.router.stats)
    for stats in fs.router.stats:
        assert stats.requests_by_op == {"put": 2, "get": 2, "list": 1}


def test_isolated_folders_hold_each_key_once(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    fs = MultiEndpointFileSystem(endpoints=uris, namespace="isolated")
    written = write_eight(fs)

    holders = {key: fs.info(key)["endpoint"] for key in written}
    fs.close()

    for key, data in written.items():
        copies = [
            uri
            for number, uri in enumerate(uris, start=1)
            if (tmp_path / f"ep{number}" / key).exists()
        ]
        holder = Path(holders[key].removeprefix("file://"))
        assert copies == [holders[key]]
        assert (holder / key).read_bytes() == data


@pytest.mark.parametrize("isolated_storage", SEAWEED_KINDS, indirect=True)
def test_isolated_counts_match_the_servers(isolated_storage: Storage) -> None:
    fs = isolated_storage.open("isolated")
    before = isolated_storage.server_counts()

    written = write_eight(fs)
    for key in written:
        fs.cat_file(key)
    fs.ls("data/")

    theirs = deltas(before, isolated_storage.server_counts())
    assert theirs == as_server_types(fs)
    assert theirs == [{"PUT": 2, "GET": 2, "LIST": 1}] * 4


def test_isolated_keys_written_elsewhere_are_located(
    isolated_storage: Storage,
) -> None:
    writer = isolated_storage.open("isolated")
    written = write_eight(writer)
    reader = isolated_storage.open("isolated")

    assert reader.cat_file("data/obj-5") == written["data/obj-5"]
    assert reader.info("data/obj-6")["size"] == len(written["data/obj-6"])
    assert [stats.error_count for stats in reader.router.stats] == [0, 0, 0, 0]


def test_missing_paths(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")
    fs.pipe_file("data/present", b"x")

    with pytest.raises(FileNotFoundError):
        fs.info("data/absent")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("data/absent")
    with pytest.raises(FileNotFoundError):
        fs.ls("nowhere")
    assert not fs.exists("data/absent")
    assert fs.exists("data/present")
    assert fs.ls("nowhere/") == []
    assert fs.find("nowhere") == []


def test_directories_appear_in_listings(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")
    for key in ("top", "data/a", "data/sub/b", "data/sub/deeper/c"):
        fs.pipe_file(key, b"x")

    assert fs.ls("", detail=False) == ["data", "top"]
    listing = fs.ls("data")

    assert [(info["name"], info["type"]) for info in listing] == [
        ("data/a", "file"),
        ("data/sub", "directory"),
    ]
    assert listing[0]["size"] == 1
    assert listing[0]["endpoint"] in shared_storage.endpoints
    assert fs.info("data/sub")["type"] == "directory"
    assert fs.ls("data/sub/b", detail=False) == ["data/sub/b"]
    assert fs.find("data") == ["data/a", "data/sub/b", "data/sub/deeper/c"]
    assert fs.find("data", maxdepth=2, withdirs=True) == [
        "data",
        "data/a",
        "data/sub",
        "data/sub/b",
        "data/sub/deeper",
    ]


def test_deletes_go_through_the_router(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")
    fs.pipe_file("data/gone", b"x")

    fs.rm_file("data/gone")

    assert not fs.exists("data/gone")
    assert sum(s.requests_by_op.get("delete", 0) for s in fs.router.stats) == 1


def test_recursive_rm_deletes_every_object(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared")
    for key in ("data/a", "data/sub/b", "data/sub/deeper/c", "kept"):
        fs.pipe_file(key, b"x")

    fs.rm("data", recursive=True)

    assert fs.find("") == ["kept"]
    assert sum(s.requests_by_op.get("delete", 0) for s in fs.router.stats) == 3


def test_async_api(shared_storage: Storage) -> None:
    fs = shared_storage.open("shared", asynchronous=True)

    async def use() -> tuple[bytes, list[Any]]:
        try:
            await fs._pipe_file("data/async", b"through the caller's loop")
            data = await fs._cat_file("data/async")
            return data, await fs._ls("data/", detail=False)
        finally:
            await fs._close()

    data, names = asyncio.run(use())

    assert data == b"through the caller's loop"
    assert names == ["data/async"]
    assert requests(fs) == [1, 1, 1, 0]


def test_close_of_an_async_instance_asks_for_await(tmp_path: Path) -> None:
    fs = MultiEndpointFileSystem(endpoints=shared_dirs(tmp_path), asynchronous=True)

    with pytest.raises(RuntimeError, match=r"await fs\._close\(\)"):
        fs.close()
    asyncio.run(fs._close())


def test_paths_under_any_endpoint(tmp_path: Path) -> None:
    uris = shared_dirs(tmp_path)
    fs = MultiEndpointFileSystem(endpoints=uris)

    fs.pipe_file(str(tmp_path / "ep1" / "data" / "abs"), b"absolute")
    via_uri = fs.cat_file(uris[2] + "data/abs")
    via_protocol = fs.cat_file("sai3multi://data/abs")
    fs.close()

    assert via_uri == via_protocol == b"absolute"
    assert requests(fs) == [1, 1, 1, 0]


@pytest.mark.parametrize(
    "path", ["/elsewhere/x", "file:///elsewhere/x", "s3://bucket/x", "memory://x"]
)
def test_a_path_under_no_endpoint_is_rejected(tmp_path: Path, path: str) -> None:
    uris = shared_dirs(tmp_path)
    fs = MultiEndpointFileSystem(endpoints=uris)

    with pytest.raises(ValueError, match="under none of the endpoints") as info:
        fs.cat_file(path)
    fs.close()

    assert all(uri in str(info.value) for uri in uris)
    assert requests(fs) == [0, 0, 0, 0]


def test_a_key_leaving_the_endpoints_is_rejected(tmp_path: Path) -> None:
    fs = MultiEndpointFileSystem(endpoints=shared_dirs(tmp_path))

    with pytest.raises(ValueError, match=r"'\.\.' would leave the endpoints"):
        fs.pipe_file("data/../../outside", b"x")
    fs.close()

    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": []}, "needs endpoints"),
        ({"strategy": "random"}, "strategy must be one of"),
        ({"namespace": "global"}, "namespace must be one of"),
        ({"client": "boto3"}, "client must be one of"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    arguments = {"endpoints": shared_dirs(tmp_path), **kwargs}

    with pytest.raises(ValueError, match=message):
        MultiEndpointFileSystem(**arguments)


def test_fsspec_knows_the_protocol(tmp_path: Path) -> None:
    uris = shared_dirs(tmp_path)

    fs = fsspec.filesystem("sai3multi", endpoints=uris)
    fs.pipe_file("data/x", b"by protocol")
    opened, path = fsspec.core.url_to_fs("sai3multi://data/x", endpoints=uris)

    assert fsspec.get_filesystem_class("sai3multi") is MultiEndpointFileSystem
    assert isinstance(fs, MultiEndpointFileSystem)
    assert path == "data/x"
    assert opened.cat_file(path) == b"by protocol"
    fs.close()
    opened.close()


def test_instances_do_not_share_counters(tmp_path: Path) -> None:
    uris = shared_dirs(tmp_path)
    first = fsspec.filesystem("sai3multi", endpoints=uris)
    second = fsspec.filesystem("sai3multi", endpoints=uris)

    first.pipe_file("data/x", b"x")
    first.cat_file("data/x")

    assert first is not second
    assert first != second
    assert first.router is not second.router
    assert requests(first) == [1, 1, 0, 0]
    assert requests(second) == [0, 0, 0, 0]
    first.close()
    second.close()


def test_makedirs_on_folders(tmp_path: Path) -> None:
    uris = separate_dirs(tmp_path)
    fs = MultiEndpointFileSystem(endpoints=uris, namespace="isolated")

    fs.makedirs("made/here")
    fs.makedirs("made/here", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs("made/here")
    fs.close()

    assert all((tmp_path / f"ep{n}" / "made" / "here").is_dir() for n in range(1, 5))
