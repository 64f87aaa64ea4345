"""Datasets: prepare the objects a workload needs, resolve pools, clean up.

Prepared objects are named as sai3-bench names them (``prepared-NNNNNNNN.dat``, and
``deletable-NNNNNNNN.dat`` for the separate pool that deletes draw from). Their sizes
depend only on the seed, the pool's base and the index, so two runs build the same
dataset. Cleanup deletes only what this run created: objects that existed before the
run are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from pytest_sai3.endpoints.router import RequestError, Router
from pytest_sai3.metrics import RunMetrics
from pytest_sai3.scenario import DirectoryTree, EnsureObjects
from pytest_sai3.sizes import bucket_index, index_rng, parse_size_spec

log = logging.getLogger("pytest_sai3.dataset")

PREPARED = "prepared"
DELETABLE = "deletable"
_INDEX = re.compile(r"(?:^|/)(prepared|deletable)-(\d{8})\.dat$")
BLOCK = 4096


class NamespaceError(RuntimeError):
    """Endpoints configured as one shared namespace that do not share a store."""


class PoolError(RuntimeError):
    """An op pattern that matches no object."""


@dataclass
class Pool:
    """Objects an op may target: keys, and for isolated namespaces their endpoint."""

    keys: list[str] = field(default_factory=list)
    endpoints: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, endpoint: int | None) -> None:
        """Add one object."""
        self.keys.append(key)
        self.endpoints.append(endpoint)

    def pick(self, rng: random.Random) -> tuple[str, int | None]:
        """A random object, left in the pool."""
        index = int(rng.random() * len(self.keys))  # randrange costs 10x more
        return self.keys[index], self.endpoints[index]

    def take(self, rng: random.Random) -> tuple[str, int | None]:
        """A random object, removed from the pool (for deletes)."""
        index = int(rng.random() * len(self.keys))  # randrange costs 10x more
        key, endpoint = self.keys[index], self.endpoints[index]
        self.keys[index], self.endpoints[index] = self.keys[-1], self.endpoints[-1]
        self.keys.pop()
        self.endpoints.pop()
        return key, endpoint

    def split(self, parts: int) -> list[Pool]:
        """Deal the objects into ``parts`` disjoint pools."""
        pools = [Pool() for _ in range(parts)]
        for index, key in enumerate(self.keys):
            pools[index % parts].add(key, self.endpoints[index])
        return pools


@dataclass
class PrepareOutcome:
    """What prepare did: created and pre-existing counts, and what it created."""

    created: int = 0
    existed: int = 0
    created_keys: list[tuple[str, int | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def object_name(base: str, prefix: str, index: int, shards: int = 0) -> str:
    """The key of prepared object ``index`` under ``base``."""
    if base and not base.endswith("/"):
        base += "/"
    shard = f"{index % shards:02x}/" if shards else ""
    return f"{base}{shard}{prefix}-{index:08d}.dat"


def tree_name(base: str, tree: DirectoryTree, index: int) -> str:
    """The key of file ``index`` of a directory tree (sai3-bench's layout)."""
    if base and not base.endswith("/"):
        base += "/"
    dirs = tree_dirs(tree)
    directory = dirs[(index // max(tree.files_per_dir, 1)) % len(dirs)]
    return f"{base}{directory}/file_{index:08d}.dat"


def tree_dirs(tree: DirectoryTree) -> list[str]:
    """The directories files go in: the leaves, or every level with ``all``."""
    levels: list[list[str]] = [[""]]
    for level in range(1, tree.depth + 1):
        current = []
        for parent in levels[-1]:
            for width in range(1, tree.width + 1):
                name = tree.dir_mask % (level, width)
                current.append(f"{parent}/{name}" if parent else name)
        levels.append(current)
    if tree.distribution == "all":
        return [d for level in levels[1:] for d in level]
    return levels[-1]


class Payloads:
    """Object contents without an allocation per op where the fill allows it.

    Random data comes from one random buffer, sliced at a random offset; zero fill
    from one zero buffer. dedup_factor N repeats each unique 4 KiB block N times;
    compress_factor N zeroes (N-1)/N of each block.
    """

    def __init__(self, max_size: int, rng: random.Random) -> None:
        size = max(min(max_size, 64 << 20), BLOCK) + BLOCK
        self._random = memoryview(rng.randbytes(size))
        self._zero = memoryview(bytes(size))
        self._size = size - BLOCK

    def make(
        self,
        size: int,
        rng: random.Random,
        fill: str = "random",
        dedup: int = 1,
        compress: int = 1,
    ) -> bytes | memoryview:
        """Contents of ``size`` bytes."""
        if fill == "zero":
            return self._zero[:size] if size <= self._size else bytes(size)
        if dedup == 1 and compress == 1:
            if size <= self._size:
                offset = int(rng.random() * BLOCK)  # randrange costs 10x more
                return self._random[offset : offset + size]
            return rng.randbytes(size)
        return self._blocks(size, rng, dedup, compress)

    def _blocks(
        self, size: int, rng: random.Random, dedup: int, compress: int
    ) -> bytes:
        count = -(-size // BLOCK)
        unique = max(1, -(-count // dedup))
        random_part = BLOCK // compress
        blocks = [
            rng.randbytes(random_part) + bytes(BLOCK - random_part)
            for _ in range(unique)
        ]
        out = b"".join(blocks[i % unique] for i in range(count))
        return out[:size]


async def probe_shared(router: Router) -> None:
    """Check that the endpoints of a shared namespace really share one store.

    Writes a small object through endpoint 1, reads it through every other endpoint,
    and deletes it. These requests are counted by the router; callers reset its
    counters afterwards.

    :raises NamespaceError: naming ``namespace: isolated`` when they disagree.
    """
    if len(router.backends) < 2:
        return
    key = f".sai3-probe-{secrets.token_hex(6)}"
    body = secrets.token_bytes(32)
    await router.put(key, body, endpoint=0)
    try:
        for index in range(1, len(router.backends)):
            data: bytes | memoryview = b""
            try:
                data, _ = await router.get(key, endpoint=index)
            except RequestError as err:
                # Not found reads as "not the same store"; any other error is
                # the endpoint's problem and stops the run as it is.
                if err.kind != "not_found":
                    raise
            if bytes(data) != body:
                uri = router.backends[index].spec.uri
                first = router.backends[0].spec.uri
                raise NamespaceError(
                    f"an object written through {first} cannot be read through {uri}: "
                    "these endpoints do not share one store. Set "
                    "'namespace: isolated' in multi_endpoint (each endpoint its own "
                    "store), or point all endpoints at one store."
                )
    finally:
        try:
            await router.delete(key, endpoint=0)
        except RequestError:
            log.debug("probe object %s not deleted", key)


async def timed_list(
    router: Router, prefix: str, recursive: bool, metrics: RunMetrics | None
) -> list[tuple[str, int, int]]:
    """A listing, recorded as a ``list`` op of ``metrics`` when given."""
    start = time.perf_counter_ns()
    try:
        listing = await router.list(prefix, recursive)
    except RequestError as err:
        if metrics is not None:
            metrics.op("list").record_error(err.kind)
        raise
    if metrics is not None:
        metrics.op("list").record((time.perf_counter_ns() - start) // 1000, 0, 0)
    return listing


async def existing_indices(
    router: Router,
    base: str,
    prefix: str,
    shards: int,
    metrics: RunMetrics | None = None,
) -> dict[int, int | None]:
    """Indices of prepared objects already present, with their endpoint."""
    if base and not base.endswith("/"):
        base += "/"
    listing = await timed_list(
        router, base if shards else f"{base}{prefix}-", bool(shards), metrics
    )
    found: dict[int, int | None] = {}
    for key, _, endpoint in listing:
        match = _INDEX.search(key)
        if match and match.group(1) == prefix:
            found[int(match.group(2))] = endpoint if router.isolated else None
    return found


async def prepare_pool(
    router: Router,
    spec: EnsureObjects,
    base: str,
    *,
    prefix: str,
    seed: int,
    concurrency: int,
    payloads: Payloads,
    shards: int = 0,
    tree: DirectoryTree | None = None,
    skip_verification: bool = False,
    force_overwrite: bool = False,
    metrics: RunMetrics | None = None,
) -> PrepareOutcome:
    """Create the missing objects of one pool.

    Object ``i`` goes to endpoint ``i mod N`` in an isolated namespace, and to the
    router's choice in a shared one.
    """
    outcome = PrepareOutcome()
    count = spec.count
    if tree is not None and count == 0:
        count = len(tree_dirs(tree)) * tree.files_per_dir
    existing: dict[int, int | None] = {}
    if not (skip_verification or force_overwrite):
        existing = await existing_indices(router, base, prefix, shards, metrics)
    if skip_verification:
        existing = {
            i: (i % len(router.backends) if router.isolated else None)
            for i in range(count)
        }
    missing = [i for i in range(count) if i not in existing]
    outcome.existed = count - len(missing)
    for index, endpoint in existing.items():
        if index < count and endpoint is not None:
            router.locations[_name(base, prefix, index, shards, tree)] = endpoint
    queue = iter(missing)

    async def worker() -> None:
        for index in queue:
            key = _name(base, prefix, index, shards, tree)
            rng = index_rng(seed, f"{base}|{prefix}", index)
            size = spec.size.draw(rng)
            data = payloads.make(
                size, rng, spec.fill, spec.dedup_factor, spec.compress_factor
            )
            endpoint = index % len(router.backends) if router.isolated else None
            start = time.perf_counter_ns()
            try:
                used = await router.put(key, data, endpoint=endpoint)
            except RequestError as err:
                outcome.errors.append(f"{key}: {err}")
                if metrics is not None:
                    metrics.op("put").record_error(err.kind)
                continue
            if metrics is not None:
                latency = (time.perf_counter_ns() - start) // 1000
                metrics.op("put").record(latency, size, bucket_index(size))
            outcome.created += 1
            outcome.created_keys.append((key, used if router.isolated else None))

    await asyncio.gather(
        *(worker() for _ in range(max(1, min(concurrency, len(missing)))))
    )
    return outcome


def _name(
    base: str, prefix: str, index: int, shards: int, tree: DirectoryTree | None
) -> str:
    if tree is not None:
        return tree_name(base, tree, index)
    return object_name(base, prefix, index, shards)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """sai3-bench's glob: ``*`` matches any run of characters, ``/`` included.

    ``**/`` matches zero or more directories. The match is anchored at both ends.
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern[i] == "*":
            out.append(".*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def listing_for(path: str) -> tuple[str, bool]:
    """The listing prefix and recursion a path needs (sai3-bench's rules).

    A pattern lists the text up to the last ``/`` before its first ``*``, recursively
    when a ``*`` comes before the last ``/``. A path ending in ``/`` is a
    non-recursive listing of that prefix.
    """
    if "*" in path:
        star = path.index("*")
        slash = path.rfind("/", 0, star)
        prefix = path[: slash + 1] if slash >= 0 else ""
        recursive = star < path.rfind("/")
        return prefix, recursive
    return path, False


async def resolve_pool(
    router: Router,
    path: str,
    exclude_prefix: str | None,
    only_prefix: str | None = None,
    metrics: RunMetrics | None = None,
) -> Pool:
    """The objects an op path designates: a pattern, a prefix or one key."""
    pool = Pool()
    if "*" not in path and not path.endswith("/") and path:
        pool.add(path, router.holder(path))
        return pool
    prefix, recursive = listing_for(path)
    regex = glob_regex(path) if "*" in path else None
    for key, _, endpoint in await timed_list(router, prefix, recursive, metrics):
        if regex is not None and not regex.match(key):
            continue
        name = key.rsplit("/", 1)[-1]
        if exclude_prefix and name.startswith(exclude_prefix + "-"):
            continue
        if only_prefix and not name.startswith(only_prefix + "-"):
            continue
        pool.add(key, endpoint if router.isolated else None)
    return pool


async def cleanup(
    router: Router,
    keys: Iterable[tuple[str, int | None]],
    mode: str,
    concurrency: int,
    dirs: Iterable[tuple[str, int | None]] = (),
) -> tuple[int, list[str]]:
    """Delete what the run created.

    :param mode: ``strict`` (not found is an error), ``tolerant`` (not found is
        fine) or ``best_effort`` (no error stops or fails cleanup).
    :returns: the number deleted, and the errors that count under the mode.
    """
    todo = iter(list(keys))
    deleted = 0
    errors: list[str] = []

    async def worker() -> None:
        nonlocal deleted
        for key, endpoint in todo:
            try:
                await router.delete(key, endpoint=endpoint)
                deleted += 1
            except RequestError as err:
                if mode == "best_effort" or (
                    mode == "tolerant" and err.kind == "not_found"
                ):
                    continue
                errors.append(f"{key}: {err}")

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    for key, endpoint in sorted(dirs, key=lambda item: -item[0].count("/")):
        try:
            await router.rmdir(key, recursive=False, endpoint=endpoint)
        except RequestError as err:
            if mode == "strict":
                errors.append(f"{key}: {err}")
    return deleted, errors


def run_token() -> str:
    """A short random token that makes this run's new keys unique."""
    return os.urandom(4).hex()


@dataclass
class Dataset:
    """Objects prepared for a Python test (see the ``sai3_dataset`` fixture).

    :param keys: the key of each object, by index (``prepared-NNNNNNNN.dat``).
    :param sizes: the size of each object, by index, as the size spec drew it.
    :param created: the objects this call wrote (the rest existed already), in
        index order whatever order the concurrent puts finished in.
    """

    base: str
    keys: list[str]
    sizes: list[int]
    created: list[tuple[str, int | None]]


async def prepare_dataset(
    router: Router,
    base: str,
    count: int,
    size: object = 4096,
    *,
    fill: str = "random",
    seed: int = 0,
    concurrency: int = 16,
) -> Dataset:
    """Create ``count`` objects under ``base`` as a scenario's prepare would.

    Names, sizes (per index, from the size spec and the seed) and placement are
    prepare's; objects that exist already are kept and not rewritten.

    :param size: a size spec: bytes, a size string such as ``4KiB``, or a
        distribution mapping.
    :raises RuntimeError: when a put fails.
    """
    spec = EnsureObjects(base, count, parse_size_spec(size), fill)
    payloads = Payloads(spec.size.max_size, random.Random(seed))
    outcome = await prepare_pool(
        router,
        spec,
        base,
        prefix=PREPARED,
        seed=seed,
        concurrency=concurrency,
        payloads=payloads,
    )
    if outcome.errors:
        raise RuntimeError(
            f"preparing {count} objects under {base!r} failed: {outcome.errors[0]}"
        )
    keys = [object_name(base, PREPARED, i) for i in range(count)]
    label = f"{base}|{PREPARED}"
    sizes = [spec.size.draw(index_rng(seed, label, i)) for i in range(count)]
    return Dataset(base, keys, sizes, sorted(outcome.created_keys))
