"""Endpoint URIs: what each form means, and relative keys under an endpoint.

Forms, as sai3-bench reads them:

- ``file:///path/`` (or a bare absolute path): a directory.
- ``s3://HOST:PORT/bucket/prefix/``: that host over http (https on port 443).
- ``s3://bucket/prefix/``: ``AWS_ENDPOINT_URL`` if set, otherwise AWS itself.
- any other fsspec protocol (``memory://``, ``az://``, ``gs://``...): through fsspec.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)$")

#: The package each scheme needs, and the extra of ours that installs it.
EXTRA_PACKAGES = {
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "s3": ("s3fs", "s3"),
}


class EndpointError(ValueError):
    """An endpoint URI that cannot be used."""


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint, parsed.

    :param uri: the URI as configured (trimmed), used as the endpoint's name.
    :param scheme: ``file``, ``s3``, or another fsspec protocol.
    :param root: where relative keys are joined: a directory for ``file``,
        ``bucket/prefix`` for S3, the fsspec path otherwise (no trailing slash).
    :param endpoint_url: for S3, the HTTP(S) URL of the server, or None for AWS.
    """

    uri: str
    scheme: str
    root: str
    endpoint_url: str | None = None

    @property
    def bucket(self) -> str:
        """The bucket of an S3 endpoint."""
        return self.root.split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix inside the bucket of an S3 endpoint ('' or 'a/b/')."""
        rest = self.root.split("/", 1)[1] if "/" in self.root else ""
        return rest + "/" if rest else ""

    def key_path(self, key: str) -> str:
        """The backend path of a key relative to this endpoint."""
        key = key.lstrip("/")
        return f"{self.root}/{key}" if key else self.root


def parse_endpoint(uri: str, aws_endpoint_url: str | None = None) -> EndpointSpec:
    """Parse one endpoint URI.

    :param aws_endpoint_url: the server for ``s3://bucket/`` URIs; defaults to
        ``AWS_ENDPOINT_URL`` from the environment.
    :raises EndpointError: for a URI we cannot use.
    """
    uri = uri.strip()
    if not uri:
        raise EndpointError("an endpoint URI is empty")
    if "://" not in uri:
        if not uri.startswith("/"):
            raise EndpointError(f"{uri!r} is neither a URI nor an absolute path")
        return EndpointSpec(uri, "file", _clean_dir(uri))
    scheme, rest = uri.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("file", "direct"):
        if not rest.startswith("/"):
            raise EndpointError(f"{uri!r}: expected file:///absolute/path/")
        return EndpointSpec(uri, "file", _clean_dir(rest))
    if scheme in ("s3", "s3a"):
        return _parse_s3(uri, rest, aws_endpoint_url)
    root = rest.rstrip("/")
    return EndpointSpec(
        uri,
        scheme,
        f"{scheme}://{root}" if scheme != "memory" else "/" + root.lstrip("/"),
    )


def _clean_dir(path: str) -> str:
    path = os.path.normpath(path)
    return path if path != "/" else ""


def _parse_s3(uri: str, rest: str, aws_endpoint_url: str | None) -> EndpointSpec:
    parts = rest.strip("/").split("/")
    if not parts or not parts[0]:
        raise EndpointError(
            f"{uri!r}: expected s3://bucket/prefix/ or s3://HOST:PORT/bucket/prefix/"
        )
    endpoint_url: str | None
    match = _HOST_PORT.match(parts[0])
    if match:
        port = int(match.group("port"))
        scheme = "https" if port == 443 else "http"
        endpoint_url = f"{scheme}://{match.group('host')}:{port}"
        parts = parts[1:]
        if not parts or not parts[0]:
            raise EndpointError(f"{uri!r}: expected a bucket after {match.group(0)}")
    else:
        endpoint_url = aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    root = "/".join(part for part in parts if part)
    return EndpointSpec(uri, "s3", root, endpoint_url)


def parse_endpoints(
    uris: list[str] | tuple[str, ...], aws_endpoint_url: str | None = None
) -> list[EndpointSpec]:
    """Parse and check a list of endpoints: one scheme, no duplicates."""
    specs = [parse_endpoint(uri, aws_endpoint_url) for uri in uris]
    schemes = {spec.scheme for spec in specs}
    if len(schemes) > 1:
        raise EndpointError("endpoints mix schemes: " + ", ".join(sorted(schemes)))
    seen: dict[tuple[str | None, str], str] = {}
    for spec in specs:
        key = (spec.endpoint_url, spec.root)
        if key in seen:
            raise EndpointError(f"{spec.uri!r} is the same endpoint as {seen[key]!r}")
        seen[key] = spec.uri
    return specs


def relative_key(path: str, specs: list[EndpointSpec]) -> str | None:
    """A path as a key relative to the endpoints, or None if under none of them.

    A path without ``://`` (and not absolute on a file endpoint) is already
    relative. An absolute path under any endpoint's URI or root loses that prefix.
    """
    if "://" not in path and not (path.startswith("/") and specs[0].scheme == "file"):
        return path.lstrip("/")
    for spec in specs:
        for prefix in _prefixes(spec):
            if path == prefix or path == prefix.rstrip("/"):
                return ""
            if path.startswith(prefix):
                return path[len(prefix) :]
    return None


def _prefixes(spec: EndpointSpec) -> list[str]:
    uri = spec.uri if spec.uri.endswith("/") else spec.uri + "/"
    prefixes = [uri]
    if spec.scheme == "file":
        root = (spec.root or "") + "/"
        prefixes += [root, "file://" + root, "direct://" + root]
    return prefixes
