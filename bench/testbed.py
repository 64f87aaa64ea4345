"""The storage a bench run measures: SeaweedFS behind four gateways, four folders.

The four S3 endpoints are four gateways onto one SeaweedFS namespace; the four
folders are four symlinks to one folder (four mounts of one export). Both are
shared namespaces, so every side may read any object through any endpoint.
Everything lives under one temporary folder, removed with the servers at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from pytest_sai3.servers import SeaweedCluster

ENDPOINTS = 4
STORAGES = ("s3", "file")


class Testbed:
    """SeaweedFS and the folders for one bench run; use it with ``with``.

    :param storages: which storages to start (``s3``, ``file``).
    :param root: a folder to work in (default: a fresh temporary one, removed).
    """

    def __init__(self, storages: tuple[str, ...], root: Path | None = None) -> None:
        self.storages = storages
        self._owned = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="sai3-bench-"))
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
        store = self.root / "files" / "store"
        store.mkdir(parents=True)
        for number in range(1, ENDPOINTS + 1):
            link = self.root / "files" / f"ep{number}"
            link.symlink_to(store, target_is_directory=True)

    def close(self) -> None:
        """Stop SeaweedFS and remove every file; calling it again does nothing."""
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            try:
                cluster.delete_bucket(self.bucket)
            finally:
                cluster.stop()
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def store_dir(self) -> Path:
        """The one folder behind the four folder endpoints."""
        return self.root / "files" / "store"

    def endpoints(self, storage: str) -> list[str]:
        """The four endpoint URIs of a storage, as the plugin and s3dlio take them."""
        if storage == "file":
            return [f"file://{self.root}/files/ep{n}/" for n in range(1, ENDPOINTS + 1)]
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

    def clear(self, storage: str, prefix: str) -> None:
        """Remove what runs wrote under a prefix (folders only: S3 keeps it).

        Folders fill up fast at full speed and a directory of many thousands of
        entries makes later runs slower than earlier ones; on S3 the bucket goes
        at the end, and deleting between runs would take longer than the runs.
        """
        if storage == "file":
            shutil.rmtree(self.store_dir / prefix, ignore_errors=True)
            # Write back the run's dirty pages and the deletes now, not during
            # the next side's measured window.
            os.sync()

    def _running(self) -> SeaweedCluster:
        if self.cluster is None:
            raise RuntimeError("the testbed was not started with s3 storage")
        return self.cluster
