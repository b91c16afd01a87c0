"""Counters behind ``mongo_structlog.stats()``, and the warn-once error report.

Every record the adapter makes is counted here in exactly one place: written
(``emitted``, counted once the sink has it), dropped by sampling, burst limits or a
processor (``dropped``), dropped by the queue (``queue_dropped``) or failed at the sink
(``sink_errors``); the last two also by reason (``lost_reasons``). Beside them:
correlation-map evictions and internal errors. One process-wide instance,
:data:`STATS`, is shared by every listener set.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["STATS", "DropSource", "Stats", "queue_dropped", "sink_failed"]


class DropSource(Protocol):
    """Something that counts drops itself (a pipeline's ``Suppressed``)."""

    def settle(self) -> dict[str, int]:
        """Drops per event name since the last call."""
        ...  # pragma: no cover - a protocol


class Stats:
    """Thread-safe counters; :meth:`snapshot` gives the ``stats()`` dict."""

    def __init__(self) -> None:
        # Re-entrant: a garbage collection inside a counted section may finalise a dropped
        # listener set, whose last records are counted on the same thread.
        self._lock = threading.RLock()
        self._warned: set[str] = set()
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()
        self.clear()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time stays held forever in the child.
        self._lock = threading.RLock()

    def clear(self) -> None:
        """Reset every counter to zero (the warn-once memory too)."""
        for source in list(self._sources):
            source.settle()  # what was counted before now is forgotten
        with self._lock:
            self._emitted: dict[str, Iterator[int]] = {}
            self._dropped: dict[str, int] = {}
            self._counters: dict[str, int] = {
                "evicted": 0,
                "internal_errors": 0,
                "sink_errors": 0,
                "queue_dropped": 0,
            }
            self._reasons: dict[str, int] = {}
            self._warned.clear()

    def emitted(self, event: str) -> None:
        """Count one record for ``event`` that the sink has written.

        Lock-free: ``next()`` on an ``itertools.count`` is atomic, a dict increment is not.
        """
        counter = self._emitted.get(event)
        if counter is None:
            counter = self._emitted.setdefault(event, itertools.count(1))
        next(counter)

    def count_drops(self, source: DropSource) -> None:
        """Read ``source``'s drops whenever the counters are read (it counts them itself)."""
        self._sources.add(source)

    def settle(self, source: DropSource) -> None:
        """Add the drops ``source`` has counted since it was last read."""
        new = source.settle()
        if new:
            with self._lock:
                dropped = self._dropped
                for event, count in new.items():
                    dropped[event] = dropped.get(event, 0) + count

    def add(self, counter: str, count: int = 1, reason: str | None = None) -> None:
        """Add to one of ``evicted``, ``internal_errors``, ``sink_errors``, ``queue_dropped``.

        Args:
            counter: The counter's name.
            count: How many.
            reason: Also count them under this reason in ``lost_reasons``.
        """
        with self._lock:
            self._counters[counter] += count
            if reason is not None:
                self._reasons[reason] = self._reasons.get(reason, 0) + count

    def dropped_one(self, event: str) -> None:
        """Count one record of ``event`` dropped outside sampling (a processor's ``DropEvent``)."""
        with self._lock:
            self._dropped[event] = self._dropped.get(event, 0) + 1

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
            "queue_dropped": n, "lost_reasons": {reason: n}}``.
        """
        for source in list(self._sources):
            self.settle(source)
        with self._lock:
            emitted = {event: _value(c) - 1 for event, c in list(self._emitted.items())}
            dropped = dict(self._dropped)
            counters = dict(self._counters)
            reasons = dict(self._reasons)
        return {
            "emitted": emitted,
            "dropped": dropped,
            "emitted_total": sum(emitted.values()),
            "dropped_total": sum(dropped.values()),
            **counters,
            "lost_reasons": reasons,
        }


def _value(counter: Iterator[int]) -> int:
    # An itertools.count's repr is "count(N)", N being the next value it will give.
    return int(repr(counter)[6:-1])


#: The process-wide counters.
STATS = Stats()


def sink_failed(where: str, exc: BaseException, records: int = 1) -> None:
    """Count the ``records`` a write to ``where`` failed to write; report the first on stderr.

    Args:
        where: The sink (``stdout``, a path, ``the stdlib logger``).
        exc: What went wrong; its type names the reason in ``lost_reasons``.
        records: How many records were lost.
    """
    STATS.add("sink_errors", records, f"sink: {type(exc).__name__}")
    STATS.warn_once(f"sink:{where}", f"cannot write log records to {where}: {exc!r}")


def queue_dropped(reason: str, message: str, records: int = 1) -> None:
    """Count ``records`` a queued output dropped, under ``reason``; report the first on stderr.

    Args:
        reason: Why (``full``, ``closed``, ``stuck``); ``lost_reasons`` shows ``queue: <reason>``.
        message: The one-time report.
        records: How many records.
    """
    STATS.add("queue_dropped", records, f"queue: {reason}")
    STATS.warn_once(f"queue:{reason}", message)
