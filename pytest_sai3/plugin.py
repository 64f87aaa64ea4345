"""pytest entry point: options, ini keys, hooks and fixtures (glue only)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_sai3.yamlfile import ConfigError, parse_duration

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_sai3.collect import ScenarioFile
    from pytest_sai3.embedded import EmbeddedStorage
    from pytest_sai3.endpoints.multifs import MultiEndpointFileSystem
    from pytest_sai3.report import ScenarioReport
    from pytest_sai3.site import Site


@dataclass
class PluginState:
    """Everything the plugin keeps for one session."""

    site: Site
    overrides: dict[str, Any]
    strict: bool = False
    dry_run: bool = False
    results_dir: Path | None = None
    tolerance: float | None = None
    max_errors: int | None = None
    embedded: EmbeddedStorage | None = None
    reports: list[ScenarioReport] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


STATE = pytest.StashKey[PluginState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sai3", "storage benchmarks (pytest-sai3)")
    group.addoption(
        "--sai3-config",
        metavar="FILE",
        default=None,
        help="Site file binding scenarios to a storage system (default: embedded "
        "SeaweedFS and temporary folders)",
    )
    group.addoption(
        "--sai3-endpoints",
        metavar="URI,...",
        default=None,
        help="Comma-separated endpoints for scenarios without multi_endpoint "
        "(default: from the site file or S3_ENDPOINT_URIS)",
    )
    group.addoption(
        "--sai3-duration",
        metavar="DURATION",
        default=None,
        help="Override every scenario's duration, e.g. 5s (default: the scenario's)",
    )
    group.addoption(
        "--sai3-ops",
        metavar="N",
        type=int,
        default=None,
        help="Override every scenario's op count bound (default: the scenario's)",
    )
    group.addoption(
        "--sai3-concurrency",
        metavar="N",
        type=int,
        default=None,
        help="Override every scenario's concurrency (default: the scenario's)",
    )
    group.addoption(
        "--sai3-tolerance",
        metavar="POINTS",
        type=float,
        default=None,
        help="Override the distribution gates' tolerance in percentage points "
        "(default: the scenario's)",
    )
    group.addoption(
        "--sai3-max-errors",
        metavar="N",
        type=int,
        default=None,
        help="Fail any scenario with more than N errors (default: no limit)",
    )
    group.addoption(
        "--sai3-results",
        metavar="DIR",
        default=None,
        help="Write sai3-bench-compatible TSVs and a JSON summary per scenario "
        "under DIR (default: none)",
    )
    group.addoption(
        "--sai3-dry-run",
        action="store_true",
        default=False,
        help="Print each scenario's plan and pass without touching storage",
    )
    group.addoption(
        "--sai3-strict",
        action="store_true",
        default=False,
        help="Turn warnings about ignored or unknown scenario keys into errors",
    )
    parser.addini(
        "sai3_scenarios",
        type="linelist",
        # fnmatch's * also matches /, so these reach subfolders too.
        default=["scenarios/*.yaml", "scenarios/*.yml"],
        help="Glob patterns (relative to rootdir, * crossing folders) of YAML files "
        "collected as scenarios (default: scenarios/*.yaml and scenarios/*.yml)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from pytest_sai3.site import Site, load_site

    config.addinivalue_line(
        "markers", "sai3: a storage benchmark scenario collected by pytest-sai3"
    )
    site = Site()
    option = config.getoption("--sai3-config")
    if option:
        try:
            site = load_site(Path(option))
        except ConfigError as err:
            raise pytest.UsageError(f"--sai3-config: {err.render()}") from None
    endpoints = config.getoption("--sai3-endpoints")
    if endpoints:
        parts = tuple(part.strip() for part in endpoints.split(",") if part.strip())
        if not parts:
            raise pytest.UsageError(
                "--sai3-endpoints: expected URI,URI,... found nothing"
            )
        site = Site(**{**site.__dict__, "endpoints": parts})
    overrides = dict(site.overrides)
    duration = config.getoption("--sai3-duration")
    if duration is not None:
        try:
            parse_duration(duration)
        except ValueError:
            raise pytest.UsageError(
                f"--sai3-duration: expected a duration such as "
                f"5s or 1m, found {duration!r}"
            ) from None
        overrides["duration"] = duration
    for name in ("ops", "concurrency"):
        value = config.getoption(f"--sai3-{name}")
        if value is not None:
            if value < 1:
                raise pytest.UsageError(
                    f"--sai3-{name}: expected an integer >= 1, found {value}"
                )
            overrides[name] = value
    results = config.getoption("--sai3-results")
    config.stash[STATE] = PluginState(
        site=site,
        overrides=overrides,
        strict=config.getoption("--sai3-strict"),
        dry_run=config.getoption("--sai3-dry-run"),
        results_dir=Path(results) if results else None,
        tolerance=config.getoption("--sai3-tolerance"),
        max_errors=config.getoption("--sai3-max-errors"),
        roots=[Path(arg.split("::")[0]).resolve() for arg in config.args],
    )


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> ScenarioFile | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    config = parent.config
    state = config.stash[STATE]
    from pytest_sai3.collect import ScenarioFile, is_scenario_document

    resolved = file_path.resolve()
    if resolved in state.roots:
        return ScenarioFile.from_parent(parent, path=file_path)
    relative = os.path.relpath(file_path, config.rootpath)
    patterns = config.getini("sai3_scenarios")
    in_root = any(root in resolved.parents for root in state.roots)
    if any(fnmatch.fnmatch(relative, pattern) for pattern in patterns) or (
        in_root and is_scenario_document(file_path)
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(STATE, None)
    if state is None:
        return None
    site = state.site
    if site.path is not None:
        where = f"site {site.path}"
    elif site.endpoints:
        where = f"endpoints {', '.join(site.endpoints)}"
    else:
        where = "embedded default storage (SeaweedFS on 127.0.0.1, temporary folders)"
    mode = " (dry run)" if state.dry_run else ""
    # A scenario that names endpoints of its own runs on those.
    return f"sai3: {where}, for scenarios that name no endpoints{mode}"


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.reports:
        return
    from pytest_sai3.report import write_summary

    write_summary(terminalreporter, state.reports)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.embedded is not None:
        state.embedded.stop()
        state.embedded = None


@pytest.fixture(scope="session")
def sai3_embedded(pytestconfig: pytest.Config) -> Iterator[EmbeddedStorage]:
    """The embedded default storage: SeaweedFS on 127.0.0.1 and temporary folders.

    Started on first use, stopped at the end of the session.
    """
    from pytest_sai3.embedded import embedded_storage

    yield embedded_storage(pytestconfig.stash[STATE])


@pytest.fixture
def sai3_filesystem(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config
) -> Iterator[MultiEndpointFileSystem]:
    """A multi-endpoint fsspec filesystem over the site's endpoints.

    The endpoints are the site file's (``--sai3-config``, ``--sai3-endpoints``),
    else ``S3_ENDPOINT_URIS``, else the embedded S3 storage, under a prefix of the
    test's own. Every request goes through one router: ``fs.router.stats`` holds
    the per-endpoint counts.
    """
    from pytest_sai3.embedded import embedded_storage
    from pytest_sai3.endpoints.multifs import MultiEndpointFileSystem
    from pytest_sai3.site import env_endpoints

    state = pytestconfig.stash[STATE]
    site = state.site
    endpoints = [site.map_uri(uri) for uri in site.endpoints] or env_endpoints()
    credentials = site.credentials
    if not endpoints:
        store = embedded_storage(state)
        endpoints = store.endpoints(
            "s3", site.namespace or "shared", request.node.nodeid
        )
        credentials = store.credentials
    fs = MultiEndpointFileSystem(
        endpoints=endpoints,
        strategy=site.strategy or "round_robin",
        namespace=site.namespace or "shared",
        credentials=credentials,
        client=site.client,
    )
    yield fs
    fs.close()


@pytest.fixture
def sai3_dataset(sai3_filesystem: MultiEndpointFileSystem) -> Iterator[Any]:
    """A factory that prepares objects as a scenario's prepare does.

    ``sai3_dataset(count, size="4KiB", base="data/", fill="random", seed=0)``
    writes ``base/prepared-NNNNNNNN.dat`` through ``sai3_filesystem``'s router
    (sizes per index from the size spec and seed; existing objects are kept) and
    returns a :class:`~pytest_sai3.dataset.Dataset` with the keys and sizes. The
    objects it created are deleted at teardown; those that existed are not.
    """
    from fsspec.asyn import sync

    from pytest_sai3.dataset import Dataset, cleanup, prepare_dataset

    fs = sai3_filesystem
    made: list[Dataset] = []

    def make(
        count: int,
        size: object = 4096,
        base: str = "data/",
        fill: str = "random",
        seed: int = 0,
    ) -> Dataset:
        dataset: Dataset = sync(
            fs.loop, prepare_dataset, fs.router, base, count, size, fill=fill, seed=seed
        )
        made.append(dataset)
        return dataset

    yield make
    created = [key for dataset in made for key in dataset.created]
    sync(fs.loop, cleanup, fs.router, created, "tolerant", 16)
