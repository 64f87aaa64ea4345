"""Endpoint forms beyond file:// and S3: memory://, az:// and gs://, mixed lists."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import fsspec
import pytest

from pytest_sai3.endpoints.clients import MissingPackage
from pytest_sai3.endpoints.multifs import MultiEndpointFileSystem
from pytest_sai3.scenario import load_scenarios
from pytest_sai3.yamlfile import ConfigError


def test_memory_endpoints_balance_and_keep_their_own_keys() -> None:
    roots = [f"memory://sai3-{uuid.uuid4().hex}/ep{n}/" for n in range(1, 5)]
    fs = MultiEndpointFileSystem(roots, namespace="isolated")
    try:
        for n in range(8):
            fs.pipe_file(f"data/obj{n}", b"x" * n)
        sizes = [len(fs.cat_file(f"data/obj{n}")) for n in range(8)]
        requests = [stats.requests for stats in fs.router.stats]
    finally:
        fs.close()

    memory = fsspec.filesystem("memory")
    held = [len(memory.find(root.removeprefix("memory://"))) for root in roots]
    assert sizes == list(range(8))
    assert held == [2, 2, 2, 2]
    assert requests == [4, 4, 4, 4]


@pytest.mark.parametrize(
    ("uri", "package", "extra"),
    [
        ("az://container/bench/", "adlfs", "azure"),
        ("gs://bucket/bench/", "gcsfs", "gcs"),
    ],
)
def test_a_missing_cloud_package_is_named(uri: str, package: str, extra: str) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.fail(f"{package} is installed here: this test needs it absent")

    with pytest.raises(MissingPackage) as caught:
        MultiEndpointFileSystem([uri])

    assert f"needs {package}: pip install {package}" in str(caught.value)
    assert f"'pytest-sai3[{extra}]'" in str(caught.value)


def test_mixed_schemes_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "multi_endpoint:\n  endpoints: [file:///tmp/a/, 's3://127.0.0.1:9/b/']\n"
        "workload: [{op: get, path: 'data/*', weight: 1}]\n"
    )

    with pytest.raises(ConfigError, match="expected endpoints of one scheme") as err:
        load_scenarios(path)

    assert f"{path}:2: multi_endpoint.endpoints" in err.value.render()
