"""Keep/drop decisions, made before anything expensive (see :mod:`.correlation` for the map).

* :func:`keep_request` — the deterministic head-sampling decision for one command.
* :class:`BurstLimiter` — zap-style "first N per interval, then one in M" for chatter.
* :class:`Suppressed` — what was dropped since the last ``mongodb.sampling.summary``.

Everything here is called on PyMongo's threads, synchronously, for every event. What a
command dropped by sampling goes through takes no lock, reads no clock and raises nothing;
the rare maintenance steps (evicting, opening a window, writing a summary) do take a lock.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = ["LOCK_HOLDERS", "BurstLimiter", "Suppressed", "keep_request", "mix64", "threshold"]

_MASK64 = (1 << 64) - 1
_SPAN = 1 << 64

# Objects whose lock a forked child must not inherit: another thread may have held it at
# fork time, and then it would stay held in the child forever.
LOCK_HOLDERS: weakref.WeakSet[Any] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    for holder in list(LOCK_HOLDERS):
        holder._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_after_fork)


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a fixed, well-spread 64-bit mix of ``value``.

    Unlike ``hash()``, it is the same in every process and Python version, so the same
    request id gets the same decision everywhere. Other languages can reproduce it from
    the constants below (it is ``splitmix64(value)`` of Steele, Lea and Flood).

    Args:
        value: Any int; only its low 64 bits count (negative ids wrap as two's complement).

    Returns:
        An int in ``[0, 2**64)``.
    """
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def threshold(rate: float) -> int:
    """The cut-off in ``[0, 2**64]`` below which a mixed id is kept at ``rate``.

    Args:
        rate: The share to keep, ``0.0`` to ``1.0``.

    Returns:
        ``round(rate * 2**64)``, clamped: 0 keeps nothing, ``2**64`` keeps everything.
    """
    return min(_SPAN, max(0, round(rate * _SPAN)))


def keep_request(request_id: int, cutoff: int) -> bool:
    """Whether the command with ``request_id`` is kept under the ``cutoff`` of :func:`threshold`.

    Args:
        request_id: The command's ``request_id`` (the same on its started and completion events).
        cutoff: ``threshold(rate)``.

    Returns:
        ``mix64(request_id) < cutoff``: identical for the same id and rate in every process.
    """
    # mix64 inlined: this runs once per command, and a call costs as much as a step.
    z = (request_id + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) < cutoff


class BurstLimiter:
    """At most ``first`` records per key per interval, then one in ``thereafter`` (zap's sampler).

    The count within a window is an ``itertools.count`` (its ``next`` is atomic under the
    GIL), so concurrent threads never let more than ``first`` through nor lose a count;
    two threads opening a new window at once may each let one record through, as in zap.

    Args:
        first: Records let through per key and interval; ``0`` turns the limiter off.
        thereafter: Past ``first``, one in this many is let through; ``0`` lets none through.
        interval: The window length in seconds.
    """

    _MAX_KEYS = 4096

    def __init__(self, first: int, thereafter: int, interval: float) -> None:
        self.enabled = first > 0
        self._first = first
        self._thereafter = thereafter
        self._interval = interval
        self._windows: dict[tuple[str, Any], tuple[float, Iterator[int]]] = {}

    def allow(self, key: tuple[str, Any], now: float) -> bool:
        """Count one record for ``key`` (event name, server address) and say if it passes.

        Args:
            key: What the limit applies to.
            now: Monotonic seconds.

        Returns:
            True for the first ``first`` records of a window and every ``thereafter``-th after.
        """
        window = self._windows.get(key)
        if window is None or now >= window[0]:
            windows = self._windows
            if len(windows) >= self._MAX_KEYS:  # servers come and go; forget the old ones
                windows.clear()
            windows[key] = (now + self._interval, itertools.count(2))
            return True
        seen = next(window[1])
        if seen <= self._first:
            return True
        thereafter = self._thereafter
        return thereafter > 0 and (seen - self._first) % thereafter == 0


def _value(counter: Iterator[int]) -> int:
    # An itertools.count's repr is "count(N)", N being the next value: the only way to
    # read it without taking it. Its next() is atomic, which a dict increment is not.
    return int(repr(counter)[6:-1])


class Suppressed:
    """Records dropped by sampling or burst limits, per event name, for the summary records.

    Counting a drop takes no lock and reads no clock. Instead, the caller is told when to
    look at the clock: :meth:`sampled_out` and :meth:`burst_limited` return True once
    :attr:`countdown` reaches zero: after every drop while drops are rare, after at most
    256 while they are frequent (aiming at about eight looks per summary interval, the
    spacing growing at most twofold per look). :meth:`due` then says if a summary is due.

    Args:
        interval: Seconds between summaries (while anything is being dropped).
        now: Monotonic seconds at creation.
    """

    _LOOKS_PER_INTERVAL = 8
    _MAX_EVERY = 256

    def __init__(self, interval: float, now: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        LOCK_HOLDERS.add(self)
        self._since = now
        self._counters: dict[tuple[bool, str], Iterator[int]] = {}
        self._reported: dict[tuple[bool, str], int] = {}
        self._every = 1
        self._settled: dict[str, int] = {}
        #: Drops left before the caller should call :meth:`due`; hot paths may decrement it.
        self.countdown = 1
        self._looked_at = now

    def counter(self, event: str, sampled: bool = True) -> Iterator[int]:
        """The counter of ``event`` drops by sampling (or by the burst limiter): ``next()`` it.

        Hot paths keep it to count a drop with one ``next()``, then decrement
        :attr:`countdown` themselves.
        """
        key = (sampled, event)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters.setdefault(key, itertools.count())
        return counter

    def sampled_out(self, event: str) -> bool:
        """Count one record of ``event`` dropped by a sample rate.

        Returns:
            True when the caller should call :meth:`due` with the time.
        """
        next(self.counter(event))
        self.countdown -= 1
        return self.countdown <= 0

    def burst_limited(self, event: str) -> bool:
        """Count one record of ``event`` dropped by the burst limiter; as :meth:`sampled_out`."""
        next(self.counter(event, sampled=False))
        self.countdown -= 1
        return self.countdown <= 0

    def settle(self) -> dict[str, int]:
        """Drops per event name (sampled out and burst limited) since the last call.

        ``stats()`` is fed from here, so a drop is counted once, on the hot path, and
        summed into the process-wide counters only when they are read.
        """
        with self._lock:
            settled = self._settled
            new = {}
            for event, (sampled, limited) in self.totals().items():
                total = sampled + limited
                if total != settled.get(event, 0):
                    new[event] = total - settled.get(event, 0)
                    settled[event] = total
            return new

    def totals(self) -> dict[str, tuple[int, int]]:
        """Every drop counted so far: ``{event: (sampled_out, burst_limited)}``, by name."""
        values = {key: _value(counter) for key, counter in list(self._counters.items())}
        return {
            event: (values.get((True, event), 0), values.get((False, event), 0))
            for event in sorted({event for _, event in values})
        }

    def due(self, now: float, final: bool = False) -> list[dict[str, Any]]:
        """The summary fields per event name dropped since the last summary, if one is due.

        A summary is due once ``interval`` has passed since the last one; it lists each
        event name with drops since then (none at all: no summary, and the interval
        starts again).

        Args:
            now: Monotonic seconds.
            final: The listener set is closing or the process exiting: whatever has not
                been reported is due now, however short the interval.

        Returns:
            ``[{"suppressed_event", "sampled_out", "burst_limited", "interval_ms"}, ...]``
            sorted by event name, or ``[]``.
        """
        if now - self._since < self._interval and not final:
            self._rearm(now)  # unlocked: a race only moves the next look by a few drops
            return []
        with self._lock:
            self._rearm(now)
            elapsed = now - self._since
            if elapsed < self._interval and not final:
                return []  # another thread has just written it
            self._since = now
            reported = self._reported
            summaries = []
            for event, (sampled, limited) in self.totals().items():
                new_sampled = sampled - reported.get((True, event), 0)
                new_limited = limited - reported.get((False, event), 0)
                reported[True, event] = sampled
                reported[False, event] = limited
                if new_sampled or new_limited:
                    summaries.append(
                        {
                            "suppressed_event": event,
                            "sampled_out": new_sampled,
                            "burst_limited": new_limited,
                            "interval_ms": round(elapsed * 1000),
                        }
                    )
            return summaries

    def _rearm(self, now: float) -> None:
        # The drop rate since the last look decides how many drops until the next one.
        counted = self._every - self.countdown
        if counted > 0:
            elapsed = now - self._looked_at
            # Grow at most twofold per look, so a short burst cannot space looks out far.
            most = min(self._MAX_EVERY, 2 * self._every)
            if elapsed > 0:
                per_look = counted * self._interval / (elapsed * self._LOOKS_PER_INTERVAL)
                self._every = max(1, min(most, int(per_look)))
            else:
                self._every = most
            self._looked_at = now
        self.countdown = self._every
