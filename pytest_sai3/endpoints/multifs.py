"""MultiEndpointFileSystem: several endpoints behind one fsspec filesystem.

A thin facade over one :class:`~pytest_sai3.endpoints.router.Router`: every
call becomes router requests, so ``fs.router.stats`` counts exactly what
reached each endpoint, under the strategy and namespace given.

Paths are keys relative to the endpoints (``data/obj-1``), or absolute paths
under any endpoint (``/mnt/ep2/data/obj-1``,
``s3://HOST:PORT/bucket/prefix/data/obj-1``), with or without ``sai3multi://``
in front. Names in listings and infos are relative keys.

Requests per call, as the router counts them:

- ``cat_file``, ``pipe_file``, ``rm_file``: one get, put or delete.
- ``info`` and ``exists``: one stat; when it finds no object, one recursive
  list to tell a directory from a missing path.
- ``ls`` and ``find``: one recursive list (one per endpoint in an isolated
  namespace), collapsed to one level for ``ls``; when it finds nothing under
  a path not ending in ``/``, an ``info`` of that path.
- Isolated namespace: a key this instance has neither written nor listed is
  first located by listing its folder on every endpoint; a known key is
  overwritten on the endpoint that holds it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fsspec.asyn import AsyncFileSystem, _run_coros_in_chunks, sync
from fsspec.utils import stringify_path

from pytest_sai3.endpoints.clients import Credentials, make_backend
from pytest_sai3.endpoints.router import (
    NAMESPACES,
    STRATEGIES,
    RequestError,
    Router,
)
from pytest_sai3.endpoints.uris import parse_endpoints, relative_key

log = logging.getLogger("pytest_sai3.multifs")

T = TypeVar("T")
CLIENTS = (None, "obstore", "s3fs")
PROTOCOL = "sai3multi"

# Schemes without directories: makedirs and mkdir send nothing.
OBJECT_STORES = frozenset({"s3", "gs", "gcs", "az", "abfs"})

# Router error kinds that have a builtin exception users of fsspec expect.
_KIND_ERRORS: dict[str, tuple[type[OSError], int, str]] = {
    "not_found": (FileNotFoundError, errno.ENOENT, "No such object"),
    "permission": (PermissionError, errno.EACCES, "Permission denied"),
    "timeout": (TimeoutError, errno.ETIMEDOUT, "Timed out"),
}
_PATH_ERRORS = (IsADirectoryError, NotADirectoryError, FileExistsError)


class MultiEndpointFileSystem(AsyncFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over several endpoints, through one router.

    Sync calls run on fsspec's event-loop thread; with ``asynchronous=True``,
    await the ``_``-prefixed coroutines on your own loop and end with
    ``await fs._close()``.

    :param endpoints: endpoint URIs (``file:///dir/``,
        ``s3://HOST:PORT/bucket/``...), or one comma-separated string as in
        ``S3_ENDPOINT_URIS``.
    :param strategy: ``round_robin`` or ``least_connections``.
    :param namespace: ``shared`` (views of one store) or ``isolated`` (one
        store per endpoint).
    :param credentials: S3 credentials; None reads the AWS variables of the
        environment.
    :param client: ``obstore``, ``s3fs``, or None for the fastest installed.
    :param concurrency: connection pool size per endpoint, and threads for file
        endpoints.
    :param kwargs: passed to :class:`fsspec.asyn.AsyncFileSystem`
        (``asynchronous``, ``loop``, ``batch_size``).
    :raises ValueError: for a bad endpoint, strategy, namespace, client or
        concurrency.
    """

    protocol = PROTOCOL
    root_marker = ""
    # Every instance is its own router with its own counters: never hand out a
    # cached instance built for someone else.
    cachable = False

    def __init__(
        self,
        endpoints: str | Sequence[str] = (),
        strategy: str = "round_robin",
        namespace: str = "shared",
        credentials: Credentials | None = None,
        client: str | None = None,
        concurrency: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        uris = _endpoint_list(endpoints)
        _check_choice("strategy", strategy, STRATEGIES)
        _check_choice("namespace", namespace, NAMESPACES)
        _check_choice("client", client, CLIENTS)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")

        self.specs = parse_endpoints(uris)
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, concurrency), thread_name_prefix="sai3multi-io"
        )
        self._closed = False
        try:
            self.router = self._build_router(
                strategy, namespace, credentials, client, concurrency
            )
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    def _build_router(
        self,
        strategy: str,
        namespace: str,
        credentials: Credentials | None,
        client: str | None,
        concurrency: int,
    ) -> Router:
        credentials = credentials or Credentials.from_env()
        backends = [
            make_backend(
                spec,
                client=client,
                credentials=credentials,
                pool_size=concurrency,
                executor=self._executor,
            )
            for spec in self.specs
        ]
        uris = [spec.uri for spec in self.specs]
        log.debug("%s over %s (%s, %s)", PROTOCOL, uris, strategy, namespace)
        return Router(backends, strategy, namespace)

    # Equal tokens would make two instances over the same URIs compare equal,
    # although each counts its own requests.
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """Remove ``sai3multi://``, keeping a trailing ``/`` (a prefix)."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        prefix = PROTOCOL + "://"
        return path[len(prefix) :] if path.startswith(prefix) else path

    def key(self, path: str) -> str:
        """The key, relative to the endpoints, of a path given to this fs.

        :raises ValueError: for a path under no endpoint, or one leaving it
            through ``..``.
        """
        stripped = self._strip_protocol(path)
        key = relative_key(stripped, self.specs)
        if key is None:
            uris = ", ".join(spec.uri for spec in self.specs)
            raise ValueError(
                f"{stripped!r} is under none of the endpoints ({uris}): "
                "give a key relative to them or a path under one"
            )
        if ".." in key.split("/"):
            raise ValueError(f"{stripped!r}: '..' would leave the endpoints")
        return key

    def close(self) -> None:
        """Close every endpoint's client and the file threads; idempotent.

        :raises RuntimeError: on an asynchronous instance; there,
            ``await fs._close()``.
        """
        if self._closed:
            return
        if self.asynchronous:
            raise RuntimeError(
                "this MultiEndpointFileSystem is asynchronous: await fs._close()"
            )
        sync(self.loop, self._close)

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.router.close()
        finally:
            self._executor.shutdown(wait=False)

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        key = self.key(path)
        endpoint = await self._holder(key)
        data, _ = await self._send(key, self.router.get(key, endpoint))
        # The router reads whole objects: a range is cut from the whole.
        return bytes(data if start is None and end is None else data[start:end])

    async def _pipe_file(
        self,
        path: str,
        value: bytes | memoryview,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        if mode != "overwrite":
            raise NotImplementedError(f"pipe_file mode {mode!r}: only 'overwrite'")
        key = self.key(path)
        # Overwrite in place: a copy on another store would shadow this one.
        endpoint = self.router.holder(key) if self.router.isolated else None
        await self._send(key, self.router.put(key, value, endpoint))

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self.key(path).rstrip("/")
        if not key:
            return _directory(key)

        try:
            endpoint = await self._holder(key)
            size, index = await self._send(key, self.router.stat(key, endpoint))
        except IsADirectoryError:
            return _directory(key)
        except FileNotFoundError:
            if await self._list(key + "/"):
                return _directory(key)
            raise
        return _file(key, size, self.specs[index].uri)

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path)
        except FileNotFoundError:
            return False
        return True

    async def _ls(
        self, path: str, detail: bool = True, **kwargs: Any
    ) -> list[dict[str, Any]] | list[str]:
        key = self.key(path)
        base = key.rstrip("/")
        entries: dict[str, dict[str, Any]] = {}
        for info in await self._list(base + "/" if base else ""):
            rest = info["name"][len(base) + 1 :] if base else info["name"]
            head, nested, _ = rest.partition("/")
            if nested:
                name = f"{base}/{head}" if base else head
                entries.setdefault(name, _directory(name))
            else:
                entries.setdefault(info["name"], info)

        if not entries and base and not key.endswith("/"):
            entries.update(await self._lone_file(base))
        listing = [entries[name] for name in sorted(entries)]
        return listing if detail else [info["name"] for info in listing]

    async def _find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> dict[str, dict[str, Any]] | list[str]:
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        key = self.key(path)
        base = key.rstrip("/")
        found: dict[str, dict[str, Any]] = {}
        for info in await self._list(base + "/" if base else ""):
            rest = info["name"][len(base) + 1 :] if base else info["name"]
            parts = rest.split("/")
            if maxdepth is None or len(parts) <= maxdepth:
                found.setdefault(info["name"], info)
            if withdirs:
                _add_parents(found, base, parts[:-1], maxdepth)

        if not found and base and not key.endswith("/"):
            with contextlib.suppress(FileNotFoundError):
                found.update(await self._lone_file(base))
        elif withdirs and base and found:
            found[base] = _directory(base)
        ordered = {name: found[name] for name in sorted(found)}
        return ordered if detail else list(ordered)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        key = self.key(path)
        endpoint = await self._holder(key)
        await self._send(key, self.router.delete(key, endpoint))

    async def _rm(
        self,
        path: str | list[str],
        recursive: bool = False,
        batch_size: int | None = None,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete objects; ``recursive`` deletes every object under a folder.

        Folders themselves stay on file endpoints: like object stores, only
        objects are removed.
        """
        if recursive:
            keys: list[str] = []
            for one in [path] if isinstance(path, str) else path:
                keys.extend(await self._find(one, maxdepth=maxdepth))
        else:
            keys = await self._expand_path(path)
        if not keys:
            raise FileNotFoundError(errno.ENOENT, "nothing to delete", path)
        await _run_coros_in_chunks(
            [self._rm_file(key) for key in keys],
            batch_size=batch_size or self.batch_size,
            nofiles=True,
        )

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        if self.specs[0].scheme in OBJECT_STORES:
            return
        key = self.key(path).strip("/")
        if not key:
            return
        # Isolated: every store gets it, whichever will hold its objects.
        targets = range(len(self.specs)) if self.router.isolated else [None]
        for endpoint in targets:
            try:
                await self._send(key, self.router.mkdir(key, endpoint))
            except FileExistsError:
                if not exist_ok:
                    raise

    async def _mkdir(
        self, path: str, create_parents: bool = True, **kwargs: Any
    ) -> None:
        await self._makedirs(path, exist_ok=False)

    async def _lone_file(self, key: str) -> dict[str, dict[str, Any]]:
        """A path with nothing under it: itself if a file, nothing if a folder.

        :raises FileNotFoundError: if it is neither.
        """
        info = await self._info(key)
        return {key: info} if info["type"] == "file" else {}

    async def _list(self, prefix: str) -> list[dict[str, Any]]:
        """Objects under a prefix, recursively, once each (first holder wins)."""
        entries = await self._send(prefix, self.router.list(prefix, recursive=True))
        seen: dict[str, dict[str, Any]] = {}
        for key, size, index in entries:
            seen.setdefault(key, _file(key, size, self.specs[index].uri))
        return list(seen.values())

    async def _holder(self, key: str) -> int | None:
        """The endpoint to read a key from: None lets the router choose.

        :raises FileNotFoundError: in an isolated namespace, when no endpoint
            lists the key.
        """
        if not self.router.isolated:
            return None
        known = self.router.holder(key)
        if known is not None:
            return known
        # The router learns where every listed key lives.
        await self._send(key, self.router.list(key))
        known = self.router.holder(key)
        if known is None:
            raise FileNotFoundError(errno.ENOENT, "on no endpoint", key)
        return known

    async def _send(self, key: str, request: Awaitable[T]) -> T:
        """Await a router request, turning its failures into builtin errors."""
        try:
            return await request
        except RequestError as err:
            mapped = self._os_error(err, key)
            if mapped is None:
                raise
            raise mapped from err

    def _os_error(self, err: RequestError, key: str) -> OSError | None:
        uri = self.specs[err.endpoint].uri
        cause = err.cause
        if isinstance(cause, _PATH_ERRORS):
            return type(cause)(cause.errno, f"{cause.strerror} on {uri}", key)
        if err.kind not in _KIND_ERRORS:
            return None
        error_type, code, reason = _KIND_ERRORS[err.kind]
        return error_type(code, f"{reason} on {uri}", key)


def _endpoint_list(endpoints: str | Sequence[str]) -> list[str]:
    if isinstance(endpoints, str):
        endpoints = endpoints.split(",")
    uris = [uri.strip() for uri in endpoints if uri.strip()]
    if not uris:
        raise ValueError("MultiEndpointFileSystem needs endpoints=[URI, ...]")
    return uris


def _check_choice(name: str, value: str | None, allowed: Sequence[str | None]) -> None:
    if value not in allowed:
        shown = ", ".join(repr(choice) for choice in allowed)
        raise ValueError(f"{name} must be one of {shown} (got {value!r})")


def _file(key: str, size: int, endpoint: str) -> dict[str, Any]:
    return {"name": key, "size": size, "type": "file", "endpoint": endpoint}


def _directory(key: str) -> dict[str, Any]:
    return {"name": key, "size": 0, "type": "directory"}


def _add_parents(
    found: dict[str, dict[str, Any]],
    base: str,
    folders: list[str],
    maxdepth: int | None,
) -> None:
    for depth in range(1, len(folders) + 1):
        if maxdepth is not None and depth > maxdepth:
            return
        name = "/".join([base, *folders[:depth]] if base else folders[:depth])
        found.setdefault(name, _directory(name))
