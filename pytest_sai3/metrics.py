"""Latency histograms and counters for a run, mergeable exactly across workers.

Latencies are kept in HDR histograms (1 us to one hour, 3 significant digits, as
sai3-bench does) per op type, per op type and size bucket, and per endpoint. Each
histogram also keeps the exact count, sum, minimum and maximum of what it
recorded, so that the mean is exact and every percentile can be clamped to the
observed extremes.

Nothing here is thread-safe: one instance is used from one thread or one event
loop. Workers (threads, processes, hosts) each fill their own :class:`RunMetrics`
and the results are combined with ``merge``; :meth:`RunMetrics.to_dict` and
:meth:`RunMetrics.from_dict` carry them across process boundaries without losing
anything, since histograms merge exactly and counters add.

Percentiles are never averaged: merge the histograms, then ask.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from pytest_sai3.sizes import BUCKET_NAMES

#: Smallest latency a histogram tells apart, in microseconds.
LOWEST_US = 1
#: Largest latency a histogram records (one hour); longer ones are clamped to it.
HIGHEST_US = 3_600_000_000
#: Precision of the histograms, as in sai3-bench.
SIGNIFICANT_FIGURES = 3
#: Latencies a histogram holds before it bins them (see LatencyHistogram.record).
PENDING_MAX = 4096

#: Op types whose bytes count as read, and as written, in the run totals.
READ_OPS = frozenset({"get"})
WRITE_OPS = frozenset({"put"})

#: Percentiles reported by :meth:`LatencyHistogram.summary`, by key.
SUMMARY_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50_us", 50.0),
    ("p90_us", 90.0),
    ("p95_us", 95.0),
    ("p99_us", 99.0),
    ("p999_us", 99.9),
)

_ENCODING_TAG = "sai3h1"
_MIB = 1024 * 1024


def _index_constants() -> tuple[int, int, int]:
    """HDR's bucket layout for our range and precision: mask, half magnitude and
    half count of a sub-bucket (the unit magnitude is 0, since LOWEST_US is 1).
    """
    layout = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    assert layout.unit_magnitude == 0
    return (
        layout.sub_bucket_mask,
        layout.sub_bucket_half_count_magnitude,
        layout.sub_bucket_half_count,
    )


_SUB_MASK, _HALF_MAGNITUDE, _HALF_COUNT = _index_constants()


def counts_index(us: int) -> int:
    """The index of HDR's counts array that a latency in ``[1, HIGHEST_US]`` falls in.

    HDR's own arithmetic (bucket from the highest set bit, then the sub-bucket),
    without its per-call method lookups.
    """
    bucket = (us | _SUB_MASK).bit_length() - _HALF_MAGNITUDE - 1
    return ((bucket + 1) << _HALF_MAGNITUDE) + (us >> bucket) - _HALF_COUNT


class LatencyHistogram:
    """Latencies in microseconds: an HDR histogram plus exact count, sum, min, max.

    A value below 1 us is recorded as 1 us and one above :data:`HIGHEST_US` as
    :data:`HIGHEST_US`; the exact figures are those of the recorded values, so
    ``min_us <= percentile(q) <= max_us`` always holds.

    :meth:`record` is on every op's path twice (op and endpoint): it appends to
    a buffer of at most :data:`PENDING_MAX` latencies, which are binned into
    HDR's counts array together, each distinct value once; every read bins
    what is pending first, and HDR's own totals are brought up to date by
    :meth:`_synced`.
    """

    __slots__ = ("_count", "_counts", "_hist", "_max", "_min", "_pending", "_sum")

    def __init__(self) -> None:
        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        self._counts = self._hist.counts
        self._count = 0
        self._sum = 0
        self._min = HIGHEST_US
        self._max = 0
        # Latencies recorded and not binned yet (see record).
        self._pending = array("q")

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # The HDR counts live in ctypes buffers, which do not pickle; the text
        # encoding is exact, so process pools can send histograms as they are.
        return (LatencyHistogram.decode, (self.encode(),))

    def record(self, us: int) -> None:
        """Record one latency.

        Latencies are binned a batch at a time: recording one costs an append,
        and every read of the histogram bins what is pending first.

        :param us: the latency in whole microseconds.
        """
        pending = self._pending
        pending.append(us)
        if len(pending) >= PENDING_MAX:
            self._settle()

    def record_many(self, us: int, times: int) -> None:
        """Record one latency ``times`` times (as many :meth:`record` calls).

        :param us: the latency in whole microseconds.
        :param times: how many requests took it, >= 1.
        """
        if us < LOWEST_US:
            us = LOWEST_US
        elif us > HIGHEST_US:
            us = HIGHEST_US
        self._counts[counts_index(us)] += times
        self._count += times
        self._sum += us * times
        if us < self._min:
            self._min = us
        if us > self._max:
            self._max = us

    def _settle(self) -> None:
        """Bin the pending latencies: each distinct value once, with its count."""
        pending = self._pending
        if not pending:
            return
        for us, times in Counter(pending).items():
            self.record_many(us, times)
        del pending[:]

    def _synced(self) -> HdrHistogram:
        """The HDR histogram, its totals brought up to the counts recorded."""
        self._settle()
        hist = self._hist
        hist.total_count = self._count
        if self._count:
            hist.min_value = self._min
            hist.max_value = self._max
        return hist

    def merge(self, other: LatencyHistogram) -> None:
        """Add the latencies of ``other`` to this histogram.

        :param other: a histogram from another worker; it is left unchanged
            (but for binning what it holds pending).
        """
        other._settle()
        if other._count == 0:
            return
        self._synced().add(other._synced())
        self._count += other._count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    @property
    def count(self) -> int:
        """Number of latencies recorded."""
        self._settle()
        return self._count

    @property
    def sum_us(self) -> int:
        """Exact sum of the latencies recorded."""
        self._settle()
        return self._sum

    @property
    def min_us(self) -> int | None:
        """Smallest latency recorded, or ``None`` when empty."""
        self._settle()
        return self._min if self._count else None

    @property
    def max_us(self) -> int | None:
        """Largest latency recorded, or ``None`` when empty."""
        self._settle()
        return self._max if self._count else None

    @property
    def mean_us(self) -> float | None:
        """Exact mean latency, or ``None`` when empty."""
        self._settle()
        return self._sum / self._count if self._count else None

    def percentile(self, q: float) -> float | None:
        """Return the latency at percentile ``q``, or ``None`` when empty.

        The value is HDR's (precise to 3 significant digits) clamped to
        ``[min_us, max_us]``, so it is monotone in ``q``; ``q = 0`` gives the
        minimum and ``q = 100`` the maximum.

        :param q: a percentile between 0 and 100.
        :raises ValueError: if ``q`` is outside ``[0, 100]``.
        """
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile must be between 0 and 100 (got {q!r})")
        self._settle()
        if not self._count:
            return None
        return self._clamp(self._synced().get_value_at_percentile(q))

    def _clamp(self, value: int) -> float:
        return float(min(max(value, self._min), self._max))

    def summary(self) -> dict[str, float | None]:
        """Return count, min, mean, p50, p90, p95, p99, p99.9 and max.

        Keys: ``count``, ``min_us``, ``mean_us``, ``p50_us``, ``p90_us``,
        ``p95_us``, ``p99_us``, ``p999_us``, ``max_us``. Every figure but the count
        is ``None`` when the histogram is empty; none is ever NaN.
        """
        self._settle()
        result: dict[str, float | None] = {
            "count": self._count,
            "min_us": self.min_us,
            "mean_us": self.mean_us,
        }
        values: dict[float, int] = {}
        if self._count:
            quantiles = [q for _, q in SUMMARY_PERCENTILES]
            values = self._synced().get_percentile_to_value_dict(quantiles)
        for key, q in SUMMARY_PERCENTILES:
            result[key] = self._clamp(values[q]) if q in values else None
        result["max_us"] = self.max_us
        return result

    def encode(self) -> str:
        """Return this histogram as text that :meth:`decode` restores exactly.

        HDR's compressed base64 encoding, preceded by the exact count, sum, min and
        max.
        """
        blob = self._synced().encode().decode("ascii")  # settles first
        low = self._min if self._count else 0
        fields = (_ENCODING_TAG, self._count, self._sum, low, self._max, blob)
        return ";".join(str(item) for item in fields)

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        """Rebuild a histogram from :meth:`encode`'s text.

        :param text: the encoded histogram.
        :raises ValueError: if ``text`` is not an encoded latency histogram.
        """
        parts = text.split(";")
        if len(parts) != 6 or parts[0] != _ENCODING_TAG:
            raise ValueError(f"not an encoded latency histogram: {text[:40]!r}")
        try:
            count, total, low, high = (int(part) for part in parts[1:5])
            decoded = HdrHistogram.decode(parts[5].encode("ascii"))
        except Exception as err:
            raise ValueError(f"not an encoded latency histogram: {err}") from err
        if decoded.get_total_count() != count:
            raise ValueError(
                f"encoded latency histogram holds {decoded.get_total_count()} "
                f"values, its header says {count}"
            )

        histogram = cls()
        if count:
            histogram._hist.add(decoded)
            histogram._count, histogram._sum = count, total
            histogram._min, histogram._max = low, high
        return histogram


class OpStats:
    """Counters and latencies of one op type.

    ``count`` and ``bytes`` cover successful ops; failed ones are counted in
    ``errors`` by kind and have no latency; ``retries`` counts the extra attempts.
    Latencies are recorded per size bucket (created on first use), with the bytes
    of each bucket, for sai3-bench's per-bucket rows; the op's own histogram is
    their exact merge, so an op costs one histogram record, not two.
    """

    __slots__ = (
        "bucket_bytes",
        "buckets",
        "bytes",
        "count",
        "errors",
        "retries",
    )

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.errors: dict[str, int] = {}
        self.retries = 0
        self.buckets: dict[int, LatencyHistogram] = {}
        self.bucket_bytes: dict[int, int] = {}

    def record(self, latency_us: int, nbytes: int, size_bucket: int) -> None:
        """Record one successful op.

        :param latency_us: its latency in microseconds.
        :param nbytes: the bytes it moved.
        :param size_bucket: the size bucket (:func:`pytest_sai3.sizes.bucket_index`)
            of the object; metadata ops use 0.
        """
        self.count += 1
        self.bytes += nbytes
        histogram = self.buckets.get(size_bucket)
        if histogram is None:
            histogram = self.buckets[size_bucket] = LatencyHistogram()
            self.bucket_bytes[size_bucket] = 0
        histogram.record(latency_us)
        self.bucket_bytes[size_bucket] += nbytes

    def record_many(
        self, latency_us: int, nbytes: int, size_bucket: int, times: int
    ) -> None:
        """Record ``times`` successful ops alike (as many :meth:`record` calls).

        :param nbytes: the bytes each of them moved.
        """
        self.count += times
        self.bytes += nbytes * times
        histogram = self.buckets.get(size_bucket)
        if histogram is None:
            histogram = self.buckets[size_bucket] = LatencyHistogram()
            self.bucket_bytes[size_bucket] = 0
        histogram.record_many(latency_us, times)
        self.bucket_bytes[size_bucket] += nbytes * times

    def record_error(self, kind: str) -> None:
        """Count one failed op.

        :param kind: a short name for the failure, such as ``"NotFound"``.
        """
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def record_retry(self, count: int = 1) -> None:
        """Count attempts repeated after a failure (not counted as ops).

        :param count: how many.
        """
        self.retries += count

    @property
    def latency(self) -> LatencyHistogram:
        """The latencies of every size bucket together (a fresh merge)."""
        merged = LatencyHistogram()
        for histogram in self.buckets.values():
            merged.merge(histogram)
        return merged

    @property
    def error_count(self) -> int:
        """Failed ops, all kinds together."""
        return sum(self.errors.values())

    def merge(self, other: OpStats) -> None:
        """Add the counters and latencies of ``other``.

        :param other: the same op type's stats from another worker.
        """
        self.count += other.count
        self.bytes += other.bytes
        self.retries += other.retries
        _add_counts(self.errors, other.errors)
        for index, histogram in other.buckets.items():
            if index not in self.buckets:
                self.buckets[index] = LatencyHistogram()
                self.bucket_bytes[index] = 0
            self.buckets[index].merge(histogram)
            self.bucket_bytes[index] += other.bucket_bytes.get(index, 0)

    def to_dict(self, elapsed_s: float = 0.0) -> dict[str, Any]:
        """Return the stats as strict-JSON-safe data, histograms included.

        :param elapsed_s: the phase's elapsed time, for ``ops_per_s`` and
            ``mib_per_s`` (``None`` when it is not positive).
        """
        latency = self.latency
        return {
            "count": self.count,
            "bytes": self.bytes,
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "retries": self.retries,
            "ops_per_s": _rate(self.count, elapsed_s),
            "mib_per_s": _rate(self.bytes / _MIB, elapsed_s),
            "latency": latency.summary(),
            "histogram": latency.encode(),
            "buckets": [self._bucket_dict(index) for index in sorted(self.buckets)],
        }

    def _bucket_dict(self, index: int) -> dict[str, Any]:
        histogram = self.buckets[index]
        nbytes = self.bucket_bytes[index]
        return {
            "size_bucket": BUCKET_NAMES[index],
            "bucket_idx": index,
            "count": histogram.count,
            "bytes": nbytes,
            "avg_bytes": nbytes / histogram.count if histogram.count else None,
            "latency": histogram.summary(),
            "histogram": histogram.encode(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpStats:
        """Rebuild stats from :meth:`to_dict`'s output; derived figures are ignored.

        :param data: the mapping :meth:`to_dict` returned.
        """
        stats = cls()
        stats.count = int(data["count"])
        stats.bytes = int(data["bytes"])
        stats.errors = {str(k): int(v) for k, v in data.get("errors", {}).items()}
        stats.retries = int(data.get("retries", 0))
        for bucket in data.get("buckets", ()):
            index = int(bucket["bucket_idx"])
            stats.buckets[index] = LatencyHistogram.decode(bucket["histogram"])
            stats.bucket_bytes[index] = int(bucket["bytes"])
        return stats


class EndpointStats:
    """What one endpoint served, counted by the router where the I/O happens.

    Call :meth:`begin` when a request is sent to the endpoint and :meth:`end` when
    it completes. Latencies are recorded for successful requests only, as for
    :class:`OpStats`.

    :param uri: the endpoint, as configured.
    """

    __slots__ = (
        "bytes_read",
        "bytes_written",
        "errors",
        "failed_by_op",
        "in_flight",
        "latency",
        "max_in_flight",
        "requests_by_op",
        "uri",
    )

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.requests_by_op: dict[str, int] = {}
        self.bytes_read = 0
        self.bytes_written = 0
        self.errors: dict[str, int] = {}
        self.failed_by_op: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.latency = LatencyHistogram()

    def begin(self, op: str) -> None:
        """Count a request sent to this endpoint.

        :param op: the op type (``get``, ``put``, ``list``, ``stat``, ``delete``).
        """
        self.requests_by_op[op] = self.requests_by_op.get(op, 0) + 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def end(
        self,
        op: str,
        latency_us: int,
        bytes_read: int = 0,
        bytes_written: int = 0,
        error_kind: str | None = None,
    ) -> None:
        """Count the completion of a request started with :meth:`begin`.

        :param op: the op type given to :meth:`begin`.
        :param latency_us: the request's latency in microseconds.
        :param bytes_read: bytes received from the endpoint.
        :param bytes_written: bytes sent to the endpoint.
        :param error_kind: a short name for the failure, or ``None`` on success.
        """
        self.in_flight -= 1
        self.bytes_read += bytes_read
        self.bytes_written += bytes_written
        if error_kind is None:
            self.latency.record(latency_us)
        else:
            self.errors[error_kind] = self.errors.get(error_kind, 0) + 1
            self.failed_by_op[op] = self.failed_by_op.get(op, 0) + 1

    def done_inline(
        self, op: str, latency_us: int, bytes_read: int = 0, bytes_written: int = 0
    ) -> None:
        """Count a successful request that no other request overlapped (an
        inline call): :meth:`begin` and :meth:`end` in one.
        """
        self.requests_by_op[op] = self.requests_by_op.get(op, 0) + 1
        if self.in_flight >= self.max_in_flight:
            self.max_in_flight = self.in_flight + 1
        self.bytes_read += bytes_read
        self.bytes_written += bytes_written
        self.latency.record(latency_us)

    def done_inline_many(
        self,
        op: str,
        latency_us: int,
        times: int,
        bytes_read: int = 0,
        bytes_written: int = 0,
    ) -> None:
        """Count ``times`` requests alike that no other request of this
        endpoint overlapped, as many :meth:`done_inline` calls with an
        endpoint that had none in flight.

        :param bytes_read: what each of them read; ``bytes_written`` likewise.
        """
        self.requests_by_op[op] = self.requests_by_op.get(op, 0) + times
        if self.max_in_flight < 1:
            self.max_in_flight = 1
        self.bytes_read += bytes_read * times
        self.bytes_written += bytes_written * times
        self.latency.record_many(latency_us, times)

    @property
    def requests(self) -> int:
        """Requests sent to this endpoint, all op types together."""
        return sum(self.requests_by_op.values())

    def served(self, op: str | None = None) -> int:
        """Requests this endpoint answered without an error.

        :param op: one op type, or ``None`` for all of them.
        """
        if op is None:
            return self.requests - self.error_count
        return self.requests_by_op.get(op, 0) - self.failed_by_op.get(op, 0)

    @property
    def error_count(self) -> int:
        """Failed requests, all kinds together."""
        return sum(self.errors.values())

    def merge(self, other: EndpointStats) -> None:
        """Add the counters and latencies of ``other``, for the same endpoint.

        Workers run at the same time, so ``in_flight`` and ``max_in_flight`` add:
        the merged ``max_in_flight`` is an upper bound of the true peak.

        :param other: this endpoint's stats from another worker.
        :raises ValueError: if ``other`` is for another endpoint.
        """
        if other.uri != self.uri:
            raise ValueError(f"cannot merge stats of {other.uri} into {self.uri}")
        _add_counts(self.requests_by_op, other.requests_by_op)
        _add_counts(self.errors, other.errors)
        _add_counts(self.failed_by_op, other.failed_by_op)
        self.bytes_read += other.bytes_read
        self.bytes_written += other.bytes_written
        self.in_flight += other.in_flight
        self.max_in_flight += other.max_in_flight
        self.latency.merge(other.latency)

    def to_dict(self) -> dict[str, Any]:
        """Return the stats as strict-JSON-safe data, the histogram included."""
        return {
            "uri": self.uri,
            "requests": self.requests,
            "requests_by_op": dict(self.requests_by_op),
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "failed_by_op": dict(self.failed_by_op),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "latency": self.latency.summary(),
            "histogram": self.latency.encode(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointStats:
        """Rebuild stats from :meth:`to_dict`'s output; derived figures are ignored.

        :param data: the mapping :meth:`to_dict` returned.
        """
        stats = cls(str(data["uri"]))
        stats.requests_by_op = {
            str(op): int(n) for op, n in data.get("requests_by_op", {}).items()
        }
        stats.bytes_read = int(data.get("bytes_read", 0))
        stats.bytes_written = int(data.get("bytes_written", 0))
        stats.errors = {str(k): int(v) for k, v in data.get("errors", {}).items()}
        stats.failed_by_op = {
            str(op): int(n) for op, n in data.get("failed_by_op", {}).items()
        }
        stats.in_flight = int(data.get("in_flight", 0))
        stats.max_in_flight = int(data.get("max_in_flight", 0))
        stats.latency = LatencyHistogram.decode(data["histogram"])
        return stats


@dataclass(eq=False)
class RunMetrics:
    """Everything measured in one phase (prepare or workload) of a run.

    :param ops: stats per op type (``get``, ``put``, ``list``, ``stat``,
        ``delete``).
    :param endpoints: stats per endpoint, in configuration order.
    :param elapsed_s: the phase's own elapsed time in seconds.
    """

    ops: dict[str, OpStats] = field(default_factory=dict)
    endpoints: list[EndpointStats] = field(default_factory=list)
    elapsed_s: float = 0.0

    def op(self, name: str) -> OpStats:
        """Return the stats of op type ``name``, created on first use.

        :param name: the op type.
        """
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats()
        return stats

    def endpoint(self, uri: str) -> EndpointStats:
        """Return the stats of endpoint ``uri``, appended on first use.

        :param uri: the endpoint, as configured.
        """
        for stats in self.endpoints:
            if stats.uri == uri:
                return stats
        stats = EndpointStats(uri)
        self.endpoints.append(stats)
        return stats

    @property
    def total_ops(self) -> int:
        """Successful ops, all types together."""
        return sum(stats.count for stats in self.ops.values())

    @property
    def total_errors(self) -> int:
        """Failed ops, all types together."""
        return sum(stats.error_count for stats in self.ops.values())

    @property
    def bytes_read(self) -> int:
        """Bytes moved by the read ops (:data:`READ_OPS`)."""
        return sum(s.bytes for op, s in self.ops.items() if op in READ_OPS)

    @property
    def bytes_written(self) -> int:
        """Bytes moved by the write ops (:data:`WRITE_OPS`)."""
        return sum(s.bytes for op, s in self.ops.items() if op in WRITE_OPS)

    def merge(self, other: RunMetrics) -> None:
        """Add another worker's metrics of the same phase.

        Op types and endpoints are matched by name and URI (new ones are added at
        the end); the elapsed time is the longer of the two, since workers run
        side by side.

        :param other: the metrics to add; left unchanged.
        """
        for name, stats in other.ops.items():
            self.op(name).merge(stats)
        for endpoint in other.endpoints:
            self.endpoint(endpoint.uri).merge(endpoint)
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as strict-JSON-safe data (no NaN or infinity).

        Holds derived figures for reports (rates, percentiles, each op type's
        ``share_pct`` of the ops attempted, the endpoints' ``share_pct`` of
        requests, ``read_pct``/``write_pct`` of bytes, and
        ``requests_per_s``/``mib_per_s`` over the phase's elapsed time) and the
        encoded histograms that :meth:`from_dict` needs. An idle endpoint has
        shares and rates of 0.0 and latencies of ``None``.
        """
        elapsed = _finite(self.elapsed_s)
        endpoints = [endpoint.to_dict() for endpoint in self.endpoints]
        for row in endpoints:
            moved = (row["bytes_read"] + row["bytes_written"]) / _MIB
            row["requests_per_s"] = _rate(row["requests"], elapsed or 0.0)
            row["mib_per_s"] = _rate(moved, elapsed or 0.0)
        for key, column in (
            ("share_pct", "requests"),
            ("read_pct", "bytes_read"),
            ("write_pct", "bytes_written"),
        ):
            shares = share_pct([row[column] for row in endpoints])
            for row, share in zip(endpoints, shares, strict=True):
                row[key] = share

        ops = {name: s.to_dict(elapsed or 0.0) for name, s in self.ops.items()}
        # The mix as it ran: each op type's share of the ops attempted (failed
        # ones included, so that errors do not skew the others' shares).
        attempted = [row["count"] + row["error_count"] for row in ops.values()]
        for row, share in zip(ops.values(), share_pct(attempted), strict=True):
            row["share_pct"] = share
        return {
            "elapsed_s": elapsed,
            "total_ops": self.total_ops,
            "total_errors": self.total_errors,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "ops_per_s": _rate(self.total_ops, elapsed or 0.0),
            "ops": ops,
            "endpoints": endpoints,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMetrics:
        """Rebuild metrics from :meth:`to_dict`'s output, histograms included.

        :param data: the mapping :meth:`to_dict` returned (possibly through JSON).
        """
        return cls(
            ops={
                str(name): OpStats.from_dict(stats)
                for name, stats in data.get("ops", {}).items()
            },
            endpoints=[EndpointStats.from_dict(e) for e in data.get("endpoints", ())],
            elapsed_s=float(data.get("elapsed_s") or 0.0),
        )


#: sai3-bench's op classes; op types not named here count as META.
OP_CLASSES = {"get": "GET", "put": "PUT"}
CLASS_NAMES = ("GET", "PUT", "META")


@dataclass
class ClassTotals:
    """One op class's figures so far: bytes moved and every latency recorded."""

    bytes: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, other: ClassTotals) -> None:
        """Add another worker's totals of the same class."""
        self.bytes += other.bytes
        self.latency.merge(other.latency)

    def sample(self) -> dict[str, Any]:
        """The figures a perf_log row keeps: a few numbers, no histogram, so
        that a long run's samples stay small.

        Keys ``ops``, ``bytes``, ``mean_us``, ``p50_us``, ``p90_us``, ``p99_us``
        (latencies None when the class has no op yet).
        """
        summary = self.latency.summary()
        return {
            "ops": self.latency.count,
            "bytes": self.bytes,
            **{key: summary[key] for key in CLASS_SAMPLE_LATENCIES},
        }


#: The latency figures of :meth:`ClassTotals.sample`.
CLASS_SAMPLE_LATENCIES = ("mean_us", "p50_us", "p90_us", "p99_us")


def sampled_classes(totals: Mapping[str, ClassTotals]) -> dict[str, dict[str, Any]]:
    """Each class's :meth:`ClassTotals.sample`."""
    return {name: figures.sample() for name, figures in totals.items()}


def class_totals(ops: Mapping[str, OpStats]) -> dict[str, ClassTotals]:
    """The op types' figures merged into sai3-bench's classes GET, PUT, META."""
    totals = {name: ClassTotals() for name in CLASS_NAMES}
    for op, stats in ops.items():
        target = totals[OP_CLASSES.get(op, "META")]
        target.bytes += stats.bytes
        for histogram in stats.buckets.values():
            target.latency.merge(histogram)
    return totals


def share_pct(values: Sequence[int]) -> list[float]:
    """Return each value's share of the total in percent, to 0.01.

    Largest-remainder rounding makes the shares add up to exactly 100.00 (in
    hundredths) when the total is positive; ties go to the earlier value. All
    shares are 0.0 when the total is 0.

    :param values: non-negative counts, such as requests per endpoint.
    :raises ValueError: for a negative value.
    """
    if any(value < 0 for value in values):
        raise ValueError(f"shares need non-negative values (got {list(values)})")
    total = sum(values)
    if total == 0:
        return [0.0] * len(values)

    hundredths = [value * 10_000 // total for value in values]
    remainders = [value * 10_000 % total for value in values]
    missing = 10_000 - sum(hundredths)
    by_remainder = sorted(range(len(values)), key=lambda i: -remainders[i])
    for index in by_remainder[:missing]:
        hundredths[index] += 1
    return [h / 100 for h in hundredths]


def _add_counts(into: dict[str, int], other: Mapping[str, int]) -> None:
    for key, value in other.items():
        into[key] = into.get(key, 0) + value


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _rate(amount: float, elapsed_s: float) -> float | None:
    """``amount`` per second, or ``None`` when no time has passed."""
    if not elapsed_s > 0.0 or not math.isfinite(elapsed_s):
        return None
    return amount / elapsed_s
