"""Backend clients: one per endpoint, each with the same small async interface.

Keys are relative to the endpoint's root. Every client is built fresh (never from
fsspec's instance cache), with listing caches off and a connection pool at least the
concurrency, so N endpoints are N clients whose requests really go where we count them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from pytest_sai3.endpoints.local import (
    Entry,
    LocalBackend,
    holds_nothing,
    split_prefix,
)
from pytest_sai3.endpoints.uris import EXTRA_PACKAGES, EndpointSpec

log = logging.getLogger("pytest_sai3.endpoints")

T = TypeVar("T")

#: Part size of multipart uploads, the same for every S3 client: S3's smallest
#: part. obstore uploads an object larger than one part in parts; s3fs, from two
#: parts on. A part is not an op: the router counts one put with all its bytes.
MULTIPART_PART_SIZE = 5 * 1024 * 1024


class MissingPackage(RuntimeError):
    """The client for a scheme needs a package that is not installed."""


@dataclass(frozen=True)
class Credentials:
    """S3 credentials; never printed (the repr hides the secret)."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None

    def __repr__(self) -> str:
        shown = "set" if self.access_key_id else "unset"
        return f"Credentials(access_key_id={shown}, secret_access_key=***)"

    @classmethod
    def from_env(cls) -> Credentials:
        """The standard AWS variables of the environment."""
        return cls(
            os.environ.get("AWS_ACCESS_KEY_ID"),
            os.environ.get("AWS_SECRET_ACCESS_KEY"),
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )


class Backend(Protocol):
    """What the router needs of an endpoint's client."""

    spec: EndpointSpec

    async def get(self, key: str) -> bytes | memoryview: ...
    async def put(self, key: str, data: bytes | memoryview) -> None: ...
    async def list(self, prefix: str, recursive: bool) -> list[Entry]: ...
    async def stat(self, key: str) -> int: ...
    async def delete(self, key: str) -> None: ...
    async def mkdir(self, key: str) -> None: ...
    async def rmdir(self, key: str, recursive: bool) -> None: ...
    async def close(self) -> None: ...


class FsspecBackend:
    """Any fsspec filesystem (memory, az, gs, test doubles such as slowfile)."""

    def __init__(self, spec: EndpointSpec, fs: Any) -> None:
        self.spec = spec
        self.fs = fs
        self._async = bool(getattr(fs, "async_impl", False)) and bool(
            getattr(fs, "asynchronous", False)
        )

    def _path(self, key: str) -> str:
        return self.spec.key_path(key)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._async:
            return await getattr(self.fs, "_" + name)(*args, **kwargs)
        return await asyncio.to_thread(getattr(self.fs, name), *args, **kwargs)

    async def get(self, key: str) -> bytes:
        data: bytes = await self._call("cat_file", self._path(key))
        return data

    async def put(self, key: str, data: bytes | memoryview) -> None:
        path = self._path(key)
        parent = path.rsplit("/", 1)[0]
        if not self._async:
            await asyncio.to_thread(self.fs.makedirs, parent, exist_ok=True)
        await self._call("pipe_file", path, bytes(data))

    async def list(self, prefix: str, recursive: bool) -> list[Entry]:
        directory, name = split_prefix(prefix)
        base = self.spec.key_path(directory)
        try:
            if recursive:
                found = await self._call("find", base, detail=True)
                infos = list(found.values())
            else:
                infos = await self._call("ls", base, detail=True)
        except OSError as err:
            if holds_nothing(err):
                return []
            raise
        # Listings name entries as the filesystem spells paths: without the
        # protocol (slowfile:///a -> /a), so the root is compared that way too.
        root = self.fs._strip_protocol(self.spec.key_path("")).rstrip("/") + "/"
        entries = []
        for info in infos:
            if info.get("type") == "directory":
                continue
            full = info["name"]
            rel = full[len(root) :] if full.startswith(root) else full.split("/")[-1]
            rel = rel.lstrip("/")
            first = rel[len(directory) + 1 :] if directory else rel
            if name and not first.startswith(name):
                continue
            entries.append((rel, int(info.get("size") or 0)))
        return entries

    async def stat(self, key: str) -> int:
        info = await self._call("info", self._path(key))
        if info.get("type") == "directory":
            raise IsADirectoryError(errno.EISDIR, "not an object", key)
        return int(info.get("size") or 0)

    async def delete(self, key: str) -> None:
        await self._call("rm_file", self._path(key))

    async def mkdir(self, key: str) -> None:
        await self._call("makedirs", self._path(key), exist_ok=False)

    async def rmdir(self, key: str, recursive: bool) -> None:
        if recursive:
            await self._call("rm", self._path(key), recursive=True)
        else:
            await self._call("rmdir", self._path(key))

    async def close(self) -> None:
        return None


class S3fsBackend(FsspecBackend):
    """S3 through s3fs's async API, one fresh client per endpoint."""

    def __init__(
        self, spec: EndpointSpec, credentials: Credentials, pool_size: int
    ) -> None:
        try:
            import s3fs
        except ImportError:
            raise MissingPackage(_install_hint("s3", "s3fs")) from None
        fs = s3fs.S3FileSystem(
            key=credentials.access_key_id,
            secret=credentials.secret_access_key,
            anon=False,
            endpoint_url=spec.endpoint_url,
            asynchronous=True,
            skip_instance_cache=True,
            use_listings_cache=False,
            config_kwargs={"max_pool_connections": max(pool_size, 10)},
        )
        super().__init__(spec, fs)
        self._session_ready = False

    async def _ready(self) -> None:
        if not self._session_ready:
            await self.fs.set_session()
            self._session_ready = True

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        await self._ready()
        return await getattr(self.fs, "_" + name)(*args, **kwargs)

    async def get(self, key: str) -> bytes:
        # max_concurrency=1: otherwise s3fs sends a HEAD before every GET.
        data: bytes = await self._call("cat_file", self._path(key), max_concurrency=1)
        return data

    async def put(self, key: str, data: bytes | memoryview) -> None:
        await self._call(
            "pipe_file", self._path(key), bytes(data), chunksize=MULTIPART_PART_SIZE
        )

    async def mkdir(self, key: str) -> None:
        # Object stores have no directories: a marker object stands for one.
        await self._call("pipe_file", self._path(key).rstrip("/") + "/", b"")

    async def rmdir(self, key: str, recursive: bool) -> None:
        if recursive:
            await self._call("rm", self._path(key), recursive=True)
        else:
            await self._call("rm_file", self._path(key).rstrip("/") + "/")

    async def close(self) -> None:
        if self._session_ready:
            session = getattr(self.fs, "_s3", None)
            if session is not None:
                await session.__aexit__(None, None, None)
            self._session_ready = False


class ObstoreBackend:
    """S3 through obstore (Rust object_store): the fast client."""

    def __init__(
        self, spec: EndpointSpec, credentials: Credentials, pool_size: int
    ) -> None:
        try:
            import obstore
            from obstore.store import S3Store
        except ImportError:
            raise MissingPackage(_install_hint("obstore", "obstore")) from None
        self.spec = spec
        self._obs = obstore
        options: dict[str, Any] = {"pool_max_idle_per_host": str(max(pool_size, 10))}
        config: dict[str, Any] = {}
        if spec.endpoint_url:
            config["endpoint"] = spec.endpoint_url
            options["allow_http"] = spec.endpoint_url.startswith("http://")
            config["virtual_hosted_style_request"] = False
        if credentials.access_key_id:
            config["access_key_id"] = credentials.access_key_id
            config["secret_access_key"] = credentials.secret_access_key
        config["region"] = credentials.region or "us-east-1"
        prefix = spec.prefix.rstrip("/") or None
        self.store = S3Store(
            spec.bucket,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options=options,  # type: ignore[arg-type]
            # Retries are the scenario's business (error_handling), counted apart:
            # the client itself must not retry behind our back.
            retry_config={
                "max_retries": 0,
                "retry_timeout": timedelta(seconds=30),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=1),
                    "base": 2,
                },
            },
        )

    async def get(self, key: str) -> bytes | memoryview:
        result = await self._obs.get_async(self.store, key.lstrip("/"))
        # A view of obstore's buffer: no copy of the object on the hot path.
        return memoryview(await result.bytes_async())

    async def put(self, key: str, data: bytes | memoryview) -> None:
        await self._obs.put_async(
            self.store, key.lstrip("/"), data, chunk_size=MULTIPART_PART_SIZE
        )

    async def list(self, prefix: str, recursive: bool) -> list[Entry]:
        directory, name = split_prefix(prefix)
        entries: list[Entry] = []
        if recursive:
            stream = self._obs.list(self.store, directory or None, chunk_size=1000)
            async for chunk in stream:
                entries.extend((meta["path"], meta["size"]) for meta in chunk)
        else:
            result = await self._obs.list_with_delimiter_async(
                self.store, directory or None
            )
            entries = [(meta["path"], meta["size"]) for meta in result["objects"]]
        if name:
            start = f"{directory}/{name}" if directory else name
            entries = [entry for entry in entries if entry[0].startswith(start)]
        return entries

    async def stat(self, key: str) -> int:
        meta = await self._obs.head_async(self.store, key.lstrip("/"))
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        await self._obs.delete_async(self.store, key.lstrip("/"))

    async def mkdir(self, key: str) -> None:
        await self._obs.put_async(self.store, key.strip("/") + "/", b"")

    async def rmdir(self, key: str, recursive: bool) -> None:
        if recursive:
            for path, _ in await self.list(key.strip("/") + "/", True):
                await self._obs.delete_async(self.store, path)
        await self._obs.delete_async(self.store, key.strip("/") + "/")

    async def close(self) -> None:
        return None


def _install_hint(extra: str, package: str) -> str:
    return (
        f"this endpoint needs the package {package}: pip install 'pytest-sai3[{extra}]'"
    )


def obstore_available() -> bool:
    """Whether the fast S3 client can be used."""
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    return True


def make_backend(
    spec: EndpointSpec,
    *,
    client: str | None,
    credentials: Credentials,
    pool_size: int,
    executor: ThreadPoolExecutor,
) -> Backend:
    """Build the client of one endpoint.

    :param client: ``obstore``, ``s3fs`` or None (the fastest one installed) for
        S3; ignored for other schemes.
    """
    if spec.scheme == "file":
        return LocalBackend(spec, executor)
    if spec.scheme == "s3":
        chosen = client or ("obstore" if obstore_available() else "s3fs")
        if chosen == "obstore":
            return ObstoreBackend(spec, credentials, pool_size)
        return S3fsBackend(spec, credentials, pool_size)
    import fsspec

    try:
        cls = fsspec.get_filesystem_class(spec.scheme)
    except (ImportError, ValueError) as err:
        needed = EXTRA_PACKAGES.get(spec.scheme)
        if needed:
            package, extra = needed
            raise MissingPackage(
                f"{spec.uri}: the {spec.scheme}:// scheme needs {package}: "
                f"pip install {package} (or 'pytest-sai3[{extra}]')"
            ) from None
        raise MissingPackage(
            f"{spec.uri}: no fsspec filesystem for {spec.scheme}:// ({err})"
        ) from None
    kwargs: dict[str, Any] = {"skip_instance_cache": True}
    if getattr(cls, "async_impl", False):
        kwargs["asynchronous"] = True
    try:
        fs = cls(**kwargs)
    except TypeError:
        fs = cls(skip_instance_cache=True)
    return FsspecBackend(spec, fs)


#: S3 error codes, as servers name them, by our kind of error.
S3_ERROR_KINDS = {
    "NoSuchKey": "not_found",
    "NoSuchBucket": "not_found",
    "NotFound": "not_found",
    "AccessDenied": "permission",
    "Forbidden": "permission",
    "InvalidAccessKeyId": "permission",
    "SignatureDoesNotMatch": "permission",
    "SlowDown": "throttled",
    "ServiceUnavailable": "throttled",
    "TooManyRequests": "throttled",
    "RequestLimitExceeded": "throttled",
    "Throttling": "throttled",
    "ThrottlingException": "throttled",
    "RequestTimeout": "timeout",
    "KeyTooLongError": "name_too_long",
}
#: HTTP statuses by our kind of error.
STATUS_KINDS = {
    "401": "permission",
    "403": "permission",
    "404": "not_found",
    "429": "throttled",
    "503": "throttled",
}
# Where an error message states the server's verdict: an S3 error document
# (obstore quotes the body), botocore's "An error occurred (Code)", or a status.
# Nowhere else: a message also holds the key, and a key may well read "404".
_CODE = re.compile(r"<Code>([\w.]+)</Code>|An error occurred \(([\w.]+)\)")
_STATUS = re.compile(r"status(?: code)?: (\d{3})\b")


def classify_error(err: BaseException) -> str:
    """A short kind for an error: not_found, permission, timeout, throttled...

    The exception's type decides first, then the S3 error code or HTTP status
    its message states; an S3 code we have no kind for is the kind itself (such
    as ``EntityTooLarge``), so that it is never hidden behind a generic name.
    """
    if isinstance(err, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(err, FileNotFoundError):
        return "not_found"
    if isinstance(err, PermissionError):
        return "permission"
    if isinstance(err, OSError) and err.errno == errno.ENAMETOOLONG:
        return "name_too_long"
    text = str(err)
    stated = _stated_kind(text)
    if stated is not None:
        return stated
    name = type(err).__name__
    if "NotFound" in name:
        return "not_found"
    if "PermissionDenied" in name or "Unauthenticated" in name:
        return "permission"
    if "SlowDown" in text or "TooManyRequests" in text:
        return "throttled"
    if "AccessDenied" in text or "Forbidden" in text:
        return "permission"
    if isinstance(err, NotADirectoryError | IsADirectoryError | FileExistsError):
        return "invalid_path"
    if isinstance(err, ConnectionError) or "Connect" in name or "connect" in text:
        return "connection"
    return name


def _stated_kind(text: str) -> str | None:
    """The kind an S3 error code or an HTTP status in a message names."""
    match = _CODE.search(text)
    if match is not None:
        code = match.group(1) or match.group(2)
        return S3_ERROR_KINDS.get(code) or STATUS_KINDS.get(code) or code
    match = _STATUS.search(text)
    if match is not None:
        return STATUS_KINDS.get(match.group(1))
    return None
