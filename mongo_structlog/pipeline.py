"""The state one listener set shares, and the decisions made for each event.

A :class:`Pipeline` holds the validated settings, the sampling state, the command
correlation map, the document renderer and the output. The listener classes call
its methods; it decides *whether* a record is made before building anything, then
builds the fields (with :mod:`.events` and :mod:`.documents`) and logs them.
"""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from typing import Any

from . import _eventslots  # noqa: F401  # the slot names read below are checked there
from . import events as ev
from .correlation import Correlator
from .documents import DocumentRenderer, collection_of, is_sensitive
from .lifecycle import MAY_COME_FIRST, SUMMARY, Finisher, header
from .output import Output, build_output, rfc3339_now
from .sampling import BurstLimiter, Suppressed, keep_request, threshold
from .settings import LEVELS, Settings
from .stats import STATS

__all__ = ["Pipeline"]

_DEBUG, _INFO, _WARNING, _ERROR = (LEVELS[name] for name in ("debug", "info", "warning", "error"))
_SUCCEEDED = "mongodb.command.succeeded"

#: The ``ConnectionCheckedOutEvent`` of the connection this thread or task last checked out.
#: PyMongo's command events name only the server, so the pool listener leaves the
#: driver's connection number here for the command records that follow on the same
#: thread or task.
CHECKED_OUT: ContextVar[Any] = ContextVar("mongo_structlog_checked_out", default=None)

# Correlation entries: a command dropped by sampling is remembered as its started event
# alone (nothing built, no clock read); a kept one as (started event, rendered command or
# None), a tuple, which is what tells the two apart at completion.


class Pipeline:
    """Everything one set of listeners shares; see the module docstring.

    Args:
        settings: Validated settings.
        per_client: True for ``listeners()`` sets, which learn their topology id from the
            topology-opened event and stamp it on every record.
        output: An already built output (tests, benchmarks); built from settings if omitted.
    """

    def __init__(self, settings: Settings, per_client: bool, output: Output | None = None) -> None:
        self.settings = settings
        self.per_client = per_client
        self.renderer = DocumentRenderer(
            settings.documents, settings.redact_keys, settings.max_document_length
        )
        if output is None:
            output = build_output(settings, clean=self.renderer.context_value)
        self.output = output
        self._log_record = output.log_record
        level = settings.level_number
        families = set(settings.families)
        self.level = level
        self.debug = level <= _DEBUG
        self.command_on = "command" in families
        self.command_started_on = self.command_on and self.debug
        self.server_on = "server" in families and level <= _INFO
        self.topology_on = "topology" in families and level <= _WARNING
        self.topology_info_on = self.topology_on and level <= _INFO
        heartbeat = "heartbeat" in families
        self.heartbeat_chatter_on = heartbeat and self.debug
        self.heartbeat_failed_on = heartbeat and level <= _WARNING
        pool = "pool" in families
        self.pool_chatter_on = pool and self.debug
        self.pool_info_on = pool and level <= _INFO
        self.pool_warning_on = pool and level <= _WARNING
        self.pool_error_on = pool
        self.summary_on = level <= _INFO

        self.command_rate = settings.command_rate
        # What the command listener's hot path reads (see listeners.LoggingCommandListener):
        self.command_cutoff = threshold(self.command_rate)
        #: 0: drop every command, 1: keep every one, 2: decide by request id.
        self.keep_mode = 1 if self.command_rate >= 1.0 else 2 if self.command_cutoff else 0
        self._slow_micros = settings.slow_ms * 1000.0
        #: A sampled-out success faster than this is only counted; -1 when started records
        #: are logged (a drop at the start is then written late if slow or failed).
        self.fast_below = -1.0 if self.command_started_on else self._slow_micros
        self._rates = {
            "heartbeat": settings.sample_rate_heartbeat,
            "pool": settings.sample_rate_pool,
        }
        self.correlator = Correlator(
            settings.correlation_capacity,
            settings.correlation_ttl_ms / 1000.0,
            lambda count: STATS.add("evicted", count),
        )
        self.limiter = BurstLimiter(
            settings.burst_limit, settings.burst_thereafter, settings.burst_interval_ms / 1000.0
        )
        self.suppressed = Suppressed(settings.summary_interval_ms / 1000.0, time.monotonic())
        self.succeeded_out = self.suppressed.counter(_SUCCEEDED)
        STATS.count_drops(self.suppressed)
        self._written = 0
        #: Call to end this set: the last summary records, then the output closes.
        self.finisher = Finisher(self.output, self.suppressed, self.summary_on)
        self._unstamped = per_client

    @property
    def topology_id(self) -> str | None:
        """The client's topology id, once a per-client set has learnt it."""
        return self.finisher.topology_id

    def close(self) -> None:
        """Write the summary of what was dropped and not yet reported; close the output."""
        self.finisher()

    # -- emitting -------------------------------------------------------------------------

    def emit(self, method: str, event: str, fields: dict[str, Any]) -> None:
        """Log one record now at level ``method`` (``fields`` may carry its own ``timestamp``)."""
        record = self.header(method, event, fields.pop("timestamp", None))
        record.update(fields)
        self.write(method, event, record)

    def header(self, method: str, event: str, timestamp: str | None = None) -> dict[str, Any]:
        """A new record's first keys: ``timestamp``, ``level``, ``event`` (and ``topology_id``)."""
        return header(method, event, self.finisher.topology_id, timestamp)

    def write(self, method: str, event: str, record: dict[str, Any]) -> None:
        """Hand a complete record (from :meth:`header`) to the output, which counts it."""
        if self._unstamped and event in MAY_COME_FIRST:  # before the topology id is known
            held = self.finisher.hold(method, event, record)
            if held is None:
                return
            record = held
        self._log_record(method, record)

    def learn_topology(self, topology_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """A per-client set learns its client's topology id.

        Returns:
            The records that waited for it; pass them to :meth:`write_waiting` once the
            ``mongodb.topology.opened`` record is written.
        """
        waiting = self.finisher.learn(topology_id)
        self._unstamped = False
        return waiting

    def write_waiting(self, waiting: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Write the records :meth:`learn_topology` returned, stamped."""
        self.finisher.write(waiting, self.finisher.topology_id)

    def drop(self, event: str, sampled: bool = True) -> None:
        """Count a record suppressed by a sample rate (or, ``sampled=False``, a burst limit)."""
        suppressed = self.suppressed
        look = suppressed.sampled_out(event) if sampled else suppressed.burst_limited(event)
        if look and self.summary_on:  # Suppressed says when reading the clock is worth it
            self.maybe_summarise()

    def maybe_summarise(self) -> None:
        """Read the clock: age out lost commands, write the sampling summaries now due."""
        now = time.monotonic()
        self.correlator.tick(now)  # the clock is read: a chance to age out lost commands
        for fields in self.suppressed.due(now):
            self.emit("info", SUMMARY, fields)

    def internal_error(self, where: str, exc: BaseException) -> None:
        """Count an adapter bug and report it once; the application carries on."""
        STATS.add("internal_errors")
        STATS.warn_once(f"internal:{where}", f"internal error in {where}: {exc!r}")

    def chatter(self, family: str, event: str, address: Any) -> dict[str, Any] | None:
        """Sample-rate and burst-limit decision for a chatter record.

        Returns:
            ``{}`` or ``{"sample_rate": r}`` to start the record's fields with when it is
            kept; ``None`` when it is dropped (and counted).
        """
        rate = self._rates[family]
        if rate < 1.0 and random.random() >= rate:  # sampling, not security
            self.drop(event)
            return None
        limiter = self.limiter
        if limiter.enabled and not limiter.allow((event, address), time.monotonic()):
            self.drop(event, sampled=False)
            return None
        return {"sample_rate": rate} if rate < 1.0 else {}

    # -- commands ---------------------------------------------------------------------------

    def command_kept(self, event: Any) -> None:
        """Remember a started command sampled in; log it now if started records are on."""
        correlator = self.correlator
        if self.command_started_on:
            rendered = self._render(event)
            correlator.put(event._msl_request_id, event._msl_connection_id, (event, rendered))
            fields = self._started_fields(event, rendered, self.command_rate < 1.0)
            self.emit("debug", "mongodb.command.started", fields)
        else:
            correlator.put(event._msl_request_id, event._msl_connection_id, (event, None))

    def _render(self, started: Any) -> tuple[str | None, str]:
        name = started._msl_command_name
        command = started._msl_command
        return self.renderer.command(name, {} if is_sensitive(name, command) else command)

    def _started_fields(
        self, event: Any, rendered: tuple[str | None, str], sampled: bool
    ) -> dict[str, Any]:
        fields = self._command_fields(event, event)
        self._add_command_text(fields, rendered)
        if sampled:
            fields["sample_rate"] = self.command_rate
        return fields

    def _command_fields(
        self, event: Any, started: Any | None, fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if fields is None:
            fields = {}
        # The public attributes, read from their slots (see _eventslots).
        fields["request_id"] = event._msl_request_id
        fields["operation_id"] = event._msl_operation_id
        fields["command_name"] = event._msl_command_name
        fields["database_name"] = event._msl_database_name
        if started is not None:
            collection = collection_of(started._msl_command_name, started._msl_command)
            if collection is not None:
                fields["collection"] = collection
        address = event._msl_connection_id
        fields.update(ev.address_fields(address))
        checked_out = CHECKED_OUT.get()  # only ever a ConnectionCheckedOutEvent
        if checked_out is not None and checked_out._msl_address == address:
            fields["connection_id"] = checked_out._msl_connection_id
        server_connection_id = event._msl_server_connection_id
        if server_connection_id is not None:
            fields["server_connection_id"] = server_connection_id
        return fields

    @staticmethod
    def _add_command_text(fields: dict[str, Any], rendered: tuple[str | None, str]) -> None:
        text, shape = rendered
        if text is not None:
            fields["command"] = text
        fields["command_shape"] = shape

    def command_completed(self, event: Any, duration: int, failed: bool, entry: Any) -> None:
        """Log a completion that is not a plain sampled-out success.

        Args:
            event: PyMongo's succeeded or failed event.
            duration: Its ``duration_micros``.
            failed: Whether it is a failure.
            entry: What the correlation map's young generation held under its request id.
        """
        request_id = event._msl_request_id
        address = event._msl_connection_id
        if type(entry) is not tuple or entry[0]._msl_connection_id != address:
            entry = self.correlator.pop(request_id, address, entry)
        slow = duration >= self._slow_micros
        if type(entry) is tuple:
            started, rendered = entry
            kept = True
        elif entry is not None:
            started, rendered, kept = entry, None, False
        else:  # evicted, or started before the listener was there: decide again
            started = rendered = None
            keep = self.keep_mode
            kept = keep == 1 or (keep == 2 and keep_request(request_id, self.command_cutoff))
        name = "mongodb.command.failed" if failed else "mongodb.command.succeeded"
        if not (kept or failed or slow):
            if self.command_started_on and started is not None:
                self.drop("mongodb.command.started")
            self.drop(name)
            return
        method = "warning" if failed or slow else "info"
        if LEVELS[method] < self.level:
            return  # below the configured minimum level: nothing to build
        if started is not None:
            command_name = started._msl_command_name
            sensitive = is_sensitive(command_name, started._msl_command)
        else:
            # Without the started event a hello may have carried speculativeAuthenticate.
            command_name = event._msl_command_name
            lowered = command_name.lower()
            sensitive = is_sensitive(lowered, None) or lowered in ("hello", "ismaster")
        fields = self._command_fields(event, started, self.header(method, name))
        fields["duration_micros"] = duration
        if started is not None:
            late = self.command_started_on and not kept  # its started record needs them now
            if rendered is None:
                command = {} if sensitive else started._msl_command
                rendered = self.renderer.command(command_name, command)
            self._add_command_text(fields, rendered)
            if late:
                # Dropped at its start, now failed or slow: written late, stamped with the
                # time it started (PyMongo's duration runs from there).
                late_fields = self._started_fields(started, rendered, False)
                late_fields["timestamp"] = rfc3339_now(time.time() - duration / 1_000_000)
                self.emit("debug", "mongodb.command.started", late_fields)
        if failed:
            failure = event._msl_failure
            fields.update(ev.failure_fields(failure, sensitive, self.renderer.error_message))
        else:
            reply = event._msl_reply
            fields["reply"] = self.renderer.reply(event._msl_command_name, reply, sensitive)
        fields["slow"] = slow
        if not (failed or slow) and self.command_rate < 1.0:
            fields["sample_rate"] = self.command_rate
        self.write(method, name, fields)
        self._written += 1
        if self._written & 0x3F == 0 and self.summary_on:
            # Drops may have stopped; every 64th written record is a chance to report them.
            self.maybe_summarise()
