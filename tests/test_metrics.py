"""Latency histograms, counters, merging and strict-JSON output."""

from __future__ import annotations

import json
import pickle
import random

import pytest
from hdrh.histogram import HdrHistogram

from pytest_sai3.metrics import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_FIGURES,
    EndpointStats,
    LatencyHistogram,
    OpStats,
    RunMetrics,
    counts_index,
    share_pct,
)
from pytest_sai3.sizes import bucket_index

QUANTILES = [
    0.0,
    0.1,
    1.0,
    10.0,
    25.0,
    50.0,
    75.0,
    90.0,
    95.0,
    99.0,
    99.9,
    99.99,
    100.0,
]
SUMMARY_ORDER = ["min_us", "p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us"]


def histogram_of(values: list[int]) -> LatencyHistogram:
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    return histogram


def figures(histogram: LatencyHistogram) -> dict[str, float]:
    """The summary of a non-empty histogram, with its figures checked present."""
    summary = histogram.summary()
    assert None not in summary.values()
    return {key: float(value) for key, value in summary.items() if value is not None}


def assert_ordered(histogram: LatencyHistogram) -> None:
    """min <= p50 <= p90 <= p95 <= p99 <= p99.9 <= max, and the mean in range."""
    summary = figures(histogram)
    ordered = [summary[key] for key in SUMMARY_ORDER]
    percentiles = [histogram.percentile(q) for q in QUANTILES]

    assert ordered == sorted(ordered)
    assert percentiles == sorted(p for p in percentiles if p is not None)
    assert percentiles[0] == summary["min_us"]
    assert percentiles[-1] == summary["max_us"]
    assert summary["min_us"] <= summary["mean_us"] <= summary["max_us"]


def test_empty_histogram_has_no_figures() -> None:
    histogram = LatencyHistogram()

    assert histogram.count == 0
    assert histogram.min_us is None
    assert histogram.max_us is None
    assert histogram.mean_us is None
    assert all(histogram.percentile(q) is None for q in QUANTILES)
    assert histogram.summary() == {
        "count": 0,
        "min_us": None,
        "mean_us": None,
        "p50_us": None,
        "p90_us": None,
        "p95_us": None,
        "p99_us": None,
        "p999_us": None,
        "max_us": None,
    }


def test_one_sample_is_every_percentile() -> None:
    """Case 28 (a): a value HDR would round up is still reported exactly."""
    histogram = histogram_of([1_234_567])

    assert {histogram.percentile(q) for q in QUANTILES} == {1_234_567.0}
    assert set(histogram.summary().values()) == {1, 1_234_567}
    assert_ordered(histogram)


def test_five_samples_are_ordered_and_clamped() -> None:
    """Case 28 (b) and case 30 (b): few samples, finite percentiles, none above max."""
    histogram = histogram_of([120, 250, 333, 4_001, 50_017])

    assert histogram.mean_us == (120 + 250 + 333 + 4_001 + 50_017) / 5
    assert histogram.percentile(50) == pytest.approx(333, rel=1e-3)
    assert histogram.percentile(99) == 50_017
    assert histogram.summary()["p999_us"] == 50_017
    assert_ordered(histogram)


def test_slow_tail_reaches_p99() -> None:
    """Case 30 (a): 4900 fast reads then 100 slow ones; p99 (rank 4950) is slow."""
    rng = random.Random(30)
    fast = [rng.randint(150, 900) for _ in range(4900)]
    slow = [20_000 + rng.randint(0, 3000) for _ in range(100)]
    histogram = histogram_of(fast + slow)

    summary = figures(histogram)

    assert summary["count"] == 5000
    assert summary["p99_us"] >= 20_000
    assert summary["p50_us"] < 1000
    assert_ordered(histogram)


def test_many_random_histograms_stay_ordered() -> None:
    rng = random.Random(28)
    for size in (2, 3, 7, 50, 1000):
        values = [int(rng.lognormvariate(7, 2)) for _ in range(size)]
        assert_ordered(histogram_of(values))


def test_out_of_range_values_are_clamped() -> None:
    histogram = histogram_of([0, -5, HIGHEST_US + 10])

    assert histogram.min_us == 1
    assert histogram.max_us == HIGHEST_US
    assert histogram.sum_us == 2 + HIGHEST_US
    assert_ordered(histogram)


@pytest.mark.parametrize("q", [-0.1, 100.1, float("nan")])
def test_percentile_outside_0_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile must be between 0 and 100"):
        histogram_of([5]).percentile(q)


def test_encode_decode_is_exact() -> None:
    rng = random.Random(1)
    original = histogram_of([int(rng.expovariate(1 / 5000)) for _ in range(3000)])

    copy = LatencyHistogram.decode(original.encode())

    assert copy.summary() == original.summary()
    assert copy.sum_us == original.sum_us
    assert [copy.percentile(q) for q in QUANTILES] == [
        original.percentile(q) for q in QUANTILES
    ]
    assert copy.encode() == original.encode()


def test_counts_index_is_hdrs_own() -> None:
    """The fast record path puts every value in the slot HDR would have chosen."""
    reference = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    rng = random.Random(3)
    edges = [1 << bit for bit in range(32)] + [(1 << bit) - 1 for bit in range(1, 32)]
    values = [*range(1, 5000), *edges, HIGHEST_US]
    values += [rng.randrange(1, HIGHEST_US) for _ in range(20000)]

    for value in values:
        assert counts_index(value) == reference._counts_index_for(value), value
        reference.record_value(value)

    # record() spells the same arithmetic out: every slot as HDR fills it.
    ours = histogram_of(values)
    assert ours.encode().split(";")[5] == reference.encode().decode("ascii")


def test_recorded_histogram_equals_hdrs_record_value() -> None:
    rng = random.Random(4)
    values = [int(rng.lognormvariate(8, 2)) + 1 for _ in range(5000)]
    reference = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    for value in values:
        reference.record_value(min(value, HIGHEST_US))

    ours = histogram_of(values)

    assert ours.encode().split(";")[5] == reference.encode().decode("ascii")
    assert ours.percentile(50) == reference.get_value_at_percentile(50)


def test_reads_between_records_see_every_latency_recorded() -> None:
    # Latencies wait in a buffer until a read or a full buffer bins them: a
    # read at any point sees exactly what was recorded up to it.
    rng = random.Random(5)
    values = [rng.choice([0, 7, 7, 7, 250, HIGHEST_US + 9]) for _ in range(9000)]
    values += [int(rng.lognormvariate(6, 2)) for _ in range(9000)]
    histogram = LatencyHistogram()
    for done, value in enumerate(values, 1):
        histogram.record(value)
        if done % 997 == 0 or done == len(values):
            so_far = [min(max(v, LOWEST_US), HIGHEST_US) for v in values[:done]]
            assert histogram.count == done
            assert histogram.sum_us == sum(so_far)
            assert (histogram.min_us, histogram.max_us) == (min(so_far), max(so_far))

    reference = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
    for value in values:
        reference.record_value(min(max(value, LOWEST_US), HIGHEST_US))
    assert histogram.encode().split(";")[5] == reference.encode().decode("ascii")
    copy = pickle.loads(pickle.dumps(histogram))
    assert copy.summary() == histogram.summary()


def test_pickle_is_exact() -> None:
    """Process pools pickle results: the stats survive with their histograms."""
    metrics = worker_metrics(5, ["ep1", "ep2"])

    copy = pickle.loads(pickle.dumps(metrics))

    assert copy.to_dict() == metrics.to_dict()


def test_encode_decode_empty() -> None:
    copy = LatencyHistogram.decode(LatencyHistogram().encode())

    assert copy.summary() == LatencyHistogram().summary()


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "sai3h1;1;2;3;4;notbase64", "sai3h2;0;0;0;0;x", "sai3h1;x;0;0;0;y"],
)
def test_decode_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not an encoded latency histogram"):
        LatencyHistogram.decode(text)


def test_decode_refuses_a_wrong_count() -> None:
    tag, _, *rest = histogram_of([1, 2, 3]).encode().split(";")

    with pytest.raises(ValueError, match="holds 3 values, its header says 4"):
        LatencyHistogram.decode(";".join([tag, "4", *rest]))


@pytest.mark.parametrize("through_text", [False, True])
def test_merged_halves_equal_the_whole(through_text: bool) -> None:
    rng = random.Random(2)
    values = [int(rng.lognormvariate(8, 1.5)) for _ in range(4001)]
    whole = histogram_of(values)
    first, second = histogram_of(values[::2]), histogram_of(values[1::2])
    if through_text:
        first = LatencyHistogram.decode(first.encode())
        second = LatencyHistogram.decode(second.encode())

    first.merge(second)

    assert first.summary() == whole.summary()
    assert first.sum_us == whole.sum_us
    assert [first.percentile(q) for q in QUANTILES] == [
        whole.percentile(q) for q in QUANTILES
    ]


def test_merge_with_empty_histograms() -> None:
    filled = histogram_of([10, 20, 30])
    empty = LatencyHistogram()

    empty.merge(filled)
    filled.merge(LatencyHistogram())

    assert empty.summary() == filled.summary() == histogram_of([10, 20, 30]).summary()


def test_op_stats_keep_buckets_and_bytes() -> None:
    stats = OpStats()
    for size, latency in ((0, 50), (4096, 100), (8192, 200), (100_000, 900)):
        stats.record(latency, size, bucket_index(size))
    stats.record_error("NotFound")
    stats.record_error("NotFound")
    stats.record_retry()

    data = stats.to_dict(elapsed_s=2.0)

    assert (stats.count, stats.bytes, stats.error_count) == (4, 112_288, 2)
    assert data["ops_per_s"] == 2.0
    assert data["errors"] == {"NotFound": 2}
    assert [(b["size_bucket"], b["count"], b["bytes"]) for b in data["buckets"]] == [
        ("zero", 1, 0),
        ("1B-8KiB", 2, 12_288),
        ("64KiB-512KiB", 1, 100_000),
    ]
    assert data["buckets"][1]["avg_bytes"] == 6144
    assert OpStats.from_dict(json.loads(json.dumps(data))).to_dict(2.0) == data


def test_op_stats_merge() -> None:
    left, right, whole = OpStats(), OpStats(), OpStats()
    for i in range(100):
        size = i * 10_000
        (left if i % 3 else right).record(i + 1, size, bucket_index(size))
        whole.record(i + 1, size, bucket_index(size))
    right.record_error("Timeout")
    whole.record_error("Timeout")
    right.record_retry(2)
    whole.record_retry(2)

    left.merge(right)

    assert left.to_dict() == whole.to_dict()


def test_endpoint_stats_count_where_the_io_happens() -> None:
    stats = EndpointStats("file:///tmp/ep1/")
    stats.begin("get")
    stats.begin("put")
    assert (stats.in_flight, stats.max_in_flight) == (2, 2)

    stats.end("get", 150, bytes_read=1024)
    stats.end("put", 300, error_kind="PermissionError")
    stats.begin("stat")
    stats.end("stat", 20)

    assert stats.requests == 3
    assert stats.requests_by_op == {"get": 1, "put": 1, "stat": 1}
    assert (stats.bytes_read, stats.bytes_written) == (1024, 0)
    assert stats.errors == {"PermissionError": 1}
    assert (stats.in_flight, stats.max_in_flight) == (0, 2)
    assert stats.latency.count == 2


def test_endpoint_stats_merge() -> None:
    first, second = EndpointStats("s3://a/"), EndpointStats("s3://a/")
    for stats, op in ((first, "get"), (second, "get"), (second, "put")):
        stats.begin(op)
        stats.end(op, 100, bytes_read=10, bytes_written=5)

    first.merge(second)

    assert first.requests_by_op == {"get": 2, "put": 1}
    assert (first.bytes_read, first.bytes_written, first.max_in_flight) == (30, 15, 2)
    assert first.latency.count == 3
    with pytest.raises(ValueError, match="cannot merge stats of s3://b/ into s3://a/"):
        first.merge(EndpointStats("s3://b/"))


def worker_metrics(seed: int, uris: list[str]) -> RunMetrics:
    rng = random.Random(seed)
    metrics = RunMetrics(elapsed_s=1.0 + seed)
    for i in range(200):
        op = rng.choice(["get", "put", "stat"])
        size = 0 if op == "stat" else rng.randint(1, 100_000)
        endpoint = metrics.endpoint(uris[i % len(uris)])
        endpoint.begin(op)
        latency = rng.randint(50, 5000)
        endpoint.end(
            op,
            latency,
            bytes_read=size if op == "get" else 0,
            bytes_written=size if op == "put" else 0,
        )
        metrics.op(op).record(latency, size, bucket_index(size))
    return metrics


def test_run_metrics_round_trip_through_json() -> None:
    metrics = worker_metrics(1, ["file:///tmp/ep1/", "file:///tmp/ep2/"])

    text = json.dumps(metrics.to_dict(), allow_nan=False)
    copy = RunMetrics.from_dict(json.loads(text))

    assert copy.to_dict() == metrics.to_dict()


def test_run_metrics_merge_by_uri_and_totals() -> None:
    first = worker_metrics(1, ["ep1", "ep2"])
    second = worker_metrics(2, ["ep2", "ep3"])
    requests = {
        uri: sum(m.endpoint(uri).requests for m in (first, second) if uri in names(m))
        for uri in ("ep1", "ep2", "ep3")
    }

    first.merge(RunMetrics.from_dict(second.to_dict()))

    assert names(first) == ["ep1", "ep2", "ep3"]
    assert [e.requests for e in first.endpoints] == list(requests.values())
    assert first.total_ops == 400
    assert first.elapsed_s == 3.0
    assert first.bytes_read == sum(e.bytes_read for e in first.endpoints)
    assert first.bytes_written == sum(e.bytes_written for e in first.endpoints)
    assert sum(e.requests for e in first.endpoints) == first.total_ops


def names(metrics: RunMetrics) -> list[str]:
    return [endpoint.uri for endpoint in metrics.endpoints]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3, 3, 2, 2], [30.0, 30.0, 20.0, 20.0]),
        ([1, 1, 1, 0], [33.34, 33.33, 33.33, 0.0]),
        ([1, 1, 0, 0], [50.0, 50.0, 0.0, 0.0]),
        ([1, 2], [33.33, 66.67]),
        ([5], [100.0]),
        ([0, 0, 0, 0], [0.0, 0.0, 0.0, 0.0]),
        ([], []),
        ([1, 1, 1, 1, 1, 1, 1], [14.29, 14.29, 14.29, 14.29, 14.28, 14.28, 14.28]),
    ],
)
def test_share_pct(values: list[int], expected: list[float]) -> None:
    assert share_pct(values) == expected


def test_share_pct_always_sums_to_100() -> None:
    rng = random.Random(4)
    for _ in range(500):
        values = [rng.randint(0, 50) for _ in range(rng.randint(1, 9))]
        shares = share_pct(values)
        if sum(values) == 0:
            continue
        assert sum(round(share * 100) for share in shares) == 10_000
        assert round(sum(shares), 2) == 100.0
        exact = [100 * value / sum(values) for value in values]
        assert all(abs(s - e) < 0.01 for s, e in zip(shares, exact, strict=True))


def test_share_pct_refuses_negatives() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        share_pct([1, -1])


def test_empty_stats_are_strict_json() -> None:
    """Case 9 and 31 (a): idle endpoints and no elapsed time give nulls, not NaN."""
    metrics = RunMetrics(elapsed_s=float("nan"))
    metrics.op("get")
    metrics.op("put").record_error("Timeout")
    for uri in ("ep1", "ep2", "ep3", "ep4"):
        metrics.endpoint(uri)

    data = metrics.to_dict()
    json.dumps(data, allow_nan=False)

    assert data["elapsed_s"] is None
    assert data["ops_per_s"] is None
    assert data["ops"]["get"]["latency"]["p99_us"] is None
    assert data["ops"]["get"]["mib_per_s"] is None
    assert [e["share_pct"] for e in data["endpoints"]] == [0.0] * 4


def test_idle_endpoints_share_zero() -> None:
    """Case 9: requests 1, 1, 0, 0 give shares 50, 50, 0, 0 and null latencies."""
    metrics = RunMetrics(elapsed_s=0.001)
    for uri in ("ep1", "ep2", "ep3", "ep4"):
        metrics.endpoint(uri)
    for uri in ("ep1", "ep2"):
        metrics.endpoint(uri).begin("get")
        metrics.endpoint(uri).end("get", 80, bytes_read=1024)
        metrics.op("get").record(80, 1024, bucket_index(1024))

    data = metrics.to_dict()
    json.dumps(data, allow_nan=False)

    assert [e["share_pct"] for e in data["endpoints"]] == [50.0, 50.0, 0.0, 0.0]
    assert [e["read_pct"] for e in data["endpoints"]] == [50.0, 50.0, 0.0, 0.0]
    assert data["endpoints"][3]["latency"]["mean_us"] is None
    assert data["ops_per_s"] == pytest.approx(2000.0)
