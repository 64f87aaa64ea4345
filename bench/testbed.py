"""The storage a bench run measures: SeaweedFS behind four gateways, four folders.

The four S3 endpoints are four gateways onto one SeaweedFS namespace; the four
folders are four symlinks to one folder (four mounts of one export). Both are
shared namespaces, so every side may read any object through any endpoint.
Everything lives under temporary folders, removed with the servers at the end.

The folders are on the temporary folder's filesystem (a disk, as a rule), or on
the one ``folder_root`` names (``/dev/shm`` for memory). A disk filesystem has
swings of its own that would drown the clients' differences: for about 30 s
after many files are deleted (five minutes while the deletes are not written
back), ext4 steps over each recently freed inode when it creates a file, and
creating a 4 KiB file then takes 300-650 us of system time instead of 25. So
runs never delete (each writes in a folder of its own), and before each run
:meth:`Testbed.settle` writes everything back and waits until creating files
costs what it costs on a quiet filesystem. In memory (tmpfs, ramfs) it is the
other way round: deleting costs nothing later, and the files of earlier runs
slow the next one, so :meth:`Testbed.settle` removes them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import yaml

from pytest_sai3.endpoints.local import MEMORY_FILESYSTEMS, filesystem_type

if TYPE_CHECKING:
    from pytest_sai3.servers import SeaweedCluster

ENDPOINTS = 4
STORAGES = ("s3", "file")
#: A quiet filesystem creates a 4 KiB file in well under this much CPU time
#: (25-35 us on ext4 here; 300-650 us in the slow spell).
QUIET_CREATE_S = 60e-6
#: Files created to tell whether the filesystem is quiet, and the longest wait.
PROBE_FILES = 500
SETTLE_LIMIT_S = 400.0
SETTLE_PAUSE_S = 5.0


def create_cost(folder: Path, stem: str, count: int = PROBE_FILES) -> float:
    """CPU seconds (this thread's, the kernel's part included) per 4 KiB file
    created in ``folder`` as ``<stem>-<n>``; the files are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    data = b"x" * 4096
    before = time.thread_time()
    for index in range(count):
        with open(folder / f"{stem}-{index:05d}", "wb") as handle:
            handle.write(data)
    return (time.thread_time() - before) / count


class Testbed:
    """SeaweedFS and the folders for one bench run; use it with ``with``.

    :param storages: which storages to start (``s3``, ``file``).
    :param root: a folder to work in (default: a fresh temporary one, removed).
    :param folder_root: where the four folders go, in a fresh folder removed at
        the end (default: under ``root``).
    """

    def __init__(
        self,
        storages: tuple[str, ...],
        root: Path | None = None,
        folder_root: Path | None = None,
    ) -> None:
        self.storages = storages
        self._owned = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="sai3-bench-"))
        self.folder_root = folder_root
        self.files: Path = self.root / "files"
        #: Seconds :meth:`settle` waited, in all, and whether it gave up.
        self.settle_waited_s = 0.0
        self.settle_gave_up = False
        self._settles = 0
        self.bucket = f"bench-{secrets.token_hex(4)}"
        self.cluster: SeaweedCluster | None = None

    def __enter__(self) -> Testbed:
        try:
            if "file" in self.storages:
                self._make_folders()
            if "s3" in self.storages:
                self._start_seaweed()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start_seaweed(self) -> None:
        from pytest_sai3.servers import SeaweedCluster

        self.cluster = SeaweedCluster.shared(self.root / "seaweed", gateways=ENDPOINTS)
        self.cluster.create_bucket(self.bucket)

    def _make_folders(self) -> None:
        if self.folder_root is not None:
            self.files = Path(
                tempfile.mkdtemp(prefix="sai3-bench-files-", dir=self.folder_root)
            )
        store = self.files / "store"
        store.mkdir(parents=True)
        for number in range(1, ENDPOINTS + 1):
            link = self.files / f"ep{number}"
            link.symlink_to(store, target_is_directory=True)

    def close(self) -> None:
        """Stop SeaweedFS and remove every file; calling it again does nothing."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            try:
                cluster.delete_bucket(self.bucket)
            finally:
                cluster.stop()
        if self.folder_root is not None:
            shutil.rmtree(self.files, ignore_errors=True)
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)
        # Written back now, the deletes slow file creation down for 30 s after
        # this rather than five minutes (see the module).
        os.sync()

    @property
    def store_dir(self) -> Path:
        """The one folder behind the four folder endpoints."""
        return self.files / "store"

    def endpoints(self, storage: str) -> list[str]:
        """The four endpoint URIs of a storage, as the plugin and s3dlio take them."""
        if storage == "file":
            return [f"file://{self.files}/ep{n}/" for n in range(1, ENDPOINTS + 1)]
        cluster = self._running()
        return [
            f"s3://{url.split('://', 1)[1]}/{self.bucket}/"
            for url in cluster.endpoint_urls
        ]

    def credentials(self) -> dict[str, str]:
        """The S3 key pair, as the site file's ``credentials`` takes it."""
        cluster = self._running()
        return {
            "access_key_id": cluster.access_key,
            "secret_access_key": cluster.secret_key,
        }

    def env(self) -> dict[str, str]:
        """The environment of a side process.

        s3dlio reads its credentials from the standard AWS variables; its
        endpoints come from the URIs, so ``AWS_ENDPOINT_URL`` only tells it to
        speak plain http.
        """
        env = dict(os.environ)
        if self.cluster is not None:
            creds = self.credentials()
            env["AWS_ACCESS_KEY_ID"] = creds["access_key_id"]
            env["AWS_SECRET_ACCESS_KEY"] = creds["secret_access_key"]
            env["AWS_REGION"] = "us-east-1"
            env["AWS_ENDPOINT_URL"] = self.cluster.endpoint_urls[0]
        return env

    def site_file(self, storage: str) -> Path:
        """Write (once) and return the site file that binds scenarios to a storage."""
        path = self.root / f"site-{storage}.yaml"
        if not path.exists():
            site: dict[str, object] = {"endpoints": self.endpoints(storage)}
            if storage == "s3":
                site["credentials"] = self.credentials()
            path.write_text(yaml.safe_dump(site))
        return path

    def settle(
        self, storage: str, folder: str, log: Callable[[str], None] = print
    ) -> None:
        """Make the storage as quiet for the next run as for any other (folders).

        Writes the dirty pages back now, not in the next run's window; then,
        while creating a file costs more than :data:`QUIET_CREATE_S` of CPU
        (recent deletes, ours or anybody's), waits, up to
        :data:`SETTLE_LIMIT_S` in all (the bench notes when it gave up).

        :param folder: where the run writes, relative to an endpoint: the probe
            files go there, since how slow ext4 is depends on the part of the
            disk a folder's files are given.
        """
        if storage != "file":
            return
        if filesystem_type(str(self.store_dir)) in MEMORY_FILESYSTEMS:
            self._clear_runs(Path(folder))
            return
        os.sync()
        self._settles += 1
        probe = self.store_dir / folder
        stem = f"settle{self._settles}"
        waited = 0.0
        while (cost := create_cost(probe, f"{stem}-{waited:.0f}")) > QUIET_CREATE_S:
            if self.settle_waited_s >= SETTLE_LIMIT_S:
                self.settle_gave_up = True
                log(f"  folders still slow ({cost * 1e6:.0f} us per file): going on")
                return
            if not waited:
                log(
                    f"  folders slow ({cost * 1e6:.0f} us of CPU per file "
                    "created): waiting for them to settle"
                )
            time.sleep(SETTLE_PAUSE_S)
            waited += SETTLE_PAUSE_S
            self.settle_waited_s += SETTLE_PAUSE_S
            os.sync()

    def _clear_runs(self, folder: Path) -> None:
        """Remove what earlier runs wrote beside ``folder`` (memory only).

        In memory a delete has no aftermath, but the files of earlier runs
        do: each run would be measured on a fuller filesystem than the last,
        and the later runs were up to a quarter slower.
        """
        parent = self.store_dir / folder.parent
        if parent.is_dir():
            for earlier in parent.iterdir():
                shutil.rmtree(earlier)

    def _running(self) -> SeaweedCluster:
        if self.cluster is None:
            raise RuntimeError("the testbed was not started with s3 storage")
        return self.cluster
