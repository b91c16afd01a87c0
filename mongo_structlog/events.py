"""Pure functions: one PyMongo event in, the flat fields of its record out.

Nothing here logs, samples or keeps state beyond caches that depend only on their
input (server addresses). Field names and types follow ``CONTRACT.md``: flat
snake_case keys with one type each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.monitoring import (
    ConnectionCheckedInEvent,
    ConnectionCheckedOutEvent,
    ConnectionCheckOutFailedEvent,
    ConnectionClosedEvent,
    ConnectionCreatedEvent,
    ConnectionReadyEvent,
    PoolClearedEvent,
    PoolCreatedEvent,
    ServerDescriptionChangedEvent,
    ServerHeartbeatFailedEvent,
    ServerHeartbeatSucceededEvent,
    TopologyDescriptionChangedEvent,
)

__all__ = [
    "address_fields",
    "connection_fields",
    "error_fields_from_exception",
    "failure_fields",
    "format_address",
    "heartbeat_fields",
    "micros",
    "pool_cleared_fields",
    "pool_options_fields",
    "server_changed_fields",
    "topology_changed_fields",
]

_ADDRESS_FIELDS: dict[Any, dict[str, Any]] = {}
_ADDRESS_CACHE_LIMIT = 4096


def format_address(address: Any) -> str | None:
    """``"host:port"`` for a PyMongo ``(host, port)`` address; IPv6 hosts in brackets."""
    if address is None:
        return None
    host, port = address
    if port is None:
        return str(host)
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
        fields = {"server_address": format_address(address), "server_host": str(address[0])}
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


def failure_fields(
    failure: Mapping[str, Any] | None, sensitive: bool, scrub: Any
) -> dict[str, Any]:
    """The ``error*`` fields of a failed command, from ``CommandFailedEvent.failure``.

    PyMongo passes the server's reply for server errors and ``{"errmsg", "errtype"}``
    for driver-side errors (network, timeouts), and does not redact either.

    Args:
        failure: The failure document.
        sensitive: Whether the command was security-sensitive: then only the code, code
            name and error labels are kept.
        scrub: ``str -> str`` that makes an error message safe (value scrubbing, cut).

    Returns:
        ``error``, ``error_type``, ``error_code``, ``error_code_name``, ``error_labels``,
        each where known.
    """
    fields: dict[str, Any] = {}
    if not isinstance(failure, Mapping):
        return {"error_type": "Unknown"}
    errtype = failure.get("errtype")
    fields["error_type"] = str(errtype) if errtype else "OperationFailure"
    code = failure.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        fields["error_code"] = int(code)
    code_name = failure.get("codeName")
    if isinstance(code_name, str):
        fields["error_code_name"] = code_name
    labels = failure.get("errorLabels")
    if isinstance(labels, (list, tuple)):
        fields["error_labels"] = [str(label) for label in labels]
    if not sensitive:
        message = failure.get("errmsg")
        if message is not None:
            fields["error"] = scrub(str(message))
    return fields


def error_fields_from_exception(exc: BaseException, scrub: Any) -> dict[str, Any]:
    """The ``error*`` fields for an exception (heartbeat failures)."""
    fields: dict[str, Any] = {"error": scrub(str(exc)), "error_type": type(exc).__name__}
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        fields["error_code"] = int(code)
    details = getattr(exc, "details", None)
    if isinstance(details, Mapping) and isinstance(details.get("codeName"), str):
        fields["error_code_name"] = details["codeName"]
    labels = getattr(exc, "_error_labels", None)
    if labels:
        fields["error_labels"] = sorted(str(label) for label in labels)
    return fields


def heartbeat_fields(
    event: ServerHeartbeatSucceededEvent | ServerHeartbeatFailedEvent | Any,
) -> dict[str, Any]:
    """Server address fields, ``awaited``, and ``duration_micros`` where the event has one."""
    fields = dict(address_fields(event.connection_id))
    fields["awaited"] = bool(event.awaited)
    duration = getattr(event, "duration", None)
    if duration is not None:
        fields["duration_micros"] = micros(duration)
    return fields


def connection_fields(
    event: ConnectionCreatedEvent
    | ConnectionReadyEvent
    | ConnectionClosedEvent
    | ConnectionCheckedOutEvent
    | ConnectionCheckedInEvent
    | ConnectionCheckOutFailedEvent
    | Any,
) -> dict[str, Any]:
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


def server_changed_fields(event: ServerDescriptionChangedEvent) -> dict[str, Any]:
    """``topology_id``, address, previous/new server types and, if any, the new ``error``."""
    fields: dict[str, Any] = {"topology_id": str(event.topology_id)}
    fields.update(address_fields(event.server_address))
    fields["previous_server_type"] = event.previous_description.server_type_name
    fields["new_server_type"] = event.new_description.server_type_name
    error = event.new_description.error
    if error is not None:
        # Why the server became Unknown: the on-call engineer's first question.
        fields["error"] = _cut(str(error))
        fields["error_type"] = type(error).__name__
    return fields


def _cut(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _primary(description: Any) -> str | None:
    for address, server in description.server_descriptions().items():
        if server.server_type_name == "RSPrimary":
            return format_address(address)
    return None


def topology_changed_fields(event: TopologyDescriptionChangedEvent) -> dict[str, Any]:
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


_POOL_OPTIONS = {
    "maxPoolSize": "max_pool_size",
    "minPoolSize": "min_pool_size",
    "maxConnecting": "max_connecting",
    "maxIdleTimeMS": "max_idle_time_ms",
    "waitQueueTimeoutMS": "wait_queue_timeout_ms",
}


def pool_options_fields(event: PoolCreatedEvent) -> dict[str, Any]:
    """The pool's size limits and timeouts from ``PoolCreatedEvent.options``, as ints."""
    fields: dict[str, Any] = {}
    options = event.options
    for option, key in _POOL_OPTIONS.items():
        value = options.get(option)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            fields[key] = int(value)
    return fields


def pool_cleared_fields(event: PoolClearedEvent) -> dict[str, Any]:
    """``interrupt_connections`` and, behind a load balancer, ``service_id``."""
    fields: dict[str, Any] = {"interrupt_connections": bool(event.interrupt_connections)}
    if event.service_id is not None:
        fields["service_id"] = str(event.service_id)
    return fields
