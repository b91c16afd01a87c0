"""The five PyMongo listener classes: enabled? -> build fields -> log.

PyMongo calls these synchronously, on the application's thread for commands and pool
activity and on monitor threads for heartbeats and topology changes. Each method first
checks a precomputed flag (so an event below the configured level costs one attribute
test), and every method body runs inside the boundary: an internal error is counted in
``stats()``, reported once on stderr, and never raised into PyMongo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import monitoring

from . import events as ev
from .pipeline import CHECKED_OUT, Pipeline

__all__ = [
    "LoggingCommandListener",
    "LoggingConnectionPoolListener",
    "LoggingHeartbeatListener",
    "LoggingServerListener",
    "LoggingTopologyListener",
]


class _Base:
    """Holds the :class:`Pipeline`; ``configure()`` swaps it to re-apply settings."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline


class LoggingCommandListener(_Base, monitoring.CommandListener):
    """``mongodb.command.started`` / ``succeeded`` / ``failed``."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Remember the command; log it at ``debug`` when sampled in."""
        p = self.pipeline
        if p.command_on:
            try:
                p.command_started(event)
            except Exception as exc:
                p.internal_error("command started", exc)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Log the completion (with the command) if kept or slow."""
        p = self.pipeline
        if p.command_on:
            try:
                p.command_finished(event, failed=False)
            except Exception as exc:
                p.internal_error("command succeeded", exc)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Always log a failed command, at ``warning``."""
        p = self.pipeline
        if p.command_on:
            try:
                p.command_finished(event, failed=True)
            except Exception as exc:
                p.internal_error("command failed", exc)


class LoggingServerListener(_Base, monitoring.ServerListener):
    """``mongodb.server.opening`` / ``description_changed`` / ``closed`` (never sampled)."""

    def _log(self, name: str, event: Any) -> None:
        p = self.pipeline
        try:
            fields = {"topology_id": str(event.topology_id)}
            fields.update(ev.address_fields(event.server_address))
            p.emit("info", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def opened(self, event: monitoring.ServerOpeningEvent) -> None:
        """A server was added to the topology."""
        if self.pipeline.server_on:
            self._log("mongodb.server.opening", event)

    def description_changed(self, event: monitoring.ServerDescriptionChangedEvent) -> None:
        """A server's type changed (``RSPrimary`` -> ``Unknown``, ...)."""
        p = self.pipeline
        if p.server_on:
            try:
                p.emit(
                    "info", "mongodb.server.description_changed", ev.server_changed_fields(event)
                )
            except Exception as exc:
                p.internal_error("server description_changed", exc)

    def closed(self, event: monitoring.ServerClosedEvent) -> None:
        """A server was removed from the topology."""
        if self.pipeline.server_on:
            self._log("mongodb.server.closed", event)


class LoggingHeartbeatListener(_Base, monitoring.ServerHeartbeatListener):
    """``mongodb.heartbeat.started`` / ``succeeded`` (debug chatter) / ``failed`` (warning)."""

    def _chatter(self, name: str, event: Any) -> None:
        p = self.pipeline
        try:
            fields = p.chatter("heartbeat", name, event.connection_id)
            if fields is not None:
                fields.update(ev.heartbeat_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        """A monitor is about to check a server."""
        if self.pipeline.heartbeat_chatter_on:
            self._chatter("mongodb.heartbeat.started", event)

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        """A server answered its monitor."""
        if self.pipeline.heartbeat_chatter_on:
            self._chatter("mongodb.heartbeat.succeeded", event)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        """A server did not answer its monitor: always logged, at ``warning``."""
        p = self.pipeline
        if p.heartbeat_failed_on:
            try:
                fields = ev.heartbeat_fields(event)
                fields.update(ev.error_fields_from_exception(event.reply, p.renderer.error_message))
                p.emit("warning", "mongodb.heartbeat.failed", fields)
            except Exception as exc:
                p.internal_error("heartbeat failed", exc)


class LoggingTopologyListener(_Base, monitoring.TopologyListener):
    """``mongodb.topology.opened`` / ``description_changed`` / ``closed`` (never sampled)."""

    def opened(self, event: monitoring.TopologyOpenedEvent) -> None:
        """A client's topology opened; a per-client set learns its topology id here."""
        p = self.pipeline
        try:
            if p.per_client:
                p.topology_id = str(event.topology_id)
            if p.topology_info_on:
                p.emit("info", "mongodb.topology.opened", {"topology_id": str(event.topology_id)})
        except Exception as exc:
            p.internal_error("topology opened", exc)

    def description_changed(self, event: monitoring.TopologyDescriptionChangedEvent) -> None:
        """The topology changed; losing the last writable server logs at ``warning``."""
        p = self.pipeline
        if p.topology_on:
            try:
                fields = ev.topology_changed_fields(event)
                # Closing the client resets the topology to Unknown: not an incident.
                lost_writable = (
                    fields["had_writable_server"]
                    and not fields["has_writable_server"]
                    and fields["new_topology_type"] != "Unknown"
                )
                if lost_writable or p.topology_info_on:
                    method = "warning" if lost_writable else "info"
                    p.emit(method, "mongodb.topology.description_changed", fields)
            except Exception as exc:
                p.internal_error("topology description_changed", exc)

    def closed(self, event: monitoring.TopologyClosedEvent) -> None:
        """A client closed its topology."""
        p = self.pipeline
        if p.topology_info_on:
            try:
                p.emit("info", "mongodb.topology.closed", {"topology_id": str(event.topology_id)})
            except Exception as exc:
                p.internal_error("topology closed", exc)


class LoggingConnectionPoolListener(_Base, monitoring.ConnectionPoolListener):
    """Pool and connection events: state changes always, check-out/in chatter at ``debug``."""

    def _state(
        self,
        method: str,
        name: str,
        event: Any,
        extra: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        p = self.pipeline
        try:
            fields = ev.connection_fields(event)
            if extra is not None:
                fields.update(extra(event))
            p.emit(method, name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def _chatter(self, name: str, event: Any) -> None:
        p = self.pipeline
        try:
            fields = p.chatter("pool", name, event.address)
            if fields is not None:
                fields.update(ev.connection_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        """A server's pool was created (with its options)."""
        if self.pipeline.pool_info_on:
            self._state("info", "mongodb.pool.created", event, ev.pool_options_fields)

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        """A pool became ready for check-outs."""
        if self.pipeline.pool_info_on:
            self._state("info", "mongodb.pool.ready", event)

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        """A pool was cleared (after a network error or a state change): ``warning``."""
        if self.pipeline.pool_warning_on:
            self._state("warning", "mongodb.pool.cleared", event, ev.pool_cleared_fields)

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        """A pool was closed."""
        if self.pipeline.pool_info_on:
            self._state("info", "mongodb.pool.closed", event)

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        """A connection was created (chatter)."""
        if self.pipeline.pool_chatter_on:
            self._chatter("mongodb.connection.created", event)

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        """A connection finished its handshake (chatter)."""
        if self.pipeline.pool_chatter_on:
            self._chatter("mongodb.connection.ready", event)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        """A connection closed: by error at ``warning`` (never sampled), else chatter."""
        p = self.pipeline
        if p.pool_chatter_on or p.pool_warning_on:
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
        if self.pipeline.pool_chatter_on:
            self._chatter("mongodb.connection.check_out_started", event)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        """A check-out failed (timeout, pool closed, connection error): ``error``."""
        if self.pipeline.pool_error_on:
            self._state("error", "mongodb.connection.check_out_failed", event)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        """A connection was checked out (chatter; ``duration_micros`` is the wait).

        Also leaves the connection number for this thread's or task's command records.
        """
        p = self.pipeline
        if p.command_on and type(event) is monitoring.ConnectionCheckedOutEvent:
            CHECKED_OUT.set(event)
        if p.pool_chatter_on:
            self._chatter("mongodb.connection.checked_out", event)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        """A connection was checked back in (chatter)."""
        if self.pipeline.pool_chatter_on:
            self._chatter("mongodb.connection.checked_in", event)
