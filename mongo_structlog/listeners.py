"""The five PyMongo listener classes: enabled? -> build fields -> log.

PyMongo calls these synchronously, on the application's thread for commands and pool
activity and on monitor threads for heartbeats and topology changes, so what a method
costs is the application's latency. Whether a method does anything is decided when its
pipeline is set, not per event (see :mod:`._routing`): a method whose events the
settings do not log is :func:`ignore`. Every method runs inside the boundary: an
internal error is counted in ``stats()``, reported once on stderr, and never raised
into PyMongo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import monitoring
from pymongo.monitoring import CommandStartedEvent

from . import _eventslots  # noqa: F401  # the slot names read below are checked there
from . import events as ev
from ._incidents import server_observed  # incidents:
from ._routing import Routed, ignore, remember
from .pipeline import Pipeline
from .sampling import keep_request

__all__ = [
    "LoggingCommandListener",
    "LoggingConnectionPoolListener",
    "LoggingHeartbeatListener",
    "LoggingServerListener",
    "LoggingTopologyListener",
    "ignore",
]


class LoggingCommandListener(Routed, monitoring.CommandListener):
    """``mongodb.command.started`` / ``succeeded`` / ``failed``.

    The hot path of sampling lives here, inlined, so that a command dropped by sampling
    costs PyMongo one Python call per event: at its start one mix of its request id and
    one dict insert (:meth:`.Correlator.put` inlined), at its success a dict pop and one
    counter step (its drop, counted for ``stats()`` and the summary records). Everything
    else is the pipeline's (:meth:`~Pipeline.command_kept`,
    :meth:`~Pipeline.command_completed`). Values are read from the events' slots
    (see :mod:`._eventslots`).
    """

    def _route(self, p: Pipeline) -> None:
        self._use("started", p.command_on)
        self._use("succeeded", p.command_on)
        self._use("failed", p.command_on)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Remember the command; log it at ``debug`` when sampled in."""
        p = self._pipeline
        try:
            # incidents: the command name on this thread's connection, for pool pressure
            p.incidents.pools.command_started(event._msl_connection_id, event._msl_command_name)  # type: ignore[attr-defined]
            request_id = event._msl_request_id  # type: ignore[attr-defined]
            keep = p.keep_mode
            if keep and (keep == 1 or keep_request(request_id, p.command_cutoff)):
                p.command_kept(event)
                return
            correlator = p.correlator
            young = correlator.young
            if young.setdefault(request_id, event) is not event or len(young) >= correlator.limit:
                # The id is taken by a command in flight, or it is time to rotate.
                correlator.put(request_id, event._msl_connection_id, event)  # type: ignore[attr-defined]
        except Exception as exc:
            p.internal_error("command started", exc)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Log the completion (with the command) if kept or slow."""
        p = self._pipeline
        try:
            entry = p.correlator.young.pop(event._msl_request_id, None)  # type: ignore[attr-defined]
            duration = event._msl_duration_micros  # type: ignore[attr-defined]
            # A bare started event is a command dropped at its start.
            if type(entry) is CommandStartedEvent and duration < p.fast_below:
                next(p.succeeded_out)  # count the drop; now and then look at the clock
                suppressed = p.suppressed
                suppressed.countdown -= 1
                if suppressed.countdown <= 0 and p.summary_on:
                    p.maybe_summarise()
                return
            p.command_completed(event, duration, False, entry)
        except Exception as exc:
            p.internal_error("command succeeded", exc)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Always log a failed command, at ``warning``."""
        p = self._pipeline
        try:
            entry = p.correlator.young.pop(event._msl_request_id, None)  # type: ignore[attr-defined]
            duration = event._msl_duration_micros  # type: ignore[attr-defined]
            p.command_completed(event, duration, True, entry)
        except Exception as exc:
            p.internal_error("command failed", exc)


class LoggingServerListener(Routed, monitoring.ServerListener):
    """``mongodb.server.opening`` / ``description_changed`` / ``closed`` (never sampled)."""

    def _route(self, p: Pipeline) -> None:
        for name in ("opened", "description_changed", "closed"):
            self._use(name, p.server_on)

    def _log(self, name: str, event: Any) -> None:
        p = self._pipeline
        try:
            fields = {"topology_id": str(event.topology_id)}
            fields.update(ev.address_fields(event.server_address))
            p.emit("info", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def opened(self, event: monitoring.ServerOpeningEvent) -> None:
        """A server was added to the topology."""
        self._log("mongodb.server.opening", event)

    def description_changed(self, event: monitoring.ServerDescriptionChangedEvent) -> None:
        """A server's type changed (``RSPrimary`` -> ``Unknown``, ...)."""
        p = self._pipeline
        try:
            fields = ev.server_changed_fields(event)
            fields.update(server_observed(event))  # incidents: stamped when observed
            p.emit("info", "mongodb.server.description_changed", fields)
        except Exception as exc:
            p.internal_error("server description_changed", exc)

    def closed(self, event: monitoring.ServerClosedEvent) -> None:
        """A server was removed from the topology."""
        self._log("mongodb.server.closed", event)


class LoggingHeartbeatListener(Routed, monitoring.ServerHeartbeatListener):
    """``mongodb.heartbeat.started`` / ``succeeded`` (debug chatter) / ``failed`` (warning)."""

    def _route(self, p: Pipeline) -> None:
        self._use("started", p.heartbeat_chatter_on)
        self._use("succeeded", p.heartbeat_chatter_on)
        self._use("failed", p.heartbeat_failed_on)

    def _chatter(self, name: str, event: Any) -> None:
        p = self._pipeline
        try:
            fields = p.chatter("heartbeat", name, event.connection_id)
            if fields is not None:
                fields.update(ev.heartbeat_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        """A monitor is about to check a server."""
        self._chatter("mongodb.heartbeat.started", event)

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        """A server answered its monitor."""
        self._chatter("mongodb.heartbeat.succeeded", event)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        """A server did not answer its monitor: always logged, at ``warning``."""
        p = self._pipeline
        try:
            fields = ev.heartbeat_fields(event)
            fields.update(ev.error_fields_from_exception(event.reply, p.renderer.error_message))
            p.emit("warning", "mongodb.heartbeat.failed", fields)
        except Exception as exc:
            p.internal_error("heartbeat failed", exc)


class LoggingTopologyListener(Routed, monitoring.TopologyListener):
    """``mongodb.topology.opened`` / ``description_changed`` / ``closed`` (never sampled)."""

    def _route(self, p: Pipeline) -> None:
        # A per-client set learns its topology id from the opened event, logged or not.
        self._use("opened", p.per_client or p.topology_info_on)
        self._use("description_changed", p.topology_on)
        self._use("closed", p.topology_info_on)

    def opened(self, event: monitoring.TopologyOpenedEvent) -> None:
        """A client's topology opened; a per-client set learns its topology id here."""
        p = self._pipeline
        try:
            topology_id = str(event.topology_id)
            # Learnt first, so that records made meanwhile on other threads carry it.
            waiting = p.learn_topology(topology_id) if p.per_client else []
            if p.topology_info_on:
                p.emit("info", "mongodb.topology.opened", {"topology_id": topology_id})
            p.write_waiting(waiting)  # the records made before the id was known, after it
        except Exception as exc:
            p.internal_error("topology opened", exc)

    def description_changed(self, event: monitoring.TopologyDescriptionChangedEvent) -> None:
        """The topology changed; losing the last writable server logs at ``warning``."""
        p = self._pipeline
        try:
            fields = ev.topology_changed_fields(event)
            incidents = p.incidents.topology_changed(event, fields)  # incidents: observed time
            # Closing the client resets the topology to Unknown: not an incident.
            lost_writable = (
                fields["had_writable_server"]
                and not fields["has_writable_server"]
                and fields["new_topology_type"] != "Unknown"
            )
            if lost_writable or p.topology_info_on:
                method = "warning" if lost_writable else "info"
                p.emit(method, "mongodb.topology.description_changed", fields)
            p.incidents.write(incidents)  # incidents: lost / restored / primary_changed
        except Exception as exc:
            p.internal_error("topology description_changed", exc)

    def closed(self, event: monitoring.TopologyClosedEvent) -> None:
        """A client closed its topology."""
        p = self._pipeline
        try:
            p.emit("info", "mongodb.topology.closed", {"topology_id": str(event.topology_id)})
        except Exception as exc:
            p.internal_error("topology closed", exc)


class LoggingConnectionPoolListener(Routed, monitoring.ConnectionPoolListener):
    """Pool and connection events: state changes always, check-out/in chatter at ``debug``."""

    def _route(self, p: Pipeline) -> None:
        chatter = p.pool_chatter_on
        track = p.pool_error_on  # incidents: pressure counts need these events
        self._use("pool_ready", p.pool_info_on)
        for name in ("pool_created", "pool_closed"):
            self._use(name, p.pool_info_on or track)  # incidents: or track
        self._use("pool_cleared", p.pool_warning_on)
        self._use("connection_check_out_failed", p.pool_error_on)
        self._use("connection_closed", chatter or p.pool_warning_on)
        for name in ("connection_created", "connection_ready"):
            self._use(name, chatter)
        for name in ("connection_check_out_started", "connection_checked_in"):
            self._use(name, chatter or track)  # incidents: or track
        # Commands need the connection number: alone, that is a look at the context.
        whole = chatter or track  # incidents: or track
        self._use("connection_checked_out", whole or p.command_on, None if whole else remember)

    def _state(
        self,
        method: str,
        name: str,
        event: Any,
        extra: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        p = self._pipeline
        try:
            fields = ev.connection_fields(event)
            if extra is not None:
                fields.update(extra(event))
            p.emit(method, name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def _chatter(self, name: str, event: Any) -> None:
        p = self._pipeline
        try:
            fields = p.chatter("pool", name, event.address)
            if fields is not None:
                fields.update(ev.connection_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        """A server's pool was created (with its options)."""
        p = self._pipeline
        try:
            p.incidents.pools.created(event)  # incidents: the pool's limit
        except Exception as exc:
            p.internal_error("pool created", exc)
            return
        if p.pool_info_on:  # incidents: routed for the counts too
            self._state("info", "mongodb.pool.created", event, ev.pool_options_fields)

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        """A pool became ready for check-outs."""
        self._state("info", "mongodb.pool.ready", event)

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        """A pool was cleared (after a network error or a state change): ``warning``."""
        self._state("warning", "mongodb.pool.cleared", event, ev.pool_cleared_fields)

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        """A pool was closed."""
        p = self._pipeline
        try:
            p.incidents.pools.closed(event)  # incidents: forget its counts
        except Exception as exc:
            p.internal_error("pool closed", exc)
            return
        if p.pool_info_on:  # incidents: routed for the counts too
            self._state("info", "mongodb.pool.closed", event)

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        """A connection was created (chatter)."""
        self._chatter("mongodb.connection.created", event)

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        """A connection finished its handshake (chatter)."""
        self._chatter("mongodb.connection.ready", event)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        """A connection closed: by error at ``warning`` (never sampled), else chatter."""
        p = self._pipeline
        try:
            by_error = event.reason == monitoring.ConnectionClosedReason.ERROR
        except Exception as exc:
            p.internal_error("connection closed", exc)
            return
        if by_error:  # pool_warning_on holds: chatter is on only at debug
            self._state("warning", "mongodb.connection.closed", event)
        elif p.pool_chatter_on:
            self._chatter("mongodb.connection.closed", event)

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        """A thread asked the pool for a connection (chatter)."""
        p = self._pipeline
        try:
            p.incidents.pools.check_out_started(event)  # incidents: one more waiting
        except Exception as exc:
            p.internal_error("connection check_out_started", exc)
            return
        if p.pool_chatter_on:  # incidents: routed for the counts too
            self._chatter("mongodb.connection.check_out_started", event)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        """A check-out failed (timeout, pool closed, connection error): ``error``."""
        pressure = self._pipeline.incidents.pools.check_out_failed  # incidents: + pressure
        self._state("error", "mongodb.connection.check_out_failed", event, pressure)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        """A connection was checked out (chatter; ``duration_micros`` is the wait).

        Also leaves the connection number for this thread's or task's command records.
        """
        p = self._pipeline
        if p.command_on:
            remember(self, event)
        try:
            slow = p.incidents.pools.checked_out(event)  # incidents: pressure if slow
        except Exception as exc:
            p.internal_error("connection checked_out", exc)
            return
        if slow is not None and p.pool_warning_on:  # incidents: a slow check-out, always
            self._state("warning", "mongodb.connection.checked_out", event, lambda _: slow)
        elif p.pool_chatter_on:  # incidents: routed for the counts too
            self._chatter("mongodb.connection.checked_out", event)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        """A connection was checked back in (chatter)."""
        p = self._pipeline
        try:
            p.incidents.pools.checked_in(event)  # incidents: one fewer out
        except Exception as exc:
            p.internal_error("connection checked_in", exc)
            return
        if p.pool_chatter_on:  # incidents: routed for the counts too
            self._chatter("mongodb.connection.checked_in", event)
