"""The router: every request of every op type picks its endpoint here.

One router per run per process. Its per-endpoint counters are the ones we report,
because they are counted around the very call that does the I/O.

Strategies:

- ``round_robin``: one counter shared by all workers and op types, so with one
  process the per-endpoint request counts differ by at most 1.
- ``least_connections``: the fewest requests in flight; ties go to the endpoint chosen
  least recently, so a sequential client still spreads evenly.

Namespaces:

- ``shared``: every endpoint is a view of one store; any endpoint serves any key.
- ``isolated``: each endpoint is its own store. A key's endpoint is remembered when it
  is written or listed, and reads, stats and deletes of it go there; a listing fans
  out to every endpoint and the results are merged.

Requests that complete inline (a folder's file in the page cache) are counted a
batch at a time: each appends its latency and bytes, packed in one integer, to
the log of its endpoint and op, and :meth:`Router.settle` adds the logs to the
endpoint counters, each distinct entry once. Reading :attr:`Router.stats`
settles first, so what it shows is always whole. A request the op loop sends as
a whole op (``as_op``) is kept for its op table too
(:meth:`Router.take_inline_ops`): one request, one latency, for both tables.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import logging
import time
from array import array
from collections import Counter
from collections.abc import Coroutine
from time import perf_counter_ns
from typing import Any, NoReturn, TypeVar

from pytest_sai3.endpoints.clients import Backend, classify_error
from pytest_sai3.endpoints.deadlines import Deadlines
from pytest_sai3.endpoints.local import INLINE_MAX_BYTES, Entry
from pytest_sai3.metrics import EndpointStats

log = logging.getLogger("pytest_sai3.router")

T = TypeVar("T")
STRATEGIES = ("round_robin", "least_connections")
NAMESPACES = ("shared", "isolated")

#: The op types that may complete inline, in the order of their logs.
INLINE_OPS = ("get", "put")
# An inline request's log entry: its latency in microseconds, then its bytes in
# the low _BYTES_BITS bits.
_BYTES_BITS = 21
_BYTES_MASK = (1 << _BYTES_BITS) - 1
assert INLINE_MAX_BYTES <= _BYTES_MASK
#: Entries a log holds before it settles by itself.
INLINE_LOG_MAX = 1 << 16


class RequestError(Exception):
    """A request that failed, with the endpoint it was charged to.

    :param kind: the short error kind (see ``classify_error``).
    :param endpoint: the index of the endpoint that failed.
    """

    def __init__(self, kind: str, endpoint: int, cause: BaseException) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.cause = cause
        super().__init__(f"{kind} on endpoint {endpoint + 1}: {cause}")


class Router:
    """Chooses an endpoint per request and counts what each endpoint did.

    Not thread-safe: one router lives on one event loop (one per process).

    :param backends: one client per endpoint, in configuration order.
    :param strategy: ``round_robin`` or ``least_connections``.
    :param namespace: ``shared`` or ``isolated``.
    :param timeout: seconds before a request counts as a timeout error (None: none).
    """

    def __init__(
        self,
        backends: list[Backend],
        strategy: str = "round_robin",
        namespace: str = "shared",
        timeout: float | None = None,
    ) -> None:
        if not backends:
            raise ValueError("a router needs at least one endpoint")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}")
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown namespace {namespace!r}")
        self.backends = backends
        self.strategy = strategy
        self.namespace = namespace
        #: Whether each endpoint is its own store (fixed for the router's life).
        self.isolated = namespace == "isolated"
        self._round_robin = strategy == "round_robin"
        # Whether a read without a given endpoint goes round robin (see read_target).
        self._read_round_robin = self._round_robin and not self.isolated
        self._count = len(backends)
        self.timeout = timeout
        self._deadlines = Deadlines(timeout) if timeout is not None else None
        self._stats = [EndpointStats(backend.spec.uri) for backend in backends]
        # Inline requests not counted on their endpoints yet, a log per
        # endpoint, whole op or not and op type: _logs[index << 2 | as_op << 1
        # | op] (see settle); and those sent as whole ops, once settled, by
        # (op type, bytes, latency) (see take_inline_ops).
        self._logs = [array("q") for _ in range(4 * len(backends))]
        self._inline_ops: Counter[tuple[str, int, int]] = Counter()
        # Requests in flight on any endpoint (inline ones are never).
        self._waiting = 0
        self.locations: dict[str, int] = {}
        # Round robin's turns: the endpoint indexes, over and over.
        self._turns = itertools.cycle(range(len(backends)))
        self._picks = 0
        self._last_pick = [-1] * len(backends)
        # Per endpoint, its client where it has inline calls (get_now and
        # get_waiting, put_now and put_waiting, as LocalBackend), else None.
        self._inline: list[Any] = [
            backend if hasattr(backend, "get_now") else None for backend in backends
        ]

    @property
    def stats(self) -> list[EndpointStats]:
        """What each endpoint served, in configuration order (settled)."""
        self.settle()
        return self._stats

    def settle(self) -> None:
        """Count the logged inline requests on their endpoints (and keep those
        sent as whole ops for :meth:`take_inline_ops`)."""
        ops = self._inline_ops
        for lane, log in enumerate(self._logs):
            if not log:
                continue
            stats, op = self._stats[lane >> 2], INLINE_OPS[lane & 1]
            for entry, times in Counter(log).items():
                latency, nbytes = entry >> _BYTES_BITS, entry & _BYTES_MASK
                if op == "get":
                    stats.done_inline_many(op, latency, times, nbytes)
                else:
                    stats.done_inline_many(op, latency, times, 0, nbytes)
                if lane & 2:
                    ops[op, nbytes, latency] += times
            del log[:]

    def take_inline_ops(self) -> Counter[tuple[str, int, int]]:
        """The inline requests sent as whole ops since the last take (or reset):
        how many of each (op type, bytes, latency in microseconds)."""
        self.settle()
        taken, self._inline_ops = self._inline_ops, Counter()
        return taken

    @property
    def inline(self) -> bool:
        """Whether a request may complete without yielding to the event loop."""
        return any(getattr(backend, "inline", False) for backend in self.backends)

    def reset_stats(self) -> list[EndpointStats]:
        """Start counting afresh (at a phase change) and return the old counters.

        Round robin starts again at the first endpoint, so that each phase's
        counts differ by at most one request and the spare ones go to the first
        endpoints, whatever the phase before left the counter at.
        """
        old = self.stats
        self._stats = [EndpointStats(backend.spec.uri) for backend in self.backends]
        self._inline_ops = Counter()
        self._turns = itertools.cycle(range(self._count))
        return old

    def choose(self) -> int:
        """The endpoint for the next request, by the strategy."""
        if self._round_robin:
            return next(self._turns)
        count = self._count
        if count == 1:
            return 0
        index = min(
            range(count),
            key=lambda i: (self._stats[i].in_flight, self._last_pick[i]),
        )
        self._picks += 1
        self._last_pick[index] = self._picks
        return index

    def holder(self, key: str) -> int | None:
        """The endpoint known to hold a key in an isolated namespace."""
        return self.locations.get(key)

    async def _request(
        self,
        op: str,
        index: int,
        call: Coroutine[Any, Any, T],
        sent: int = 0,
        start: int = 0,
    ) -> T:
        """Run one request, ``call`` (a coroutine of endpoint ``index``'s client,
        not started yet), and count it on that endpoint.

        :param start: when the request began (``perf_counter_ns``), if before
            this call: an inline attempt that could not complete.
        """
        stats = self._stats[index]
        stats.begin(op)
        start = start or time.perf_counter_ns()
        deadlines = self._deadlines
        task = deadlines.enter(start) if deadlines is not None else None
        self._waiting += 1
        try:
            result = await call
        except asyncio.CancelledError:
            if task is None or not deadlines.expired(task):  # type: ignore[union-attr]
                # Interrupted (Ctrl-C, a run stopping): no longer in flight,
                # and no failure of the endpoint's.
                stats.in_flight -= 1
                raise
            late = TimeoutError(f"no answer within {self.timeout:g} s")
            self._failed(op, index, start, late)
        except Exception as err:
            self._failed(op, index, start, err)
        finally:
            self._waiting -= 1
            if task is not None:
                deadlines.leave(task)  # type: ignore[union-attr]
        latency = (time.perf_counter_ns() - start) // 1000
        received = len(result) if op == "get" else 0  # type: ignore[arg-type]
        stats.end(op, latency, received, sent)
        return result

    def _failed(self, op: str, index: int, start: int, err: BaseException) -> NoReturn:
        """Charge a failed request to its endpoint and raise it as a RequestError."""
        latency = (time.perf_counter_ns() - start) // 1000
        kind = classify_error(err)
        self._stats[index].end(op, latency, error_kind=kind)
        raise RequestError(kind, index, err) from err

    def _target(self, key: str, endpoint: int | None, reading: bool) -> int:
        if reading:
            return self.read_target(key, endpoint)
        return self.choose() if endpoint is None else endpoint

    async def get(
        self, key: str, endpoint: int | None = None
    ) -> tuple[bytes | memoryview, int]:
        """Read a whole object; returns its bytes and the endpoint that served it."""
        index = self.read_target(key, endpoint)
        data = self.get_now(key, index)
        if isinstance(data, bytes):
            return data, index
        return await data, index

    def read_target(self, key: str, endpoint: int | None = None) -> int:
        """The endpoint a read of ``key`` goes to (given, known holder, or the
        strategy's pick)."""
        if endpoint is not None:
            return endpoint
        if self.isolated:
            known = self.locations.get(key)
            if known is not None:
                return known
        return self.choose()

    def get_now(
        self, key: str, endpoint: int | None = None, as_op: bool = False
    ) -> bytes | Coroutine[Any, Any, bytes | memoryview]:
        """Read a whole object, inline where the endpoint's client can do so
        without waiting.

        Returns the bytes, counted on the endpoint; or, where the read has to
        wait (a client without inline calls, a file not in the page cache), the
        rest of the request as a coroutine to await, timed from the inline
        attempt where there was one.

        :param endpoint: the endpoint to read from; None: :meth:`read_target`'s.
        :param as_op: the read is a whole op of the op loop's: where it completes
            inline, it is counted for :meth:`take_inline_ops` too.
        """
        if endpoint is not None:
            index = endpoint
        elif self._read_round_robin:  # read_target, inline
            index = next(self._turns)
        else:
            index = self.read_target(key)
        backend = self._inline[index]
        if backend is None:
            return self._request("get", index, self.backends[index].get(key))
        start = perf_counter_ns()
        try:
            data = backend.get_now(key)
        except Exception as err:
            self._stats[index].begin("get")
            self._failed("get", index, start, err)
        if data is None:
            waiting = backend.get_waiting(key)
            return self._request("get", index, waiting, start=start)
        # One entry in the log of its endpoint and op (see settle), unless
        # other requests are in flight: then its endpoint's peak counts them.
        latency = (perf_counter_ns() - start) // 1000
        if self._waiting:
            self._done_alone(index, 0, len(data), latency, as_op)
        else:
            log = self._logs[index << 2 | as_op << 1]
            log.append(latency << _BYTES_BITS | len(data))
            if len(log) >= INLINE_LOG_MAX:
                self.settle()
        return data  # type: ignore[no-any-return]

    def put_now(
        self, key: str, data: bytes | memoryview, index: int, as_op: bool = False
    ) -> Coroutine[Any, Any, None] | None:
        """Write an object to endpoint ``index``, inline where its client can
        do so without waiting.

        Returns None when the write is done and counted; or the rest of the
        request as a coroutine to await.

        :param as_op: as for :meth:`get_now`.
        """
        backend = self._inline[index]
        if backend is None:
            call = self.backends[index].put(key, data)
            return self._put_waiting(key, data, index, call, 0)
        start = perf_counter_ns()
        try:
            done = backend.put_now(key, data)
        except Exception as err:
            self._stats[index].begin("put")
            self._failed("put", index, start, err)
        if not done:
            waiting = backend.put_waiting(key, data)
            return self._put_waiting(key, data, index, waiting, start)
        latency = (perf_counter_ns() - start) // 1000  # counted as get_now's
        if self._waiting:
            self._done_alone(index, 1, len(data), latency, as_op)
        else:
            log = self._logs[index << 2 | as_op << 1 | 1]
            log.append(latency << _BYTES_BITS | len(data))
            if len(log) >= INLINE_LOG_MAX:
                self.settle()
        if self.isolated:
            self.locations[key] = index
        return None

    def _done_alone(
        self, index: int, op: int, nbytes: int, latency: int, as_op: bool
    ) -> None:
        """Count a request that completed inline while others were in flight,
        on its own (its endpoint's peak counts them).

        :param op: its index in :data:`INLINE_OPS`.
        """
        name = INLINE_OPS[op]
        self._stats[index].done_inline(name, latency, nbytes * (1 - op), nbytes * op)
        if as_op:
            self._inline_ops[name, nbytes, latency] += 1

    async def _put_waiting(
        self,
        key: str,
        data: bytes | memoryview,
        index: int,
        call: Coroutine[Any, Any, None],
        start: int,
    ) -> None:
        await self._request("put", index, call, len(data), start)
        if self.isolated:
            self.locations[key] = index

    async def put(
        self, key: str, data: bytes | memoryview, endpoint: int | None = None
    ) -> int:
        """Write an object; returns the endpoint that took it."""
        index = self.choose() if endpoint is None else endpoint
        waiting = self.put_now(key, data, index)
        if waiting is not None:
            await waiting
        return index

    async def stat(self, key: str, endpoint: int | None = None) -> tuple[int, int]:
        """The size of an object, and the endpoint asked."""
        index = self._target(key, endpoint, True)
        size = await self._request("stat", index, self.backends[index].stat(key))
        return size, index

    async def delete(self, key: str, endpoint: int | None = None) -> int:
        """Delete an object; returns the endpoint asked."""
        index = self._target(key, endpoint, True)
        await self._request("delete", index, self.backends[index].delete(key))
        self.locations.pop(key, None)
        return index

    async def mkdir(self, key: str, endpoint: int | None = None) -> int:
        """Create a directory (a marker object on object stores)."""
        index = self._target(key, endpoint, False)
        await self._request("mkdir", index, self.backends[index].mkdir(key))
        if self.isolated:
            self.locations[key] = index
        return index

    async def rmdir(
        self, key: str, recursive: bool = False, endpoint: int | None = None
    ) -> int:
        """Remove a directory."""
        index = self._target(key, endpoint, True)
        await self._request("rmdir", index, self.backends[index].rmdir(key, recursive))
        self.locations.pop(key, None)
        return index

    async def list(
        self, prefix: str, recursive: bool = False, endpoint: int | None = None
    ) -> list[tuple[str, int, int]]:
        """List keys under a prefix: ``(key, size, endpoint)`` entries.

        Shared: one request to one endpoint. Isolated: one request to each endpoint,
        merged; every key found is remembered as held by its endpoint.
        """
        if self.isolated and endpoint is None:
            merged: list[tuple[str, int, int]] = []
            for index in range(len(self.backends)):
                merged.extend(await self._list_one(prefix, recursive, index))
            return merged
        index = self._target(prefix, endpoint, False)
        return await self._list_one(prefix, recursive, index)

    async def _list_one(
        self, prefix: str, recursive: bool, index: int
    ) -> builtins.list[tuple[str, int, int]]:
        entries: builtins.list[Entry] = await self._request(
            "list", index, self.backends[index].list(prefix, recursive)
        )
        if self.isolated:
            for key, _ in entries:
                self.locations[key] = index
        return [(key, size, index) for key, size in entries]

    async def close(self) -> None:
        """Close every client, and stop the timeout watchdog."""
        if self._deadlines is not None:
            self._deadlines.close()
        for backend in self.backends:
            try:
                await backend.close()
            except Exception:  # a client that fails to close loses nothing of ours
                log.debug("closing %s failed", backend.spec.uri, exc_info=True)

    def describe(self) -> dict[str, Any]:
        """Endpoints, strategy and namespace, for plans and reports."""
        return {
            "endpoints": [backend.spec.uri for backend in self.backends],
            "strategy": self.strategy,
            "namespace": self.namespace,
        }
