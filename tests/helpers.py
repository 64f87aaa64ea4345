"""Building and running scenarios from YAML text in tests."""

from __future__ import annotations

import copy
import inspect
import json
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from pytest_sai3.endpoints.clients import Credentials
from pytest_sai3.engine import Engine, RunResult
from pytest_sai3.scenario import load_scenarios
from pytest_sai3.servers import SeaweedCluster
from pytest_sai3.site import Plan, Site, bind

KIB = 1024


@dataclass
class Store:
    """Endpoints to run on, and what they need: credentials, an S3 client name."""

    uris: list[str]
    credentials: Credentials | None = None
    client: str | None = None


def scenario(
    endpoints: list[str] | None,
    workload: list[dict[str, Any]],
    *,
    ops: int | None,
    concurrency: int = 1,
    objects: int = 0,
    size: int = KIB,
    namespace: str = "shared",
    **extra: Any,
) -> dict[str, Any]:
    """A scenario in our schema from a case's sketch values.

    ``objects`` prepared objects of ``size`` bytes go under ``data/``; ``extra``
    keys (``prepare``, ``duration``, ``client``...) are added as they are.
    ``ops=None`` leaves the op count out (a ``duration`` bounds the run).
    """
    data: dict[str, Any] = {
        "name": "case",
        "concurrency": concurrency,
        "seed": 7,
        "workload": copy.deepcopy(workload),
        **extra,
    }
    if ops is not None:
        data["ops"] = ops
    if endpoints is not None:
        data["multi_endpoint"] = {
            "strategy": "round_robin",
            "namespace": namespace,
            "endpoints": endpoints,
        }
    if objects:
        data["prepare"] = {
            "ensure_objects": [
                {"base_uri": "data/", "count": objects, "size_spec": size}
            ]
        }
    return data


def plan_from(
    tmp_path: Path,
    data: dict[str, Any],
    site: Site | None = None,
    credentials: Credentials | None = None,
) -> Plan:
    """Write a scenario mapping to a file and bind it like the plugin does."""
    path = tmp_path / f"scenario-{secrets.token_hex(3)}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    (scenario,) = load_scenarios(path)
    return bind(scenario, site or Site(), None, credentials)


def run(plan: Plan) -> RunResult:
    """Run a plan to the end (prepare, workload, cleanup)."""
    return Engine(plan).run()


def shared_dirs(root: Path, count: int = 4) -> list[str]:
    """``count`` endpoint URIs that are symlinks to one folder (SHARED4)."""
    store = root / "shared"
    store.mkdir()
    uris = []
    for number in range(1, count + 1):
        link = root / f"ep{number}"
        link.symlink_to(store, target_is_directory=True)
        uris.append(f"file://{link}/")
    return uris


def separate_dirs(root: Path, count: int = 4) -> list[str]:
    """``count`` endpoint URIs that are separate folders (INDEP4)."""
    uris = []
    for number in range(1, count + 1):
        folder = root / f"ep{number}"
        folder.mkdir()
        uris.append(f"file://{folder}/")
    return uris


def s3_endpoints(cluster: SeaweedCluster, bucket: str, prefix: str = "") -> list[str]:
    """The cluster's gateways as sai3-bench S3 endpoint URIs on one bucket."""
    cluster.create_bucket(bucket)
    tail = f"{prefix.strip('/')}/" if prefix else ""
    return [
        f"s3://{url.split('://', 1)[1]}/{bucket}/{tail}"
        for url in cluster.endpoint_urls
    ]


def s3_credentials(cluster: SeaweedCluster) -> Credentials:
    """The cluster's credentials."""
    return Credentials(cluster.access_key, cluster.secret_key, None)


def s3_client(cluster: SeaweedCluster, url: str) -> Any:
    """A boto3 client of one gateway, to look at what the server holds."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name="us-east-1",
    )


def files_under(path: Path) -> list[Path]:
    """Regular files below a folder, symlinks followed."""
    return sorted(p for p in path.rglob("*") if p.is_file())


def spy(engine: Engine, method: str) -> list[tuple[float, str]]:
    """Record (start time, key) of every call of one router method (the op
    loop sends gets and puts through ``get_now`` and ``put_now``)."""
    calls: list[tuple[float, str]] = []
    original = getattr(engine.router, method)

    def recorded(key: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((time.monotonic(), key))
        return original(key, *args, **kwargs)

    setattr(engine.router, method, recorded)
    return calls


def returns(engine: Engine, method: str) -> list[tuple[str, Any]]:
    """Record (key, returned value) of every call of one router method; where
    the method returns something to await, what that gives."""
    calls: list[tuple[str, Any]] = []
    original = getattr(engine.router, method)

    async def awaited(key: str, pending: Awaitable[Any]) -> Any:
        value = await pending
        calls.append((key, value))
        return value

    def recorded(key: str, *args: Any, **kwargs: Any) -> Any:
        value = original(key, *args, **kwargs)
        if inspect.isawaitable(value):
            return awaited(key, value)
        calls.append((key, value))
        return value

    setattr(engine.router, method, recorded)
    return calls


def listing_sizes(engine: Engine) -> list[list[int]]:
    """Record how many entries each endpoint's listings return."""
    sizes: list[list[int]] = [[] for _ in engine.router.backends]
    for index, backend in enumerate(engine.router.backends):
        original = backend.list

        async def recorded(
            prefix: str, recursive: bool, _index: int = index, _list: Any = original
        ) -> Any:
            entries = await _list(prefix, recursive)
            sizes[_index].append(len(entries))
            return entries

        backend.list = recorded  # type: ignore[method-assign]
    return sizes


def load_strict(path: Path) -> Any:
    """Parse a JSON file, failing the test on NaN, Infinity or -Infinity."""
    with path.open(encoding="utf-8") as stream:
        return json.load(
            stream, parse_constant=lambda c: pytest.fail(f"non-finite {c}")
        )


def assert_finite_tsv(text: str) -> None:
    """No cell of a TSV file reads NaN or infinity."""
    for line in text.splitlines()[1:]:
        for cell in line.split("\t"):
            assert cell.lower() not in ("nan", "inf", "-inf", "-nan"), line
