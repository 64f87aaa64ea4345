"""Folders as endpoints: plain OS calls, inline where they cannot block.

fsspec is not on this path: plain calls on the resolved path do the same work for
less CPU per op.

Where the calls run matters more than what they are. Handing a 4 KiB read to a
thread pool costs several times the read itself (a future, a queue, a wake-up of
the event loop, the GIL changing hands), so on a local filesystem:

- a read is tried inline with ``RWF_NOWAIT``, which answers from the page cache
  or says it would block; only then does it go to the thread pool, so reads from
  the device still run concurrently. On a filesystem in memory (tmpfs, ramfs),
  which has no device to wait for and takes no ``RWF_NOWAIT``, reads run inline;
- a write of up to :data:`INLINE_MAX_BYTES` (into the page cache), a stat and a
  delete run inline.

An inline call does not yield to the event loop, and must not inside the
request the router times: the op loop yields between ops instead (see
:attr:`LocalBackend.inline`).

On a network filesystem (NFS, SMB, FUSE...) or one we do not know, every call
runs on the thread pool: opening a file there is a round trip to a server, and a
slow mount must not stall the other workers. Listings always run on the pool.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pytest_sai3.endpoints.uris import EndpointSpec

log = logging.getLogger("pytest_sai3.endpoints")

T = TypeVar("T")

# An entry of a listing: the key relative to the endpoint root, and its size.
Entry = tuple[str, int]

#: Largest read or write done inline on a local filesystem.
INLINE_MAX_BYTES = 1024 * 1024

#: Filesystems on local devices or in memory, whose cached calls do not block.
LOCAL_FILESYSTEMS = frozenset(
    {
        "btrfs",
        "ext2",
        "ext3",
        "ext4",
        "f2fs",
        "overlay",
        "ramfs",
        "tmpfs",
        "xfs",
        "zfs",
    }
)

#: Filesystems in memory: a read never waits for a device.
MEMORY_FILESYSTEMS = frozenset({"ramfs", "tmpfs"})

MOUNTINFO = "/proc/self/mountinfo"

#: How a write opens its file: created or truncated, not inherited by children.
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def filesystem_type(path: str) -> str | None:
    """The type of the filesystem a path is on (``ext4``, ``nfs4``...).

    From ``/proc/self/mountinfo`` (Linux): the mount with the longest mount
    point that holds the path, symlinks resolved. None where that is unknown.
    """
    target = os.path.realpath(path)
    found, depth = None, -1
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        fields = before.split()
        if len(fields) < 5 or not after:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > depth:
            found, depth = after.split()[0], len(point)
    return found


def split_prefix(prefix: str) -> tuple[str, str]:
    """Split a listing prefix into its directory and a name prefix.

    ``data/`` -> (``data``, ``""``); ``data/prepared-`` -> (``data``, ``prepared-``).
    """
    prefix = prefix.lstrip("/")
    if "/" in prefix:
        directory, name = prefix.rsplit("/", 1)
        return directory, name
    return "", prefix


class LocalBackend:
    """A directory, through plain OS calls (see the module for where they run).

    :param inline: run cached calls inline; None decides from the filesystem
        type of the endpoint's folder (local ones only). Where it is true, a
        request may complete without yielding, so loops of requests must yield
        between them for their other tasks to run.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        executor: ThreadPoolExecutor,
        inline: bool | None = None,
    ) -> None:
        self.spec = spec
        self._root = spec.root or "/"
        self._base = self._root.rstrip("/") + "/"
        self._executor = executor
        kind = filesystem_type(self._root)
        if inline is None:
            inline = kind in LOCAL_FILESYSTEMS
            log.debug("%s is on %s: inline calls %s", spec.uri, kind, inline)
        self.inline = inline
        # The flags of an inline read: RWF_NOWAIT (fail rather than wait for the
        # device), none in memory, or None for reads on the thread pool only.
        self._read_flags: int | None = None
        if inline and kind in MEMORY_FILESYSTEMS:
            self._read_flags = 0
        elif inline and hasattr(os, "RWF_NOWAIT"):
            self._read_flags = os.RWF_NOWAIT

    def _path(self, key: str) -> str:
        return self._base + key.lstrip("/")

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    def get_now(self, key: str) -> bytes | None:
        """The object, read inline where that cannot wait; None where it could.

        After None the read is the thread pool's: ``await get(key)``.
        """
        flags = self._read_flags
        if flags is None:
            return None
        try:
            return _read_cached(self._base + key.lstrip("/"), flags)  # _path
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            # This filesystem takes no RWF_NOWAIT: read on threads from now.
            self._read_flags = None
            return None

    async def get(self, key: str) -> bytes:
        data = self.get_now(key)
        if data is not None:
            return data
        return await self.get_waiting(key)

    async def get_waiting(self, key: str) -> bytes:
        """Read on the thread pool (where :meth:`get_now` could not)."""
        return await self._run(_read_file, self._path(key))

    def put_now(self, key: str, data: bytes | memoryview) -> bool:
        """Write the object inline where that cannot wait; False where it could
        (the write is then the thread pool's: ``await put(key, data)``)."""
        if self.inline and len(data) <= INLINE_MAX_BYTES:
            _write_file(self._base + key.lstrip("/"), data)  # _path
            return True
        return False

    async def put(self, key: str, data: bytes | memoryview) -> None:
        if not self.put_now(key, data):
            await self.put_waiting(key, data)

    async def put_waiting(self, key: str, data: bytes | memoryview) -> None:
        """Write on the thread pool (where :meth:`put_now` could not)."""
        await self._run(_write_file, self._path(key), data)

    async def list(self, prefix: str, recursive: bool) -> list[Entry]:
        return await self._run(_list_dir, self._root, prefix, recursive)

    async def stat(self, key: str) -> int:
        if self.inline:
            return _stat_file(self._path(key))
        return await self._run(_stat_file, self._path(key))

    async def delete(self, key: str) -> None:
        if self.inline:
            os.unlink(self._path(key))
            return
        await self._run(os.unlink, self._path(key))

    async def mkdir(self, key: str) -> None:
        await self._run(os.makedirs, self._path(key))

    async def rmdir(self, key: str, recursive: bool) -> None:
        await self._run(shutil.rmtree if recursive else os.rmdir, self._path(key))

    async def close(self) -> None:
        return None


def _read_cached(path: str, flags: int) -> bytes | None:
    """A whole file from the page cache, or None where that would block.

    None too for a file larger than :data:`INLINE_MAX_BYTES`, or one that
    changed size while it was read.

    :param flags: ``preadv``'s flags: ``RWF_NOWAIT``, or 0 in memory.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > INLINE_MAX_BYTES:
            return None
        buffer = bytearray(size + 1)
        try:
            got = os.preadv(fd, [buffer], 0, flags)
        except BlockingIOError:
            return None
    finally:
        os.close(fd)
    if got != size:
        return None
    del buffer[size:]
    return bytes(buffer)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _write_file(path: str, data: bytes | memoryview) -> None:
    """Write a whole file, creating its folder where it is missing.

    Plain ``os`` calls: ``open()`` adds a ``fstat`` and an ``isatty`` ioctl
    and two objects per file, which cost more than the write of a small one.
    """
    try:
        fd = os.open(path, WRITE_FLAGS, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, WRITE_FLAGS, 0o666)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write: go on where it stopped
            written += os.write(fd, memoryview(data)[written:])
    finally:
        os.close(fd)


def _stat_file(path: str) -> int:
    result = os.stat(path)
    if not os.path.isfile(path):
        raise IsADirectoryError(errno.EISDIR, "not an object", path)
    return result.st_size


def holds_nothing(err: OSError) -> bool:
    """Whether a listing error means that nothing can be under the path.

    A path that does not exist, is a file, or has a name too long for the file
    system (a component over 255 bytes) holds no object: its listing is empty.
    Writing to such a path fails, and that failure is the put's to report.
    """
    return isinstance(err, FileNotFoundError | NotADirectoryError) or (
        err.errno == errno.ENAMETOOLONG
    )


def _list_dir(root: str, prefix: str, recursive: bool) -> list[Entry]:
    directory, name = split_prefix(prefix)
    base = os.path.join(root, directory) if directory else root
    entries: list[Entry] = []
    try:
        scan = list(os.scandir(base))
    except OSError as err:
        if holds_nothing(err):
            return entries
        raise
    stack = [(directory, scan)]
    while stack:
        rel_dir, items = stack.pop()
        for item in items:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if rel_dir == directory and name and not item.name.startswith(name):
                continue
            if item.is_dir(follow_symlinks=True):
                if recursive:
                    try:
                        stack.append((rel, list(os.scandir(item.path))))
                    except OSError:
                        continue
                continue
            try:
                entries.append((rel, item.stat().st_size))
            except FileNotFoundError:
                continue
    return entries
