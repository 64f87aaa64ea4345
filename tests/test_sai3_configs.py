"""Every sai3-bench config in ../shared/sai3/configs runs as it is.

file:// configs run directly on the paths they name (folders this test creates and
removes; four-endpoint ones get the one-namespace layout sai3-bench documents: the
endpoints are symlinks to one folder). S3 configs run through a site file that points
their endpoints at SeaweedFS on 127.0.0.1. The only override is a shorter duration.
Each run's figures are checked against its own counts.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_sai3.errors import Sai3Warning
from pytest_sai3.servers import SeaweedCluster

CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "sai3" / "configs"
if not CONFIGS.is_dir():
    CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "sai3" / "configs"

# Folders the file:// configs write to, removed after each run (only if the run
# created them).
FILE_CONFIGS = {
    "all-operations.yaml": ["/tmp/sai3bench-all-ops"],
    "comprehensive_test.yaml": ["/tmp/sai3bench-comprehensive"],
    "dedupe_compress_test.yaml": ["/tmp/sai3bench-dedupe-test"],
    "local_1kb_put_test.yaml": ["/tmp/test-data"],
    "metadata_simple.yaml": ["/tmp/sai3bench-simple-metadata"],
    "multi_endpoint_file.yaml": [],
    "per_op_concurrency_test.yaml": ["/tmp/io-bench-concurrency-test"],
    "rate_1000_exponential.yaml": ["/tmp/sai3bench-rate-test"],
    "rate_deterministic.yaml": ["/tmp/sai3bench-rate-test"],
    "size_distributions_test.yaml": ["/tmp/io-bench-sizetest"],
    "test-1k.yaml": ["/tmp/sai3bench-prepare-test"],
    "test_cleanup_modes.yaml": ["/tmp/sai3-cleanup-test"],
    "test_multi_endpoint_stats.yaml": [],
    "test_prepare_local.yaml": ["/mnt/test/sai3-prepare-test"],
}
# One-namespace layouts: these endpoints are symlinks to one folder.
SHARED_LINKS = {
    "multi_endpoint_file.yaml": [f"/tmp/ep{n}" for n in range(1, 5)],
    "test_multi_endpoint_stats.yaml": [f"/tmp/sai3-ep{n}" for n in range(1, 5)],
}
# S3 configs, in the order they must run (get_smoke reads what put_smoke wrote).
S3_CONFIGS = [
    "put_smoke.yaml",
    "get_smoke.yaml",
    "mixed.yaml",
    "multi_endpoint_s3_put_4endpoint.yaml",
    "test_size_strings_binary.yaml",
]
HEAVY = {
    "multi_endpoint_global.yaml": "prepares 10,000 x 1 MiB over 8 endpoints",
    "multi_endpoint_nfs.yaml": "prepares 10,000 x 4 MiB over 8 mounts",
}


def test_every_config_is_covered() -> None:
    assert CONFIGS.is_dir(), f"the sai3-bench configs are not at {CONFIGS}"
    names = {p.name for p in CONFIGS.glob("*.yaml")}
    assert names == set(FILE_CONFIGS) | set(S3_CONFIGS) | set(HEAVY)
    assert len(names) == 21


def run_config(
    pytester: pytest.Pytester, config: Path, *args: str
) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    out = pytester.path / f"bench-{secrets.token_hex(3)}.json"
    result = pytester.runpytest(
        str(config),
        "--sai3-duration=2s",
        f"--benchmark-json={out}",
        "-p",
        "no:cacheprovider",
        # sai3-bench's dead keys warn; our own filterwarnings=error must not leak
        # into the inner run and make them errors. (Imported above, so that every
        # in-process run sees this one warning class.)
        "-W",
        f"default::{Sai3Warning.__module__}.{Sai3Warning.__name__}",
        *args,
    )
    data = json.loads(out.read_text()) if out.exists() else {"benchmarks": []}
    return result, [b["extra_info"]["sai3"] for b in data["benchmarks"]]


def check_counts(figures: dict[str, Any]) -> None:
    """Per-endpoint figures add up to the op totals of the same run."""
    workload = figures["workload"]
    ops = workload["ops"].values()
    attempts = sum(o["count"] + o["error_count"] + o["retries"] for o in ops)
    endpoints = workload["endpoints"]
    assert sum(ep["requests"] for ep in endpoints) == attempts
    assert sum(ep["bytes_read"] for ep in endpoints) == workload["bytes_read"]
    assert sum(ep["bytes_written"] for ep in endpoints) == workload["bytes_written"]
    assert workload["total_errors"] == 0


@pytest.fixture
def file_layout(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    name = request.node.callspec.params["name"]
    made: list[Path] = []
    for folder in FILE_CONFIGS.get(name, []):
        path = Path(folder)
        if path.exists():
            pytest.fail(
                f"{path} exists already: this test only writes where it creates"
            )
        made.append(path)
    for link in SHARED_LINKS.get(name, []):
        path = Path(link)
        if path.exists() or path.is_symlink():
            pytest.fail(
                f"{path} exists already: this test only writes where it creates"
            )
        path.symlink_to(tmp_path, target_is_directory=True)
        made.append(path)
    if name == "test_prepare_local.yaml" and not Path("/mnt/test").exists():
        made.append(Path("/mnt/test"))
    try:
        yield
    finally:
        for path in made:
            if path.is_symlink():
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)


def files_under(folders: list[Path]) -> tuple[int, int]:
    """How many regular files the folders hold, and their bytes (links followed)."""
    count = size = 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                count += 1
                size += path.stat().st_size
    return count, size


def op_count(phase: dict[str, Any], op: str) -> int:
    stats = phase["ops"].get(op)
    return 0 if stats is None else int(stats["count"])


def check_disk(entry: dict[str, Any], folders: list[Path], cleaned: bool) -> None:
    """The files left on disk agree with the run's own counts."""
    prepare, workload = entry["prepare"], entry["workload"]
    count, size = files_under(folders)
    if cleaned:
        # The folders did not exist before the run: cleanup leaves nothing.
        assert (count, size) == (0, 0)
        return
    puts = op_count(prepare, "put") + op_count(workload, "put")
    assert count == puts - op_count(workload, "delete")
    if not op_count(workload, "delete"):
        assert size == prepare["bytes_written"] + workload["bytes_written"]


@pytest.mark.parametrize("name", sorted(FILE_CONFIGS))
@pytest.mark.usefixtures("file_layout")
def test_file_config_runs_as_is(
    pytester: pytest.Pytester, name: str, tmp_path: Path
) -> None:
    result, figures = run_config(pytester, CONFIGS / name)

    assert result.ret == 0, result.stdout.str()[-3000:]
    assert figures, "no benchmark figures"
    config = yaml.safe_load((CONFIGS / name).read_text())
    cleaned = bool((config.get("prepare") or {}).get("cleanup"))
    folders = (
        [Path(f) for f in FILE_CONFIGS[name]] if FILE_CONFIGS[name] else [tmp_path]
    )
    for entry in figures:
        check_counts(entry)
        check_disk(entry, folders, cleaned)


@pytest.fixture(scope="module")
def s3_site(
    seaweed_shared: SeaweedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    bucket = f"cfg-{secrets.token_hex(4)}"
    seaweed_shared.create_bucket(bucket)
    seaweed_shared.create_bucket("sai3bench-1k")
    urls = seaweed_shared.endpoint_urls
    hosts = [f"127.0.0.{n}:80" for n in range(17, 21)]
    site = {
        "endpoints": [f"s3://{u.split('://')[1]}/{bucket}/" for u in urls],
        "credentials": {
            "access_key_id": seaweed_shared.access_key,
            "secret_access_key": seaweed_shared.secret_key,
        },
        "endpoint_map": {
            f"s3://{host}/": f"s3://{url.split('://')[1]}/"
            for host, url in zip(hosts, urls, strict=True)
        },
    }
    path = tmp_path_factory.mktemp("site") / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    yield path
    seaweed_shared.delete_bucket(bucket)
    seaweed_shared.delete_bucket("sai3bench-1k")


def test_s3_configs_run_through_a_site_file(
    pytester: pytest.Pytester, s3_site: Path, seaweed_shared: SeaweedCluster
) -> None:
    for name in S3_CONFIGS:
        result, figures = run_config(
            pytester, CONFIGS / name, f"--sai3-config={s3_site}"
        )

        assert result.ret == 0, f"{name}\n{result.stdout.str()[-3000:]}"
        assert figures, name
        for entry in figures:
            check_counts(entry)
    secret = seaweed_shared.secret_key
    for path in pytester.path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_heavy_configs_dry_run(pytester: pytest.Pytester, name: str) -> None:
    result = pytester.runpytest(
        str(CONFIGS / name),
        "--sai3-dry-run",
        "-p",
        "no:cacheprovider",
        "-W",
        f"default::{Sai3Warning.__module__}.{Sai3Warning.__name__}",
    )

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["endpoints (8, from multi_endpoint)*", "prepare: 10000 objects under*"]
    )


@pytest.fixture
def nfs_mounts(tmp_path: Path) -> Iterator[None]:
    """/mnt/nfs1 ... /mnt/nfs8 as eight views of one folder (one export)."""
    links = [Path(f"/mnt/nfs{n}") for n in range(1, 9)]
    for link in links:
        if link.exists() or link.is_symlink():
            pytest.fail(
                f"{link} exists already: this test only writes where it creates"
            )
    for link in links:
        link.symlink_to(tmp_path, target_is_directory=True)
    try:
        yield
    finally:
        for link in links:
            link.unlink()


@pytest.mark.heavy
@pytest.mark.usefixtures("nfs_mounts")
def test_heavy_nfs_config_runs_as_is(pytester: pytest.Pytester) -> None:
    result, figures = run_config(pytester, CONFIGS / "multi_endpoint_nfs.yaml")

    assert result.ret == 0, result.stdout.str()[-3000:]
    [entry] = figures
    check_counts(entry)
    assert entry["prepare"]["bytes_written"] == 10000 * 4194304


@pytest.mark.heavy
@pytest.mark.usefixtures("weed_path")
def test_heavy_s3_config_runs_as_is(pytester: pytest.Pytester, tmp_path: Path) -> None:
    # Eight endpoints in the config: one store behind eight gateways of its own.
    cluster = SeaweedCluster.shared(tmp_path / "seaweed", gateways=8)
    try:
        cluster.create_bucket("bucket")
        site = {
            "credentials": {
                "access_key_id": cluster.access_key,
                "secret_access_key": cluster.secret_key,
            },
            "endpoint_map": {
                f"s3://127.0.1.{10 + n}:9000/": f"s3://{url.split('://')[1]}/"
                for n, url in enumerate(cluster.endpoint_urls)
            },
        }
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(site))
        result, figures = run_config(
            pytester, CONFIGS / "multi_endpoint_global.yaml", f"--sai3-config={path}"
        )
    finally:
        cluster.stop()
        # 10 GiB of volumes the deletes did not free (no vacuum ran): not left
        # for pytest's kept temporary folders.
        shutil.rmtree(tmp_path / "seaweed", ignore_errors=True)

    assert result.ret == 0, result.stdout.str()[-3000:]
    [entry] = figures
    check_counts(entry)
    assert entry["prepare"]["bytes_written"] == 10000 * 1048576
