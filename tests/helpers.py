"""Building and running scenarios from YAML text in tests."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from pytest_sai3.endpoints.clients import Credentials
from pytest_sai3.engine import Engine, RunResult
from pytest_sai3.scenario import load_scenarios
from pytest_sai3.servers import SeaweedCluster
from pytest_sai3.site import Plan, Site, bind


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


def files_under(path: Path) -> list[Path]:
    """Regular files below a folder, symlinks followed."""
    return sorted(p for p in path.rglob("*") if p.is_file())
