"""Real PyMongo monitoring events for unit tests, built with their real constructors.

Nothing here is a mock: every function returns an instance of the class PyMongo itself
publishes (``pymongo.monitoring.*Event``), with ``ServerDescription`` and
``TopologyDescription`` built from ``Hello`` replies as PyMongo's monitor builds them.
Defaults describe one server at :data:`ADDRESS` in topology :data:`TOPOLOGY_ID`.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

from bson import ObjectId
from mockupdb import MockupDB
from pymongo import common, monitoring
from pymongo.hello import Hello
from pymongo.server_description import ServerDescription
from pymongo.synchronous.settings import TopologySettings
from pymongo.topology_description import TOPOLOGY_TYPE, TopologyDescription

Address = tuple[str, int | None]

#: The server most events come from.
ADDRESS: Address = ("db0.example.com", 27017)
#: Fields of :data:`ADDRESS` as every record tied to it carries them.
ADDRESS_FIELDS = {
    "server_address": "db0.example.com:27017",
    "server_host": "db0.example.com",
    "server_port": 27017,
}
#: The topology most events belong to.
TOPOLOGY_ID = ObjectId("65f0c0ffee0000000000abcd")

#: A MongoDB 7.0 server's handshake fields.
WIRE = {"ok": 1.0, "maxWireVersion": 21, "minWireVersion": 0}


# -- commands -----------------------------------------------------------------------------


def command_started(
    command: dict[str, Any] | None = None,
    *,
    database_name: str = "shop",
    request_id: int = 101,
    operation_id: int = 101,
    address: Address = ADDRESS,
    server_connection_id: int | None = None,
    service_id: ObjectId | None = None,
) -> monitoring.CommandStartedEvent:
    """A ``CommandStartedEvent``; the command defaults to a ``find`` on ``users``."""
    if command is None:
        command = {"find": "users", "filter": {"name": "Ada"}, "$db": database_name}
    return monitoring.CommandStartedEvent(
        command,
        database_name,
        request_id,
        address,
        operation_id,
        service_id=service_id,
        server_connection_id=server_connection_id,
    )


def command_succeeded(
    reply: dict[str, Any] | None = None,
    *,
    command_name: str = "find",
    duration_micros: int = 1500,
    database_name: str = "shop",
    request_id: int = 101,
    operation_id: int = 101,
    address: Address = ADDRESS,
    server_connection_id: int | None = None,
) -> monitoring.CommandSucceededEvent:
    """A ``CommandSucceededEvent`` (PyMongo takes the duration as a ``timedelta``)."""
    if reply is None:
        reply = {"ok": 1.0, "cursor": {"id": 0, "ns": "shop.users", "firstBatch": []}}
    return monitoring.CommandSucceededEvent(
        timedelta(microseconds=duration_micros),
        reply,
        command_name,
        request_id,
        address,
        operation_id,
        database_name=database_name,
        server_connection_id=server_connection_id,
    )


def command_failed(
    failure: dict[str, Any] | None = None,
    *,
    command_name: str = "find",
    duration_micros: int = 1500,
    database_name: str = "shop",
    request_id: int = 101,
    operation_id: int = 101,
    address: Address = ADDRESS,
    server_connection_id: int | None = None,
) -> monitoring.CommandFailedEvent:
    """A ``CommandFailedEvent``; the failure defaults to a server error reply."""
    if failure is None:
        failure = server_error()
    return monitoring.CommandFailedEvent(
        timedelta(microseconds=duration_micros),
        failure,
        command_name,
        request_id,
        address,
        operation_id,
        database_name=database_name,
        server_connection_id=server_connection_id,
    )


def server_error(
    code: int = 2,
    code_name: str = "BadValue",
    errmsg: str = "unknown operator: $bogus",
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """The failure document PyMongo passes for an error the server replied with."""
    failure: dict[str, Any] = {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}
    if labels is not None:
        failure["errorLabels"] = labels
    return failure


def network_error(errmsg: str = "connection closed") -> dict[str, Any]:
    """The failure document PyMongo builds for a driver-side error (``_convert_exception``)."""
    return {"errmsg": errmsg, "errtype": "AutoReconnect"}


# -- servers and topologies -----------------------------------------------------------------


def hello(**fields: Any) -> Hello[dict[str, Any]]:
    """A ``Hello`` reply: a standalone unless ``fields`` say otherwise."""
    return Hello({**WIRE, "isWritablePrimary": True, **fields})


def replica_set_member(
    me: Address, hosts: list[Address], primary: Address | None, set_name: str = "rs0"
) -> Hello[dict[str, Any]]:
    """A replica-set member's ``Hello`` (primary when ``me == primary``)."""

    def text(address: Address) -> str:
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{host}:{address[1]}"

    doc: dict[str, Any] = {
        "setName": set_name,
        "hosts": [text(host) for host in hosts],
        "me": text(me),
        "setVersion": 1,
        "isWritablePrimary": me == primary,
        "secondary": primary is not None and me != primary,
    }
    if primary is not None:
        doc["primary"] = text(primary)
    return hello(**doc)


def server_description(
    address: Address = ADDRESS,
    reply: Hello[dict[str, Any]] | None = None,
    error: Exception | None = None,
) -> ServerDescription:
    """A ``ServerDescription``: ``Unknown`` without a reply, else typed from the reply."""
    if reply is None:
        return ServerDescription(address, error=error)
    return ServerDescription(address, reply, round_trip_time=0.002)


def topology_description(
    topology_type: int, *servers: ServerDescription, set_name: str | None = None
) -> TopologyDescription:
    """A ``TopologyDescription`` of ``servers`` (types from ``TOPOLOGY_TYPE``)."""
    return TopologyDescription(
        topology_type,
        {server.address: server for server in servers},
        set_name,
        1 if set_name else None,
        None,
        TopologySettings(),
    )


def server_opening(
    address: Address = ADDRESS, topology_id: ObjectId = TOPOLOGY_ID
) -> monitoring.ServerOpeningEvent:
    """A ``ServerOpeningEvent``."""
    return monitoring.ServerOpeningEvent(address, topology_id)


def server_closed(
    address: Address = ADDRESS, topology_id: ObjectId = TOPOLOGY_ID
) -> monitoring.ServerClosedEvent:
    """A ``ServerClosedEvent``."""
    return monitoring.ServerClosedEvent(address, topology_id)


def server_changed(
    previous: ServerDescription | None = None,
    new: ServerDescription | None = None,
    topology_id: ObjectId = TOPOLOGY_ID,
) -> monitoring.ServerDescriptionChangedEvent:
    """A ``ServerDescriptionChangedEvent``: by default Unknown -> Standalone."""
    previous = previous if previous is not None else server_description()
    new = new if new is not None else server_description(reply=hello())
    return monitoring.ServerDescriptionChangedEvent(previous, new, new.address, topology_id)


def topology_opened(topology_id: ObjectId = TOPOLOGY_ID) -> monitoring.TopologyOpenedEvent:
    """A ``TopologyOpenedEvent``."""
    return monitoring.TopologyOpenedEvent(topology_id)


def topology_closed(topology_id: ObjectId = TOPOLOGY_ID) -> monitoring.TopologyClosedEvent:
    """A ``TopologyClosedEvent``."""
    return monitoring.TopologyClosedEvent(topology_id)


def topology_changed(
    previous: TopologyDescription, new: TopologyDescription, topology_id: ObjectId = TOPOLOGY_ID
) -> monitoring.TopologyDescriptionChangedEvent:
    """A ``TopologyDescriptionChangedEvent``."""
    return monitoring.TopologyDescriptionChangedEvent(previous, new, topology_id)


def unknown_topology(*addresses: Address) -> TopologyDescription:
    """A topology that knows nothing yet about its seeds."""
    seeds = addresses or (ADDRESS,)
    return topology_description(
        TOPOLOGY_TYPE.Unknown, *(server_description(address) for address in seeds)
    )


# -- heartbeats -----------------------------------------------------------------------------


def heartbeat_started(
    address: Address = ADDRESS, awaited: bool = False
) -> monitoring.ServerHeartbeatStartedEvent:
    """A ``ServerHeartbeatStartedEvent``."""
    return monitoring.ServerHeartbeatStartedEvent(address, awaited)


def heartbeat_succeeded(
    seconds: float = 0.0025, address: Address = ADDRESS, awaited: bool = False
) -> monitoring.ServerHeartbeatSucceededEvent:
    """A ``ServerHeartbeatSucceededEvent`` (PyMongo gives its duration in seconds)."""
    return monitoring.ServerHeartbeatSucceededEvent(seconds, hello(), address, awaited)


def heartbeat_failed(
    error: Exception, seconds: float = 0.5, address: Address = ADDRESS, awaited: bool = False
) -> monitoring.ServerHeartbeatFailedEvent:
    """A ``ServerHeartbeatFailedEvent`` carrying ``error``."""
    return monitoring.ServerHeartbeatFailedEvent(seconds, error, address, awaited)


# -- pools and connections --------------------------------------------------------------------


def pool_created(
    options: dict[str, Any] | None = None, address: Address = ADDRESS
) -> monitoring.PoolCreatedEvent:
    """A ``PoolCreatedEvent`` with PyMongo's non-default options (none by default)."""
    return monitoring.PoolCreatedEvent(address, options or {})


def pool_ready(address: Address = ADDRESS) -> monitoring.PoolReadyEvent:
    """A ``PoolReadyEvent``."""
    return monitoring.PoolReadyEvent(address)


def pool_cleared(
    address: Address = ADDRESS,
    service_id: ObjectId | None = None,
    interrupt_connections: bool = False,
) -> monitoring.PoolClearedEvent:
    """A ``PoolClearedEvent``."""
    return monitoring.PoolClearedEvent(address, service_id, interrupt_connections)


def pool_closed(address: Address = ADDRESS) -> monitoring.PoolClosedEvent:
    """A ``PoolClosedEvent``."""
    return monitoring.PoolClosedEvent(address)


def connection_created(
    connection_id: int = 1, address: Address = ADDRESS
) -> monitoring.ConnectionCreatedEvent:
    """A ``ConnectionCreatedEvent``."""
    return monitoring.ConnectionCreatedEvent(address, connection_id)


def connection_ready(
    connection_id: int = 1, seconds: float | None = 0.004, address: Address = ADDRESS
) -> monitoring.ConnectionReadyEvent:
    """A ``ConnectionReadyEvent`` (duration in seconds)."""
    return monitoring.ConnectionReadyEvent(address, connection_id, seconds)


def connection_closed(
    reason: str = monitoring.ConnectionClosedReason.IDLE,
    connection_id: int = 1,
    address: Address = ADDRESS,
) -> monitoring.ConnectionClosedEvent:
    """A ``ConnectionClosedEvent`` with one of ``ConnectionClosedReason``."""
    return monitoring.ConnectionClosedEvent(address, connection_id, reason)


def check_out_started(address: Address = ADDRESS) -> monitoring.ConnectionCheckOutStartedEvent:
    """A ``ConnectionCheckOutStartedEvent``."""
    return monitoring.ConnectionCheckOutStartedEvent(address)


def check_out_failed(
    reason: str = monitoring.ConnectionCheckOutFailedReason.TIMEOUT,
    seconds: float | None = 0.1,
    address: Address = ADDRESS,
) -> monitoring.ConnectionCheckOutFailedEvent:
    """A ``ConnectionCheckOutFailedEvent`` (no connection; duration in seconds)."""
    return monitoring.ConnectionCheckOutFailedEvent(address, reason, seconds)


def checked_out(
    connection_id: int = 1, seconds: float | None = 0.000125, address: Address = ADDRESS
) -> monitoring.ConnectionCheckedOutEvent:
    """A ``ConnectionCheckedOutEvent`` (duration in seconds: the wait)."""
    return monitoring.ConnectionCheckedOutEvent(address, connection_id, seconds)


def checked_in(
    connection_id: int = 1, address: Address = ADDRESS
) -> monitoring.ConnectionCheckedInEvent:
    """A ``ConnectionCheckedInEvent``."""
    return monitoring.ConnectionCheckedInEvent(address, connection_id)


# -- servers ----------------------------------------------------------------------------------


def stop_quickly(server: MockupDB) -> None:
    """Stop a mockupdb server now rather than in up to a second.

    ``MockupDB.stop`` waits for its accept loop, which sleeps in a one-second
    ``select``; a connection wakes it, and with ``_stopped`` already set it exits.
    Safe to call twice.
    """
    server._stopped = True
    try:
        if server._uds_path:
            with socket.socket(socket.AF_UNIX) as poke:
                poke.connect(server._uds_path)
        else:
            socket.create_connection(("localhost", server.port), timeout=1).close()
    except OSError:
        pass
    server.stop()


def speed_up_sdam(monkeypatch: Any) -> None:
    """Make PyMongo publish SDAM events and re-check servers within ~50 ms, not 0.5-1 s.

    These are the knobs PyMongo's own test suite turns (``client_knobs``); they are read
    when a client opens its topology, so call this before creating clients.
    """
    monkeypatch.setattr(common, "EVENTS_QUEUE_FREQUENCY", 0.05)
    monkeypatch.setattr(common, "MIN_HEARTBEAT_INTERVAL", 0.05)
