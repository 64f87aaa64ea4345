"""Per-request timeouts for the router, kept by one watchdog task per event loop.

``asyncio.timeout`` arms and disarms a timer for every request, which costs a few
microseconds on every op of a hot loop. Here a request only notes its deadline in
a dict; a watchdog wakes a few times per timeout, and cancels the requests whose
deadline has passed. The request then sees a :class:`TimeoutError` instead of the
cancellation. A request may overrun its timeout by at most one watchdog period
(a twentieth of the timeout, between 10 ms and 1 s).
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

#: Shortest and longest pause between two rounds of the watchdog, in seconds.
MIN_PERIOD_S = 0.01
MAX_PERIOD_S = 1.0

#: The task of a worker that sends request after request (see :func:`mark_worker`).
_WORKER: ContextVar[asyncio.Task[object] | None] = ContextVar(
    "sai3_worker_task", default=None
)


def mark_worker() -> None:
    """Note the current task as the one its requests run in, once for all.

    For a task that sends many requests: finding the current task costs 0.3 us
    per request on Python 3.11, reading it back from here a tenth of that. The
    mark lives in the task's own context; a task the worker starts would
    inherit it, so a worker must not start tasks that send requests.
    """
    _WORKER.set(asyncio.current_task())


class Deadlines:
    """Deadlines of the requests in flight, and the watchdog that enforces them.

    Not thread-safe: it lives on one event loop at a time, as the router does.
    When the router moves to another loop, a new watchdog starts there.

    :param timeout: seconds a request may take.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout_ns = int(timeout * 1e9)
        self.period = min(max(timeout / 20, MIN_PERIOD_S), MAX_PERIOD_S)
        self._due: dict[asyncio.Task[object], int] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def enter(self, start_ns: int) -> asyncio.Task[object]:
        """Note that the current task's request started at ``start_ns``."""
        task = _WORKER.get() or asyncio.current_task()
        assert task is not None, "requests run in tasks"
        self._due[task] = start_ns + self.timeout_ns
        if self._watchdog is None:
            self._watchdog = task.get_loop().create_task(self._watch())
        return task

    def leave(self, task: asyncio.Task[object]) -> None:
        """Note that the task's request is over, whatever its outcome."""
        self._due.pop(task, None)
        if task in self._expired:
            # The request ended before the cancellation reached it (a client
            # that swallowed it): withdraw the cancellation, it is moot.
            self._expired.discard(task)
            task.uncancel()

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether a cancellation the task got was this watchdog's doing alone.

        Call it on :class:`asyncio.CancelledError`. When true, the cancellation
        has been withdrawn and the caller raises a timeout instead; when false,
        somebody else cancelled the task too and the cancellation goes on.
        """
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() == 0

    async def _watch(self) -> None:
        # However it ends (no request left, or cancelled with its event loop),
        # the next request starts a new watchdog, on its own loop.
        try:
            while self._due:
                await asyncio.sleep(self.period)
                now = time.perf_counter_ns()
                for task, due in list(self._due.items()):
                    if due <= now and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            if self._watchdog is asyncio.current_task():
                self._watchdog = None

    def close(self) -> None:
        """Stop the watchdog (the requests in flight keep no deadline)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._due.clear()
        self._expired.clear()
