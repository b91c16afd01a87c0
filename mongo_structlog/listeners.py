"""The five PyMongo listener classes, made from the event catalogue.

Most methods are made from :data:`._catalogue.ROWS` (one row per record kind); the
methods written here by hand are those whose events need more than a row: the command
methods (the command path, :mod:`._commands`), a topology's opening (a per-client set
learns its topology id there) and change, a server's change, heartbeats, and a
connection's check-out and close (where derived records hook in). Whether a method does
anything is decided when its pipeline is set, not per event (see :class:`._fast.Routed`).

PyMongo calls these synchronously, on the application's thread for commands and pool
activity and on monitor threads for heartbeats and topology changes, so what a method
costs is the application's latency. Every method runs inside the boundary: an internal
error is counted in ``stats()``, reported once on stderr, and never raised into PyMongo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pymongo import monitoring

from . import _fast
from ._catalogue import (
    connection_fields,
    error_fields_from_exception,
    heartbeat_fields,
    made,
    routes,
    server_changed_fields,
    topology_changed_fields,
)
from ._incidents import server_observed

__all__ = [
    "LoggingCommandListener",
    "LoggingConnectionPoolListener",
    "LoggingHeartbeatListener",
    "LoggingServerListener",
    "LoggingTopologyListener",
]

_T = TypeVar("_T")


def _from_catalogue(listener: str) -> Callable[[type[_T]], type[_T]]:
    """Give a listener class the methods made from its catalogue rows, and its routes."""

    def fill(cls: type[_T]) -> type[_T]:
        for name, method in made(listener).items():
            if name not in cls.__dict__:  # a hand-written method wins over its row's
                setattr(cls, name, method)
        cls._routes = routes(listener)  # type: ignore[attr-defined]
        return cls

    return fill


@_from_catalogue("command")
class LoggingCommandListener(_fast.Routed, monitoring.CommandListener):
    """``mongodb.command.started`` / ``succeeded`` / ``failed`` (see :mod:`._commands`)."""

    started = _fast.command_started
    succeeded = _fast.command_succeeded
    failed = _fast.command_failed


@_from_catalogue("server")
class LoggingServerListener(_fast.Routed, monitoring.ServerListener):
    """``mongodb.server.opening`` / ``description_changed`` / ``closed`` (never sampled)."""

    def description_changed(self, event: monitoring.ServerDescriptionChangedEvent) -> None:
        """A server's type changed (``RSPrimary`` -> ``Unknown``, ...)."""
        p = self._pipeline
        try:
            fields = server_changed_fields(event, p.renderer)
            fields.update(server_observed(event))  # stamped when the driver observed it
            p.emit("info", "mongodb.server.description_changed", fields)
        except Exception as exc:
            p.internal_error("server description_changed", exc)


@_from_catalogue("heartbeat")
class LoggingHeartbeatListener(_fast.Routed, monitoring.ServerHeartbeatListener):
    """``mongodb.heartbeat.started`` / ``succeeded`` (debug chatter) / ``failed`` (warning)."""

    def _chatter(self, name: str, event: Any) -> None:
        p = self._pipeline
        try:
            fields = p.chatter("heartbeat", name, event.connection_id)
            if fields is not None:
                fields.update(heartbeat_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        """A monitor is about to check a server (chatter)."""
        self._chatter("mongodb.heartbeat.started", event)

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        """A server answered its monitor (chatter)."""
        self._chatter("mongodb.heartbeat.succeeded", event)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        """A server did not answer its monitor: always logged, at ``warning``."""
        p = self._pipeline
        try:
            fields = heartbeat_fields(event)
            fields.update(error_fields_from_exception(event.reply, p.renderer))
            p.emit("warning", "mongodb.heartbeat.failed", fields)
        except Exception as exc:
            p.internal_error("heartbeat failed", exc)


@_from_catalogue("topology")
class LoggingTopologyListener(_fast.Routed, monitoring.TopologyListener):
    """``mongodb.topology.opened`` / ``description_changed`` / ``closed`` (never sampled)."""

    def _routed(self, pipeline: Any, method: str, names: tuple[str, ...]) -> bool:
        # A per-client set learns its topology id from the opened event, logged or not.
        return (method == "opened" and pipeline.per_client) or super()._routed(
            pipeline, method, names
        )

    def opened(self, event: monitoring.TopologyOpenedEvent) -> None:
        """A client's topology opened; a per-client set learns its topology id here."""
        p = self._pipeline
        try:
            topology_id = str(event.topology_id)
            # Learnt first, so that records made meanwhile on other threads carry it.
            waiting = p.learn_topology(topology_id) if p.per_client else []
            if p.logs("mongodb.topology.opened"):
                p.emit("info", "mongodb.topology.opened", {"topology_id": topology_id})
            p.write_waiting(waiting)  # the records made before the id was known, after it
        except Exception as exc:
            p.internal_error("topology opened", exc)

    def description_changed(self, event: monitoring.TopologyDescriptionChangedEvent) -> None:
        """The topology changed; losing the last writable server logs at ``warning``."""
        p = self._pipeline
        try:
            fields = topology_changed_fields(event)
            # Stamps the change when observed; the incidents it reveals are written after it.
            incidents = p.incidents.topology_changed(event, fields)
            # Closing the client resets the topology to Unknown: not an incident.
            lost_writable = (
                fields["had_writable_server"]
                and not fields["has_writable_server"]
                and fields["new_topology_type"] != "Unknown"
            )
            method = "warning" if lost_writable else "info"
            if p.logs_at(method, "mongodb.topology.description_changed"):
                p.emit(method, "mongodb.topology.description_changed", fields)
            p.incidents.write(incidents)
        except Exception as exc:
            p.internal_error("topology description_changed", exc)


@_from_catalogue("pool")
class LoggingConnectionPoolListener(_fast.Routed, monitoring.ConnectionPoolListener):
    """Pool and connection events: state changes always, check-out/in chatter at ``debug``.

    The pool's check-out and check-in events also keep the counts behind pool pressure
    (:class:`._incidents.PoolWatch`) whenever the family is on, logged or not.
    """

    def _routed(self, pipeline: Any, method: str, names: tuple[str, ...]) -> bool:
        return (
            method in _TRACKED and pipeline.logs("mongodb.connection.check_out_failed")
        ) or super()._routed(pipeline, method, names)

    def _count(self, what: str, event: Any) -> bool:
        """Feed the pool watch; False (counted, reported) when that failed."""
        p = self._pipeline
        try:
            getattr(p.incidents.pools, what)(event)
        except Exception as exc:
            p.internal_error(f"pool {what}", exc)
            return False
        return True

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        """A server's pool was created (with its options); its limit is kept."""
        if self._count("created", event) and self._pipeline.logs("mongodb.pool.created"):
            _POOL_CREATED(self, event)

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        """A pool was closed; its counts are forgotten."""
        if self._count("closed", event) and self._pipeline.logs("mongodb.pool.closed"):
            _POOL_CLOSED(self, event)

    # The two methods below run for every operation: written out rather than via _count.

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        """A thread asked the pool for a connection (chatter); one more waiting."""
        p = self._pipeline
        try:
            p.incidents.pools.check_out_started(event)
        except Exception as exc:
            p.internal_error("pool check_out_started", exc)
            return
        if p.pool_chatter_on:
            self._chatter("mongodb.connection.check_out_started", event)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        """A connection was checked back in (chatter); one fewer out."""
        p = self._pipeline
        try:
            p.incidents.pools.checked_in(event)
        except Exception as exc:
            p.internal_error("pool checked_in", exc)
            return
        if p.pool_chatter_on:
            self._chatter("mongodb.connection.checked_in", event)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        """A check-out failed: ``error``, with the pool's pressure at that moment."""
        p = self._pipeline
        try:
            fields = connection_fields(event)
            try:  # the record is written even if its pressure fields cannot be
                fields.update(p.incidents.pools.check_out_failed(event))
            except Exception as exc:
                p.internal_error("pool check_out_failed", exc)
            p.emit("error", "mongodb.connection.check_out_failed", fields)
        except Exception as exc:
            p.internal_error("connection check_out_failed", exc)

    def _chatter(self, name: str, event: Any) -> None:
        p = self._pipeline
        try:
            fields = p.chatter("pool", name, event.address)
            if fields is not None:
                fields.update(connection_fields(event))
                p.emit("debug", name, fields)
        except Exception as exc:
            p.internal_error(name, exc)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        """A connection closed: by error at ``warning`` (never sampled), else chatter."""
        p = self._pipeline
        try:
            by_error = event.reason == monitoring.ConnectionClosedReason.ERROR
            if by_error:
                if p.logs_at("warning", "mongodb.connection.closed"):
                    p.emit("warning", "mongodb.connection.closed", connection_fields(event))
                return
        except Exception as exc:
            p.internal_error("connection closed", exc)
            return
        if p.logs_at("debug", "mongodb.connection.closed"):
            self._chatter("mongodb.connection.closed", event)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        """A connection was checked out (chatter; ``duration_micros`` is the wait).

        A check-out that waited at least ``SLOW_MS`` is written at ``warning`` with
        ``slow: true`` and the pool's pressure, chatter or not.
        """
        p = self._pipeline
        try:
            slow = p.incidents.pools.checked_out(event)
            if slow is not None:
                if p.logs_at("warning", "mongodb.connection.checked_out"):
                    fields = connection_fields(event)
                    fields.update(slow)
                    p.emit("warning", "mongodb.connection.checked_out", fields)
                return
        except Exception as exc:
            p.internal_error("connection checked_out", exc)
            return
        if p.pool_chatter_on:
            self._chatter("mongodb.connection.checked_out", event)


#: The pool methods that keep pressure counts whenever the family is on.
_TRACKED = frozenset(
    {
        "pool_created",
        "pool_closed",
        "connection_check_out_started",
        "connection_checked_out",
        "connection_checked_in",
        "connection_check_out_failed",
    }
)
_MADE = made("pool")
_POOL_CREATED = _MADE["pool_created"]
_POOL_CLOSED = _MADE["pool_closed"]
