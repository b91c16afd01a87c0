"""Counters behind ``mongo_structlog.stats()``, and the warn-once error report.

Every record the adapter emits or drops is counted here, per event name, along with
correlation-map evictions, sink failures, queue overflows and internal errors. One
process-wide instance, :data:`STATS`, is shared by every listener set.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["STATS", "Stats", "sink_failed"]


class Stats:
    """Thread-safe counters; :meth:`snapshot` gives the ``stats()`` dict."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.clear()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time stays held forever in the child.
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Reset every counter to zero (the warn-once memory too)."""
        with self._lock:
            self._emitted: dict[str, Iterator[int]] = {}
            self._dropped: dict[str, Iterator[int]] = {}
            self._counters: dict[str, int] = {
                "evicted": 0,
                "internal_errors": 0,
                "sink_errors": 0,
                "queue_dropped": 0,
            }
            self._warned.clear()

    def emitted(self, event: str) -> None:
        """Count one record written (or handed to the queue) for ``event``.

        Lock-free: ``next()`` on an ``itertools.count`` is atomic, a dict increment is not.
        """
        counter = self._emitted.get(event)
        if counter is None:
            counter = self._emitted.setdefault(event, itertools.count(1))
        next(counter)

    def dropped(self, event: str) -> None:
        """Count one record for ``event`` suppressed by sampling or a burst limit (lock-free)."""
        counter = self._dropped.get(event)
        if counter is None:
            counter = self._dropped.setdefault(event, itertools.count(1))
        next(counter)

    def dropped_counter(self, event: str) -> Iterator[int]:
        """The counter :meth:`dropped` advances for ``event``, for a hot path to keep.

        ``next()`` on it counts one drop. Valid until :meth:`clear`.
        """
        counter = self._dropped.get(event)
        if counter is None:
            counter = self._dropped.setdefault(event, itertools.count(1))
        return counter

    def add(self, counter: str, count: int = 1) -> None:
        """Add to one of ``evicted``, ``internal_errors``, ``sink_errors``, ``queue_dropped``."""
        with self._lock:
            self._counters[counter] += count

    def warn_once(self, kind: str, message: str) -> None:
        """Write ``message`` to stderr the first time ``kind`` is reported, never again.

        Stderr may itself be broken (the failing sink can be stderr); then nothing is
        written and the counters still tell.
        """
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        try:
            sys.stderr.write(
                f"mongo_structlog: {message} (reported once; see mongo_structlog.stats())\n"
            )
            sys.stderr.flush()
        except Exception:  # the report itself must never raise
            pass

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of every counter.

        Returns:
            ``{"emitted": {event: n}, "dropped": {event: n}, "emitted_total": n,
            "dropped_total": n, "evicted": n, "internal_errors": n, "sink_errors": n,
            "queue_dropped": n}``.
        """
        with self._lock:
            emitted = {event: _value(c) - 1 for event, c in list(self._emitted.items())}
            dropped = {event: _value(c) - 1 for event, c in list(self._dropped.items())}
            # A hot path may hold a counter it has not advanced yet: no zero entries.
            dropped = {event: count for event, count in dropped.items() if count}
            counters = dict(self._counters)
        return {
            "emitted": emitted,
            "dropped": dropped,
            "emitted_total": sum(emitted.values()),
            "dropped_total": sum(dropped.values()),
            **counters,
        }


def _value(counter: Iterator[int]) -> int:
    # An itertools.count's repr is "count(N)", N being the next value it will give.
    return int(repr(counter)[6:-1])


#: The process-wide counters.
STATS = Stats()


def sink_failed(where: str, exc: BaseException) -> None:
    """Count a failed write to ``where`` and report the first one on stderr."""
    STATS.add("sink_errors")
    STATS.warn_once(f"sink:{where}", f"cannot write log records to {where}: {exc!r}")
