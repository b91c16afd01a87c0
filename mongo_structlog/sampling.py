"""Keep/drop decisions, made before anything expensive, and the command correlation map.

* :func:`keep_request` — the deterministic head-sampling decision for one command.
* :class:`Correlator` — started events waiting for their completion, bounded in size and age.
* :class:`BurstLimiter` — zap-style "first N per interval, then one in M" for chatter.
* :class:`Suppressed` — what was dropped since the last ``mongodb.sampling.summary``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

__all__ = ["BurstLimiter", "Correlator", "Suppressed", "keep_request", "mix64", "threshold"]

_MASK64 = (1 << 64) - 1
_SPAN = 1 << 64


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a fixed, well-spread 64-bit mix of ``value``.

    Unlike ``hash()``, it is the same in every process and Python version.

    Args:
        value: Any int; only its low 64 bits count.

    Returns:
        An int in ``[0, 2**64)``.
    """
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def threshold(rate: float) -> int:
    """The cut-off in ``[0, 2**64]`` below which a mixed id is kept at ``rate``."""
    return min(_SPAN, max(0, round(rate * _SPAN)))


def keep_request(request_id: int, cutoff: int) -> bool:
    """Whether the command with ``request_id`` is kept under the ``cutoff`` of :func:`threshold`.

    Args:
        request_id: The command's ``request_id`` (the same on its started and completion events).
        cutoff: ``threshold(rate)``.

    Returns:
        The decision, identical for the same id and rate in every process.
    """
    return mix64(request_id) < cutoff


class Correlator:
    """Started events by ``(request_id, address)`` until their completion arrives.

    Bounded: past ``capacity`` entries the oldest is evicted, and entries older than
    ``ttl`` seconds are aged out (a completion that never comes must not leak memory).
    Every eviction is reported through ``on_evict``.
    """

    _SWEEP_EVERY = 256

    def __init__(self, capacity: int, ttl: float, on_evict: Any) -> None:
        self._entries: OrderedDict[tuple[int, Any], tuple[Any, ...]] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl
        self._on_evict = on_evict
        self._puts = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: tuple[int, Any], entry: tuple[Any, ...], now: float) -> None:
        """Remember ``entry`` (whose last item is its monotonic time ``now``) under ``key``."""
        entries = self._entries
        entries[key] = entry
        self._puts += 1
        if len(entries) > self._capacity or self._puts % self._SWEEP_EVERY == 0:
            self._evict(now)

    def pop(self, key: tuple[int, Any]) -> tuple[Any, ...] | None:
        """Take the entry for ``key`` out, or ``None`` if it was never there or was evicted."""
        return self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        # Eviction runs rarely; the lock keeps two threads from racing over the same oldest key.
        evicted = 0
        with self._lock:
            entries = self._entries
            oldest_allowed = now - self._ttl
            while entries:
                key = next(iter(entries))
                if len(entries) <= self._capacity and entries[key][-1] >= oldest_allowed:
                    break
                if entries.pop(key, None) is not None:
                    evicted += 1
        if evicted:
            self._on_evict(evicted)


class BurstLimiter:
    """At most ``first`` records per key per interval, then one in ``thereafter``.

    ``first == 0`` turns the limiter off (everything passes); ``thereafter == 0`` drops
    everything past the first ``first`` in an interval.
    """

    def __init__(self, first: int, thereafter: int, interval: float) -> None:
        self.enabled = first > 0
        self._first = first
        self._thereafter = thereafter
        self._interval = interval
        self._windows: dict[tuple[str, Any], list[float]] = {}

    def allow(self, key: tuple[str, Any], now: float) -> bool:
        """Count one record for ``key`` (event name, server address) and say if it passes."""
        window = self._windows.get(key)
        if window is None or now - window[0] >= self._interval:
            self._windows[key] = [now, 1.0]
            return True
        window[1] += 1
        seen = int(window[1])
        if seen <= self._first:
            return True
        return self._thereafter > 0 and (seen - self._first) % self._thereafter == 0


class Suppressed:
    """Records dropped by sampling or burst limits since the last summary, per event name."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._since = time.monotonic()
        self._sampled: dict[str, int] = {}
        self._limited: dict[str, int] = {}

    def sampled_out(self, event: str) -> None:
        """Count one record of ``event`` dropped by a sample rate."""
        with self._lock:
            self._sampled[event] = self._sampled.get(event, 0) + 1

    def burst_limited(self, event: str) -> None:
        """Count one record of ``event`` dropped by the burst limiter."""
        with self._lock:
            self._limited[event] = self._limited.get(event, 0) + 1

    def due(self, now: float) -> list[dict[str, Any]]:
        """Summary fields per suppressed event name if an interval has passed, else ``[]``.

        Once due, the counts restart from zero.
        """
        if now - self._since < self._interval:
            return []
        with self._lock:
            elapsed = now - self._since
            if elapsed < self._interval:
                return []
            self._since = now
            sampled, self._sampled = self._sampled, {}
            limited, self._limited = self._limited, {}
        interval_ms = round(elapsed * 1000)
        return [
            {
                "suppressed_event": event,
                "sampled_out": sampled.get(event, 0),
                "burst_limited": limited.get(event, 0),
                "interval_ms": interval_ms,
            }
            for event in sorted(set(sampled) | set(limited))
        ]
