"""Folders as endpoints: which calls run inline and which go to the thread pool."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_sai3.endpoints.local import LocalBackend, filesystem_type
from pytest_sai3.endpoints.router import RequestError, Router
from pytest_sai3.endpoints.uris import parse_endpoint

SHM = Path("/dev/shm")


class CountingPool(ThreadPoolExecutor):
    """A real thread pool that counts the calls handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls: list[str] = []

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        self.calls.append(getattr(fn, "__name__", repr(fn)))
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def pool() -> Iterator[CountingPool]:
    executor = CountingPool()
    yield executor
    executor.shutdown(wait=True)


def backend(folder: Path, pool: CountingPool, **options: Any) -> LocalBackend:
    return LocalBackend(parse_endpoint(f"file://{folder}/"), pool, **options)


def round_trip(client: LocalBackend, count: int = 20) -> list[bytes]:
    """Write ``count`` objects of 4 KiB, read each back, stat and delete it."""

    async def go() -> list[bytes]:
        read = []
        for index in range(count):
            await client.put(f"data/obj{index}", bytes([index]) * 4096)
        for index in range(count):
            read.append(bytes(await client.get(f"data/obj{index}")))
            assert await client.stat(f"data/obj{index}") == 4096
        for index in range(count):
            await client.delete(f"data/obj{index}")
        return read

    return asyncio.run(go())


def test_a_local_disk_folder_serves_cached_calls_inline(
    tmp_path: Path, pool: CountingPool
) -> None:
    if filesystem_type(str(tmp_path)) not in ("ext4", "xfs", "btrfs", "overlay"):
        pytest.skip(f"{tmp_path} is on {filesystem_type(str(tmp_path))}")
    client = backend(tmp_path, pool)

    read = round_trip(client)

    assert read == [bytes([index]) * 4096 for index in range(20)]
    # The parent folder is made on the first put (outside the inline path's
    # try), every read came from the page cache, no call went to the pool.
    assert pool.calls == []
    assert not list((tmp_path / "data").iterdir())


@pytest.mark.skipif(
    filesystem_type(str(SHM)) != "tmpfs", reason="/dev/shm is no tmpfs here"
)
def test_a_folder_in_memory_reads_inline_without_rwf_nowait(
    pool: CountingPool,
) -> None:
    # tmpfs refuses RWF_NOWAIT (EOPNOTSUPP); its reads never wait for a device,
    # so they run inline with no flag instead of going to the pool.
    folder = Path(os.path.realpath(SHM)) / f"sai3-test-{os.getpid()}"
    folder.mkdir()
    try:
        client = backend(folder, pool)

        read = round_trip(client)

        assert read == [bytes([index]) * 4096 for index in range(20)]
        assert pool.calls == []
    finally:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        folder.rmdir()


def test_a_folder_of_unknown_kind_runs_every_call_on_the_pool(
    tmp_path: Path, pool: CountingPool
) -> None:
    client = backend(tmp_path, pool, inline=False)

    read = round_trip(client, count=5)

    assert read == [bytes([index]) * 4096 for index in range(5)]
    assert sorted(set(pool.calls)) == [
        "_read_file",
        "_stat_file",
        "_write_file",
        "unlink",
    ]
    assert len(pool.calls) == 20


def test_large_objects_go_to_the_pool_on_a_local_disk(
    tmp_path: Path, pool: CountingPool
) -> None:
    client = backend(tmp_path, pool)
    big = os.urandom(2 * 1024 * 1024)

    async def go() -> bytes:
        await client.put("big", big)
        return bytes(await client.get("big"))

    assert asyncio.run(go()) == big
    assert pool.calls == ["_write_file", "_read_file"]


def test_the_router_counts_inline_and_pool_requests_alike(
    tmp_path: Path, pool: CountingPool
) -> None:
    # Small objects complete inside get_now/put_now; 2 MiB ones go on to the
    # pool as a coroutine. Either way each request is counted once, on its
    # endpoint, with its bytes and a latency.
    router = Router([backend(tmp_path, pool)], namespace="isolated")
    small, big = b"s" * 4096, os.urandom(2 * 1024 * 1024)

    async def go() -> list[bytes]:
        assert router.put_now("small", small, 0) is None
        waiting = router.put_now("big", big, 0)
        assert waiting is not None
        assert "big" not in router.locations  # known once the write landed
        await waiting
        read = [router.get_now("small", 0)]
        pending = router.get_now("big", 0)
        assert not isinstance(pending, bytes)
        read.append(await pending)
        with pytest.raises(RequestError) as failed:
            router.get_now("missing", 0)
        assert failed.value.kind == "not_found"
        return [bytes(data) for data in read]

    assert asyncio.run(go()) == [small, big]
    assert pool.calls == ["_write_file", "_read_file"]
    assert router.locations == {"small": 0, "big": 0}
    stats = router.stats[0]
    assert stats.requests_by_op == {"put": 2, "get": 3}
    assert stats.failed_by_op == {"get": 1}
    assert stats.bytes_written == stats.bytes_read == len(small) + len(big)
    assert stats.latency.count == 4
    assert stats.in_flight == 0 and stats.max_in_flight == 1


def test_writes_create_their_folder_and_hold_exactly_the_bytes_given(
    tmp_path: Path, pool: CountingPool
) -> None:
    client = backend(tmp_path, pool)
    payload = memoryview(os.urandom(8192))
    objects = {
        "a/b/c/sliced": payload[100:4196],
        "a/b/empty": b"",
        "a/whole": bytes(payload),
        "a/big": os.urandom(3 * 1024 * 1024),
    }

    async def go() -> None:
        for key, data in objects.items():
            await client.put(key, data)
        # Overwriting truncates: a shorter object leaves no tail of the longer.
        await client.put("a/whole", b"short")

    asyncio.run(go())

    assert (tmp_path / "a/b/c/sliced").read_bytes() == bytes(payload[100:4196])
    assert (tmp_path / "a/b/empty").read_bytes() == b""
    assert (tmp_path / "a/whole").read_bytes() == b"short"
    assert (tmp_path / "a/big").read_bytes() == objects["a/big"]
    assert pool.calls == ["_write_file"]  # the 3 MiB object only


def test_inline_requests_are_counted_as_ops_only_where_sent_as_ops(
    tmp_path: Path, pool: CountingPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inline requests are logged and settled a batch at a time; a log never
    # holds INLINE_LOG_MAX entries, and what the endpoint shows is whole.
    monkeypatch.setattr("pytest_sai3.endpoints.router.INLINE_LOG_MAX", 4)
    router = Router([backend(tmp_path, pool)])
    held = []
    for index in range(10):
        assert router.put_now(f"o{index}", bytes(index * 100), 0, index < 6) is None
        held.append(max(len(log) for log in router._logs))
    for index in range(10):
        assert router.get_now(f"o{index}", 0, as_op=index % 2 == 0) is not None

    assert pool.calls == [] and max(held) < 4
    stats = router.stats[0]
    assert stats.requests_by_op == {"put": 10, "get": 10}
    assert stats.bytes_written == stats.bytes_read == 100 * sum(range(10))
    assert stats.latency.count == 20 and stats.max_in_flight == 1
    ops = router.take_inline_ops()
    assert sorted((op, nbytes) for op, nbytes, _ in ops.elements()) == sorted(
        [("put", 100 * i) for i in range(6)]
        + [("get", 100 * i) for i in (0, 2, 4, 6, 8)]
    )
    assert router.take_inline_ops() == {}

    # Each op's latency is its request's: the same figures in both tables.
    router.reset_stats()
    for index in range(10):
        router.get_now(f"o{index}", 0, as_op=True)
    endpoint = router.stats[0].latency
    latencies = [max(us, 1) for _, _, us in router.take_inline_ops().elements()]
    assert len(latencies) == endpoint.count == 10
    assert sum(latencies) == endpoint.sum_us
    assert (min(latencies), max(latencies)) == (endpoint.min_us, endpoint.max_us)


def test_an_inline_request_beside_one_in_flight_counts_in_the_peak(
    tmp_path: Path, pool: CountingPool
) -> None:
    # The log has no room for what was in flight: such a request is counted
    # on its own, and the endpoint's peak is 2.
    router = Router([backend(tmp_path, pool)])
    (tmp_path / "small").write_bytes(b"s" * 100)
    (tmp_path / "big").write_bytes(os.urandom(2 * 1024 * 1024))

    async def go() -> None:
        pending = router.get_now("big", 0)
        assert not isinstance(pending, bytes)
        task = asyncio.ensure_future(pending)
        await asyncio.sleep(0)  # the big read is on the pool now
        assert router.get_now("small", 0, as_op=True) == b"s" * 100
        await task

    asyncio.run(go())
    stats = router.stats[0]
    assert stats.requests_by_op == {"get": 2}
    assert stats.max_in_flight == 2 and stats.in_flight == 0
    assert [(op, n) for op, n, _ in router.take_inline_ops().elements()] == [
        ("get", 100)
    ]
