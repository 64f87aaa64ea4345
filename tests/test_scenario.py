"""The scenario model: sai3-bench's keys, defaults and meaning; every rejection."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from pytest_sai3.expect import DistributionGate, LatencyGate
from pytest_sai3.scenario import (
    DirectoryTree,
    ErrorHandling,
    IoRate,
    Scenario,
    load_scenarios,
)
from pytest_sai3.sizes import FixedSize, LognormalSize, MiB, UniformSize
from pytest_sai3.yamlfile import ConfigError

# A workload that is always valid, appended after the keys under test so that their
# line numbers do not move.
GET = "workload:\n  - op: get\n    path: data/*\n"


def load(tmp_path: Path, text: str, name: str = "s.yaml") -> list[Scenario]:
    """Write YAML text (dedented) to a file and parse it."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_scenarios(path)


def one(tmp_path: Path, text: str) -> Scenario:
    """The only scenario of a YAML text."""
    (scenario,) = load(tmp_path, text)
    return scenario


def warnings_of(scenario: Scenario) -> list[tuple[int, str, str]]:
    return [(w.line, w.key, w.message) for w in scenario.warnings]


Getter = Callable[[Scenario], Any]


def ensure(index: int = 0) -> Getter:
    def get(s: Scenario) -> Any:
        assert s.prepare is not None
        return s.prepare.ensure_objects[index]

    return get


def op(index: int = 0) -> Getter:
    return lambda s: s.workload[index]


def prepare(s: Scenario) -> Any:
    assert s.prepare is not None
    return s.prepare


def multi(s: Scenario) -> Any:
    assert s.multi_endpoint is not None
    return s.multi_endpoint


def expect(s: Scenario) -> Any:
    assert s.expect is not None
    return s.expect


ENSURE = "prepare:\n  ensure_objects:\n    - base_uri: data/\n"
PUT = "workload:\n  - op: put\n    path: data/\n"

ACCEPT = [
    # Bounds and workers.
    pytest.param("", lambda s: s.duration, 60.0, id="duration-default-60s"),
    pytest.param("", lambda s: s.ops, None, id="ops-default-none"),
    pytest.param("", lambda s: s.concurrency, 16, id="concurrency-default-16"),
    pytest.param("duration: 1m30s\n", lambda s: s.duration, 90.0, id="duration-1m30s"),
    pytest.param("duration: 500ms\n", lambda s: s.duration, 0.5, id="duration-ms"),
    pytest.param("duration: 10\n", lambda s: s.duration, 10.0, id="duration-bare-int"),
    pytest.param("duration: 1h\n", lambda s: s.duration, 3600.0, id="duration-1h"),
    pytest.param(
        "ops: 1_000\n",
        lambda s: (s.ops, s.duration),
        (1000, None),
        id="ops-only-bound",
    ),
    pytest.param(
        "ops: 500\nduration: 5s\n",
        lambda s: (s.ops, s.duration),
        (500, 5.0),
        id="ops-and-duration",
    ),
    pytest.param("concurrency: 32\n", lambda s: s.concurrency, 32, id="concurrency"),
    pytest.param(
        "concurrency: '1,000'\n", lambda s: s.concurrency, 1000, id="count-commas"
    ),
    # Identity.
    pytest.param("", lambda s: s.name, "s", id="name-default-file-stem"),
    pytest.param("name: mixed-4ep\n", lambda s: s.name, "mixed-4ep", id="name"),
    pytest.param("description: d\n", lambda s: s.description, "d", id="description"),
    pytest.param("", lambda s: s.tags, (), id="tags-default"),
    pytest.param("tags: [smoke, s3]\n", lambda s: s.tags, ("smoke", "s3"), id="tags"),
    pytest.param("tags: smoke\n", lambda s: s.tags, ("smoke",), id="tags-one-string"),
    pytest.param(
        "target: ' s3://bench/run/ '\n",
        lambda s: s.target,
        "s3://bench/run/",
        id="target-trimmed",
    ),
    # Knobs of ours and of sai3-bench.
    pytest.param("seed: 42\n", lambda s: s.seed, 42, id="seed"),
    pytest.param("", lambda s: s.rounds, 1, id="rounds-default"),
    pytest.param("rounds: 3\n", lambda s: s.rounds, 3, id="rounds"),
    pytest.param("", lambda s: s.warmup, 0.0, id="warmup-default"),
    pytest.param("warmup_period: 5s\n", lambda s: s.warmup, 5.0, id="warmup"),
    pytest.param("", lambda s: s.perf_log, None, id="perf-log-default"),
    pytest.param(
        "perf_log: {}\n", lambda s: s.perf_log.interval, 1.0, id="perf-log-1s"
    ),
    pytest.param(
        "perf_log:\n  interval: 2s\n",
        lambda s: s.perf_log.interval,
        2.0,
        id="perf-log-interval",
    ),
    pytest.param("processes: auto\n", lambda s: s.processes, "auto", id="proc-auto"),
    pytest.param("processes: single\n", lambda s: s.processes, 1, id="proc-single"),
    pytest.param("processes: 4\n", lambda s: s.processes, 4, id="processes-n"),
    pytest.param("client: obstore\n", lambda s: s.client, "obstore", id="client"),
    pytest.param("storage: file\n", lambda s: s.storage, "file", id="storage"),
    pytest.param("", lambda s: s.dynamic_put_pool, False, id="dynamic-put-default"),
    pytest.param(
        "dynamic_put_pool: true\n",
        lambda s: s.dynamic_put_pool,
        True,
        id="dynamic-put-pool",
    ),
    # io_rate: max and 0 both mean no throttle.
    pytest.param("", lambda s: s.io_rate, None, id="io-rate-default"),
    pytest.param(
        "io_rate:\n  iops: max\n", lambda s: s.io_rate, IoRate(None), id="iops-max"
    ),
    pytest.param(
        "io_rate:\n  iops: 0\n", lambda s: s.io_rate, IoRate(None), id="iops-0"
    ),
    pytest.param(
        "io_rate:\n  iops: 1000\n",
        lambda s: s.io_rate,
        IoRate(1000.0, "exponential"),
        id="iops-exponential-default",
    ),
    pytest.param(
        "io_rate:\n  iops: 50\n  distribution: Deterministic\n",
        lambda s: s.io_rate,
        IoRate(50.0, "deterministic"),
        id="iops-deterministic",
    ),
    # error_handling: sai3-bench's defaults (REFERENCE.md 1.2).
    pytest.param(
        "",
        lambda s: astuple(s.error_handling)[:10],
        (100, 5.0, 5.0, 1.0, False, 3, 100.0, 5000.0, 2.0, 0.25),
        id="error-handling-defaults",
    ),
    pytest.param(
        "error_handling:\n  retry_on_error: true\n  max_retries: 5\n"
        "  backoff_duration: 2s\n  max_total_errors: 0\n",
        lambda s: s.error_handling,
        ErrorHandling(
            max_total_errors=0, backoff_duration=2.0, retry_on_error=True, max_retries=5
        ),
        id="error-handling",
    ),
    # multi_endpoint.
    pytest.param(
        "multi_endpoint:\n  endpoints: [' file:///a/ ', file:///b/]\n",
        lambda s: astuple(multi(s))[:3],
        (("file:///a/", "file:///b/"), "round_robin", "shared"),
        id="endpoints-defaults",
    ),
    pytest.param(
        "multi_endpoint:\n  strategy: roundrobin\n  endpoints: [file:///a/]\n",
        lambda s: multi(s).strategy,
        "round_robin",
        id="strategy-alias-roundrobin",
    ),
    pytest.param(
        "multi_endpoint:\n  strategy: LeastConnections\n  endpoints: [file:///a/]\n",
        lambda s: multi(s).strategy,
        "least_connections",
        id="strategy-alias-leastconnections",
    ),
    pytest.param(
        "multi_endpoint:\n  namespace: isolated\n  endpoints: [file:///a/]\n",
        lambda s: multi(s).namespace,
        "isolated",
        id="namespace-isolated",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints: 's3://h:1/b/, s3://h:2/b/'\n",
        lambda s: multi(s).endpoints,
        ("s3://h:1/b/", "s3://h:2/b/"),
        id="endpoints-comma-string",
    ),
    pytest.param(
        "multi_endpoint:\n  strategy: least_connections\n",
        lambda s: (multi(s).endpoints, multi(s).strategy),
        ((), "least_connections"),
        id="strategy-without-endpoints",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints:\n"
        + "".join(f"    - file:///e{n}/\n" for n in range(32)),
        lambda s: len(multi(s).endpoints),
        32,
        id="endpoints-32",
    ),
    # prepare.
    pytest.param(
        "prepare: {}\n",
        lambda s: astuple(prepare(s)),
        ((), False, "tolerant", "sequential", False, False, 0.0, 0, None, False),
        id="prepare-defaults",
    ),
    pytest.param(
        "prepare:\n  prepare_strategy: parallel\n  cleanup: true\n"
        "  cleanup_mode: best_effort\n  post_prepare_delay: 2s\n"
        "  key_prefix_shards: 16\n  skip_verification: true\n"
        "  force_overwrite: true\n  cleanup_only: true\n",
        lambda s: astuple(prepare(s)),
        ((), True, "best_effort", "parallel", True, True, 2.0, 16, None, True),
        id="prepare-all-keys",
    ),
    pytest.param(
        "prepare:\n  directory_structure:\n    width: 2\n    depth: 3\n"
        "    files_per_dir: '1,000'\n",
        lambda s: prepare(s).directory_structure,
        DirectoryTree(2, 3, 1000, "bottom", "sai3bench.d%d_w%d.dir"),
        id="directory-structure",
    ),
    pytest.param(
        ENSURE + "      count: '1,000'\n",
        lambda s: ensure()(s).count,
        1000,
        id="count-comma",
    ),
    pytest.param(
        ENSURE + "      count: 1_000_000\n",
        lambda s: ensure()(s).count,
        1_000_000,
        id="count-underscore",
    ),
    pytest.param(
        ENSURE + "      count: 0\n", lambda s: ensure()(s).count, 0, id="count-0"
    ),
    pytest.param(
        ENSURE + "      count: 250 000\n",
        lambda s: ensure()(s).count,
        250_000,
        id="count-space",
    ),
    pytest.param(
        ENSURE + "      count: 1\n",
        lambda s: (ensure()(s).size, ensure()(s).fill, ensure()(s).base_uri),
        (FixedSize(MiB), "random", "data/"),
        id="ensure-defaults-1MiB-random",
    ),
    pytest.param(
        "prepare:\n  ensure_objects:\n    - count: 1\n",
        lambda s: ensure()(s).base_uri,
        None,
        id="ensure-no-base-uri",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 4096\n      max_size: 4096\n",
        lambda s: ensure()(s).size,
        FixedSize(4096),
        id="legacy-equal-fixed",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 0\n      max_size: 0\n",
        lambda s: ensure()(s).size,
        FixedSize(0),
        id="legacy-zero-bytes",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 1024\n      max_size: 4096\n",
        lambda s: ensure()(s).size,
        UniformSize(1024, 4096),
        id="legacy-uniform",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      size_spec: 4KiB\n",
        lambda s: ensure()(s).size,
        FixedSize(4096),
        id="ensure-size-spec-string",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      size_distribution:\n        type: lognormal\n"
        "        mean: 1MiB\n        std_dev: 256KiB\n",
        lambda s: ensure()(s).size,
        LognormalSize(MiB, 256 * 1024),
        id="ensure-size-distribution-lognormal-strings",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      size_spec:\n        type: uniform\n",
        lambda s: ensure()(s).size,
        UniformSize(1024, MiB),
        id="uniform-defaults",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      fill: zero\n      dedup_factor: 4\n"
        "      compress_factor: 2\n",
        lambda s: (
            ensure()(s).fill,
            ensure()(s).dedup_factor,
            ensure()(s).compress_factor,
        ),
        ("zero", 4, 2),
        id="fill-dedup-compress",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      fill: prand\n",
        lambda s: ensure()(s).fill,
        "random",
        id="fill-prand-is-random",
    ),
    # Workload ops.
    pytest.param(
        "",
        lambda s: astuple(op()(s))[:8],
        ("get", 1.0, "data/*", None, None, 1, 1, False),
        id="op-defaults-weight-1",
    ),
    pytest.param(
        "workload:\n  - op: GET\n    path: a/*\n    weight: 70\n    concurrency: 4\n",
        lambda s: (op()(s).kind, op()(s).weight, op()(s).concurrency),
        ("get", 70.0, 4),
        id="op-case-weight-concurrency",
    ),
    pytest.param(
        PUT + "    object_size: 4096\n",
        lambda s: op()(s).size,
        FixedSize(4096),
        id="put-object-size",
    ),
    pytest.param(
        PUT + "    object_size: 1.5MB\n",
        lambda s: op()(s).size,
        FixedSize(1_500_000),
        id="put-object-size-string",
    ),
    pytest.param(
        PUT
        + "    size_spec:\n      type: uniform\n      min: 1KiB\n      max: 1 MiB\n",
        lambda s: op()(s).size,
        UniformSize(1024, MiB),
        id="put-uniform-size-strings",
    ),
    pytest.param(
        PUT + "    size_distribution:\n      type: lognormal\n      mean: 64KB\n"
        "      std_dev: 16KB\n      min: 1KB\n      max: 1MB\n",
        lambda s: op()(s).size,
        LognormalSize(64_000, 16_000, 1000, 1_000_000),
        id="put-size-distribution-alias",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: fixed\n      size: 8KiB\n",
        lambda s: op()(s).size,
        FixedSize(8192),
        id="put-type-fixed",
    ),
    pytest.param(
        PUT + "    object_size: 4096\n    dedup_factor: 3\n    compress_factor: 2\n",
        lambda s: (op()(s).dedup_factor, op()(s).compress_factor),
        (3, 2),
        id="put-dedup-compress",
    ),
    pytest.param(
        "workload:\n  - op: rmdir\n    path: d/\n    recursive: true\n",
        lambda s: (op()(s).kind, op()(s).recursive),
        ("rmdir", True),
        id="rmdir-recursive",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: a/*\n    weight: 0\n"
        "  - op: stat\n    path: a/*\n",
        lambda s: [o.kind for o in s.workload],
        ["get", "stat"],
        id="zero-weight-op-kept",
    ),
    # expect.
    pytest.param(
        "expect:\n  distribution: {}\n",
        lambda s: expect(s).distribution,
        DistributionGate(2.0),
        id="distribution-default-tolerance",
    ),
    pytest.param(
        "expect:\n  distribution:\n    tolerance: 5\n    shares: [40, 20, 20, 20]\n"
        "    op: get\n",
        lambda s: expect(s).distribution,
        DistributionGate(5.0, (40.0, 20.0, 20.0, 20.0), "get"),
        id="distribution-shares",
    ),
    pytest.param(
        "expect:\n  distribution: {max_spread: 1}\n",
        lambda s: expect(s).distribution,
        DistributionGate(None, max_spread=1),
        id="distribution-spread-alone",
    ),
    pytest.param(
        "expect:\n  distribution: {max_spread: 0, tolerance: 1}\n",
        lambda s: expect(s).distribution,
        DistributionGate(1.0, max_spread=0),
        id="distribution-spread-and-tolerance",
    ),
    pytest.param(
        "expect:\n  latency:\n    get:\n      p99: 50ms\n      p99.9: 2.5\n"
        "    all:\n      max: 1s\n",
        lambda s: expect(s).latency,
        (
            LatencyGate("get", "p99", 50.0),
            LatencyGate("get", "p99.9", 2.5),
            LatencyGate("all", "max", 1000.0),
        ),
        id="latency-gates",
    ),
    pytest.param(
        "expect:\n  throughput:\n    min_ops_per_s: 100\n    min_mib_per_s: 1.5\n",
        lambda s: (expect(s).min_ops_per_s, expect(s).min_mib_per_s),
        (100.0, 1.5),
        id="throughput-gates",
    ),
    pytest.param(
        "expect:\n  errors: 5\n",
        lambda s: (expect(s).max_errors, expect(s).max_error_pct),
        (5, None),
        id="errors-count",
    ),
    pytest.param(
        "expect:\n  errors:\n    max: 0\n    max_pct: 1.5\n",
        lambda s: (expect(s).max_errors, expect(s).max_error_pct),
        (0, 1.5),
        id="errors-mapping",
    ),
]


@pytest.mark.parametrize(("keys", "get", "expected"), ACCEPT)
def test_accept(tmp_path: Path, keys: str, get: Getter, expected: Any) -> None:
    text = keys if "workload:" in keys else keys + GET

    scenario = one(tmp_path, text)

    assert get(scenario) == expected
    assert scenario.warnings == ()


# (YAML, key at fault, line, message fragment)
REJECT = [
    # Whole documents.
    pytest.param("a: [1, 2\nb: 3\n", "", 2, "not valid YAML", id="yaml-syntax"),
    pytest.param("a:\n\t- b\n", "", 2, "not valid YAML", id="yaml-tab"),
    pytest.param(
        "- a\n- b\n",
        "",
        1,
        "expected a mapping of keys, found a list",
        id="document-list",
    ),
    pytest.param("hello\n", "", 1, "found a string 'hello'", id="document-scalar"),
    pytest.param(
        "concurrency: 1\nconcurrency: 2\n" + GET,
        "concurrency",
        2,
        "expected each key once in a mapping, found it again (first on line 1)",
        id="duplicate-key",
    ),
    pytest.param(
        "name: a\n" + GET + "---\nname: a\n" + GET,
        "name",
        6,
        "expected each scenario name once in a file, found 'a' again",
        id="duplicate-scenario-name",
    ),
    # Required keys, and required keys misspelt.
    pytest.param(
        "duration: 5s\n",
        "workload",
        1,
        "expected workload: a list of ops",
        id="workload-missing",
    ),
    pytest.param(
        "duration: 5s\nwokload:\n  - op: get\n",
        "wokload",
        2,
        "unknown key (did you mean 'workload'?)",
        id="workload-misspelt",
    ),
    pytest.param(
        "workload: []\n", "workload", 1, "found an empty list", id="workload-empty"
    ),
    pytest.param(
        "workload: {op: get}\n", "workload", 1, "found a mapping", id="workload-mapping"
    ),
    pytest.param(
        "workload:\n  - get\n",
        "workload[0]",
        2,
        "expected a mapping, found a string 'get'",
        id="op-not-mapping",
    ),
    pytest.param(
        "workload:\n  - path: x\n",
        "workload[0].op",
        2,
        "expected op: one of get, put",
        id="op-missing",
    ),
    pytest.param(
        "workload:\n  - opp: get\n    path: x\n",
        "workload[0].opp",
        2,
        "did you mean 'op'?",
        id="op-misspelt",
    ),
    pytest.param(
        "workload:\n  - op: copy\n",
        "workload[0].op",
        2,
        "found a string 'copy'",
        id="op-unknown",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    weight: -1\n",
        "workload[0].weight",
        4,
        "expected a number >= 0, found an integer -1",
        id="weight-negative",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    weight: heavy\n",
        "workload[0].weight",
        4,
        "found a string 'heavy'",
        id="weight-string",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    weight: 0\n",
        "workload",
        1,
        "expected at least one op with a weight above 0",
        id="weights-all-zero",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    concurrency: 0\n",
        "workload[0].concurrency",
        4,
        "expected an integer >= 1",
        id="op-concurrency-0",
    ),
    pytest.param(
        "workload:\n  - op: rmdir\n    path: x\n    recursive: yes please\n",
        "workload[0].recursive",
        4,
        "expected true or false",
        id="recursive-not-bool",
    ),
    # Put sizes.
    pytest.param(
        PUT,
        "workload[0].object_size",
        2,
        "expected a size for a put op",
        id="put-without-size",
    ),
    pytest.param(
        PUT + "    object_size: 4096\n    size_spec: 4096\n",
        "workload[0].size_spec",
        5,
        "found both object_size and size_spec",
        id="put-object-size-and-size-spec",
    ),
    pytest.param(
        PUT + "    size_spec: 4096\n    size_distribution: 4096\n",
        "workload[0].size_distribution",
        5,
        "found both size_spec and size_distribution",
        id="put-size-spec-and-alias",
    ),
    pytest.param(
        PUT + "    object_size: 4 lots\n",
        "workload[0].object_size",
        4,
        "unknown unit 'lots'",
        id="size-unknown-unit",
    ),
    pytest.param(
        PUT + "    object_size: 4QB\n",
        "workload[0].object_size",
        4,
        "unknown unit 'QB'",
        id="size-unit-QB",
    ),
    pytest.param(
        PUT + "    object_size: -4\n",
        "workload[0].object_size",
        4,
        "sizes cannot be negative",
        id="size-negative",
    ),
    pytest.param(
        PUT + "    object_size: '-4KiB'\n",
        "workload[0].object_size",
        4,
        "sizes cannot be negative",
        id="size-string-negative",
    ),
    pytest.param(
        PUT + "    object_size: '1,5MB'\n",
        "workload[0].object_size",
        4,
        "a comma only separates thousands",
        id="size-decimal-comma",
    ),
    pytest.param(
        PUT + "    object_size: ''\n",
        "workload[0].object_size",
        4,
        "empty",
        id="size-empty",
    ),
    pytest.param(
        PUT + "    object_size: true\n",
        "workload[0].object_size",
        4,
        "expected a size such as 4096",
        id="size-boolean",
    ),
    pytest.param(
        PUT + "    size_spec: 0\n",
        "workload[0].size_spec",
        4,
        "a fixed size must be > 0",
        id="size-spec-zero",
    ),
    pytest.param(
        PUT + "    size_spec: [1, 2]\n",
        "workload[0].size_spec",
        4,
        "or a mapping with type",
        id="size-spec-list",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: uniform\n      min: 2MiB\n      max: 1MiB\n",
        "workload[0].size_spec.min",
        6,
        "min (2097152) must not exceed max (1048576)",
        id="uniform-min-above-max",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: uniform\n      min: 0\n",
        "workload[0].size_spec.min",
        6,
        "min must be > 0",
        id="uniform-min-0",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: uniform\n      minn: 1\n",
        "workload[0].size_spec.minn",
        6,
        "did you mean 'min'?",
        id="uniform-key-misspelt",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: lognormal\n      std_dev: 10\n",
        "workload[0].size_spec.mean",
        4,
        "a lognormal distribution needs 'mean'",
        id="lognormal-without-mean",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: lognormal\n      mean: 10\n"
        "      std_dev: 0\n",
        "workload[0].size_spec.std_dev",
        7,
        "std_dev must be > 0",
        id="lognormal-std-dev-0",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: normal\n",
        "workload[0].size_spec.type",
        5,
        "did you mean 'lognormal'?",
        id="distribution-type-unknown",
    ),
    pytest.param(
        PUT + "    size_spec:\n      min: 1\n",
        "workload[0].size_spec.type",
        4,
        "missing 'type'",
        id="distribution-type-missing",
    ),
    pytest.param(
        PUT + "    size_spec:\n      type: fixed\n",
        "workload[0].size_spec.size",
        4,
        "type: fixed needs 'size'",
        id="fixed-without-size",
    ),
    # Top-level types and bounds.
    pytest.param(
        "concurrency: many\n" + GET,
        "concurrency",
        1,
        "expected an integer >= 1, found a string 'many'",
        id="concurrency-string",
    ),
    pytest.param(
        "concurrency: -1\n" + GET,
        "concurrency",
        1,
        "found an integer -1",
        id="concurrency-negative",
    ),
    pytest.param(
        "concurrency: 0\n" + GET,
        "concurrency",
        1,
        "found an integer 0",
        id="concurrency-0",
    ),
    pytest.param(
        "concurrency: true\n" + GET,
        "concurrency",
        1,
        "found a boolean True",
        id="concurrency-bool",
    ),
    pytest.param(
        "concurrency: 2.5\n" + GET,
        "concurrency",
        1,
        "found a number 2.5",
        id="concurrency-fraction",
    ),
    pytest.param(
        "duration: fast\n" + GET,
        "duration",
        1,
        "expected a duration such as 30s, 5m or 1h30m, found a string 'fast'",
        id="duration-word",
    ),
    pytest.param(
        "duration: -5\n" + GET,
        "duration",
        1,
        "found an integer -5",
        id="duration-negative",
    ),
    pytest.param(
        "duration: -5s\n" + GET,
        "duration",
        1,
        "found a string '-5s'",
        id="duration-negative-string",
    ),
    pytest.param(
        "duration: 5x\n" + GET, "duration", 1, "found a string '5x'", id="duration-unit"
    ),
    pytest.param(
        "duration: [1]\n" + GET, "duration", 1, "found a list", id="duration-list"
    ),
    pytest.param("ops: 0\n" + GET, "ops", 1, "expected an integer >= 1", id="ops-0"),
    pytest.param(
        "seed: -1\n" + GET, "seed", 1, "expected an integer >= 0", id="seed-negative"
    ),
    pytest.param(
        "rounds: 0\n" + GET, "rounds", 1, "expected an integer >= 1", id="rounds-0"
    ),
    pytest.param(
        "warmup_period: x\n" + GET,
        "warmup_period",
        1,
        "expected a duration",
        id="warmup-bad",
    ),
    pytest.param(
        "processes: many\n" + GET,
        "processes",
        1,
        "expected an integer >= 1",
        id="processes-word",
    ),
    pytest.param(
        "client: boto\n" + GET,
        "client",
        1,
        "expected one of obstore, s3fs, fsspec",
        id="client-unknown",
    ),
    pytest.param(
        "storage: nfs\n" + GET,
        "storage",
        1,
        "expected one of s3, file",
        id="storage-unknown",
    ),
    pytest.param(
        "dynamic_put_pool: 3\n" + GET,
        "dynamic_put_pool",
        1,
        "expected true or false, found an integer 3",
        id="dynamic-put-pool-int",
    ),
    pytest.param(
        "target: [a]\n" + GET, "target", 1, "expected a string", id="target-list"
    ),
    pytest.param(
        "description: [a]\n" + GET,
        "description",
        1,
        "expected a string",
        id="description-list",
    ),
    # Names and tags.
    pytest.param(
        "name: 'a[b]'\n" + GET,
        "name",
        1,
        "expected a non-empty name without [ ] / :",
        id="name-brackets",
    ),
    pytest.param("name: a/b\n" + GET, "name", 1, "found 'a/b'", id="name-slash"),
    pytest.param(
        "name: ''\n" + GET, "name", 1, "expected a non-empty name", id="name-empty"
    ),
    pytest.param(
        "tags: [smoke, 'not ok']\n" + GET,
        "tags",
        1,
        "found a string 'not ok'",
        id="tag-with-space",
    ),
    pytest.param(
        "tags: [smoke, 3]\n" + GET, "tags", 1, "found an integer 3", id="tag-integer"
    ),
    pytest.param(
        "tags: {a: 1}\n" + GET,
        "tags",
        1,
        "expected a list of identifiers such as smoke, found a mapping",
        id="tags-mapping",
    ),
    # multi_endpoint.
    pytest.param(
        "multi_endpoint:\n  endpoints: []\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "expected 1 to 32 endpoint URIs, found an empty list",
        id="endpoints-empty",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints:\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "expected a list of endpoint URIs, found nothing",
        id="endpoints-null",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints:\n    - file:///a/\n    - file:///a\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "expected each endpoint once, found 'file:///a' twice",
        id="endpoints-duplicate",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints:\n    - file:///a/\n    - s3://b/\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "expected endpoints of one scheme, found file, s3",
        id="endpoints-mixed-schemes",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints: ["
        + ", ".join(f"file:///e{n}/" for n in range(33))
        + "]\n"
        + GET,
        "multi_endpoint.endpoints",
        2,
        "expected at most 32 endpoints, found 33",
        id="endpoints-33",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints:\n    - 5\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "found an integer 5",
        id="endpoint-integer",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoints: ['']\n" + GET,
        "multi_endpoint.endpoints",
        2,
        "found a string ''",
        id="endpoint-empty-string",
    ),
    pytest.param(
        "multi_endpoint: [file:///a/]\n" + GET,
        "multi_endpoint",
        1,
        "expected a mapping, found a list",
        id="multi-endpoint-list",
    ),
    pytest.param(
        "multi_endpoint:\n  strategy: random\n  endpoints: [file:///a/]\n" + GET,
        "multi_endpoint.strategy",
        2,
        "expected one of round_robin, least_connections",
        id="strategy-unknown",
    ),
    pytest.param(
        "multi_endpoint:\n  namespace: private\n  endpoints: [file:///a/]\n" + GET,
        "multi_endpoint.namespace",
        2,
        "expected one of shared, isolated",
        id="namespace-unknown",
    ),
    # io_rate and error_handling.
    pytest.param(
        "io_rate:\n  iops: fast\n" + GET,
        "io_rate.iops",
        2,
        "expected a number >= 0",
        id="iops-word",
    ),
    pytest.param(
        "io_rate:\n  iops: -1\n" + GET,
        "io_rate.iops",
        2,
        "found an integer -1",
        id="iops-negative",
    ),
    pytest.param(
        "io_rate:\n  iops: 10\n  distribution: poisson\n" + GET,
        "io_rate.distribution",
        3,
        "expected one of exponential, uniform, deterministic",
        id="rate-distribution",
    ),
    pytest.param(
        "io_rate: 100\n" + GET, "io_rate", 1, "expected a mapping", id="io-rate-scalar"
    ),
    pytest.param(
        "error_handling:\n  max_retries: -1\n" + GET,
        "error_handling.max_retries",
        2,
        "expected an integer >= 0",
        id="max-retries-negative",
    ),
    pytest.param(
        "error_handling:\n  retry_on_error: maybe\n" + GET,
        "error_handling.retry_on_error",
        2,
        "expected true or false",
        id="retry-on-error-word",
    ),
    pytest.param(
        "error_handling:\n  retry_backoff_multiplier: 0.5\n" + GET,
        "error_handling.retry_backoff_multiplier",
        2,
        "expected a number >= 1",
        id="backoff-multiplier-below-1",
    ),
    pytest.param(
        "error_handling:\n  op_timeout: soon\n" + GET,
        "error_handling.op_timeout",
        2,
        "expected a duration",
        id="op-timeout-word",
    ),
    pytest.param(
        "perf_log:\n  interval: soon\n" + GET,
        "perf_log.interval",
        2,
        "expected a duration",
        id="perf-log-interval",
    ),
    # prepare.
    pytest.param(
        ENSURE + "      count: lots\n" + GET,
        "prepare.ensure_objects[0].count",
        4,
        "expected an integer >= 0, found a string 'lots'",
        id="count-word",
    ),
    pytest.param(
        ENSURE + GET,
        "prepare.ensure_objects[0].count",
        3,
        "expected count: the number of objects, found nothing",
        id="count-missing",
    ),
    pytest.param(
        "prepare:\n  ensure_objects:\n    - cout: 5\n" + GET,
        "prepare.ensure_objects[0].cout",
        3,
        "did you mean 'count'?",
        id="count-misspelt",
    ),
    pytest.param(
        "prepare:\n  ensure_objects:\n    - count: -1\n" + GET,
        "prepare.ensure_objects[0].count",
        3,
        "found an integer -1",
        id="count-negative",
    ),
    pytest.param(
        "prepare:\n  ensure_objects:\n    - count: '1,00'\n" + GET,
        "prepare.ensure_objects[0].count",
        3,
        "found a string '1,00'",
        id="count-bad-grouping",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 10\n      max_size: 5\n" + GET,
        "prepare.ensure_objects[0].max_size",
        6,
        "min_size (10) must not exceed max_size (5)",
        id="legacy-min-above-max",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 2MiB\n" + GET,
        "prepare.ensure_objects[0].max_size",
        3,
        "must not exceed max_size (1048576, the default)",
        id="legacy-min-above-default-max",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      min_size: 10\n      size_spec: 5\n" + GET,
        "prepare.ensure_objects[0].min_size",
        5,
        "expected one way to give sizes, found both size_spec and min_size",
        id="legacy-and-size-spec",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      fill: ones\n" + GET,
        "prepare.ensure_objects[0].fill",
        5,
        "expected one of random, zero, prand",
        id="fill-unknown",
    ),
    pytest.param(
        ENSURE + "      count: 1\n      dedup_factor: 0\n" + GET,
        "prepare.ensure_objects[0].dedup_factor",
        5,
        "expected an integer >= 1",
        id="dedup-0",
    ),
    pytest.param(
        "prepare:\n  cleanup_mode: lax\n" + GET,
        "prepare.cleanup_mode",
        2,
        "expected one of strict, tolerant, best_effort",
        id="cleanup-mode-unknown",
    ),
    pytest.param(
        "prepare:\n  prepare_strategy: random\n" + GET,
        "prepare.prepare_strategy",
        2,
        "expected one of sequential, parallel",
        id="prepare-strategy-unknown",
    ),
    pytest.param(
        "prepare:\n  cleanup: sometimes\n" + GET,
        "prepare.cleanup",
        2,
        "expected true or false",
        id="cleanup-word",
    ),
    pytest.param(
        "prepare:\n  ensure_objects: {count: 1}\n" + GET,
        "prepare.ensure_objects",
        2,
        "expected a list, found a mapping",
        id="ensure-objects-mapping",
    ),
    pytest.param(
        "prepare:\n  directory_structure:\n    width: 2\n" + GET,
        "prepare.directory_structure.depth",
        3,
        "expected depth: an integer, found nothing",
        id="tree-missing",
    ),
    pytest.param(
        "prepare:\n  directory_structure:\n    width: 2\n    depth: 2\n"
        "    files_per_dir: 1\n    dir_mask: d%d\n" + GET,
        "prepare.directory_structure.dir_mask",
        6,
        "expected a mask with two %d",
        id="tree-mask",
    ),
    # expect.
    pytest.param(
        "expect: 5\n" + GET, "expect", 1, "expected a mapping", id="expect-scalar"
    ),
    pytest.param(
        "expect:\n  distribution:\n    shares: [50, 40]\n" + GET,
        "expect.distribution.shares",
        3,
        "expected percentages adding up to 100, found 90",
        id="shares-not-100",
    ),
    pytest.param(
        "expect:\n  distribution:\n    shares: [50, -50, 100]\n" + GET,
        "expect.distribution.shares",
        3,
        "expected a list of percentages",
        id="shares-negative",
    ),
    pytest.param(
        "expect:\n  distribution:\n    tolerance: -1\n" + GET,
        "expect.distribution.tolerance",
        3,
        "expected a number >= 0",
        id="tolerance-negative",
    ),
    pytest.param(
        "expect:\n  distribution:\n    max_spread: 1.5\n" + GET,
        "expect.distribution.max_spread",
        3,
        "expected an integer >= 0, found a number 1.5",
        id="max-spread-fraction",
    ),
    pytest.param(
        "expect:\n  distribution:\n    op: copy\n" + GET,
        "expect.distribution.op",
        3,
        "found a string 'copy'",
        id="distribution-op-unknown",
    ),
    pytest.param(
        "expect:\n  latency:\n    get:\n      p42: 5ms\n" + GET,
        "expect.latency.get.p42",
        4,
        "expected a percentile: p50, p90, p95, p99, p999, p99.9, max",
        id="percentile-unknown",
    ),
    pytest.param(
        "expect:\n  latency:\n    copy:\n      p99: 5ms\n" + GET,
        "expect.latency.copy",
        3,
        "expected an op type",
        id="latency-op",
    ),
    pytest.param(
        "expect:\n  latency:\n    get:\n      p99: soon\n" + GET,
        "expect.latency.get.p99",
        4,
        "expected a latency such as 50ms or 2.5 (ms), found a string 'soon'",
        id="latency-word",
    ),
    pytest.param(
        "expect:\n  latency:\n    get:\n      p99: 0\n" + GET,
        "expect.latency.get.p99",
        4,
        "found an integer 0",
        id="latency-zero",
    ),
    pytest.param(
        "expect:\n  throughput:\n    min_ops_per_s: lots\n" + GET,
        "expect.throughput.min_ops_per_s",
        3,
        "expected a number >= 0",
        id="throughput-word",
    ),
    pytest.param(
        "expect:\n  errors: -3\n" + GET,
        "expect.errors",
        2,
        "expected an integer >= 0, found an integer -3",
        id="errors-negative",
    ),
    # parametrize.
    pytest.param(
        "parametrize:\n  concurrency: 32\n" + GET,
        "parametrize.concurrency",
        2,
        "expected a non-empty list of values, found an integer 32",
        id="parametrize-not-list",
    ),
    pytest.param(
        "parametrize:\n  concurrency: []\n" + GET,
        "parametrize.concurrency",
        2,
        "found an empty list",
        id="parametrize-empty-list",
    ),
    pytest.param(
        "parametrize: [1]\n" + GET,
        "parametrize",
        1,
        "expected a mapping, found a list",
        id="parametrize-list",
    ),
    pytest.param(
        "parametrize:\n  concurency: [1, 2]\n" + GET,
        "parametrize.concurency",
        2,
        "expected a scenario key to vary (did you mean 'concurrency'?)",
        id="parametrize-misspelt-key",
    ),
    pytest.param(
        "parametrize:\n  concurrency: [4, -1]\n" + GET,
        "concurrency",
        2,
        "expected an integer >= 1, found an integer -1",
        id="parametrize-bad-value",
    ),
    pytest.param(
        "concurency: 4\n" + GET,
        "concurency",
        1,
        "unknown key: did you mean 'concurrency'?",
        id="top-level-typo",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    wieght: 3\n",
        "workload[0].wieght",
        4,
        "unknown key: did you mean 'weight'?",
        id="op-typo",
    ),
    pytest.param(
        "multi_endpoint:\n  endpoint: [file:///a/]\n" + GET,
        "multi_endpoint.endpoint",
        2,
        "unknown key: did you mean 'endpoints'?",
        id="multi-endpoint-typo",
    ),
    pytest.param(
        "prepare:\n  clean_up: true\n" + GET,
        "prepare.clean_up",
        2,
        "unknown key: did you mean 'cleanup'?",
        id="prepare-typo",
    ),
    pytest.param(
        "expect:\n  distrbution: {}\n" + GET,
        "expect.distrbution",
        2,
        "unknown key: did you mean 'distribution'?",
        id="expect-typo",
    ),
    pytest.param(
        "expect:\n  distribution:\n    tolerence: 2\n" + GET,
        "expect.distribution.tolerence",
        3,
        "unknown key: did you mean 'tolerance'?",
        id="distribution-typo",
    ),
    pytest.param(
        "expect:\n  errors:\n    maxx: 2\n" + GET,
        "expect.errors.maxx",
        3,
        "unknown key: did you mean 'max'?",
        id="errors-typo",
    ),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), REJECT)
def test_reject(tmp_path: Path, text: str, key: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)) as info:
        load(tmp_path, text)

    err = info.value
    assert (err.key, err.line) == (key, line)
    assert err.path == tmp_path / "s.yaml"
    where = f"{err.path}:{line}: " + (f"{key}: " if key else "")
    assert err.render() == where + err.message
    assert "\n" not in err.render()


def test_reject_table_is_large_enough() -> None:
    assert len(REJECT) >= 40


WARN = [
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    use_multi_endpoint: true\n",
        (
            4,
            "workload[0].use_multi_endpoint",
            "ignored: sai3-bench removed it in 0.8.96",
        ),
        id="use-multi-endpoint-op",
    ),
    pytest.param(
        "prepare:\n  ensure_objects:\n    - count: 1\n      use_multi_endpoint: true\n"
        + GET,
        (4, "prepare.ensure_objects[0].use_multi_endpoint", "ignored: sai3-bench"),
        id="use-multi-endpoint-ensure",
    ),
    pytest.param(
        "enable_metadata_cache: false\n" + GET,
        (1, "enable_metadata_cache", "ignored: sai3-bench's crash-resume cache"),
        id="sai3-only-key",
    ),
    pytest.param(
        "workload:\n  - op: get\n    path: x\n    object_size: 4\n",
        (4, "workload[0].object_size", "ignored: only put ops take a size"),
        id="size-on-get",
    ),
    pytest.param(
        "error_handling:\n  max_retry: 2\n" + GET,
        (2, "error_handling.max_retry", "(did you mean 'max_retries'?)"),
        id="error-handling-typo",
    ),
    pytest.param(
        "perf_log:\n  path: /tmp/x.tsv\n" + GET,
        (2, "perf_log.path", "ignored: the perf log is written to the --sai3-results"),
        id="perf-log-path",
    ),
    pytest.param(
        "expect:\n  throughput:\n    min_ops: 2\n" + GET,
        (3, "expect.throughput.min_ops", "(did you mean 'min_ops_per_s'?)"),
        id="throughput-typo",
    ),
    pytest.param(
        "frobnicate: 4\n" + GET,
        (1, "frobnicate", "unknown key, ignored"),
        id="unknown-key",
    ),
]


@pytest.mark.parametrize(("text", "warning"), WARN)
def test_warn(tmp_path: Path, text: str, warning: tuple[int, str, str]) -> None:
    scenario = one(tmp_path, text)

    ((line, key, message),) = warnings_of(scenario)
    assert (line, key) == warning[:2]
    assert warning[2] in message
    rendered = scenario.warnings[0].render()
    assert rendered.startswith(f"{tmp_path / 's.yaml'}:{line}: {key}: ")


def test_multi_document_gives_one_scenario_per_document(tmp_path: Path) -> None:
    text = GET + "---\nconcurrency: 4\n" + GET + "---\nname: named\n" + GET

    scenarios = load(tmp_path, text)

    assert [s.name for s in scenarios] == ["s-1", "s-2", "named"]
    assert [s.line for s in scenarios] == [1, 5, 10]
    assert [s.concurrency for s in scenarios] == [16, 4, 16]


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    scenarios = load(tmp_path, "---\n" + GET + "---\n")

    assert [s.name for s in scenarios] == ["s"]


def test_parametrize_gives_one_scenario_per_combination(tmp_path: Path) -> None:
    text = (
        "name: mixed\n"
        "parametrize:\n"
        "  concurrency: [1, 32]\n"
        "  multi_endpoint.strategy: [round_robin, least_connections]\n"
        "multi_endpoint:\n"
        "  endpoints: [file:///a/, file:///b/]\n" + GET
    )

    scenarios = load(tmp_path, text)

    assert [s.item_name for s in scenarios] == [
        "mixed[concurrency=1-multi_endpoint.strategy=round_robin]",
        "mixed[concurrency=1-multi_endpoint.strategy=least_connections]",
        "mixed[concurrency=32-multi_endpoint.strategy=round_robin]",
        "mixed[concurrency=32-multi_endpoint.strategy=least_connections]",
    ]
    assert [(s.concurrency, multi(s).strategy) for s in scenarios] == [
        (1, "round_robin"),
        (1, "least_connections"),
        (32, "round_robin"),
        (32, "least_connections"),
    ]
    assert {multi(s).endpoints for s in scenarios} == {("file:///a/", "file:///b/")}
    assert all(s.warnings == () for s in scenarios)


def test_parametrize_single_key_id(tmp_path: Path) -> None:
    scenarios = load(tmp_path, "parametrize:\n  concurrency: [32]\n" + GET)

    assert [s.item_name for s in scenarios] == ["s[concurrency=32]"]
    assert scenarios[0].params == (("concurrency", 32),)


def test_parametrize_list_values_join_with_plus(tmp_path: Path) -> None:
    text = (
        "parametrize:\n"
        "  multi_endpoint.endpoints: [[file:///a/, file:///b/], [file:///c/]]\n" + GET
    )

    scenarios = load(tmp_path, text)

    assert [s.item_name for s in scenarios] == [
        "s[multi_endpoint.endpoints=file:///a/+file:///b/]",
        "s[multi_endpoint.endpoints=file:///c/]",
    ]


def test_overrides_apply_to_every_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("duration: 60s\n" + GET + "---\n" + GET)

    scenarios = load_scenarios(path, {"duration": "5s", "concurrency": 2})

    assert [(s.duration, s.concurrency) for s in scenarios] == [(5.0, 2), (5.0, 2)]


def test_lines_of_ops_and_pools(tmp_path: Path) -> None:
    text = (
        "prepare:\n"
        "  ensure_objects:\n"
        "    - count: 1\n"
        "workload:\n"
        "  - op: get\n"
        "    path: a/*\n"
        "  - op: put\n"
        "    path: a/\n"
        "    object_size: 1\n"
    )

    scenario = one(tmp_path, text)

    assert [o.line for o in scenario.workload] == [5, 7]
    assert ensure()(scenario).line == 3
    assert scenario.line == 1
    assert scenario.source == tmp_path / "s.yaml"


def test_merge_key_may_be_overridden(tmp_path: Path) -> None:
    text = "base: &b\n  op: get\n  path: x\nworkload:\n  - <<: *b\n    path: y\n"

    scenario = one(tmp_path, text)

    assert op()(scenario).path == "y"
    assert warnings_of(scenario) == [(1, "base", "unknown key, ignored")]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file") as info:
        load_scenarios(tmp_path / "missing.yaml")

    assert (info.value.key, info.value.line) == ("", 0)
