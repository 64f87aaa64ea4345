"""The scenario model: sai3-bench's YAML format plus the keys of ours.

A scenario is parsed and validated here, with sai3-bench's defaults and meaning
(``../shared/sai3/REFERENCE.md`` section 1). This module does no I/O beyond reading
the YAML file, and knows nothing of pytest.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_sai3.expect import Expect, parse_expect
from pytest_sai3.sizes import (
    SizeDistribution,
    SizeError,
    legacy_size_spec,
    parse_size,
    parse_size_spec,
)
from pytest_sai3.yamlfile import (
    ConfigError,
    ConfigWarning,
    MarkedDict,
    MarkedList,
    Section,
    describe,
    load_documents,
    suggest,
)

OP_KINDS = ("get", "put", "list", "stat", "delete", "mkdir", "rmdir")
DEFAULT_DURATION_S = 60.0
DEFAULT_CONCURRENCY = 16
MAX_ENDPOINTS = 32

# Keys sai3-bench accepts and we read but do not act on, with the reason.
IGNORED_TOP = {
    "enable_metadata_cache": "sai3-bench's crash-resume cache has no use here",
    "cache_checkpoint_interval_secs": "sai3-bench's crash-resume cache has no use here",
    "page_cache_mode": "no page-cache advice is given (sai3-bench ignores it for "
    "multi-endpoint stores too)",
    "range_engine": "Rust range-download tuning of sai3-bench",
    "s3dlio_optimization": "Rust client tuning of sai3-bench",
    "op_log_path": "no op log is written; use --sai3-results for per-run data",
    "processing_mode": "workers are split with processes: N",
    "distributed": "distributed runs are not supported yet",
    "distributed_env": "distributed runs are not supported yet",
}
IGNORED_OP = {
    "use_multi_endpoint": "sai3-bench removed it in 0.8.96; every op goes through "
    "multi_endpoint when the block is present",
}
IGNORED_ENSURE = IGNORED_OP

TOP_KEYS = (
    "name",
    "description",
    "tags",
    "target",
    "duration",
    "ops",
    "concurrency",
    "workload",
    "prepare",
    "multi_endpoint",
    "io_rate",
    "error_handling",
    "warmup_period",
    "perf_log",
    "seed",
    "rounds",
    "expect",
    "parametrize",
    "processes",
    "client",
    "dynamic_put_pool",
    "storage",
)
OP_KEYS = (
    "op",
    "weight",
    "path",
    "object_size",
    "size_spec",
    "size_distribution",
    "concurrency",
    "dedup_factor",
    "compress_factor",
    "recursive",
)
ENSURE_KEYS = (
    "base_uri",
    "count",
    "min_size",
    "max_size",
    "size_spec",
    "size_distribution",
    "fill",
    "dedup_factor",
    "compress_factor",
)
PREPARE_KEYS = (
    "ensure_objects",
    "cleanup",
    "cleanup_mode",
    "prepare_strategy",
    "skip_verification",
    "force_overwrite",
    "post_prepare_delay",
    "key_prefix_shards",
    "directory_structure",
    "cleanup_only",
)
ERROR_KEYS = (
    "max_total_errors",
    "error_rate_threshold",
    "backoff_duration",
    "error_rate_window",
    "retry_on_error",
    "max_retries",
    "initial_retry_delay_ms",
    "max_retry_delay_ms",
    "retry_backoff_multiplier",
    "retry_jitter_factor",
    "op_timeout",
)


@dataclass(frozen=True)
class Op:
    """One weighted entry of the workload mix."""

    kind: str
    weight: float
    path: str
    size: SizeDistribution | None = None
    concurrency: int | None = None
    dedup_factor: int = 1
    compress_factor: int = 1
    recursive: bool = False
    line: int = 0


@dataclass(frozen=True)
class EnsureObjects:
    """One ``prepare.ensure_objects`` entry: a pool of objects to create."""

    base_uri: str | None
    count: int
    size: SizeDistribution
    fill: str = "random"
    dedup_factor: int = 1
    compress_factor: int = 1
    line: int = 0


@dataclass(frozen=True)
class DirectoryTree:
    """``prepare.directory_structure``: a width x depth tree of files."""

    width: int
    depth: int
    files_per_dir: int
    distribution: str = "bottom"
    dir_mask: str = "sai3bench.d%d_w%d.dir"


@dataclass(frozen=True)
class Prepare:
    """The ``prepare`` block."""

    ensure_objects: tuple[EnsureObjects, ...] = ()
    cleanup: bool = False
    cleanup_mode: str = "tolerant"
    strategy: str = "sequential"
    skip_verification: bool = False
    force_overwrite: bool = False
    post_prepare_delay: float = 0.0
    key_prefix_shards: int = 0
    directory_structure: DirectoryTree | None = None
    cleanup_only: bool = False


@dataclass(frozen=True)
class MultiEndpoint:
    """The ``multi_endpoint`` block: endpoints, strategy and namespace."""

    endpoints: tuple[str, ...]
    strategy: str = "round_robin"
    namespace: str = "shared"
    line: int = 0


@dataclass(frozen=True)
class IoRate:
    """``io_rate``: an aggregate op start rate (None: closed loop)."""

    iops: float | None
    distribution: str = "exponential"


@dataclass(frozen=True)
class ErrorHandling:
    """``error_handling`` with sai3-bench's defaults, plus a per-op timeout."""

    max_total_errors: int = 100
    error_rate_threshold: float = 5.0
    backoff_duration: float = 5.0
    error_rate_window: float = 1.0
    retry_on_error: bool = False
    max_retries: int = 3
    initial_retry_delay_ms: float = 100.0
    max_retry_delay_ms: float = 5000.0
    retry_backoff_multiplier: float = 2.0
    retry_jitter_factor: float = 0.25
    op_timeout: float = 120.0


@dataclass(frozen=True)
class PerfLog:
    """``perf_log``: a time series every ``interval`` seconds."""

    interval: float = 1.0


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, one pytest item."""

    name: str
    source: Path
    line: int
    workload: tuple[Op, ...]
    description: str = ""
    target: str | None = None
    duration: float | None = DEFAULT_DURATION_S
    ops: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    prepare: Prepare | None = None
    multi_endpoint: MultiEndpoint | None = None
    io_rate: IoRate | None = None
    error_handling: ErrorHandling = field(default_factory=ErrorHandling)
    warmup: float = 0.0
    perf_log: PerfLog | None = None
    seed: int | None = None
    rounds: int = 1
    expect: Expect | None = None
    tags: tuple[str, ...] = ()
    processes: int | str | None = None
    client: str | None = None
    dynamic_put_pool: bool = False
    storage: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()

    @property
    def item_name(self) -> str:
        """The pytest item name: ``name`` or ``name[key=value-...]``."""
        if not self.params:
            return self.name
        ids = "-".join(f"{key}={_param_id(value)}" for key, value in self.params)
        return f"{self.name}[{ids}]"

    def with_overrides(self, **changes: Any) -> Scenario:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def _param_id(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(_param_id(v) for v in value)
    return str(value)


def load_scenarios(
    path: Path, overrides: dict[str, Any] | None = None
) -> list[Scenario]:
    """Parse every scenario of a YAML file (documents x parametrize combinations).

    :param path: the scenario file.
    :param overrides: dotted keys to set before validation (a site's overrides).
    :raises ConfigError: on the first invalid key.
    """
    scenarios: list[Scenario] = []
    documents = load_documents(path)
    for index, (document, line) in enumerate(documents):
        if not isinstance(document, dict):
            raise ConfigError(
                path,
                line,
                "",
                f"expected a mapping of keys, found {describe(document)}",
            )
        default = path.stem if len(documents) == 1 else f"{path.stem}-{index + 1}"
        assert isinstance(document, MarkedDict)
        for params, data in _expand(document, path):
            for key, value in (overrides or {}).items():
                _set_dotted(data, key, value, data.line)
            scenario = replace(parse_scenario(data, path, default), params=params)
            if any(s.item_name == scenario.item_name for s in scenarios):
                raise ConfigError(
                    path,
                    data.key_lines.get("name", data.line),
                    "name",
                    f"expected each scenario name once in a file, found "
                    f"{scenario.item_name!r} again",
                )
            scenarios.append(scenario)
    return scenarios


def _expand(
    document: MarkedDict, path: Path
) -> list[tuple[tuple[tuple[str, Any], ...], MarkedDict]]:
    """One raw document per combination of its ``parametrize`` block."""
    if "parametrize" not in document or document["parametrize"] is None:
        return [((), document)]
    block = Section.of(document["parametrize"], path, "parametrize", document.line)
    axes = []
    for key, values in block.items():
        line = block.line_of(key)
        if not isinstance(values, list) or not values:
            raise block.error(
                key, f"expected a non-empty list of values, found {describe(values)}"
            )
        if key.split(".")[0] not in TOP_KEYS or key.split(".")[0] == "parametrize":
            raise block.error(
                key,
                "expected a scenario key to vary"
                + suggest(key.split(".")[0], TOP_KEYS),
            )
        axes.append([(key, value, line) for value in values])
    combos = []
    for combo in itertools.product(*axes):
        data = copy.deepcopy(document)
        del data["parametrize"]
        for key, value, line in combo:
            _set_dotted(data, key, value, line)
        combos.append((tuple((key, value) for key, value, _ in combo), data))
    return combos


def _set_dotted(data: MarkedDict, key: str, value: Any, line: int) -> None:
    """Set ``a.b.c`` in nested mappings, creating them as needed."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, MarkedDict):
            child = MarkedDict(child or {})
            child.line, child.key_lines = line, {}
            node[part] = child
            node.key_lines.setdefault(part, line)
        node = child
    node[parts[-1]] = value
    node.key_lines[parts[-1]] = line


def parse_scenario(data: MarkedDict, path: Path, default_name: str) -> Scenario:
    """Validate one scenario mapping.

    :param data: the mapping, as loaded with lines.
    :param path: the file, for messages.
    :param default_name: the name when the mapping has no ``name``.
    """
    top = Section(data, path)
    warnings: list[ConfigWarning] = []
    name = top.string("name", default_name)
    assert name is not None
    if not name.strip() or any(c in name for c in "[]/:"):
        raise top.error(
            "name", f"expected a non-empty name without [ ] / :, found {name!r}"
        )

    duration = top.duration("duration", None)
    ops = top.integer("ops", None, minimum=1)
    if duration is None and ops is None:
        duration = DEFAULT_DURATION_S
    concurrency = top.integer("concurrency", DEFAULT_CONCURRENCY, minimum=1)
    assert concurrency is not None

    multi = _parse_multi_endpoint(top, warnings)
    target = top.string("target")
    if target is not None:
        target = target.strip()
    workload = _parse_workload(top, warnings)
    prepare = _parse_prepare(top, warnings)
    if multi is None and target is None:
        _require_no_absolute_gap(top, workload, prepare)

    scenario = Scenario(
        name=name,
        source=path,
        line=data.line,
        workload=workload,
        description=top.string("description", "") or "",
        target=target,
        duration=duration,
        ops=ops,
        concurrency=concurrency,
        prepare=prepare,
        multi_endpoint=multi,
        io_rate=_parse_io_rate(top),
        error_handling=_parse_errors(top, warnings),
        warmup=top.duration("warmup_period", 0.0) or 0.0,
        perf_log=_parse_perf_log(top, warnings),
        seed=top.integer("seed", None, minimum=0),
        rounds=top.integer("rounds", 1, minimum=1) or 1,
        expect=parse_expect(top, warnings) if top.has("expect") else None,
        tags=_parse_tags(top),
        processes=_parse_processes(top),
        client=_parse_client(top),
        dynamic_put_pool=top.boolean("dynamic_put_pool", False),
        storage=top.choice("storage", "", ("s3", "file")) or None,
    )
    top.has("parametrize")
    warnings.extend(top.unknown(TOP_KEYS, IGNORED_TOP))
    # In file order, so that --sai3-strict reports the first one in the file.
    warnings.sort(key=lambda warning: warning.line)
    return replace(scenario, warnings=tuple(warnings))


def _require_no_absolute_gap(
    top: Section, workload: tuple[Op, ...], prepare: Prepare | None
) -> None:
    """Nothing to check without endpoints: the site binds them at run time."""


def _parse_tags(top: Section) -> tuple[str, ...]:
    raw = top.raw("tags", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise top.error(
            "tags",
            f"expected a list of identifiers such as smoke, found {describe(raw)}",
        )
    for tag in raw:
        if not (isinstance(tag, str) and tag.isidentifier()):
            raise top.error(
                "tags",
                f"expected identifiers such as smoke as tags, found {describe(tag)}",
            )
    return tuple(raw)


def _parse_processes(top: Section) -> int | str | None:
    if not top.has("processes"):
        return None
    value = top.raw("processes")
    if isinstance(value, str) and value.strip().lower() in ("auto", "single"):
        return "auto" if value.strip().lower() == "auto" else 1
    return top.integer("processes", None, minimum=1)


def _parse_client(top: Section) -> str | None:
    value = top.choice("client", "", ("obstore", "s3fs", "fsspec"))
    return value or None


def _parse_multi_endpoint(
    top: Section, warnings: list[ConfigWarning]
) -> MultiEndpoint | None:
    if not top.has("multi_endpoint"):
        return None
    block = Section.of(
        top.raw("multi_endpoint"),
        top.path,
        "multi_endpoint",
        top.line_of("multi_endpoint"),
    )
    strategy = block.choice(
        "strategy",
        "round_robin",
        ("round_robin", "least_connections", "roundrobin", "leastconnections"),
    )
    strategy = {
        "roundrobin": "round_robin",
        "leastconnections": "least_connections",
    }.get(strategy, strategy)
    namespace = block.choice("namespace", "shared", ("shared", "isolated"))
    # Portable scenarios may give a strategy and leave endpoints to the site.
    endpoints: list[str] = []
    if "endpoints" in block.data:
        endpoints = parse_endpoint_list(block.raw("endpoints"), block, "endpoints")
    warnings.extend(block.unknown(("strategy", "endpoints", "namespace")))
    return MultiEndpoint(tuple(endpoints), strategy, namespace, block.line)


def parse_endpoint_list(raw: Any, section: Section, key: str) -> list[str]:
    """Clean and check an endpoint list: trimmed, non-empty, unique, one scheme.

    :param raw: a list of URIs or a comma-separated string.
    """
    if isinstance(raw, str):
        raw = [part for part in raw.split(",")]
    if not isinstance(raw, list):
        raise section.error(
            key, f"expected a list of endpoint URIs, found {describe(raw)}"
        )
    endpoints = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            raise section.error(
                key,
                f"expected endpoint URIs such as s3://HOST:PORT/bucket/, found "
                f"{describe(item)}",
            )
        endpoints.append(item.strip())
    if not endpoints:
        raise section.error(key, "expected 1 to 32 endpoint URIs, found an empty list")
    if len(endpoints) > MAX_ENDPOINTS:
        raise section.error(
            key, f"expected at most {MAX_ENDPOINTS} endpoints, found {len(endpoints)}"
        )
    normalised = [uri.rstrip("/") for uri in endpoints]
    for index, uri in enumerate(normalised):
        if uri in normalised[:index]:
            raise section.error(
                key, f"expected each endpoint once, found {endpoints[index]!r} twice"
            )
    schemes = {uri.split("://", 1)[0] if "://" in uri else "file" for uri in endpoints}
    if len(schemes) > 1:
        raise section.error(
            key, f"expected endpoints of one scheme, found {', '.join(sorted(schemes))}"
        )
    return endpoints


def _parse_size_field(section: Section, key: str) -> SizeDistribution:
    value = section.raw(key)
    try:
        return parse_size_spec(value)
    except SizeError as err:
        dotted = f"{key}.{err.key}" if err.key else key
        line = section.line_of(key)
        if err.key and isinstance(value, MarkedDict):
            line = value.key_lines.get(err.key, line)
        raise ConfigError(
            section.path, line, section.dotted(dotted), str(err)
        ) from None


def _parse_plain_size(section: Section, key: str) -> int | None:
    if not section.has(key):
        return None
    try:
        return parse_size(section.raw(key))
    except SizeError as err:
        raise section.error(key, str(err)) from None


def _parse_workload(top: Section, warnings: list[ConfigWarning]) -> tuple[Op, ...]:
    raw = top.raw("workload")
    if raw is None:
        raise top.missing(
            "workload",
            "a list of ops such as [{op: get, path: 'data/*', weight: 100}]",
            TOP_KEYS,
        )
    if not isinstance(raw, list) or not raw:
        raise top.error(
            "workload", f"expected a non-empty list of ops, found {describe(raw)}"
        )
    lines = getattr(raw, "item_lines", [top.line_of("workload")] * len(raw))
    ops = [
        _parse_op(entry, top, f"workload[{index}]", lines[index], warnings)
        for index, entry in enumerate(raw)
    ]
    if sum(op.weight for op in ops) <= 0:
        raise top.error("workload", "expected at least one op with a weight above 0")
    return tuple(ops)


def _parse_op(
    entry: Any, top: Section, key: str, line: int, warnings: list[ConfigWarning]
) -> Op:
    op = Section.of(entry, top.path, key, line)
    kind = op.choice("op", "", OP_KINDS)
    if not kind:
        raise op.missing("op", "one of " + ", ".join(OP_KINDS), OP_KEYS)
    weight = op.number("weight", 1.0, minimum=0.0)
    path = op.string("path", "") or ""
    size = None
    if kind == "put":
        size = _parse_put_size(op)
    concurrency = op.integer("concurrency", None, minimum=1)
    dedup = op.integer("dedup_factor", 1, minimum=1) or 1
    compress = op.integer("compress_factor", 1, minimum=1) or 1
    recursive = op.boolean("recursive", False)
    if kind not in ("put",):
        for size_key in ("object_size", "size_spec", "size_distribution"):
            if op.has(size_key):
                warnings.append(
                    ConfigWarning(
                        top.path,
                        op.line_of(size_key),
                        op.dotted(size_key),
                        f"ignored: only put ops take a size, this op is {kind}",
                    )
                )
    warnings.extend(op.unknown(OP_KEYS, IGNORED_OP))
    assert weight is not None
    return Op(
        kind, weight, path, size, concurrency, dedup, compress, recursive, op.line
    )


def _parse_put_size(op: Section) -> SizeDistribution:
    given = [k for k in ("object_size", "size_spec", "size_distribution") if op.has(k)]
    if len(given) > 1:
        raise op.error(
            given[1],
            f"expected one of object_size, size_spec or "
            f"size_distribution, found both {given[0]} and {given[1]}",
        )
    if not given:
        raise op.error(
            "object_size",
            "expected a size for a put op (object_size: 4096, "
            "size_spec or size_distribution), found nothing",
        )
    return _parse_size_field(op, given[0])


def _parse_prepare(top: Section, warnings: list[ConfigWarning]) -> Prepare | None:
    if not top.has("prepare"):
        return None
    block = Section.of(top.raw("prepare"), top.path, "prepare", top.line_of("prepare"))
    raw = block.raw("ensure_objects", [])
    if not isinstance(raw, list):
        raise block.error("ensure_objects", f"expected a list, found {describe(raw)}")
    lines = getattr(raw, "item_lines", [block.line_of("ensure_objects")] * len(raw))
    ensure = tuple(
        _parse_ensure(entry, block, f"prepare.ensure_objects[{i}]", lines[i], warnings)
        for i, entry in enumerate(raw)
    )
    tree = None
    if block.has("directory_structure"):
        tree = _parse_tree(block)
    prepare = Prepare(
        ensure_objects=ensure,
        cleanup=block.boolean("cleanup", False),
        cleanup_mode=block.choice(
            "cleanup_mode", "tolerant", ("strict", "tolerant", "best_effort")
        ),
        strategy=block.choice(
            "prepare_strategy", "sequential", ("sequential", "parallel")
        ),
        skip_verification=block.boolean("skip_verification", False),
        force_overwrite=block.boolean("force_overwrite", False),
        post_prepare_delay=block.duration("post_prepare_delay", 0.0) or 0.0,
        key_prefix_shards=block.integer("key_prefix_shards", 0, minimum=0) or 0,
        directory_structure=tree,
        cleanup_only=block.boolean("cleanup_only", False),
    )
    warnings.extend(block.unknown(PREPARE_KEYS))
    return prepare


def _parse_ensure(
    entry: Any, block: Section, key: str, line: int, warnings: list[ConfigWarning]
) -> EnsureObjects:
    spec = Section.of(entry, block.path, key, line)
    count = spec.integer("count", None, minimum=0)
    if count is None:
        raise spec.missing("count", "the number of objects", ENSURE_KEYS)
    given = [k for k in ("size_spec", "size_distribution") if spec.has(k)]
    legacy = [k for k in ("min_size", "max_size") if spec.has(k)]
    if len(given) > 1 or (given and legacy):
        both = (given + legacy)[:2]
        raise spec.error(
            both[1],
            f"expected one way to give sizes, found both {both[0]} and {both[1]}",
        )
    if given:
        size = _parse_size_field(spec, given[0])
    else:
        low = _parse_plain_size(spec, "min_size")
        high = _parse_plain_size(spec, "max_size")
        try:
            size = legacy_size_spec(low, high)
        except SizeError as err:
            raise spec.error("max_size", str(err)) from None
    base = spec.string("base_uri")
    ensure = EnsureObjects(
        base_uri=base.strip() if base is not None else None,
        count=count,
        size=size,
        fill=spec.choice("fill", "random", ("random", "zero", "prand")).replace(
            "prand", "random"
        ),
        dedup_factor=spec.integer("dedup_factor", 1, minimum=1) or 1,
        compress_factor=spec.integer("compress_factor", 1, minimum=1) or 1,
        line=spec.line,
    )
    warnings.extend(spec.unknown(ENSURE_KEYS, IGNORED_ENSURE))
    return ensure


def _parse_tree(block: Section) -> DirectoryTree:
    tree = Section.of(
        block.raw("directory_structure"),
        block.path,
        "prepare.directory_structure",
        block.line_of("directory_structure"),
    )
    width = tree.integer("width", None, minimum=1)
    depth = tree.integer("depth", None, minimum=1)
    files = tree.integer("files_per_dir", None, minimum=0)
    for name, value in (("width", width), ("depth", depth), ("files_per_dir", files)):
        if value is None:
            raise tree.missing(name, "an integer", ("width", "depth", "files_per_dir"))
    mask = tree.string("dir_mask", "sai3bench.d%d_w%d.dir") or ""
    if mask.count("%d") != 2:
        raise tree.error(
            "dir_mask", f"expected a mask with two %d (level, index), found {mask!r}"
        )
    assert width is not None and depth is not None and files is not None
    return DirectoryTree(
        width,
        depth,
        files,
        tree.choice("distribution", "bottom", ("bottom", "all")),
        mask,
    )


def _parse_io_rate(top: Section) -> IoRate | None:
    if not top.has("io_rate"):
        return None
    block = Section.of(top.raw("io_rate"), top.path, "io_rate", top.line_of("io_rate"))
    raw = block.raw("iops", "max")
    if isinstance(raw, str) and raw.strip().lower() == "max":
        iops = None
    else:
        iops = block.number("iops", None, minimum=0.0)
        if iops == 0:
            iops = None
    distribution = block.choice(
        "distribution", "exponential", ("exponential", "uniform", "deterministic")
    )
    return IoRate(iops, distribution)


def _parse_errors(top: Section, warnings: list[ConfigWarning]) -> ErrorHandling:
    if not top.has("error_handling"):
        return ErrorHandling()
    block = Section.of(
        top.raw("error_handling"),
        top.path,
        "error_handling",
        top.line_of("error_handling"),
    )
    base = ErrorHandling()
    handling = ErrorHandling(
        max_total_errors=block.integer("max_total_errors", base.max_total_errors, 0)
        or 0,
        error_rate_threshold=block.number(
            "error_rate_threshold", base.error_rate_threshold, 0.0
        )
        or 0.0,
        backoff_duration=block.duration("backoff_duration", base.backoff_duration)
        or 0.0,
        error_rate_window=block.duration("error_rate_window", base.error_rate_window)
        or base.error_rate_window,
        retry_on_error=block.boolean("retry_on_error", False),
        max_retries=block.integer("max_retries", base.max_retries, 0) or 0,
        initial_retry_delay_ms=block.number(
            "initial_retry_delay_ms", base.initial_retry_delay_ms, 0.0
        )
        or 0.0,
        max_retry_delay_ms=block.number(
            "max_retry_delay_ms", base.max_retry_delay_ms, 0.0
        )
        or 0.0,
        retry_backoff_multiplier=block.number(
            "retry_backoff_multiplier", base.retry_backoff_multiplier, 1.0
        )
        or 1.0,
        retry_jitter_factor=block.number(
            "retry_jitter_factor", base.retry_jitter_factor, 0.0
        )
        or 0.0,
        op_timeout=block.duration("op_timeout", base.op_timeout) or base.op_timeout,
    )
    warnings.extend(block.unknown(ERROR_KEYS))
    return handling


def _parse_perf_log(top: Section, warnings: list[ConfigWarning]) -> PerfLog | None:
    if not top.has("perf_log"):
        return None
    block = Section.of(
        top.raw("perf_log"), top.path, "perf_log", top.line_of("perf_log")
    )
    interval = block.duration("interval", 1.0) or 1.0
    warnings.extend(
        block.unknown(
            ("interval",),
            {
                "path": "the perf log is written to the --sai3-results folder",
            },
        )
    )
    return PerfLog(interval)


def has_delete_with_reads(scenario: Scenario) -> bool:
    """Whether prepare builds a separate deletable pool (sai3-bench's rule)."""
    kinds = {op.kind for op in scenario.workload if op.weight > 0}
    return "delete" in kinds and bool(kinds & {"get", "stat"})


def parse_raw_list(value: Any) -> list[Any]:
    """A YAML value as a plain list (for callers outside this module)."""
    return list(value) if isinstance(value, MarkedList | list) else [value]
