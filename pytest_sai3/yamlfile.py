"""YAML loading that remembers where every key came from.

Scenario and site files are validated at the edge: every error and warning names the
file, the line, the key, what was expected and what was found. The loader below keeps
the line of every mapping key and sequence item; :class:`Section` reads keys out of a
mapping and records which ones were used, so unknown keys can be reported with the
most likely key meant.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class MarkedDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A sequence that knows the line of itself and of each of its items."""

    line: int = 0
    item_lines: list[int]


class _MarkedLoader(yaml.SafeLoader):
    """A safe loader whose mappings and sequences carry 1-based line numbers."""


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A key given twice in one mapping (sai3-bench refuses it too)."""

    def __init__(self, key: str, first: int, mark: yaml.Mark) -> None:
        super().__init__(
            problem=f"expected each key once in a mapping, found it again "
            f"(first on line {first})",
            problem_mark=mark,
        )
        self.key = key


def _check_duplicates(node: yaml.MappingNode) -> None:
    # Checked before merge keys are flattened: a key overriding a merged one is fine.
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
            key_node, yaml.ScalarNode
        ):
            continue
        if key_node.value in seen:
            raise DuplicateKeyError(
                key_node.value, seen[key_node.value], key_node.start_mark
            )
        seen[key_node.value] = key_node.start_mark.line + 1


def _construct_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> MarkedDict:
    _check_duplicates(node)
    loader.flatten_mapping(node)
    result = MarkedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _MarkedLoader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(
        loader.construct_object(child, deep=True) for child in node.value
    )
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_MarkedLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)
_MarkedLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _construct_sequence,  # type: ignore[arg-type]
)


class ConfigError(Exception):
    """A scenario or site file that cannot be used, with the place at fault.

    :param path: the file.
    :param line: the 1-based line, or 0 when unknown.
    :param key: the dotted key at fault, or ``""`` for the whole document.
    :param message: what was expected and what was found.
    """

    def __init__(self, path: Path | str, line: int, key: str, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.key = key
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        """Return the one-line form: ``file:line: key: message``."""
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return (
            f"{where}: {self.key}: {self.message}"
            if self.key
            else (f"{where}: {self.message}")
        )


@dataclass(frozen=True)
class ConfigWarning:
    """A key that is accepted but has no effect, or is unknown to us."""

    path: Path
    line: int
    key: str
    message: str

    def render(self) -> str:
        """Return the one-line form: ``file:line: key: message``."""
        return f"{self.path}:{self.line}: {self.key}: {self.message}"


def load_documents(path: Path) -> list[tuple[Any, int]]:
    """Load every YAML document of a file with its first line.

    :raises ConfigError: when the file is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, 0, "", f"cannot read the file ({err})") from None
    try:
        documents = list(yaml.load_all(text, Loader=_MarkedLoader))
    except DuplicateKeyError as err:
        line = err.problem_mark.line + 1 if err.problem_mark is not None else 0
        raise ConfigError(path, line, err.key, str(err.problem)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(path, line, "", f"not valid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(path, 0, "", f"not valid YAML: {err}") from None
    return [(doc, getattr(doc, "line", 1)) for doc in documents if doc is not None]


def describe(value: object) -> str:
    """Name a found value for a message: its YAML type and a short repr."""
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        MarkedDict: "a mapping",
        dict: "a mapping",
        MarkedList: "a list",
        list: "a list",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) and not value:
        return f"an empty {kind.split()[-1]}"
    if isinstance(value, dict | list) or value is None:
        return kind
    text = repr(value)
    return f"{kind} {text[:40] + '...' if len(text) > 40 else text}"


def misspelt(key: str, known: Iterable[str]) -> str | None:
    """The known key that ``key`` is a typo of, if any.

    A typo is one edit away (a letter dropped, added, changed, or two swapped),
    or two for keys of ten letters or more: ``concurency``, ``wieght``,
    ``tolerence``; not ``size`` for ``size_spec``, nor keys under four letters.
    """
    if len(key) < 4:
        return None
    for candidate in known:
        allowed = 2 if len(candidate) >= 10 else 1
        if abs(len(candidate) - len(key)) <= allowed and (
            _edit_distance(key, candidate) <= allowed
        ):
            return candidate
    return None


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent swaps counted as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char != other),
            )
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def suggest(key: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for a likely misspelling, else ``""``."""
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|us|µs|s|m|h|d)?", re.IGNORECASE)
_DURATION_UNITS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    None: 1.0,
}


def parse_duration(value: object) -> float:
    """Parse a humantime duration (``"60s"``, ``"1m30s"``, ``500ms``, ``10``).

    :returns: seconds.
    :raises ValueError: for anything else.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    text = value.strip().replace(" ", "")
    total, pos = 0.0, 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError
        unit = match.group(2).lower() if match.group(2) else None
        total += float(match.group(1)) * _DURATION_UNITS[unit]
        pos = match.end()
    return total


@dataclass
class Section:
    """Reads the keys of one YAML mapping, remembering which were used.

    :param data: the mapping.
    :param path: the file it came from.
    :param prefix: the dotted key of the mapping itself (``""`` at top level).
    """

    data: MarkedDict
    path: Path
    prefix: str = ""
    used: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, value: object, path: Path, key: str, line: int) -> Section:
        """Wrap a value that must be a mapping."""
        if not isinstance(value, dict):
            raise ConfigError(
                path, line, key, f"expected a mapping, found {describe(value)}"
            )
        if not isinstance(value, MarkedDict):
            marked = MarkedDict(value)
            marked.line, marked.key_lines = line, {}
            value = marked
        return cls(value, path, key)

    @property
    def line(self) -> int:
        """The line of the mapping."""
        return self.data.line

    def dotted(self, key: str) -> str:
        """The dotted name of a key of this mapping."""
        return f"{self.prefix}.{key}" if self.prefix else key

    def line_of(self, key: str) -> int:
        """The line of a key, or of the mapping when the key is absent."""
        return self.data.key_lines.get(key, self.data.line)

    def error(self, key: str, message: str) -> ConfigError:
        """An error about one key of this mapping."""
        return ConfigError(self.path, self.line_of(key), self.dotted(key), message)

    def missing(
        self, key: str, expected: str, known: Iterable[str] = ()
    ) -> ConfigError:
        """An error for a required key that is absent.

        When another key of the mapping looks like a misspelling of it, the error
        points at that key and line instead.

        :param expected: what the key should hold, such as ``"a list of ops"``.
        :param known: the other keys of this mapping, never taken for a misspelling.
        """
        others = [k for k in self.data if k != key and k not in set(known)]
        close = difflib.get_close_matches(key, others, n=1, cutoff=0.6)
        if close:
            return self.error(
                close[0],
                f"unknown key (did you mean '{key}'?); expected {key}: {expected}",
            )
        return self.error(key, f"expected {key}: {expected}, found nothing")

    def has(self, key: str) -> bool:
        """Whether the key is present (and mark it used)."""
        self.used.add(key)
        return key in self.data and self.data[key] is not None

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as loaded, or ``default``."""
        self.used.add(key)
        value = self.data.get(key)
        return default if value is None else value

    def convert(
        self, key: str, default: T, parse: Callable[[Any], T], expected: str
    ) -> T:
        """The value passed through ``parse``; a ValueError becomes a ConfigError."""
        if not self.has(key):
            return default
        value = self.data[key]
        try:
            return parse(value)
        except ValueError as err:
            detail = f" ({err})" if str(err) else ""
            raise self.error(
                key, f"expected {expected}, found {describe(value)}{detail}"
            ) from None

    def string(self, key: str, default: str | None = None) -> str | None:
        """A string value."""
        return self.convert(key, default, _as_string, "a string")

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean value (``true``/``false``)."""
        return self.convert(key, default, _as_bool, "true or false")

    def integer(
        self, key: str, default: int | None, minimum: int | None = None
    ) -> int | None:
        """An integer, optionally with a lower bound; ``1_000``-style strings too."""
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        return self.convert(key, default, lambda v: _as_int(v, minimum), expected)

    def number(
        self, key: str, default: float | None, minimum: float | None = None
    ) -> float | None:
        """A number, optionally with a lower bound."""
        expected = "a number" if minimum is None else f"a number >= {minimum:g}"
        return self.convert(key, default, lambda v: _as_float(v, minimum), expected)

    def duration(self, key: str, default: float | None) -> float | None:
        """A humantime duration in seconds."""
        return self.convert(
            key, default, parse_duration, "a duration such as 30s, 5m or 1h30m"
        )

    def choice(self, key: str, default: str, options: Iterable[str]) -> str:
        """One of a fixed set of strings (case-insensitive)."""
        options = list(options)

        def parse(value: Any) -> str:
            if isinstance(value, str) and value.strip().lower() in options:
                return value.strip().lower()
            raise ValueError

        return self.convert(key, default, parse, "one of " + ", ".join(options))

    def items(self) -> Iterator[tuple[str, Any]]:
        """The keys and values, marking all used."""
        for key, value in self.data.items():
            self.used.add(key)
            yield key, value

    def unknown(
        self, known: Iterable[str], ignored: dict[str, str] | None = None
    ) -> list[ConfigWarning]:
        """Warnings for keys that were never read.

        A key one or two letters away from a key we know is a typo, and the
        setting it meant would be lost: that is an error, not a warning. Other
        unknown keys only warn, so that sai3-bench files, which may carry keys
        sai3-bench itself ignores, still run.

        :param known: every key this mapping may hold, for suggestions.
        :param ignored: keys accepted with no effect, with the reason.
        :raises ConfigError: for a misspelt key.
        """
        known = list(known)
        ignored = ignored or {}
        warnings = []
        for key in self.data:
            if key in self.used:
                continue
            line = self.line_of(key)
            if key in ignored:
                message = f"ignored: {ignored[key]}"
            else:
                typo = misspelt(key, known)
                if typo is not None:
                    raise self.error(key, f"unknown key: did you mean '{typo}'?")
                message = "unknown key, ignored" + suggest(key, known)
            warnings.append(ConfigWarning(self.path, line, self.dotted(key), message))
        return warnings


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError


_GROUPED_INT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d+(?:_\d+)*)")


def _as_int(value: Any, minimum: int | None) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        # As in sizes: commas and spaces group thousands only ("1,00" is refused
        # rather than read as 100); underscores group freely.
        if not _GROUPED_INT.fullmatch(text):
            raise ValueError
        value = int(text.replace("_", "").replace(",", "").replace(" ", ""))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError
    if minimum is not None and value < minimum:
        raise ValueError
    return value


def _as_float(value: Any, minimum: float | None) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError from None
    if (
        not isinstance(value, int | float)
        or value != value
        or value
        in (
            float("inf"),
            float("-inf"),
        )
    ):
        raise ValueError
    if minimum is not None and value < minimum:
        raise ValueError
    return float(value)
