"""The event catalogue: one row per record kind, and the field builders of those rows.

Each :class:`Row` says what a record is called, which family it belongs to (for
``families`` and per-family sample rates), its level (and the level it may be raised
to), whether it is sampled like chatter, whether PyMongo publishes it from a
background thread or task (then it carries no bound context and no trace ids), and
how its fields are built from PyMongo's event. The listener classes
(:mod:`.listeners`) are made from these rows; an event that needs more than a row
(commands, connection check-out and close, topology changes, server changes,
heartbeats: the places derived records hook into) gets a hand-written method there,
which wins over its row's. Adding an event is adding a row.

Field builders are pure: ``(event, renderer) -> dict``. Every string that comes from
the server or the application goes through ``renderer`` (the gate:
:meth:`~.documents.DocumentRenderer.text` for free text, ``name`` for names). Field
names and types follow ``CONTRACT.md``: flat snake_case keys with one type each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from pymongo.monitoring import ConnectionCheckOutFailedEvent

__all__ = [
    "BACKGROUND",
    "ROWS",
    "Row",
    "address_fields",
    "connection_fields",
    "error_fields_from_exception",
    "format_address",
    "heartbeat_fields",
    "micros",
    "pool_cleared_fields",
    "pool_options_fields",
    "server_changed_fields",
    "topology_changed_fields",
]

Builder = Callable[[Any, Any], dict[str, Any]]

# -- shared field builders ----------------------------------------------------------------

_ADDRESS_FIELDS: dict[Any, dict[str, Any]] = {}
_ADDRESS_CACHE_LIMIT = 4096


#: The longest host written: a DNS name has at most 253 characters and a Unix socket path
#: at most 108, so anything longer (a server's ``hosts`` list is the server's text) is cut.
HOST_LIMIT = 255


def _host(host: Any) -> str:
    text = str(host)
    return text if len(text) <= HOST_LIMIT else text[:HOST_LIMIT] + "..."


def format_address(address: Any) -> str | None:
    """``"host:port"`` for a PyMongo ``(host, port)`` address; IPv6 hosts in brackets.

    The host is cut at :data:`HOST_LIMIT` characters.
    """
    if address is None:
        return None
    host, port = address
    host = _host(host)
    if port is None:
        return host
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def address_fields(address: Any) -> dict[str, Any]:
    """``server_address``, ``server_host`` and ``server_port`` for one server (cached).

    Args:
        address: PyMongo's ``(host, port)`` tuple (port ``None`` for a Unix socket).

    Returns:
        A dict the caller must not mutate: merge it into the record with ``update``.
    """
    fields = _ADDRESS_FIELDS.get(address)
    if fields is None:
        fields = {"server_address": format_address(address), "server_host": _host(address[0])}
        if address[1] is not None:
            fields["server_port"] = int(address[1])
        if len(_ADDRESS_FIELDS) < _ADDRESS_CACHE_LIMIT:
            _ADDRESS_FIELDS[address] = fields
    return fields


def micros(seconds: float | None) -> int | None:
    """Seconds (as PyMongo gives for heartbeats and connections) to whole microseconds."""
    if seconds is None:
        return None
    return round(seconds * 1_000_000)


def error_fields_from_exception(exc: BaseException, renderer: Any) -> dict[str, Any]:
    """The ``error*`` fields for an exception (heartbeat failures), through the gate."""
    fields: dict[str, Any] = {
        "error": renderer.text(str(exc)),
        "error_type": type(exc).__name__,
    }
    code = getattr(exc, "code", None)
    if type(code) is int:
        fields["error_code"] = code
    details = getattr(exc, "details", None)
    if isinstance(details, Mapping) and isinstance(details.get("codeName"), str):
        fields["error_code_name"] = renderer.name(details["codeName"])
    labels = getattr(exc, "_error_labels", None)
    if labels:
        fields["error_labels"] = sorted(renderer.name(str(label)) for label in labels)
    return fields


def heartbeat_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """Server address fields, ``awaited``, and ``duration_micros`` where the event has one."""
    fields = dict(address_fields(event.connection_id))
    fields["awaited"] = bool(event.awaited)
    duration = getattr(event, "duration", None)
    if duration is not None:
        fields["duration_micros"] = micros(duration)
    return fields


def connection_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """Fields of any connection-pool event: address, and id, duration, reason where present."""
    fields = dict(address_fields(event.address))
    connection_id = getattr(event, "connection_id", None)
    # A failed check-out has no connection; PyMongo fills the slot with a placeholder 0.
    if connection_id is not None and type(event) is not ConnectionCheckOutFailedEvent:
        fields["connection_id"] = connection_id
    duration = getattr(event, "duration", None)
    if duration is not None:
        fields["duration_micros"] = micros(duration)
    reason = getattr(event, "reason", None)
    if reason is not None:
        fields["reason"] = str(reason)
    return fields


def server_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """``topology_id`` and the server's address fields."""
    fields = {"topology_id": str(event.topology_id)}
    fields.update(address_fields(event.server_address))
    return fields


def server_changed_fields(event: Any, renderer: Any) -> dict[str, Any]:
    """``topology_id``, address, previous/new server types and, if any, the new ``error``."""
    fields = server_fields(event)
    fields["previous_server_type"] = event.previous_description.server_type_name
    fields["new_server_type"] = event.new_description.server_type_name
    error = event.new_description.error
    if error is not None:
        # Why the server became Unknown: the on-call engineer's first question. A "not
        # primary" error carries the server's whole reply: it goes through the gate.
        fields["error"] = renderer.text(str(error))
        fields["error_type"] = type(error).__name__
    return fields


def _primary(description: Any) -> str | None:
    for address, server in description.server_descriptions().items():
        if server.server_type_name == "RSPrimary":
            return format_address(address)
    return None


def topology_changed_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """Topology types, ``primary`` and ``has_writable_server`` after a topology change."""
    previous = event.previous_description
    new = event.new_description
    return {
        "topology_id": str(event.topology_id),
        "previous_topology_type": previous.topology_type_name,
        "new_topology_type": new.topology_type_name,
        "primary": _primary(new),
        "has_writable_server": bool(new.has_writable_server()),
        "had_writable_server": bool(previous.has_writable_server()),
    }


def _topology_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    return {"topology_id": str(event.topology_id)}


_POOL_OPTIONS = {
    "maxPoolSize": "max_pool_size",
    "minPoolSize": "min_pool_size",
    "maxConnecting": "max_connecting",
    "maxIdleTimeMS": "max_idle_time_ms",
    "waitQueueTimeoutMS": "wait_queue_timeout_ms",
}


def pool_options_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """The pool's size limits and timeouts from ``PoolCreatedEvent.options``, as ints."""
    fields: dict[str, Any] = {}
    options = event.options
    for option, key in _POOL_OPTIONS.items():
        value = options.get(option)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            fields[key] = int(value)
    return fields


def pool_cleared_fields(event: Any, renderer: Any = None) -> dict[str, Any]:
    """``interrupt_connections`` and, behind a load balancer, ``service_id``."""
    fields: dict[str, Any] = {"interrupt_connections": bool(event.interrupt_connections)}
    if event.service_id is not None:
        fields["service_id"] = str(event.service_id)
    return fields


def _with_connection(extra: Builder) -> Builder:
    """A builder: the connection fields, then ``extra``'s."""

    def build(event: Any, renderer: Any = None) -> dict[str, Any]:
        fields = connection_fields(event)
        fields.update(extra(event, renderer))
        return fields

    return build


# -- the rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One record kind.

    Attributes:
        name: The record's ``event``.
        family: ``command``, ``server``, ``heartbeat``, ``topology`` or ``pool``.
        level: Its level.
        listener: Which of the five listeners receives PyMongo's event.
        method: The PyMongo listener method it comes from.
        doc: What the event means (the listener method's docstring).
        fields: Its field builder, or ``None`` when the listener method is hand-written.
        raised_to: The level it is raised to when it reports trouble (a slow command, a
            connection closed by error, the last writable server lost), if any.
        sampled: Whether it is chatter: per-family sample rate and burst limits.
        background: Whether PyMongo publishes it from a monitor thread or task.
        address: For chatter, how to read the server address off the event (the burst
            limiter counts per record name and server).
    """

    name: str
    family: str
    level: str
    listener: str
    method: str
    doc: str
    fields: Builder | None = None
    raised_to: str | None = None
    sampled: bool = False
    background: bool = False
    address: Callable[[Any], Any] | None = None


_POOL_ADDRESS = attrgetter("address")
_SERVER_ADDRESS = attrgetter("connection_id")


def _pool(name: str, level: str, method: str, doc: str, fields: Builder | None = None) -> Row:
    """A pool-family row; ``debug`` rows are chatter."""
    sampled = level == "debug"
    return Row(
        name,
        "pool",
        level,
        "pool",
        method,
        doc,
        fields if fields is not None else connection_fields,
        sampled=sampled,
        address=_POOL_ADDRESS if sampled else None,
    )


#: Every record kind PyMongo's events make, in the order of CONTRACT.md.
ROWS: tuple[Row, ...] = (
    Row("mongodb.command.started", "command", "debug", "command", "started",
        "A command is about to be sent."),
    Row("mongodb.command.succeeded", "command", "info", "command", "succeeded",
        "A command succeeded (slow: warning).", raised_to="warning"),
    Row("mongodb.command.failed", "command", "warning", "command", "failed",
        "A command failed."),
    Row("mongodb.server.opening", "server", "info", "server", "opened",
        "A server was added to the topology.", server_fields, background=True),
    Row("mongodb.server.description_changed", "server", "info", "server", "description_changed",
        "A server's description changed.", background=True),
    Row("mongodb.server.closed", "server", "info", "server", "closed",
        "A server was removed from the topology.", server_fields, background=True),
    Row("mongodb.heartbeat.started", "heartbeat", "debug", "heartbeat", "started",
        "A monitor is about to check a server.", heartbeat_fields, sampled=True,
        background=True, address=_SERVER_ADDRESS),
    Row("mongodb.heartbeat.succeeded", "heartbeat", "debug", "heartbeat", "succeeded",
        "A server answered its monitor.", heartbeat_fields, sampled=True, background=True,
        address=_SERVER_ADDRESS),
    Row("mongodb.heartbeat.failed", "heartbeat", "warning", "heartbeat", "failed",
        "A server did not answer its monitor.", background=True),
    Row("mongodb.topology.opened", "topology", "info", "topology", "opened",
        "A client's topology opened.", background=True),
    Row("mongodb.topology.description_changed", "topology", "info", "topology",
        "description_changed", "A client's topology changed.", raised_to="warning",
        background=True),
    Row("mongodb.topology.closed", "topology", "info", "topology", "closed",
        "A client's topology closed.", _topology_fields, background=True),
    _pool("mongodb.pool.created", "info", "pool_created", "A server's pool was created.",
          _with_connection(pool_options_fields)),
    _pool("mongodb.pool.ready", "info", "pool_ready", "A pool became ready for check-outs."),
    _pool("mongodb.pool.cleared", "warning", "pool_cleared", "A pool was cleared.",
          _with_connection(pool_cleared_fields)),
    _pool("mongodb.pool.closed", "info", "pool_closed", "A pool was closed."),
    _pool("mongodb.connection.created", "debug", "connection_created", "A connection was created."),
    _pool("mongodb.connection.ready", "debug", "connection_ready",
          "A connection finished its handshake."),
    Row("mongodb.connection.closed", "pool", "debug", "pool", "connection_closed",
        "A connection closed (by error: warning).", raised_to="warning", sampled=True,
        address=_POOL_ADDRESS),
    _pool("mongodb.connection.check_out_started", "debug", "connection_check_out_started",
          "A thread asked the pool for a connection."),
    _pool("mongodb.connection.check_out_failed", "error", "connection_check_out_failed",
          "A check-out failed (timeout, pool closed, connection error)."),
    Row("mongodb.connection.checked_out", "pool", "debug", "pool", "connection_checked_out",
        "A connection was checked out.", sampled=True, address=_POOL_ADDRESS),
    _pool("mongodb.connection.checked_in", "debug", "connection_checked_in",
          "A connection was checked back in."),
    # Derived records (no PyMongo event of their own; see _incidents): the method is the
    # one whose event reveals them, so that it is routed while they are logged.
    Row("mongodb.topology.writable_server_lost", "topology", "warning", "topology",
        "description_changed", "The last writable server went.", background=True),
    Row("mongodb.topology.writable_server_restored", "topology", "info", "topology",
        "description_changed", "A writable server is back.", background=True),
    Row("mongodb.topology.primary_changed", "topology", "info", "topology",
        "description_changed", "The primary moved to another server.", background=True),
    Row("mongodb.pool.starving", "pool", "warning", "pool", "connection_check_out_started",
        "A check-out has waited SLOW_MS on a full pool.", background=True),
)  # fmt: skip

#: Rows by record name.
BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}

#: The records PyMongo publishes from its monitor threads or tasks, never on the caller's.
BACKGROUND: frozenset[str] = frozenset(row.name for row in ROWS if row.background)


def method(row: Row) -> Callable[[Any, Any], None]:
    """The listener method made from ``row`` (which has a field builder).

    It runs inside the boundary: an internal error is counted in ``stats()``, reported
    once, and never raised into PyMongo.
    """
    name, level, build, family, address = row.name, row.level, row.fields, row.family, row.address
    assert build is not None, f"{name} has a hand-written method"

    if row.sampled and address is not None:

        def chatter(self: Any, event: Any) -> None:
            p = self._pipeline
            try:
                fields = p.chatter(family, name, address(event))
                if fields is not None:
                    fields.update(build(event, p.renderer))
                    p.emit(level, name, fields)
            except Exception as exc:
                p.internal_error(name, exc)

        made = chatter
    else:

        def state(self: Any, event: Any) -> None:
            p = self._pipeline
            try:
                p.emit(level, name, build(event, p.renderer))
            except Exception as exc:
                p.internal_error(name, exc)

        made = state
    made.__name__ = made.__qualname__ = row.method
    made.__doc__ = row.doc
    return made


def routes(listener: str) -> dict[str, tuple[str, ...]]:
    """For one listener: each PyMongo method and the record names it may write."""
    found: dict[str, tuple[str, ...]] = {}
    for row in ROWS:
        if row.listener == listener:
            found[row.method] = (*found.get(row.method, ()), row.name)
    if listener == "command":
        # A completion may write its started record late.
        found = {name: tuple(r.name for r in ROWS if r.family == "command") for name in found}
    return found


def made(listener: str) -> dict[str, Callable[[Any, Any], None]]:
    """For one listener: the methods made from rows with a field builder."""
    return {row.method: method(row) for row in ROWS if row.listener == listener and row.fields}
