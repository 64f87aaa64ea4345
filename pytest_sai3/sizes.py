"""Size strings and object size distributions, with sai3-bench's rules.

A size is an integer number of bytes or a string such as ``4096``, ``4KiB``,
``1.5 MB`` or ``1_000``. Decimal units (``K``/``KB`` ... ``T``/``TB``) are powers of
1000, binary units (``Ki``/``KiB`` ... ``Ti``/``TiB``) powers of 1024; units are
case-insensitive.

A size distribution says how big each object is: :class:`FixedSize`,
:class:`UniformSize` or :class:`LognormalSize`. Sizes are drawn from a
:class:`random.Random` that the caller owns, so a seeded run repeats exactly;
:func:`index_rng` gives the generator for one prepared object, stable across
processes.

Sizes are also grouped into sai3-bench's nine size buckets (:data:`BUCKET_NAMES`)
for the latency histograms.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeAlias

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: sai3-bench parses sizes into a u64; anything larger is rejected.
MAX_SIZE = 2**64 - 1

#: Default of both ``min_size`` and ``max_size`` in ``ensure_objects`` (1 MiB).
DEFAULT_LEGACY_SIZE = MiB

#: Upper bound of a lognormal distribution without ``max``: mean + this many sd.
LOGNORMAL_CAP_SDS = 10

#: Attempts to draw a lognormal size inside ``[min, max]`` before clamping.
LOGNORMAL_TRIES = 100

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": KiB,
    "kib": KiB,
    "mi": MiB,
    "mib": MiB,
    "gi": GiB,
    "gib": GiB,
    "ti": 1024 * GiB,
    "tib": 1024 * GiB,
}

# Commas only group thousands, so a European "1,5MB" is refused rather than read as
# 15 MB; underscores group freely, as in Python and Rust literals.
_SIZE_RE = re.compile(
    r"""
    (?P<int>\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)?
    (?P<frac>\.\d+)?
    \s*
    (?P<unit>[a-z]*)
    """,
    re.VERBOSE | re.IGNORECASE,
)

_SIZE_EXPECTED = "expected a size such as 4096, 4KiB or 1.5MB"
_UNIT_HELP = (
    "B, K/KB, M/MB, G/GB, T/TB (x1000) or Ki/KiB, Mi/MiB, Gi/GiB, Ti/TiB (x1024)"
)


class SizeError(ValueError):
    """A size or size distribution that cannot be used.

    :param message: what was expected and what was found.
    :param key: the sub-key at fault (``"min"``, ``"std_dev"``, ...), so that the
        scenario parser can point at it; ``None`` when the value as a whole is wrong.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _found(value: object) -> str:
    """Render a found value for an error message: strings and numbers as written,
    anything else with its type name first."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return f"{type(value).__name__} {value!r}"


def _size_error(value: object, detail: str = "", key: str | None = None) -> SizeError:
    message = f"{_SIZE_EXPECTED} (got {_found(value)})"
    if detail:
        message = f"{message}: {detail}"
    return SizeError(message, key)


def parse_size(value: object) -> int:
    """Return the number of bytes that ``value`` stands for.

    Accepts a non-negative int, a finite non-negative float (rounded), or a string:
    digits with optional ``_`` or thousands ``,`` separators, an optional decimal
    part and an optional unit, with optional space between number and unit
    (``"4 KiB"``). A fractional number of bytes is rounded to the nearest byte,
    halves up.

    :param value: the size as found in the scenario.
    :raises SizeError: for negatives, NaN, booleans, unknown units, empty strings
        and anything that is not a size.
    """
    if isinstance(value, bool):
        raise _size_error(value)
    if isinstance(value, int):
        return _check_range(value, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _size_error(value, "not a finite number")
        if value < 0:
            raise _size_error(value, "sizes cannot be negative")
        return _check_range(value, _round_half_up(Fraction(value)))
    if isinstance(value, str):
        return _parse_size_string(value)
    raise _size_error(value)


def _parse_size_string(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        raise _size_error(text, "empty")
    if stripped.startswith("-"):
        raise _size_error(text, "sizes cannot be negative")

    match = _SIZE_RE.fullmatch(stripped)
    if match is None or not (match["int"] or match["frac"]):
        detail = ""
        if "," in stripped:
            detail = "a comma only separates thousands; write decimals with a dot"
        raise _size_error(text, detail)

    unit = match["unit"].lower()
    if unit not in _UNITS:
        raise _size_error(text, f"unknown unit {match['unit']!r}; use {_UNIT_HELP}")

    digits = (match["int"] or "0").replace("_", "").replace(",", "")
    number = Fraction(digits + (match["frac"] or ""))
    return _check_range(text, _round_half_up(number * _UNITS[unit]))


def _round_half_up(number: Fraction) -> int:
    return math.floor(number + Fraction(1, 2))


def _check_range(value: object, size: int) -> int:
    if size < 0:
        raise _size_error(value, "sizes cannot be negative")
    if size > MAX_SIZE:
        raise _size_error(value, "larger than 2**64 - 1 bytes")
    return size


def format_size(n: int) -> str:
    """Render a byte count for people, in binary units.

    ``512`` gives ``"512 B"``, ``4096`` gives ``"4 KiB"``, ``1572864`` gives
    ``"1.5 MiB"``; at most two decimals, trailing zeros dropped.

    :param n: a number of bytes.
    """
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < KiB:
        return f"{sign}{n} B"

    units = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    exponent = 1
    while exponent < len(units) and n >= 1024 ** (exponent + 1):
        exponent += 1
    text = f"{n / 1024**exponent:.2f}".rstrip("0").rstrip(".")
    if text == "1024" and exponent < len(units):
        text, exponent = "1", exponent + 1
    return f"{sign}{text} {units[exponent - 1]}"


@dataclass(frozen=True, slots=True)
class FixedSize:
    """Every object has the same size.

    :param size: bytes per object; 0 is allowed (zero-byte objects are valid
        through ``min_size: 0, max_size: 0``), although ``size_spec`` refuses it.
    """

    size: int

    def __post_init__(self) -> None:
        if self.size < 0:
            raise SizeError(f"size must be >= 0 (got {self.size})", "size")

    @property
    def max_size(self) -> int:
        """The largest size :meth:`draw` can return."""
        return self.size

    def draw(self, rng: random.Random) -> int:
        """Return the size; ``rng`` is not used.

        :param rng: the caller's generator.
        """
        return self.size

    def describe(self) -> str:
        """A short human description, such as ``"fixed 4 KiB"``."""
        return f"fixed {format_size(self.size)}"


@dataclass(frozen=True, slots=True)
class UniformSize:
    """Sizes uniform over ``[min, max]``, both ends included.

    :param min: smallest size in bytes.
    :param max: largest size in bytes.
    """

    min: int
    max: int

    def __post_init__(self) -> None:
        if self.min < 0:
            raise SizeError(f"min must be >= 0 (got {self.min})", "min")
        if self.min > self.max:
            raise SizeError(f"min ({self.min}) must not exceed max ({self.max})", "min")

    @property
    def max_size(self) -> int:
        """The largest size :meth:`draw` can return."""
        return self.max

    def draw(self, rng: random.Random) -> int:
        """Return a size uniform over ``[min, max]``.

        :param rng: the caller's generator.
        """
        return rng.randint(self.min, self.max)

    def describe(self) -> str:
        """A short human description, such as ``"uniform in [1 KiB, 1 MiB]"``."""
        return f"uniform in [{format_size(self.min)}, {format_size(self.max)}]"


@dataclass(frozen=True, slots=True)
class LognormalSize:
    """Lognormal sizes with the given mean and standard deviation (in bytes).

    With ``sigma^2 = ln(1 + sd^2 / mean^2)`` and ``mu = ln(mean) - sigma^2 / 2``,
    as sai3-bench does. A draw is rounded to whole bytes and retried up to
    :data:`LOGNORMAL_TRIES` times until it falls in ``[min, max]``, then clamped.
    Without ``max`` the upper bound is ``mean + LOGNORMAL_CAP_SDS * std_dev``
    (sai3-bench has none), so that :attr:`max_size` bounds every draw and payload
    buffers can be sized from it; for sd/mean up to 2 that truncates less than
    0.2% of the distribution.

    :param mean: mean size in bytes, > 0.
    :param std_dev: standard deviation in bytes, > 0.
    :param min: smallest size in bytes.
    :param max: largest size in bytes, or ``None`` for the cap above.
    """

    mean: int
    std_dev: int
    min: int = 1
    max: int | None = None
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)
    _upper: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in ("mean", "std_dev"):
            if getattr(self, key) <= 0:
                raise SizeError(f"{key} must be > 0 (got {getattr(self, key)})", key)
        if self.min < 0:
            raise SizeError(f"min must be >= 0 (got {self.min})", "min")
        if self.max is not None and self.min > self.max:
            raise SizeError(f"min ({self.min}) must not exceed max ({self.max})", "min")

        sigma_sq = math.log1p((self.std_dev / self.mean) ** 2)
        cap = self.mean + LOGNORMAL_CAP_SDS * self.std_dev
        upper = self.max if self.max is not None else max(self.min, cap)
        object.__setattr__(self, "_sigma", math.sqrt(sigma_sq))
        object.__setattr__(self, "_mu", math.log(self.mean) - sigma_sq / 2)
        object.__setattr__(self, "_upper", upper)

    @property
    def max_size(self) -> int:
        """The largest size :meth:`draw` can return: ``max``, or the cap."""
        return self._upper

    def draw(self, rng: random.Random) -> int:
        """Return a lognormal size within ``[min, max_size]``.

        :param rng: the caller's generator.
        """
        low, high = self.min, self._upper
        size = low
        for _ in range(LOGNORMAL_TRIES):
            size = round(rng.lognormvariate(self._mu, self._sigma))
            if low <= size <= high:
                return size
        return min(max(size, low), high)

    def describe(self) -> str:
        """A short human description, such as
        ``"lognormal mean 4 KiB sd 2 KiB in [1 KiB, 16 KiB]"``."""
        text = (
            f"lognormal mean {format_size(self.mean)} sd {format_size(self.std_dev)}"
            f" in [{format_size(self.min)}, {format_size(self._upper)}]"
        )
        if self.max is None:
            text += f" (no max: capped at mean + {LOGNORMAL_CAP_SDS} sd)"
        return text


SizeDistribution: TypeAlias = FixedSize | UniformSize | LognormalSize

_FIELDS: dict[str, tuple[str, ...]] = {
    "uniform": ("min", "max"),
    "lognormal": ("mean", "std_dev", "min", "max"),
    "fixed": ("size",),
}
_TYPES = "uniform, lognormal or fixed"


def parse_size_spec(value: object) -> SizeDistribution:
    """Build a size distribution from a ``size_spec`` / ``size_distribution`` value.

    A size (int or size string) gives :class:`FixedSize` and must be > 0, as in
    sai3-bench. A mapping needs ``type``: ``uniform`` (``min`` default 1024, ``max``
    default 1 MiB, ``0 < min <= max``), ``lognormal`` (``mean`` and ``std_dev``
    required and > 0, ``min`` default 1, ``max`` default none) or ``fixed`` with
    ``size`` (shown in sai3-bench's docs though sai3-bench refuses it). Every field
    takes an int or a size string.

    :param value: the value found in the scenario.
    :raises SizeError: naming the sub-key at fault in :attr:`SizeError.key`.
    """
    if isinstance(value, Mapping):
        return _parse_mapping(value)
    if not isinstance(value, (str, int, float)):
        raise SizeError(
            "expected a size such as 4096 or 4KiB, or a mapping with type: "
            f"{_TYPES} (got {type(value).__name__} {value!r})"
        )

    size = parse_size(value)
    if size == 0:
        raise SizeError(
            f"a fixed size must be > 0 (got {value!r}); "
            "for zero-byte objects use min_size: 0 and max_size: 0"
        )
    return FixedSize(size)


def _parse_mapping(spec: Mapping[object, object]) -> SizeDistribution:
    kind = _distribution_type(spec)
    allowed = _FIELDS[kind]
    for key in spec:
        if key != "type" and key not in allowed:
            raise _unknown_key(key, kind)

    if kind == "fixed":
        if "size" not in spec:
            raise SizeError("type: fixed needs 'size' (a size > 0)", "size")
        size = _field(spec, "size", None)
        if size == 0:
            raise SizeError("size must be > 0 for type: fixed (got 0)", "size")
        return FixedSize(size)
    if kind == "uniform":
        return _uniform(spec)
    return _lognormal(spec)


def _distribution_type(spec: Mapping[object, object]) -> str:
    if "type" not in spec:
        hint = ""
        if "fixed" in spec or "size" in spec:
            hint = " (for a fixed size write the size itself, or type: fixed, size: N)"
        raise SizeError(f"missing 'type': expected {_TYPES}{hint}", "type")

    kind = spec["type"]
    if not isinstance(kind, str):
        raise SizeError(
            f"type must be one of {_TYPES} (got {type(kind).__name__} {kind!r})",
            "type",
        )
    if kind.lower() not in _FIELDS:
        hint = _did_you_mean(kind, _FIELDS)
        raise SizeError(f"type must be one of {_TYPES} (got {kind!r}){hint}", "type")
    return kind.lower()


def _unknown_key(key: object, kind: str) -> SizeError:
    allowed = ("type", *_FIELDS[kind])
    message = f"unknown key {key!r} in a {kind} size distribution"
    hint = _did_you_mean(str(key), allowed)
    if not hint:
        owners = [name for name, keys in _FIELDS.items() if key in keys]
        if owners:
            hint = f"; {key!r} belongs to type: {' or '.join(owners)}"
    allowed_text = ", ".join(allowed)
    return SizeError(f"{message}{hint} (allowed: {allowed_text})", str(key))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _field(spec: Mapping[object, object], key: str, default: int | None) -> int:
    if key not in spec or spec[key] is None:
        if default is None:
            raise SizeError(f"{key!r} is required", key)
        return default
    try:
        return parse_size(spec[key])
    except SizeError as err:
        raise SizeError(str(err), key) from None


def _uniform(spec: Mapping[object, object]) -> UniformSize:
    low = _field(spec, "min", 1024)
    high = _field(spec, "max", MiB)
    if low == 0:
        raise SizeError("min must be > 0 for a uniform distribution (got 0)", "min")
    if low > high:
        defaulted = "" if "max" in spec else ", the default"
        raise SizeError(f"min ({low}) must not exceed max ({high}{defaulted})", "min")
    return UniformSize(low, high)


def _lognormal(spec: Mapping[object, object]) -> LognormalSize:
    values: dict[str, int] = {}
    for key in ("mean", "std_dev"):
        if key not in spec or spec[key] is None:
            raise SizeError(f"a lognormal distribution needs {key!r} (a size > 0)", key)
        values[key] = _field(spec, key, None)
        if values[key] == 0:
            raise SizeError(f"{key} must be > 0 (got {spec[key]!r})", key)

    low = _field(spec, "min", 1)
    high = None if spec.get("max") is None else _field(spec, "max", None)
    if high is not None and low > high:
        raise SizeError(f"min ({low}) must not exceed max ({high})", "min")
    return LognormalSize(values["mean"], values["std_dev"], low, high)


def legacy_size_spec(
    min_size: object = None, max_size: object = None
) -> SizeDistribution:
    """Build the distribution of sai3-bench's legacy ``min_size``/``max_size`` keys.

    Both default to 1 MiB. Equal bounds give :class:`FixedSize` (0 allowed:
    zero-byte objects are valid), different ones :class:`UniformSize`.

    :param min_size: the ``min_size`` value, or ``None`` when absent.
    :param max_size: the ``max_size`` value, or ``None`` when absent.
    :raises SizeError: with :attr:`SizeError.key` ``"min_size"`` or ``"max_size"``.
    """
    bounds: dict[object, object] = {"min_size": min_size, "max_size": max_size}
    low = _field(bounds, "min_size", DEFAULT_LEGACY_SIZE)
    high = _field(bounds, "max_size", DEFAULT_LEGACY_SIZE)

    if low == high:
        return FixedSize(low)
    if low > high:
        defaulted = "" if max_size is not None else ", the default"
        raise SizeError(
            f"min_size ({low}) must not exceed max_size ({high}{defaulted})",
            "min_size",
        )
    return UniformSize(low, high)


#: Inclusive upper bounds of the size buckets but the last (which is open).
BUCKET_BOUNDS: tuple[int, ...] = (
    0,
    8 * KiB,
    64 * KiB,
    512 * KiB,
    4 * MiB,
    32 * MiB,
    256 * MiB,
    2 * GiB,
)

#: sai3-bench's size bucket names, indexed by :func:`bucket_index`.
BUCKET_NAMES: tuple[str, ...] = (
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


def bucket_index(size: int) -> int:
    """Return the size bucket of an object of ``size`` bytes (0 to 8).

    Upper bounds are inclusive: 8192 bytes is in ``1B-8KiB``, 8193 in
    ``8KiB-64KiB``.

    :param size: the object size in bytes, >= 0.
    """
    return bisect.bisect_left(BUCKET_BOUNDS, size)


def index_rng(seed: int, key: str, index: int) -> random.Random:
    """Return the generator for object ``index`` of a dataset.

    Seeded from a blake2b hash of ``(seed, key, index)``, so the same object gets
    the same size in every process and every run (``hash()`` is salted per process
    and would not do).

    :param seed: the scenario's seed.
    :param key: what names the dataset, such as its effective base URI.
    :param index: the object's index in the dataset.
    """
    digest = hashlib.blake2b(
        f"{seed}\x00{key}\x00{index}".encode(), digest_size=8
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


def size_for_index(dist: SizeDistribution, seed: int, key: str, index: int) -> int:
    """Return the size of object ``index`` of a dataset, as :func:`index_rng` fixes it.

    A fixed size skips building a generator.

    :param dist: the dataset's size distribution.
    :param seed: the scenario's seed.
    :param key: what names the dataset, such as its effective base URI.
    :param index: the object's index in the dataset.
    """
    if isinstance(dist, FixedSize):
        return dist.size
    return dist.draw(index_rng(seed, key, index))
