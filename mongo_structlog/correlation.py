"""The command correlation map: started commands waiting for their completion.

PyMongo's completion events do not carry the command, so each started event is kept
here until its completion comes, under a bound on size and age that needs no lock and no
clock read per command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .sampling import LOCK_HOLDERS

__all__ = ["Correlator"]


class Correlator:
    """Started commands waiting for their completion, matched by request id and server.

    Entries are keyed by ``request_id`` alone (an int hashes faster than a tuple) and
    checked against the server address (``connection_id`` of PyMongo's command events)
    when taken out. Two commands in flight with the same id (PyMongo draws ids at
    random) are told apart: the second is filed under ``(request_id, address)``.

    A completion that never comes (a lost connection, a listener registered mid-command)
    must not leak memory, so the map is bounded, without a lock or a clock read per
    command. Entries live in two generations, :attr:`young` (new entries go there) and
    :attr:`old`. The old generation is evicted whole, and the young one becomes old,

    * when the young generation reaches half of ``capacity``, so at most ``capacity``
      entries are ever held;
    * when ``ttl`` seconds have passed since the young generation began, checked by
      :meth:`tick` (the pipeline calls it whenever it has read the clock anyway) and
      whenever 256 more entries are waiting than at the last check. So nothing younger
      than ``ttl`` is aged out, and while the pipeline is busy nothing stays much
      longer than ``2 * ttl``.

    Every eviction is reported through ``on_evict(count)``. :meth:`put` and :meth:`pop`
    are plain dict operations (atomic under the GIL); rotating generations takes a lock.

    Args:
        capacity: The most entries held (at least 1).
        ttl: Seconds after which a waiting entry may be aged out.
        on_evict: Called with the number of entries evicted (outside the lock).
        clock: Monotonic seconds; tests pass a fake.
    """

    _CHECK_EVERY = 256

    def __init__(
        self,
        capacity: int,
        ttl: float,
        on_evict: Callable[[int], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: New entries; the pipeline's hot path stores here directly (see :meth:`put`).
        self.young: dict[Any, Any] = {}
        #: The previous generation, evicted whole at the next rotation.
        self.old: dict[Any, Any] = {}
        self._half = max(1, capacity // 2)
        #: ``len(young)`` at which :meth:`maintain` must run.
        self.limit = min(self._half, self._CHECK_EVERY)
        self._ttl = ttl
        self._on_evict = on_evict
        self._clock = clock
        self._since = clock()
        self._lock = threading.Lock()
        LOCK_HOLDERS.add(self)

    def __len__(self) -> int:
        return len(self.young) + len(self.old)

    def put(self, request_id: int, address: Any, entry: Any) -> None:
        """Remember ``entry`` (anything but ``None``; its started event carries ``address``).

        Args:
            request_id: The command's request id.
            address: The server address (``event.connection_id``).
            entry: What :meth:`pop` gives back.
        """
        young = self.young
        if young.setdefault(request_id, entry) is not entry:
            young[request_id, address] = entry  # the id is taken by a command in flight
        if len(young) >= self.limit:
            self.maintain()

    def pop(self, request_id: int, address: Any, first: Any = None) -> Any:
        """Take out the entry of the command ``request_id`` sent to ``address``.

        Args:
            request_id: The command's request id.
            address: The server address (``event.connection_id``).
            first: What the caller already popped from :attr:`young` under ``request_id``
                (the pipeline's hot path does that inline), else ``None``.

        Returns:
            The entry, or ``None`` if it was never there or was evicted.
        """
        for generation in (self.young, self.old):
            entry = first if first is not None else generation.pop(request_id, None)
            first = None
            if entry is not None:
                started = entry[0] if type(entry) is tuple else entry
                if started.connection_id == address:
                    return entry
                generation.setdefault(request_id, entry)  # another server's: put it back
            entry = generation.pop((request_id, address), None)
            if entry is not None:
                return entry
        return None

    def maintain(self) -> None:
        """Rotate generations if the young one is full or old enough; re-arm the check."""
        self._rotate(self._clock())

    def tick(self, now: float) -> None:
        """Age entries out if ``ttl`` has passed since the young generation began.

        Args:
            now: Monotonic seconds, read by the caller for its own purposes.
        """
        if now - self._since >= self._ttl:
            self._rotate(now)

    def _rotate(self, now: float) -> None:
        evicted = 0
        with self._lock:
            if len(self.young) >= self._half or now - self._since >= self._ttl:
                evicted = len(self.old)
                self.old = self.young
                self.young = {}
                self._since = now
            self.limit = min(self._half, len(self.young) + self._CHECK_EVERY)
        if evicted:
            self._on_evict(evicted)
