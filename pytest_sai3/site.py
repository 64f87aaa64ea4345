"""Site files and endpoint binding: which storage a portable scenario runs on.

A site file binds scenarios to a storage system::

    endpoints: [s3://10.0.0.1:9000/bench/, s3://10.0.0.2:9000/bench/]
    strategy: round_robin
    namespace: shared
    credentials: {access_key_id: ..., secret_access_key: ...}
    aws_endpoint_url: http://10.0.0.1:9000     # for s3://bucket/ URIs
    endpoint_map: {"s3://127.0.0.17:80/": "s3://10.0.0.1:9000/"}
    client: obstore
    overrides: {duration: 10s}

Endpoints are taken, first found wins (sai3-bench's documented order): the
scenario's ``multi_endpoint``, the site's ``endpoints``, ``S3_ENDPOINT_URIS``, then
the scenario's ``target`` (plain ``s3://bucket/`` through ``aws_endpoint_url`` or
``AWS_ENDPOINT_URL``), then the embedded default storage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_sai3.endpoints.clients import Credentials
from pytest_sai3.endpoints.uris import (
    EndpointError,
    EndpointSpec,
    parse_endpoints,
    relative_key,
)
from pytest_sai3.scenario import (
    TOP_KEYS,
    EnsureObjects,
    Op,
    Scenario,
    parse_endpoint_list,
)
from pytest_sai3.yamlfile import (
    ConfigError,
    ConfigWarning,
    MarkedDict,
    Section,
    describe,
    load_documents,
)

SITE_KEYS = (
    "endpoints",
    "strategy",
    "namespace",
    "credentials",
    "aws_endpoint_url",
    "endpoint_map",
    "client",
    "overrides",
)
SECRET_KEYS = ("secret_access_key", "access_key_id", "session_token", "password")


@dataclass(frozen=True)
class Site:
    """A parsed site file (or the empty site)."""

    path: Path | None = None
    endpoints: tuple[str, ...] = ()
    strategy: str | None = None
    namespace: str | None = None
    credentials: Credentials | None = None
    aws_endpoint_url: str | None = None
    endpoint_map: tuple[tuple[str, str], ...] = ()
    client: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[ConfigWarning, ...] = ()

    def map_uri(self, uri: str) -> str:
        """Rewrite a URI through ``endpoint_map`` (longest matching prefix)."""
        for old, new in sorted(self.endpoint_map, key=lambda pair: -len(pair[0])):
            if uri.startswith(old) or uri.rstrip("/") == old.rstrip("/"):
                rest = uri[len(old) :] if uri.startswith(old) else ""
                return new + rest if new.endswith("/") or not rest else f"{new}/{rest}"
        return uri


def load_site(path: Path) -> Site:
    """Parse a site file.

    :raises ConfigError: naming the file, line and key at fault.
    """
    documents = load_documents(path)
    if len(documents) != 1 or not isinstance(documents[0][0], dict):
        raise ConfigError(path, 1, "", "expected one mapping of site keys")
    site = Section.of(documents[0][0], path, "", 1)
    endpoints: list[str] = []
    if site.has("endpoints"):
        endpoints = parse_endpoint_list(site.raw("endpoints"), site, "endpoints")
    credentials = None
    if site.has("credentials"):
        creds = Section.of(
            site.raw("credentials"), path, "credentials", site.line_of("credentials")
        )
        credentials = Credentials(
            creds.string("access_key_id"),
            creds.string("secret_access_key"),
            creds.string("region"),
        )
        creds.unknown(("access_key_id", "secret_access_key", "region"))
    mapping: list[tuple[str, str]] = []
    if site.has("endpoint_map"):
        block = Section.of(
            site.raw("endpoint_map"), path, "endpoint_map", site.line_of("endpoint_map")
        )
        for old, new in block.items():
            if not isinstance(new, str) or not new.strip():
                raise block.error(
                    old, f"expected a URI to map to, found {describe(new)}"
                )
            mapping.append((old.strip(), new.strip()))
    overrides: dict[str, Any] = {}
    if site.has("overrides"):
        block = Section.of(
            site.raw("overrides"), path, "overrides", site.line_of("overrides")
        )
        for key, value in block.items():
            if key.split(".")[0] not in TOP_KEYS:
                raise block.error(
                    key, "expected a scenario key such as duration or concurrency"
                )
            overrides[key] = value
    result = Site(
        path=path,
        endpoints=tuple(endpoints),
        strategy=site.choice("strategy", "", ("round_robin", "least_connections"))
        or None,
        namespace=site.choice("namespace", "", ("shared", "isolated")) or None,
        credentials=credentials,
        aws_endpoint_url=site.string("aws_endpoint_url"),
        endpoint_map=tuple(mapping),
        client=site.choice("client", "", ("obstore", "s3fs")) or None,
        overrides=overrides,
    )
    return Site(**{**result.__dict__, "warnings": tuple(site.unknown(SITE_KEYS))})


def env_endpoints() -> list[str]:
    """``S3_ENDPOINT_URIS``: comma-separated, whitespace trimmed, empties dropped."""
    raw = os.environ.get("S3_ENDPOINT_URIS", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass(frozen=True)
class PlannedOp:
    """A workload op with its path made relative to the endpoints."""

    op: Op
    key: str

    @property
    def is_pattern(self) -> bool:
        """Whether the path is a glob pattern."""
        return "*" in self.key


@dataclass(frozen=True)
class PlannedPool:
    """An ensure_objects entry with its base made relative to the endpoints."""

    spec: EnsureObjects
    base: str


@dataclass(frozen=True)
class Plan:
    """A scenario bound to real endpoints: what the engine runs."""

    scenario: Scenario
    endpoints: tuple[EndpointSpec, ...]
    strategy: str
    namespace: str
    source: str
    credentials: Credentials
    client: str | None
    ops: tuple[PlannedOp, ...]
    pools: tuple[PlannedPool, ...]

    def describe(self) -> dict[str, Any]:
        """The plan as plain data, without secrets."""
        return {
            "scenario": self.scenario.item_name,
            "endpoints": [spec.uri for spec in self.endpoints],
            "endpoints_from": self.source,
            "strategy": self.strategy,
            "namespace": self.namespace,
        }


def bind(
    scenario: Scenario,
    site: Site,
    default_endpoints: list[str] | None = None,
    default_credentials: Credentials | None = None,
) -> Plan:
    """Bind a scenario to endpoints and resolve every path against them.

    :param default_endpoints: the embedded default's endpoints for this scenario,
        used when nothing else names endpoints (None: there is no default).
    :raises ConfigError: for an endpoint or a path that cannot be used.
    """
    multi = scenario.multi_endpoint
    aws_url = site.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    target = site.map_uri(scenario.target) if scenario.target else None
    line = multi.line if multi else scenario.line
    if multi is not None and multi.endpoints:
        uris, source = [site.map_uri(uri) for uri in multi.endpoints], "multi_endpoint"
    elif site.endpoints:
        uris, source = list(site.endpoints), "site"
    elif env_endpoints():
        uris, source = env_endpoints(), "S3_ENDPOINT_URIS"
    elif target is not None:
        uris, source = [target], "target"
    elif default_endpoints:
        uris, source = list(default_endpoints), "embedded"
    else:
        raise ConfigError(
            scenario.source,
            scenario.line,
            "multi_endpoint",
            "expected endpoints: a multi_endpoint block, a target, "
            "--sai3-endpoints, a site file or S3_ENDPOINT_URIS; found none",
        )
    if (
        target is not None
        and "://" in target
        and target.startswith("s3://")
        and (aws_url is None and default_endpoints and source == "target")
    ):
        aws_url = _default_aws_url(default_endpoints)
    try:
        specs = parse_endpoints(uris, aws_url)
    except EndpointError as err:
        raise ConfigError(
            scenario.source, line, "multi_endpoint.endpoints", str(err)
        ) from None
    if (
        target is not None
        and source in ("site", "S3_ENDPOINT_URIS", "embedded")
        and (source != "embedded" or not target.startswith("s3://"))
    ):
        target = None
    ops = tuple(
        PlannedOp(
            op, _relative(scenario, specs, target, op.path, op.line, "path", site)
        )
        for op in scenario.workload
    )
    pools: tuple[PlannedPool, ...] = ()
    if scenario.prepare is not None:
        pools = tuple(
            PlannedPool(
                spec,
                _relative(
                    scenario,
                    specs,
                    target,
                    spec.base_uri or "",
                    spec.line,
                    "base_uri",
                    site,
                ),
            )
            for spec in scenario.prepare.ensure_objects
        )
    strategy = multi.strategy if multi else (site.strategy or "round_robin")
    namespace = (
        multi.namespace
        if multi and multi.namespace != "shared"
        else (site.namespace or (multi.namespace if multi else "shared"))
    )
    return Plan(
        scenario,
        tuple(specs),
        strategy,
        namespace,
        source,
        site.credentials or default_credentials or Credentials.from_env(),
        scenario.client or site.client,
        ops,
        pools,
    )


def _default_aws_url(default_endpoints: list[str]) -> str | None:
    specs = parse_endpoints(default_endpoints)
    return specs[0].endpoint_url if specs and specs[0].scheme == "s3" else None


def _relative(
    scenario: Scenario,
    specs: list[EndpointSpec],
    target: str | None,
    path: str,
    line: int,
    key: str,
    site: Site,
) -> str:
    full = site.map_uri(path) if "://" in path else path
    if (
        "://" not in full
        and target is not None
        and not (full.startswith("/") and specs[0].scheme == "file")
    ):
        full = target.rstrip("/") + "/" + full.lstrip("/") if full else target
    relative = relative_key(full, specs)
    if relative is None:
        raise ConfigError(
            scenario.source,
            line,
            key,
            f"expected a path under one of the endpoints "
            f"({', '.join(spec.uri for spec in specs)}), found {path!r}",
        )
    return relative


def redact(data: Any) -> Any:
    """A copy of plain data with every secret-looking value replaced by ``***``."""
    if isinstance(data, dict | MarkedDict):
        return {
            key: "***" if str(key).lower() in SECRET_KEYS else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(value) for value in data]
    return data
