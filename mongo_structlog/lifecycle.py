"""A listener set's life around its records: the topology id it stamps, and its end.

:class:`Finisher` holds what a :class:`~.pipeline.Pipeline` needs at its start (records
made before the client's topology id is known) and at its end (records still waiting,
unreported sampling counts), apart from the pipeline itself, so that a weakref finaliser
can finish a dropped ``listeners()`` set.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any

from .output import Output, rfc3339_now
from .sampling import LOCK_HOLDERS, Suppressed
from .stats import STATS

__all__ = ["MAY_COME_FIRST", "SUMMARY", "Finisher", "header"]

SUMMARY = "mongodb.sampling.summary"
# What PyMongo may publish before its topology-opened event (an AsyncMongoClient creates its
# first pool before the opened event comes out of its event queue).
MAY_COME_FIRST = frozenset({"mongodb.pool.created"})


def header(
    method: str, event: str, topology_id: str | None, timestamp: str | None = None
) -> dict[str, Any]:
    """A new record's first keys: ``timestamp``, ``level``, ``event`` (and ``topology_id``).

    The timestamp is now unless ``timestamp`` is given; ``topology_id`` only when known.
    """
    record = {"timestamp": timestamp or rfc3339_now(), "level": method, "event": event}
    if topology_id is not None:
        record["topology_id"] = topology_id
    return record


class Finisher:
    """A listener set's topology id, its first records, and its end, held apart from the pipeline.

    A per-client set stamps its client's ``topology_id`` on every record, but PyMongo may
    publish a pool's creation before the topology's opening: such a record, made before the
    set knows its id, waits here (one per server) and is written, stamped, right after the
    ``mongodb.topology.opened`` record.

    A weakref finaliser must not hold what it finalises, so the pipeline of a dropped
    ``listeners()`` set is finished by this object: records still waiting are written, the
    drops not yet reported get their ``mongodb.sampling.summary`` records (whatever the
    interval), then the output closes. At exit only the last two are written, not closed
    (PyMongo may still log while it shuts down).

    Attributes:
        topology_id: The client's topology id once a per-client set has learnt it.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_lock",
        "_waiting",
        "output",
        "summary_on",
        "suppressed",
        "topology_id",
    )

    _MAX_WAITING = 100

    def __init__(self, output: Output, suppressed: Suppressed, summary_on: bool) -> None:
        self.output = output
        self.suppressed = suppressed
        self.summary_on = summary_on
        self.topology_id: str | None = None
        self._closed = False
        self._lock = threading.Lock()
        LOCK_HOLDERS.add(self)  # a forked child gets a new lock
        self._waiting: list[tuple[str, str, dict[str, Any]]] = []
        _LIVE.add(self)

    def hold(self, method: str, event: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Keep a record made before the topology id was known, or give it back stamped.

        Returns:
            ``None`` when the record waits for the id; else the record to write (with the
            id, if one is known now).
        """
        with self._lock:
            topology_id = self.topology_id
            if topology_id is None:
                if len(self._waiting) < self._MAX_WAITING and not self._closed:
                    self._waiting.append((method, event, record))
                    return None
                return record  # never held for ever, nor without bound
        return _stamped(record, topology_id)

    def learn(self, topology_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Set the topology id; return the records that waited for it, for :meth:`write`."""
        with self._lock:
            self.topology_id = topology_id
            waiting, self._waiting = self._waiting, []
        return waiting

    def write(
        self, records: list[tuple[str, str, dict[str, Any]]], topology_id: str | None
    ) -> None:
        """Write records that waited, stamped with ``topology_id`` (when not ``None``)."""
        for method, _event, record in records:
            self.output.log_record(method, _stamped(record, topology_id))

    def summarise(self) -> None:
        """Write what waits, and a summary record for every event with drops not reported yet."""
        if self._closed:
            return
        with self._lock:
            waiting, self._waiting = self._waiting, []
        self.write(waiting, None)
        if not self.summary_on:
            return
        try:
            for fields in self.suppressed.due(time.monotonic(), final=True):
                record = header("info", SUMMARY, self.topology_id)
                record.update(fields)
                self.output.log_record("info", record)
        except Exception as exc:
            STATS.add("internal_errors")
            STATS.warn_once("internal:summary", f"internal error in sampling summary: {exc!r}")

    def __call__(self) -> None:
        """Summarise, then close the output (once); ``stats()`` keeps the drops."""
        self.summarise()
        STATS.settle(self.suppressed)
        self._closed = True
        _LIVE.discard(self)
        self.output.close()


def _stamped(record: dict[str, Any], topology_id: str | None) -> dict[str, Any]:
    """The record with ``topology_id`` after ``event``, where records carry it."""
    if topology_id is None or "topology_id" in record:
        return record
    stamped: dict[str, Any] = {}
    for key, value in record.items():
        stamped[key] = value
        if key == "event":
            stamped["topology_id"] = topology_id
    return stamped


_LIVE: weakref.WeakSet[Finisher] = weakref.WeakSet()


def _summarise_at_exit() -> None:
    # Registered after the sinks' own exit hook, so it runs first: the queues are
    # flushed after these records are in them.
    for finisher in list(_LIVE):
        finisher.summarise()


atexit.register(_summarise_at_exit)
