"""Size strings, size distributions and size buckets."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import re
import statistics
import subprocess
import sys
from collections.abc import Callable

import pytest
from scipy import stats

from pytest_sai3.sizes import (
    BUCKET_NAMES,
    FixedSize,
    LognormalSize,
    SizeDistribution,
    SizeError,
    UniformSize,
    bucket_index,
    format_size,
    index_rng,
    legacy_size_spec,
    parse_size,
    parse_size_spec,
    size_for_index,
)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
EXPECTED = re.escape("expected a size such as 4096, 4KiB or 1.5MB")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (4096, 4096),
        (1048576.0, 1048576),
        (2**64 - 1, 2**64 - 1),
        ("0", 0),
        ("4096", 4096),
        ("  4096  ", 4096),
        ("512B", 512),
        ("512 b", 512),
        ("4K", 4000),
        ("4k", 4000),
        ("4KB", 4000),
        ("4kb", 4000),
        ("4Ki", 4 * KiB),
        ("4KiB", 4 * KiB),
        ("4kib", 4 * KiB),
        ("4KIB", 4 * KiB),
        ("4 KiB", 4 * KiB),
        ("1M", 1_000_000),
        ("8MB", 8_000_000),
        ("8MiB", 8 * MiB),
        ("1mi", MiB),
        ("1.5MB", 1_500_000),
        ("2.5MiB", 2_621_440),
        ("1.5GiB", 1_610_612_736),
        (" 1.5 GiB ", 1_610_612_736),
        ("1G", 10**9),
        ("1gb", 10**9),
        ("1T", 10**12),
        ("1TB", 10**12),
        ("1TiB", 2**40),
        ("1ti", 2**40),
        (".5KiB", 512),
        ("0.5B", 1),
        ("1.4B", 1),
        ("1_000", 1000),
        ("500_000", 500_000),
        ("1,000", 1000),
        ("1,000,000", 1_000_000),
        ("1,024 KiB", MiB),
        ("1_024KiB", MiB),
    ],
)
def test_parse_size_accepts(value: object, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (-1, r"\(got -1\): sizes cannot be negative"),
        (-0.5, r"\(got -0.5\): sizes cannot be negative"),
        ("-1", r"\(got '-1'\): sizes cannot be negative"),
        ("-1MB", r"\(got '-1MB'\): sizes cannot be negative"),
        (True, r"\(got bool True\)$"),
        (False, r"\(got bool False\)$"),
        (float("nan"), r"\(got nan\): not a finite number"),
        (float("inf"), r"\(got inf\): not a finite number"),
        ("", r"\(got ''\): empty"),
        ("   ", r"\(got '   '\): empty"),
        ("nan", r"\(got 'nan'\)$"),
        ("KiB", r"\(got 'KiB'\)$"),
        ("four", r"\(got 'four'\)$"),
        ("4PB", r"\(got '4PB'\): unknown unit 'PB'; use B, K/KB"),
        ("4 XB", r"\(got '4 XB'\): unknown unit 'XB'"),
        ("4 bytes", r"\(got '4 bytes'\): unknown unit 'bytes'"),
        ("4KiBs", r"\(got '4KiBs'\): unknown unit 'KiBs'"),
        ("1,5MB", r"\(got '1,5MB'\): a comma only separates thousands"),
        ("1,00", r"\(got '1,00'\): a comma only separates thousands"),
        ("1.5.5", r"\(got '1.5.5'\)$"),
        ("1.", r"\(got '1.'\)$"),
        ("1e6", r"\(got '1e6'\)$"),
        ("0x10", r"\(got '0x10'\)$"),
        ("1__000", r"\(got '1__000'\)$"),
        ("_1000", r"\(got '_1000'\)$"),
        ("4 K iB", r"\(got '4 K iB'\)$"),
        ("+4", r"\(got '\+4'\)$"),
        (
            "18446744073709551616",
            r"\(got '18446744073709551616'\): larger than 2\*\*64",
        ),
        (2**64, r"\(got 18446744073709551616\): larger than 2\*\*64 - 1 bytes"),
        (None, r"\(got NoneType None\)$"),
        ([4096], r"\(got list \[4096\]\)$"),
        (b"4096", r"\(got bytes b'4096'\)$"),
    ],
)
def test_parse_size_rejects(value: object, match: str) -> None:
    with pytest.raises(SizeError, match=f"^{EXPECTED} {match}") as excinfo:
        parse_size(value)
    assert excinfo.value.key is None


def test_size_error_is_a_value_error() -> None:
    assert issubclass(SizeError, ValueError)
    assert SizeError("x", key="min").key == "min"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4096, FixedSize(4096)),
        ("4KiB", FixedSize(4096)),
        ({"type": "fixed", "size": "1MiB"}, FixedSize(MiB)),
        ({"type": "uniform"}, UniformSize(1024, MiB)),
        ({"type": "uniform", "min": 1, "max": 3}, UniformSize(1, 3)),
        ({"type": "Uniform", "min": "1KiB", "max": "1 MiB"}, UniformSize(KiB, MiB)),
        ({"type": "uniform", "min": 5, "max": 5}, UniformSize(5, 5)),
        ({"type": "uniform", "min": 2048, "max": None}, UniformSize(2048, MiB)),
        (
            {
                "type": "lognormal",
                "mean": 4096,
                "std_dev": 2048,
                "min": 1024,
                "max": 16384,
            },
            LognormalSize(4096, 2048, 1024, 16384),
        ),
        (
            {"type": "lognormal", "mean": "4KiB", "std_dev": "2KiB"},
            LognormalSize(4096, 2048, 1, None),
        ),
        (
            {"type": "lognormal", "mean": "1MB", "std_dev": "0.5MB", "min": 0},
            LognormalSize(1_000_000, 500_000, 0, None),
        ),
    ],
)
def test_parse_size_spec_accepts(value: object, expected: SizeDistribution) -> None:
    assert parse_size_spec(value) == expected


@pytest.mark.parametrize(
    ("value", "key", "match"),
    [
        (0, None, r"a fixed size must be > 0 \(got 0\); for zero-byte objects"),
        ("0KiB", None, r"a fixed size must be > 0 \(got '0KiB'\)"),
        ("4PB", None, r"unknown unit 'PB'"),
        (True, None, r"\(got bool True\)"),
        (None, None, r"or a mapping with type: uniform, .* \(got NoneType None\)"),
        ([1, 2], None, r"or a mapping with type: .* \(got list \[1, 2\]\)"),
        ({}, "type", r"missing 'type': expected uniform, lognormal or fixed$"),
        ({"fixed": 1024}, "type", r"missing 'type'.*type: fixed, size: N"),
        ({"type": 3}, "type", r"type must be one of .* \(got int 3\)"),
        ({"type": "unifrom"}, "type", r"\(got 'unifrom'\); did you mean 'uniform'\?"),
        ({"type": "normal"}, "type", r"did you mean 'lognormal'\?"),
        ({"type": "uniform", "min": 0}, "min", r"min must be > 0 for a uniform"),
        ({"type": "uniform", "min": 10, "max": 5}, "min", r"min \(10\) .* max \(5\)$"),
        ({"type": "uniform", "min": "2MiB"}, "min", r"max \(1048576, the default\)"),
        ({"type": "uniform", "min": "x"}, "min", rf"^{EXPECTED} \(got 'x'\)"),
        ({"type": "uniform", "max": -1}, "max", r"sizes cannot be negative"),
        ({"type": "uniform", "mn": 1}, "mn", r"'mn' .* did you mean 'min'\?"),
        ({"type": "uniform", "mean": 1}, "mean", r"'mean' belongs to type: lognormal"),
        ({"type": "lognormal", "std_dev": 1}, "mean", r"needs 'mean' \(a size > 0\)"),
        ({"type": "lognormal", "mean": 1}, "std_dev", r"needs 'std_dev'"),
        ({"type": "lognormal", "mean": 0, "std_dev": 1}, "mean", r"mean must be > 0"),
        ({"type": "lognormal", "mean": 9, "std_dev": "0B"}, "std_dev", r"> 0"),
        ({"type": "lognormal", "mean": -1, "std_dev": 1}, "mean", r"negative"),
        (
            {"type": "lognormal", "mean": 4096, "sdt_dev": 1},
            "sdt_dev",
            r"unknown key 'sdt_dev' in a lognormal .* did you mean 'std_dev'\?",
        ),
        (
            {"type": "lognormal", "mean": 1, "std_dev": 1, "min": 10, "max": 5},
            "min",
            r"min \(10\) must not exceed max \(5\)",
        ),
        ({"type": "fixed"}, "size", r"type: fixed needs 'size'"),
        ({"type": "fixed", "size": 0}, "size", r"size must be > 0 for type: fixed"),
        ({"type": "fixed", "size": 1, "min": 2}, "min", r"allowed: type, size\)$"),
    ],
)
def test_parse_size_spec_rejects(value: object, key: str | None, match: str) -> None:
    with pytest.raises(SizeError, match=match) as excinfo:
        parse_size_spec(value)
    assert excinfo.value.key == key


@pytest.mark.parametrize(
    ("min_size", "max_size", "expected"),
    [
        (None, None, FixedSize(MiB)),
        (0, 0, FixedSize(0)),
        (1000, 1000, FixedSize(1000)),
        ("1KiB", 1024, FixedSize(1024)),
        (1024, 2048, UniformSize(1024, 2048)),
        (0, 1024, UniformSize(0, 1024)),
        (2048, None, UniformSize(2048, MiB)),
        (None, "2MiB", UniformSize(MiB, 2 * MiB)),
    ],
)
def test_legacy_size_spec_accepts(
    min_size: object, max_size: object, expected: SizeDistribution
) -> None:
    assert legacy_size_spec(min_size, max_size) == expected


@pytest.mark.parametrize(
    ("min_size", "max_size", "key", "match"),
    [
        (
            2048,
            1024,
            "min_size",
            r"min_size \(2048\) must not exceed max_size \(1024\)$",
        ),
        ("2MiB", None, "min_size", r"max_size \(1048576, the default\)"),
        (-1, 5, "min_size", r"sizes cannot be negative"),
        (1, "x", "max_size", rf"^{EXPECTED} \(got 'x'\)"),
    ],
)
def test_legacy_size_spec_rejects(
    min_size: object, max_size: object, key: str, match: str
) -> None:
    with pytest.raises(SizeError, match=match) as excinfo:
        legacy_size_spec(min_size, max_size)
    assert excinfo.value.key == key


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: FixedSize(-1), "size"),
        (lambda: UniformSize(-1, 3), "min"),
        (lambda: UniformSize(4, 3), "min"),
        (lambda: LognormalSize(0, 1), "mean"),
        (lambda: LognormalSize(1, 0), "std_dev"),
        (lambda: LognormalSize(1, 1, 5, 4), "min"),
    ],
)
def test_distributions_validate_when_built_directly(
    make: Callable[[], object], key: str
) -> None:
    with pytest.raises(SizeError) as excinfo:
        make()
    assert excinfo.value.key == key


def test_distributions_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FixedSize(1).size = 2  # type: ignore[misc]


def test_fixed_sizes_of_a_legacy_entry() -> None:
    """Case 16, a/: ``min_size: 1000, max_size: 1000`` gives 1000 bytes each."""
    dist = legacy_size_spec(1000, 1000)

    sizes = [size_for_index(dist, 1, "file:///tmp/ep1/a/", i) for i in range(50)]

    assert sizes == [1000] * 50


def test_uniform_covers_both_bounds_evenly() -> None:
    """Case 16, b/: uniform 1..3 gives only 1, 2 and 3, each about 100 of 300."""
    dist = parse_size_spec({"type": "uniform", "min": 1, "max": 3})

    sizes = [size_for_index(dist, 1, "file:///tmp/ep1/b/", i) for i in range(300)]
    counts = [sizes.count(value) for value in (1, 2, 3)]

    assert set(sizes) == {1, 2, 3}
    assert all(abs(count - 100) <= 26 for count in counts), counts
    assert stats.chisquare(counts).pvalue > 0.001


def test_lognormal_stays_in_bounds_with_the_asked_shape() -> None:
    """Case 16, c/: lognormal mean 4096 sd 2048 in [1024, 16384]."""
    dist = parse_size_spec(
        {"type": "lognormal", "mean": 4096, "std_dev": 2048, "min": 1024, "max": 16384}
    )

    sizes = [size_for_index(dist, 1, "file:///tmp/ep1/c/", i) for i in range(500)]

    assert min(sizes) >= 1024
    assert max(sizes) <= 16384
    assert 3700 <= statistics.mean(sizes) <= 4500
    assert 3300 <= statistics.median(sizes) <= 4100


def test_lognormal_fits_its_parameters() -> None:
    """sigma^2 = ln(1 + sd^2/mean^2), mu = ln(mean) - sigma^2/2, as sai3-bench."""
    dist = LognormalSize(MiB, MiB // 2)
    rng = random.Random(7)
    sigma_sq = math.log1p(0.5**2)
    reference = stats.lognorm(
        s=math.sqrt(sigma_sq), scale=MiB * math.exp(-sigma_sq / 2)
    )

    sizes = [dist.draw(rng) for _ in range(5000)]

    assert stats.kstest(sizes, reference.cdf).pvalue > 0.001
    assert max(sizes) <= dist.max_size


def test_lognormal_without_max_is_capped() -> None:
    dist = LognormalSize(4096, 2048)
    heavy = LognormalSize(1000, 100_000)
    rng = random.Random(3)

    assert dist.max_size == 4096 + 10 * 2048
    assert all(1 <= heavy.draw(rng) <= heavy.max_size for _ in range(2000))


def test_lognormal_clamps_when_the_bounds_miss_the_mass() -> None:
    dist = LognormalSize(4096, 100, min=MiB, max=2 * MiB)

    assert dist.draw(random.Random(1)) == MiB


def test_fixed_and_uniform_bounds() -> None:
    rng = random.Random(5)

    assert FixedSize(0).draw(rng) == 0
    assert FixedSize(7).max_size == 7
    assert UniformSize(5, 5).draw(rng) == 5
    assert UniformSize(1, 9).max_size == 9


@pytest.mark.parametrize(
    ("dist", "text"),
    [
        (FixedSize(4096), "fixed 4 KiB"),
        (UniformSize(1024, MiB), "uniform in [1 KiB, 1 MiB]"),
        (UniformSize(1, 3), "uniform in [1 B, 3 B]"),
        (
            LognormalSize(4096, 2048, 1024, 16384),
            "lognormal mean 4 KiB sd 2 KiB in [1 KiB, 16 KiB]",
        ),
        (
            LognormalSize(4096, 2048),
            "lognormal mean 4 KiB sd 2 KiB in [1 B, 24 KiB]"
            " (no max: capped at mean + 10 sd)",
        ),
    ],
)
def test_describe(dist: SizeDistribution, text: str) -> None:
    assert dist.describe() == text


def test_index_sizes_are_deterministic() -> None:
    dist = UniformSize(1, 1_000_000)

    first = [size_for_index(dist, 7, "s3://bench/data/", i) for i in range(20)]
    again = [size_for_index(dist, 7, "s3://bench/data/", i) for i in range(20)]
    other_key = [size_for_index(dist, 7, "s3://bench/other/", i) for i in range(20)]
    other_seed = [size_for_index(dist, 8, "s3://bench/data/", i) for i in range(20)]

    assert first == again
    assert first != other_key
    assert first != other_seed
    assert index_rng(7, "k", 3).random() == index_rng(7, "k", 3).random()


def test_index_sizes_do_not_depend_on_the_process() -> None:
    code = (
        "from pytest_sai3.sizes import index_rng;"
        "print([index_rng(1, 'file:///tmp/ep1/b/', i).randint(1, 10**9)"
        " for i in range(5)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hashseed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hashseed in ("1", "2")
    }
    expected = [
        index_rng(1, "file:///tmp/ep1/b/", i).randint(1, 10**9) for i in range(5)
    ]

    assert outputs == {f"{expected}\n"}


@pytest.mark.parametrize(
    ("size", "index"),
    [
        (0, 0),
        (1, 1),
        (8 * KiB, 1),
        (8 * KiB + 1, 2),
        (64 * KiB, 2),
        (64 * KiB + 1, 3),
        (512 * KiB, 3),
        (512 * KiB + 1, 4),
        (4 * MiB, 4),
        (4 * MiB + 1, 5),
        (32 * MiB, 5),
        (32 * MiB + 1, 6),
        (256 * MiB, 6),
        (256 * MiB + 1, 7),
        (2 * GiB, 7),
        (2 * GiB + 1, 8),
        (2**50, 8),
    ],
)
def test_bucket_boundaries_are_inclusive(size: int, index: int) -> None:
    assert bucket_index(size) == index


def test_bucket_names_match_sai3_bench() -> None:
    assert BUCKET_NAMES == (
        "zero",
        "1B-8KiB",
        "8KiB-64KiB",
        "64KiB-512KiB",
        "512KiB-4MiB",
        "4MiB-32MiB",
        "32MiB-256MiB",
        "256MiB-2GiB",
        ">2GiB",
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (4096, "4 KiB"),
        (MiB + MiB // 2, "1.5 MiB"),
        (MiB - 1, "1 MiB"),
        (12_345_678, "11.77 MiB"),
        (5 * GiB, "5 GiB"),
        (2**40, "1 TiB"),
        (-2048, "-2 KiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
