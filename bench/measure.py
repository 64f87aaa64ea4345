"""Client CPU time of a measured window, this process's and its workers'.

``time.process_time`` counts every thread of this process (asyncio, the thread
pool, a Rust client's runtime). Worker processes are counted through
``RUSAGE_CHILDREN`` once they have been waited for: that figure holds their whole
life, so what each had used before the window opened (start-up, imports, clients)
is read with psutil at the start and taken off.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil


@dataclass
class Sample:
    """What one side did in one measured run.

    :param ops: successful ops.
    :param errors: failed ops.
    :param elapsed_s: the op loop's own duration (the longest, with processes).
    :param cpu_s: client CPU seconds in the window, worker processes included.
    :param processes: how many processes ran ops.
    :param detail: anything else worth keeping (per-endpoint requests...).
    """

    ops: int
    errors: int
    elapsed_s: float
    cpu_s: float
    processes: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ops_per_s(self) -> float:
        """Successful ops per second."""
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        """Client CPU milliseconds per successful op."""
        return 1000 * self.cpu_s / self.ops if self.ops else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, the derived figures included."""
        data = asdict(self)
        data["ops_per_s"] = self.ops_per_s
        data["cpu_ms_per_op"] = self.cpu_ms_per_op
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """Rebuild a sample from :meth:`to_dict`'s output."""
        fields = ("ops", "errors", "elapsed_s", "cpu_s", "processes", "detail")
        return cls(**{key: data[key] for key in fields if key in data})


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class CpuMeter:
    """CPU used between :meth:`start` and :meth:`stop`, worker processes included.

    Worker processes must be running at :meth:`start` (or not yet started) and
    waited for before :meth:`stop`; a child alive at both ends (multiprocessing's
    resource tracker) is not counted.
    """

    def __init__(self) -> None:
        self._own = 0.0
        self._children = 0.0
        self._before: dict[int, float] = {}

    def start(self) -> None:
        """Open the window."""
        me = psutil.Process()
        self._before = {child.pid: _cpu_of(child) for child in me.children()}
        self._children = _children_cpu()
        self._own = time.process_time()

    def stop(self) -> float:
        """Close the window; returns the CPU seconds used in it."""
        own = time.process_time() - self._own
        reaped = _children_cpu() - self._children
        alive = {child.pid for child in psutil.Process().children()}
        earlier = sum(cpu for pid, cpu in self._before.items() if pid not in alive)
        return own + max(reaped - earlier, 0.0)


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """Profile the block with cProfile into ``path`` (nothing when None)."""
    if path is None:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
