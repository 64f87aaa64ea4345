"""System-wide CPU use over an interval, for ``perf_log.tsv``'s CPU columns.

Read from ``/proc/stat`` on Linux, as sai3-bench does; on other systems the
figures are 0.0 (the columns are documented as unmeasured there).
"""

from __future__ import annotations

import logging

log = logging.getLogger("pytest_sai3.cpu")

PROC_STAT = "/proc/stat"


def _read_times() -> tuple[int, ...] | None:
    """The machine's CPU times: user, nice, system, idle, iowait, and the rest."""
    try:
        with open(PROC_STAT, encoding="ascii") as handle:
            first = handle.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    return tuple(int(value) for value in first[1:])


class CpuSampler:
    """CPU use of the whole machine between one :meth:`sample` and the next."""

    def __init__(self) -> None:
        self._last = _read_times()

    def sample(self) -> dict[str, float]:
        """Percentages of CPU time in user, system and iowait since the last call.

        Keys ``user_pct`` (nice included), ``system_pct`` and ``iowait_pct``.
        """
        now = _read_times()
        last, self._last = self._last, now
        if now is None or last is None or len(now) < 5:
            return {"user_pct": 0.0, "system_pct": 0.0, "iowait_pct": 0.0}
        delta = [a - b for a, b in zip(now, last, strict=False)]
        total = sum(delta) or 1
        return {
            "user_pct": 100.0 * (delta[0] + delta[1]) / total,
            "system_pct": 100.0 * delta[2] / total,
            "iowait_pct": 100.0 * delta[4] / total,
        }
