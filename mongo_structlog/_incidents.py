"""On-call answers no single PyMongo event gives: true event times, incidents, pool pressure.

Three jobs share one idea, state kept as events pass, and one small face, :class:`Incidents`,
which a :class:`~.pipeline.Pipeline` holds and its listeners call:

- **The observed time.** PyMongo publishes server and topology events from a background
  thread (about once a second), but each ``ServerDescription`` keeps, in
  ``last_update_time`` (``time.monotonic()``), the moment the driver observed it.
  :func:`observed` turns that into the record's wall-clock ``timestamp`` and says how much
  later PyMongo published it (``published_after_micros``). The monotonic-to-wall offset is
  kept and taken again when the wall clock moves away from it (two clock reads per
  conversion, on rare events).
- **Topology incidents** (:class:`TopologyWatch`): the last writable server lost, one
  back (with how long there was none), the primary moving; state per topology id.
- **Pool pressure** (:class:`PoolWatch`): per pool address, the connections out (and the
  command each last started), the check-outs waiting, the limit; their figures go on a
  failed or slow check-out, and a check-out waiting ``SLOW_MS`` on a full pool is reported
  as ``mongodb.pool.starving`` by one lazily started alarm thread.

Nothing here raises into PyMongo: the listener methods that call it catch and count.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pymongo.monitoring import ConnectionCheckedOutEvent

from ._catalogue import address_fields, format_address, micros
from .output import rfc3339_now
from .stats import STATS

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = [
    "DEFAULT_MAX_POOL_SIZE",
    "LOST",
    "PRIMARY_CHANGED",
    "RESTORED",
    "STARVING",
    "Incidents",
    "PoolWatch",
    "TopologyWatch",
    "observed",
    "server_observed",
]

LOST = "mongodb.topology.writable_server_lost"
RESTORED = "mongodb.topology.writable_server_restored"
PRIMARY_CHANGED = "mongodb.topology.primary_changed"
STARVING = "mongodb.pool.starving"

#: PyMongo's ``maxPoolSize`` when the client sets none (``PoolCreatedEvent.options`` lists
#: only the options that differ from their defaults).
DEFAULT_MAX_POOL_SIZE = 100

Emit = Callable[[str, str, dict[str, Any]], None]


#: Wall-clock time minus monotonic time; see :func:`observed`.
_offset = time.time() - time.monotonic()
#: How far the offset may drift before it is taken again (seconds).
_OFFSET_TOLERANCE = 0.001


def observed(monotonic_time: float | None) -> dict[str, Any]:
    """``timestamp`` (wall-clock UTC) of a moment on PyMongo's monotonic clock, and its age.

    The wall-clock offset is kept, so two records of one observation carry the same
    timestamp to the microsecond, and taken again once the wall clock has moved away
    from it by more than a millisecond (stepped, or slewed by NTP over time).

    Args:
        monotonic_time: A ``time.monotonic()`` reading, such as
            ``ServerDescription.last_update_time``; ``None`` for now.

    Returns:
        ``{"timestamp": ..., "published_after_micros": ...}``: the moment in RFC 3339 and how
        long ago it was (never negative).
    """
    global _offset
    now = time.monotonic()
    offset = time.time() - now
    if abs(offset - _offset) > _OFFSET_TOLERANCE:
        _offset = offset
    else:
        offset = _offset
    if monotonic_time is None or monotonic_time > now:
        monotonic_time = now
    return {
        "timestamp": rfc3339_now(monotonic_time + offset),
        "published_after_micros": round((now - monotonic_time) * 1e6),
    }


def server_observed(event: Any) -> dict[str, Any]:
    """:func:`observed` for a ``ServerDescriptionChangedEvent``: when its new description was."""
    return observed(_seen(event.new_description))


def _seen(description: Any) -> float | None:
    """A server description's ``last_update_time``, or ``None`` if it has none."""
    seen = getattr(description, "last_update_time", None)
    return seen if isinstance(seen, float) else None


def _newest_change(previous: Any, new: Any) -> float | None:
    """When the newest of the server descriptions that changed was observed.

    PyMongo builds a new topology description around the same server-description objects
    except those it replaced, so a changed server is one whose object is not the same.
    When none changed, the newest of them all.
    """
    before = previous.server_descriptions()
    after = new.server_descriptions()
    changed = [sd for address, sd in after.items() if before.get(address) is not sd]
    times = [t for t in map(_seen, changed or after.values()) if t is not None]
    return max(times) if times else None


def _primary(description: Any) -> str | None:
    for address, server in description.server_descriptions().items():
        if server.server_type_name == "RSPrimary":
            return format_address(address)
    return None


class _Outage:
    """One topology's open incident: when its last writable server went, and its primary."""

    __slots__ = ("lost_at", "primary")

    def __init__(self, lost_at: float, primary: str | None) -> None:
        self.lost_at = lost_at
        self.primary = primary


class TopologyWatch:
    """Pairs topology changes into incidents, per topology id.

    Decisions (see ``docs/incidents.md``): a change to topology type ``Unknown`` is the
    client closing (PyMongo resets the description), never an incident, and forgets the
    topology; a writable server found for the first time is not "restored"; the primary
    "changes" when a change shows a primary other than the one before it, or when a
    writable server comes back with a primary other than the one lost.
    """

    def __init__(self) -> None:
        self._outages: dict[str, _Outage | None] = {}

    def changed(self, event: Any, fields: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """Stamp a topology change's record with its observed time; return its incidents.

        Args:
            event: PyMongo's ``TopologyDescriptionChangedEvent``.
            fields: The change's record fields: ``timestamp`` and ``published_after_micros``
                are added (the newest observed time among the changed servers).

        Returns:
            ``(level, event name, fields)`` of each incident record, in order.
        """
        previous, new = event.previous_description, event.new_description
        seen = _newest_change(previous, new)
        timing = observed(seen)
        if seen is None:  # no server: the change is published as it is seen
            seen = time.monotonic()
        fields.update(timing)
        topology_id = str(event.topology_id)
        if new.topology_type_name == "Unknown":  # reset by close(): not an incident
            self._outages.pop(topology_id, None)
            return []
        had, has = previous.has_writable_server(), new.has_writable_server()
        old_primary, primary = _primary(previous), _primary(new)
        base = {"topology_id": topology_id}
        records: list[tuple[str, str, dict[str, Any]]] = []
        if had and not has:
            self._outages[topology_id] = _Outage(seen, old_primary)
            records.append(("warning", LOST, {**timing, **base, "previous_primary": old_primary}))
        elif has and not had:
            outage = self._outages.pop(topology_id, None)
            if outage is None:  # found for the first time, not restored
                return []
            # Two monitors may observe out of order: the window is never negative.
            unavailable = micros(max(0.0, seen - outage.lost_at))
            restored = {**timing, **base, "primary": primary, "unavailable_micros": unavailable}
            records.append(("info", RESTORED, restored))
            old_primary = outage.primary
        if old_primary is not None and primary is not None and old_primary != primary:
            moved = {**timing, **base, "previous_primary": old_primary, "primary": primary}
            records.append(("info", PRIMARY_CHANGED, moved))
        return records


class _Pool:
    """What one pool (one server address) has out and waiting, as its events passed."""

    __slots__ = ("address", "commands", "max_size", "out", "starving", "waiters")

    def __init__(self, address: Any, max_size: int | None) -> None:
        self.address = address
        self.max_size = max_size
        #: check-out token -> when it started (monotonic); oldest first (insertion order).
        self.waiters: dict[int, float] = {}
        #: connection id -> when it was checked out (monotonic); oldest first.
        self.out: dict[int, float] = {}
        #: connection id -> the command name last started on it while out.
        self.commands: dict[int, str] = {}
        #: A starving record was written and the pool has not stopped having waiters since.
        self.starving = False

    def pressure(self, now: float, name: Callable[[str], str]) -> dict[str, Any]:
        """``in_use``, ``max_pool_size``, ``waiting`` and the oldest connection out, now.

        Args:
            now: Monotonic seconds.
            name: The gate for a name (the command name is the application's text).
        """
        # One C-level copy: other threads check out and in meanwhile, without a lock.
        out = list(self.out.items())
        fields: dict[str, Any] = {"in_use": len(out)}
        if self.max_size is not None:
            fields["max_pool_size"] = self.max_size
        fields["waiting"] = len(self.waiters)
        if out:
            connection_id, since = out[0]
            fields["oldest_in_use_micros"] = max(0, round((now - since) * 1e6))
            command = self.commands.get(connection_id)
            if command is not None:
                fields["oldest_in_use_command"] = name(command)
        return fields


#: This thread's or task's check-out in progress: its token in its pool's ``waiters``.
_WAITING: ContextVar[int] = ContextVar("mongo_structlog_waiting", default=-1)
_get_waiting = _WAITING.get
#: This thread's or task's last check-out, ``(address, connection id)``: a command started
#: on the same thread or task runs on that connection (its name goes on pool pressure).
_HELD: ContextVar[tuple[Any, int] | None] = ContextVar("mongo_structlog_held", default=None)
_get_held = _HELD.get
_set_held = _HELD.set
_set_waiting = _WAITING.set
_monotonic = time.monotonic
#: A pool without a limit is never full.
_NO_LIMIT = float("inf")


class PoolWatch:
    """Counts per pool address, kept from the pool's events; see the module docstring.

    With ``configure()`` several clients may have a pool to the same address: their counts
    are then kept together (pool events do not say which client they come from).

    Args:
        slow_micros: A check-out waiting this long is slow (``SLOW_MS``).
        report: Called with ``(fields)`` when a waiting check-out turns starving; ``None``
            when starving records are not written (below the level, family off).
    """

    def __init__(
        self,
        slow_micros: float,
        report: Callable[[dict[str, Any]], None] | None,
        name: Callable[[str], str] = str,
    ) -> None:
        self._pools: dict[Any, _Pool] = {}
        self._name = name
        self._slow = slow_micros / 1e6
        self._report = report
        self._tokens = itertools.count()

    def _pool(self, address: Any) -> _Pool:
        """The pool at ``address``; one created before this watch (a reconfigure) is
        counted from now, with PyMongo's default limit."""
        return self._pools.setdefault(address, _Pool(address, DEFAULT_MAX_POOL_SIZE))

    def created(self, event: Any) -> None:
        """A pool was created: learn its ``maxPoolSize`` (``None``: no limit)."""
        size = event.options.get("maxPoolSize", DEFAULT_MAX_POOL_SIZE)
        limit = int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None
        self._pools[event.address] = _Pool(event.address, limit)

    def closed(self, event: Any) -> None:
        """A pool was closed: forget it."""
        self._pools.pop(event.address, None)

    def check_out_started(self, event: Any) -> None:
        """A check-out began: it waits until it ends; a full pool arms the starving alarm."""
        address = event.address
        pool = self._pools.get(address) or self._pool(address)
        token = next(self._tokens)
        pool.waiters[token] = now = _monotonic()
        _set_waiting(token)
        full = len(pool.out) >= (pool.max_size or _NO_LIMIT)
        if full and self._report is not None and not pool.starving:
            _ALARM.arm(now + self._slow, self, pool, token)

    def checked_out(self, event: Any) -> dict[str, Any] | None:
        """A connection was checked out.

        Returns:
            The pressure fields (:meth:`_Pool.pressure`, this connection counted as out)
            and ``slow: True`` when the check-out waited at least ``SLOW_MS``, else ``None``.
        """
        if type(event) is not ConnectionCheckedOutEvent:
            return None  # nothing to count (the listener is called with what PyMongo gives)
        address = event.address
        pool = self._pools.get(address) or self._pool(address)
        waiters = pool.waiters
        start = waiters.pop(_get_waiting(), None)
        if not waiters:
            pool.starving = False
        wait = event.duration
        now = _monotonic() if start is None or wait is None else start + wait
        connection_id = event.connection_id
        pool.out[connection_id] = now
        _set_held((address, connection_id))
        if wait is not None and wait >= self._slow:
            fields = pool.pressure(now, self._name)
            fields["slow"] = True
            return fields
        return None

    def check_out_failed(self, event: Any) -> dict[str, Any]:
        """A check-out failed: the pressure fields at that moment (it waits no more)."""
        address = event.address
        pool = self._pools.get(address) or self._pool(address)
        pool.waiters.pop(_get_waiting(), None)
        if not pool.waiters:
            pool.starving = False
        return pool.pressure(_monotonic(), self._name)

    def checked_in(self, event: Any) -> None:
        """A connection came back: no longer out, its command forgotten."""
        pool = self._pools.get(event.address)
        if pool is not None:
            connection_id = event.connection_id
            pool.out.pop(connection_id, None)
            pool.commands.pop(connection_id, None)

    def command_started(self, address: Any, command_name: str) -> None:
        """A command started on this thread's or task's connection: remember its name."""
        held = _get_held()
        if held is not None and held[0] == address:
            pool = self._pools.get(address)
            if pool is not None:
                pool.commands[held[1]] = command_name

    def alarm(self, pool: _Pool, token: int) -> None:
        """The alarm's call: report the pool starving if ``token`` is still waiting."""
        report = self._report
        if report is None or token not in pool.waiters or pool.starving:
            return
        if self._pools.get(pool.address) is not pool:
            return  # closed meanwhile
        waiting = list(pool.waiters.values())  # a C-level copy, as in pressure()
        if not waiting:
            return
        pool.starving = True
        now = time.monotonic()
        fields = dict(address_fields(pool.address))
        fields.update(pool.pressure(now, self._name))
        fields["oldest_waiting_micros"] = round((now - waiting[0]) * 1e6)
        report(fields)


class _Alarm:
    """One daemon thread that wakes at the earliest deadline of a waiting check-out.

    Started when a check-out first begins on a full pool, and again after a fork (the
    child has no thread); it waits on a condition, so an idle alarm costs nothing.
    """

    def __init__(self) -> None:
        self._order = itertools.count()
        self.forked()

    def forked(self) -> None:
        """Start afresh (also in a forked child: no thread there, its lock maybe held)."""
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, weakref.ref[PoolWatch], _Pool, int]] = []
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, watch: PoolWatch, pool: _Pool, token: int) -> None:
        """Call ``watch.alarm(pool, token)`` at ``deadline`` (monotonic)."""
        if deadline == _NO_LIMIT:  # slow_ms=inf: a check-out is never slow
            return
        entry = (deadline, next(self._order), weakref.ref(watch), pool, token)
        with self._cond:
            heapq.heappush(self._heap, entry)
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._run, name="mongo_structlog_pool_alarm", daemon=True
                )
                self._thread = thread
                thread.start()
            self._cond.notify()

    def _due(self) -> list[tuple[float, int, weakref.ref[PoolWatch], _Pool, int]]:
        """Wait for, then take, the entries whose deadline has come."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    due = []
                    while self._heap and self._heap[0][0] <= now:
                        due.append(heapq.heappop(self._heap))
                    return due
                # Capped: a huge slow_ms must not overflow the platform's timeout.
                self._cond.wait(min(self._heap[0][0] - now, 3600.0) if self._heap else None)

    def _run(self) -> None:
        while True:
            for _, _, ref, pool, token in self._due():
                watch = ref()
                if watch is not None:
                    try:
                        watch.alarm(pool, token)
                    except Exception as exc:  # the boundary: count, warn once, carry on
                        STATS.add("internal_errors")
                        STATS.warn_once("internal:pool alarm", f"internal error in {exc!r}")


_ALARM = _Alarm()
os.register_at_fork(after_in_child=_ALARM.forked)


class Incidents:
    """The watches one pipeline holds, with its emit held weakly (no reference cycle).

    Args:
        pipeline: The pipeline whose records these are: its settings say what is written.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self._emit = weakref.WeakMethod(pipeline.emit)
        self._info = pipeline.logs("mongodb.topology.writable_server_restored")
        self._lost = pipeline.logs("mongodb.topology.writable_server_lost")
        self.topology = TopologyWatch()
        report = self._starving if pipeline.logs("mongodb.pool.starving") else None
        self.pools = PoolWatch(pipeline.settings.slow_ms * 1000.0, report, pipeline.renderer.name)

    def _starving(self, fields: dict[str, Any]) -> None:
        emit = self._emit()
        if emit is not None:
            emit("warning", STARVING, fields)

    def topology_changed(
        self, event: Any, fields: dict[str, Any]
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """See :meth:`TopologyWatch.changed`; only the records the level lets through."""
        records = self.topology.changed(event, fields)
        return [r for r in records if (self._lost if r[0] == "warning" else self._info)]

    def write(self, records: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Emit the records :meth:`topology_changed` returned (after the change's own)."""
        emit = self._emit()
        if emit is not None:
            for method, name, fields in records:
                emit(method, name, fields)
