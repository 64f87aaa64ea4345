"""``slowfile://``: local files whose reads are delayed, for latency injection.

The delay and which reads it hits come from the environment, read at each read:
``SLOW_DELAY_S`` (seconds, default 0.1) and ``SLOW_PATTERN``: ``all``,
``first3of20`` (reads 0-2 of every 20) or ``after:N`` (read N and later). Reads are
numbered from 0 across the process; :func:`reset` starts again.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

_lock = threading.Lock()
_reads = itertools.count()


def reset() -> None:
    """Number reads from 0 again."""
    global _reads
    with _lock:
        _reads = itertools.count()


def _delay() -> None:
    with _lock:
        index = next(_reads)
    delay = float(os.environ.get("SLOW_DELAY_S", "0.1"))
    pattern = os.environ.get("SLOW_PATTERN", "all")
    if (
        pattern == "all"
        or (pattern == "first3of20" and index % 20 < 3)
        or (pattern.startswith("after:") and index >= int(pattern[6:]))
    ):
        time.sleep(delay)


class SlowLocal(LocalFileSystem):  # type: ignore[misc]
    """A local filesystem whose reads sleep first."""

    protocol = ("slowfile",)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("slowfile://"):
            path = path[len("slowfile://") :]
        return super()._strip_protocol(path)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" in mode:
            _delay()
        return super()._open(path, mode=mode, **kwargs)


def register() -> None:
    """Make ``slowfile://`` known to fsspec (again: clobbering is harmless)."""
    fsspec.register_implementation("slowfile", SlowLocal, clobber=True)
