"""The five listeners: every PyMongo event becomes one consistent record, at its level.

The first half calls the listeners with real PyMongo event objects (``tests/factory.py``)
and compares whole records. The second half runs a real ``MongoClient`` against a
mockupdb server over TCP and makes each of PyMongo's 23 monitoring events happen for
real: commands, SDAM (server, heartbeat, topology) and the connection pool.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB, going
from pymongo import MongoClient, monitoring
from pymongo.errors import AutoReconnect, OperationFailure, WaitQueueTimeoutError
from pymongo.topology_description import TOPOLOGY_TYPE

import mongo_structlog
from mongo_structlog import DocumentRenderer
from mongo_structlog.settings import LEVELS

from . import factory as f
from .factory import ADDRESS_FIELDS as A
from .servers import named, read_records, standalone, wait_for, without_volatile

T = str(f.TOPOLOGY_ID)
Client = MongoClient[dict[str, Any]]
MakeClient = Callable[..., Client]

FIND = {"find": "users", "filter": {"name": "Ada"}, "$db": "shop"}
FIND_TEXT = '{"find":"users","filter":{"name":"?"},"$db":"shop"}'
FIND_SHAPE = DocumentRenderer("shape").command("find", FIND)[1]
FIND_FIELDS = {
    "operation_id": 101,
    "command_name": "find",
    "database_name": "shop",
    "collection": "users",
    **A,
}
FIND_REPLY = '{"ok":1,"cursorId":0,"batchSize":0}'
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def standalone_topology() -> Any:
    return f.topology_description(TOPOLOGY_TYPE.Single, f.server_description(reply=f.hello()))


def unknown_single_topology() -> Any:
    return f.topology_description(TOPOLOGY_TYPE.Single, f.server_description())


#: (listener, method, event, expected record without its timestamp), in calling order.
#: Listener sets are [command, server, heartbeat, topology, pool].
CALLS: list[tuple[int, str, Any, dict[str, Any]]] = [
    (
        3,
        "opened",
        f.topology_opened(),
        {"level": "info", "event": "mongodb.topology.opened", "topology_id": T},
    ),
    (
        3,
        "description_changed",
        f.topology_changed(f.unknown_topology(), standalone_topology()),
        {
            "level": "info",
            "event": "mongodb.topology.description_changed",
            "topology_id": T,
            "previous_topology_type": "Unknown",
            "new_topology_type": "Single",
            "primary": None,
            "has_writable_server": True,
            "had_writable_server": False,
        },
    ),
    (
        1,
        "opened",
        f.server_opening(),
        {"level": "info", "event": "mongodb.server.opening", "topology_id": T, **A},
    ),
    (
        1,
        "description_changed",
        f.server_changed(),
        {
            "level": "info",
            "event": "mongodb.server.description_changed",
            "topology_id": T,
            **A,
            "previous_server_type": "Unknown",
            "new_server_type": "Standalone",
        },
    ),
    (
        2,
        "started",
        f.heartbeat_started(),
        {"level": "debug", "event": "mongodb.heartbeat.started", **A, "awaited": False},
    ),
    (
        2,
        "succeeded",
        f.heartbeat_succeeded(0.0025, awaited=True),
        {
            "level": "debug",
            "event": "mongodb.heartbeat.succeeded",
            **A,
            "awaited": True,
            "duration_micros": 2500,
        },
    ),
    (
        4,
        "pool_created",
        f.pool_created({"maxPoolSize": 1, "waitQueueTimeoutMS": 100}),
        {
            "level": "info",
            "event": "mongodb.pool.created",
            **A,
            "max_pool_size": 1,
            "wait_queue_timeout_ms": 100,
        },
    ),
    (4, "pool_ready", f.pool_ready(), {"level": "info", "event": "mongodb.pool.ready", **A}),
    (
        4,
        "connection_check_out_started",
        f.check_out_started(),
        {"level": "debug", "event": "mongodb.connection.check_out_started", **A},
    ),
    (
        4,
        "connection_created",
        f.connection_created(1),
        {"level": "debug", "event": "mongodb.connection.created", **A, "connection_id": 1},
    ),
    (
        4,
        "connection_ready",
        f.connection_ready(1, 0.004),
        {
            "level": "debug",
            "event": "mongodb.connection.ready",
            **A,
            "connection_id": 1,
            "duration_micros": 4000,
        },
    ),
    (
        4,
        "connection_checked_out",
        f.checked_out(1, 0.000125),
        {
            "level": "debug",
            "event": "mongodb.connection.checked_out",
            **A,
            "connection_id": 1,
            "duration_micros": 125,
        },
    ),
    (
        0,
        "started",
        f.command_started(FIND, request_id=101),
        {
            "level": "debug",
            "event": "mongodb.command.started",
            "driver_request_id": 101,
            **FIND_FIELDS,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
        },
    ),
    (
        0,
        "succeeded",
        f.command_succeeded(request_id=101),
        {
            "level": "info",
            "event": "mongodb.command.succeeded",
            "driver_request_id": 101,
            **FIND_FIELDS,
            "duration_micros": 1500,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
            "reply": FIND_REPLY,
            "slow": False,
        },
    ),
    (
        0,
        "started",
        f.command_started(FIND, request_id=102),
        {
            "level": "debug",
            "event": "mongodb.command.started",
            "driver_request_id": 102,
            **FIND_FIELDS,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
        },
    ),
    (
        0,
        "succeeded",
        f.command_succeeded(request_id=102, duration_micros=250_000),
        {
            "level": "warning",
            "event": "mongodb.command.succeeded",
            "driver_request_id": 102,
            **FIND_FIELDS,
            "duration_micros": 250_000,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
            "reply": FIND_REPLY,
            "slow": True,
        },
    ),
    (
        0,
        "started",
        f.command_started(FIND, request_id=103, server_connection_id=42),
        {
            "level": "debug",
            "event": "mongodb.command.started",
            "driver_request_id": 103,
            **FIND_FIELDS,
            "server_connection_id": 42,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
        },
    ),
    (
        0,
        "failed",
        f.command_failed(f.server_error(), request_id=103, server_connection_id=42),
        {
            "level": "warning",
            "event": "mongodb.command.failed",
            "driver_request_id": 103,
            **FIND_FIELDS,
            "server_connection_id": 42,
            "duration_micros": 1500,
            "command": FIND_TEXT,
            "command_shape": FIND_SHAPE,
            "error_type": "OperationFailure",
            "error_code": 2,
            "error_code_name": "BadValue",
            "error": "unknown operator: $bogus",
            "slow": False,
        },
    ),
    (
        4,
        "connection_checked_in",
        f.checked_in(1),
        {"level": "debug", "event": "mongodb.connection.checked_in", **A, "connection_id": 1},
    ),
    (
        4,
        "connection_check_out_failed",
        f.check_out_failed(monitoring.ConnectionCheckOutFailedReason.TIMEOUT, 0.1),
        {
            "level": "error",
            "event": "mongodb.connection.check_out_failed",
            **A,
            "duration_micros": 100_000,
            "reason": "timeout",
            # Pool pressure (test_pool_pressure.py): the pool's one connection is back.
            "in_use": 0,
            "max_pool_size": 1,
            "waiting": 0,
        },
    ),
    (
        2,
        "failed",
        f.heartbeat_failed(AutoReconnect("db0.example.com:27017: connection closed"), 0.5),
        {
            "level": "warning",
            "event": "mongodb.heartbeat.failed",
            **A,
            "awaited": False,
            "duration_micros": 500_000,
            "error": "db0.example.com:27017: connection closed",
            "error_type": "AutoReconnect",
        },
    ),
    (
        4,
        "pool_cleared",
        f.pool_cleared(),
        {
            "level": "warning",
            "event": "mongodb.pool.cleared",
            **A,
            "interrupt_connections": False,
        },
    ),
    (
        4,
        "connection_closed",
        f.connection_closed(monitoring.ConnectionClosedReason.ERROR, 1),
        {
            "level": "warning",
            "event": "mongodb.connection.closed",
            **A,
            "connection_id": 1,
            "reason": "error",
        },
    ),
    (
        4,
        "connection_closed",
        f.connection_closed(monitoring.ConnectionClosedReason.STALE, 2),
        {
            "level": "debug",
            "event": "mongodb.connection.closed",
            **A,
            "connection_id": 2,
            "reason": "stale",
        },
    ),
    (
        3,
        "description_changed",
        f.topology_changed(standalone_topology(), unknown_single_topology()),
        {
            "level": "warning",
            "event": "mongodb.topology.description_changed",
            "topology_id": T,
            "previous_topology_type": "Single",
            "new_topology_type": "Single",
            "primary": None,
            "has_writable_server": False,
            "had_writable_server": True,
        },
    ),
    (
        4,
        "connection_closed",
        f.connection_closed(monitoring.ConnectionClosedReason.POOL_CLOSED, 3),
        {
            "level": "debug",
            "event": "mongodb.connection.closed",
            **A,
            "connection_id": 3,
            "reason": "poolClosed",
        },
    ),
    (4, "pool_closed", f.pool_closed(), {"level": "info", "event": "mongodb.pool.closed", **A}),
    (
        1,
        "closed",
        f.server_closed(),
        {"level": "info", "event": "mongodb.server.closed", "topology_id": T, **A},
    ),
    (
        3,
        "closed",
        f.topology_closed(),
        {"level": "info", "event": "mongodb.topology.closed", "topology_id": T},
    ),
]


#: Records derived from several events (test_incidents.py), and the observed-time keys.
DERIVED = {"mongodb.topology.writable_server_lost"}
OBSERVED = {"timestamp", "published_after_micros"}


def call_all(listener_set: list[Any]) -> None:
    for index, method, event, _ in CALLS:
        getattr(listener_set[index], method)(event)


def test_the_calls_cover_every_pymongo_event_type() -> None:
    published = {type(event) for _, _, event, _ in CALLS}
    classes = [
        cls
        for cls in vars(monitoring).values()
        if isinstance(cls, type) and cls.__name__.endswith("Event")
    ]
    # The published events are the leaves; TopologyEvent and the private ones are bases.
    every = {
        cls for cls in classes if not any(c is not cls and issubclass(c, cls) for c in classes)
    }
    assert published == every
    assert len(every) == 23


def test_every_event_makes_one_whole_record_at_debug(log_path: Path) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    call_all(listener_set)
    # Derived incident records are specified in test_incidents.py.
    records = [r for r in read_records(log_path) if r["event"] not in DERIVED]
    assert [
        {key: value for key, value in record.items() if key not in OBSERVED} for record in records
    ] == [{**expected, "topology_id": T} for _, _, _, expected in CALLS]
    for record in records:
        assert list(record)[:3] == ["timestamp", "level", "event"]
        assert TIMESTAMP.match(record["timestamp"])


@pytest.mark.parametrize("level", ["info", "warning", "error"])
def test_records_below_the_minimum_level_are_not_made(log_path: Path, level: str) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path), level=level)
    call_all(listener_set)
    expected = [
        (record["event"], record["level"])
        for _, _, _, record in CALLS
        if LEVELS[record["level"]] >= LEVELS[level]
    ]
    records = [r for r in read_records(log_path) if r["event"] not in DERIVED]
    assert [(r["event"], r["level"]) for r in records] == expected


def test_only_the_chosen_families_are_logged(log_path: Path) -> None:
    listener_set = mongo_structlog.listeners(
        output=str(log_path), level="debug", families="heartbeat,server"
    )
    call_all(listener_set)
    events = [record["event"] for record in read_records(log_path)]
    assert events == [
        "mongodb.server.opening",
        "mongodb.server.description_changed",
        "mongodb.heartbeat.started",
        "mongodb.heartbeat.succeeded",
        "mongodb.heartbeat.failed",
        "mongodb.server.closed",
    ]


def test_with_no_families_nothing_is_logged_but_the_topology_id_is_learnt(log_path: Path) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug", families="")
    call_all(listener_set)
    assert read_records(log_path) == []
    assert listener_set[0].pipeline.topology_id == T


def test_heartbeat_chatter_sampled_out_is_counted_but_failures_are_kept(log_path: Path) -> None:
    _, _, heartbeat, _, _ = mongo_structlog.listeners(
        output=str(log_path), level="debug", sample_rate_heartbeat=0
    )
    heartbeat.started(f.heartbeat_started())
    heartbeat.succeeded(f.heartbeat_succeeded())
    heartbeat.failed(f.heartbeat_failed(AutoReconnect("gone")))
    assert [r["event"] for r in read_records(log_path)] == ["mongodb.heartbeat.failed"]
    assert mongo_structlog.stats()["dropped"] == {
        "mongodb.heartbeat.started": 1,
        "mongodb.heartbeat.succeeded": 1,
    }


def test_records_before_the_topology_opened_carry_no_topology_id(log_path: Path) -> None:
    pool = mongo_structlog.listeners(output=str(log_path), level="debug")[4]
    pool.connection_created(f.connection_created(5))
    assert without_volatile(read_records(log_path)[0]) == {
        "level": "debug",
        "event": "mongodb.connection.created",
        **A,
        "connection_id": 5,
    }
    assert "topology_id" not in read_records(log_path)[0]


def test_a_pool_created_before_the_topology_opened_waits_for_its_id(log_path: Path) -> None:
    _, _, _, topology, pool = mongo_structlog.listeners(output=str(log_path))
    pool.pool_created(f.pool_created())
    assert read_records(log_path) == []
    topology.opened(f.topology_opened())
    opened, created = read_records(log_path)
    assert opened["event"] == "mongodb.topology.opened"
    assert list(created)[:4] == ["timestamp", "level", "event", "topology_id"]
    assert (created["event"], created["topology_id"]) == ("mongodb.pool.created", T)
    assert mongo_structlog.stats()["emitted"]["mongodb.pool.created"] == 1


def test_a_pool_created_that_never_learns_its_topology_id_is_written_at_the_end(
    log_path: Path,
) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path))
    listener_set[4].pool_created(f.pool_created())
    listener_set[0].pipeline.close()
    (created,) = read_records(log_path)
    assert created["event"] == "mongodb.pool.created"
    assert "topology_id" not in created


# -- the listener boundary ---------------------------------------------------------------------


class BrokenClosedEvent(monitoring.ConnectionClosedEvent):
    """A real ``ConnectionClosedEvent`` whose ``reason`` cannot be read."""

    @property
    def reason(self) -> str:
        raise RuntimeError("reason unavailable")


class BrokenTopologyOpenedEvent(monitoring.TopologyOpenedEvent):
    """A real ``TopologyOpenedEvent`` whose ``topology_id`` cannot be read."""

    @property
    def topology_id(self) -> Any:
        raise RuntimeError("no id")


def test_an_event_whose_attribute_raises_is_counted_and_reported_once(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, _, topology, pool = mongo_structlog.listeners(output=str(log_path), level="debug")
    broken = BrokenClosedEvent(f.ADDRESS, 1, monitoring.ConnectionClosedReason.ERROR)
    pool.connection_closed(broken)
    pool.connection_closed(broken)
    topology.opened(BrokenTopologyOpenedEvent(f.TOPOLOGY_ID))
    assert mongo_structlog.stats()["internal_errors"] == 3
    assert read_records(log_path) == []
    assert capsys.readouterr().err.splitlines() == [
        "mongo_structlog: internal error in connection closed: RuntimeError('reason unavailable')"
        " (reported once; see mongo_structlog.stats())",
        "mongo_structlog: internal error in topology opened: RuntimeError('no id')"
        " (reported once; see mongo_structlog.stats())",
    ]


def test_every_listener_method_survives_a_failing_pipeline(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    pipeline = listener_set[0].pipeline

    def emit(method: str, event: str, fields: dict[str, Any]) -> None:
        raise RuntimeError(f"cannot emit {event}")

    monkeypatch.setattr(pipeline, "emit", emit)
    monkeypatch.setattr(pipeline, "write", emit)  # completions build their record in place
    call_all(listener_set)  # raises nothing
    # Every call fails except topology.opened, which only learns the id before emitting
    # (and then fails too): 29 calls, 29 errors.
    assert mongo_structlog.stats()["internal_errors"] == len(CALLS)
    assert read_records(log_path) == []
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(set(lines))
    assert all(line.startswith("mongo_structlog: internal error in ") for line in lines)


# -- a real client against a wire-protocol server ----------------------------------------------


def address(server: MockupDB) -> dict[str, Any]:
    return {
        "server_address": f"localhost:{server.port}",
        "server_host": "localhost",
        "server_port": server.port,
    }


def logged_client(
    make_client: MakeClient, server: MockupDB, log_path: Path, **options: Any
) -> Client:
    """A client whose every record (debug and up, no burst limit) goes to ``log_path``."""
    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug", burst_limit=0)
    options.setdefault("heartbeatFrequencyMS", 500)
    options.setdefault("retryReads", False)
    options.setdefault("retryWrites", False)
    return make_client(server.uri, event_listeners=listener_set, **options)


def strip(records: list[dict[str, Any]], *extra: str) -> list[dict[str, Any]]:
    return [without_volatile(record, *extra) for record in records]


def family(records: list[dict[str, Any]], *prefixes: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"].startswith(tuple(f"mongodb.{p}." for p in prefixes))]


@pytest.fixture(autouse=True)
def _fast_sdam(monkeypatch: pytest.MonkeyPatch) -> None:
    f.speed_up_sdam(monkeypatch)


@pytest.fixture
def own_server() -> Iterator[MockupDB]:
    """A standalone server the test may stop itself."""
    srv = standalone()
    yield srv
    f.stop_quickly(srv)


def test_a_command_gives_started_and_succeeded_records_amid_pool_chatter(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    assert client.admin.command("ping") == {"ok": 1}
    records = family(read_records(log_path), "command", "connection")
    at = address(server)
    ping = '{"ping":1,"$db":"admin"}'
    shape = DocumentRenderer("shape").command("ping", {"ping": 1, "$db": "admin"})[1]
    command = {"command_name": "ping", "database_name": "admin", **at, "connection_id": 1}
    assert strip(records) == [
        {"level": "debug", "event": "mongodb.connection.check_out_started", **at},
        {"level": "debug", "event": "mongodb.connection.created", **at, "connection_id": 1},
        {"level": "debug", "event": "mongodb.connection.ready", **at, "connection_id": 1},
        {"level": "debug", "event": "mongodb.connection.checked_out", **at, "connection_id": 1},
        {
            "level": "debug",
            "event": "mongodb.command.started",
            **command,
            "command": ping,
            "command_shape": shape,
        },
        {
            "level": "info",
            "event": "mongodb.command.succeeded",
            **command,
            "command": ping,
            "command_shape": shape,
            "reply": '{"ok":1}',
            "slow": False,
        },
        {"level": "debug", "event": "mongodb.connection.checked_in", **at, "connection_id": 1},
    ]
    started, succeeded = records[4], records[5]
    assert started["driver_request_id"] == succeeded["driver_request_id"]
    assert started["operation_id"] == succeeded["operation_id"]
    for record in (records[2], records[3], succeeded):
        assert type(record["duration_micros"]) is int
        assert record["duration_micros"] >= 0


def test_every_record_of_a_listener_set_carries_its_clients_topology_id(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    client.admin.command("ping")
    records = wait_for(log_path, lambda rs: bool(named(rs, "mongodb.server.description_changed")))
    topology_id = named(records, "mongodb.topology.opened")[0]["topology_id"]
    assert re.fullmatch(r"[0-9a-f]{24}", topology_id)
    assert {record.get("topology_id") for record in records} == {topology_id}
    assert {record["event"].split(".")[1] for record in records} >= {
        "command",
        "connection",
        "pool",
        "server",
        "heartbeat",
        "topology",
    }


def test_configure_records_carry_the_topology_id_only_on_sdam_records(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(output=str(log_path), level="debug", burst_limit=0)
    client = make_client(server.uri, heartbeatFrequencyMS=500)
    client.admin.command("ping")
    records = wait_for(log_path, lambda rs: bool(named(rs, "mongodb.server.description_changed")))
    with_id = {r["event"].split(".")[1] for r in records if "topology_id" in r}
    without_id = {r["event"].split(".")[1] for r in records if "topology_id" not in r}
    assert with_id == {"server", "topology"}
    assert without_id == {"command", "connection", "pool", "heartbeat"}


def test_discovery_records_open_the_topology_and_type_the_server(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    logged_client(
        make_client, server, log_path, maxPoolSize=5, minPoolSize=0, waitQueueTimeoutMS=2000
    )
    records = wait_for(
        log_path, lambda rs: bool(named(rs, "mongodb.topology.description_changed")[1:])
    )
    at = address(server)
    sdam = family(records, "topology", "server", "pool", "heartbeat")
    first = {r["event"]: r for r in reversed(sdam)}  # the first record of each event
    expected = {
        "mongodb.topology.opened": {"level": "info", "event": "mongodb.topology.opened"},
        "mongodb.server.opening": {"level": "info", "event": "mongodb.server.opening", **at},
        "mongodb.pool.created": {
            "level": "info",
            "event": "mongodb.pool.created",
            **at,
            "max_pool_size": 5,
            "wait_queue_timeout_ms": 2000,
        },
        "mongodb.pool.ready": {"level": "info", "event": "mongodb.pool.ready", **at},
        "mongodb.heartbeat.started": {
            "level": "debug",
            "event": "mongodb.heartbeat.started",
            **at,
            "awaited": False,
        },
        "mongodb.heartbeat.succeeded": {
            "level": "debug",
            "event": "mongodb.heartbeat.succeeded",
            **at,
            "awaited": False,
        },
        "mongodb.server.description_changed": {
            "level": "info",
            "event": "mongodb.server.description_changed",
            **at,
            "previous_server_type": "Unknown",
            "new_server_type": "Standalone",
        },
    }
    assert {event: without_volatile(first[event]) for event in expected} == expected
    changes = strip(named(records, "mongodb.topology.description_changed"))
    assert changes[-1] == {
        "level": "info",
        "event": "mongodb.topology.description_changed",
        "previous_topology_type": "Unknown",
        "new_topology_type": "Single",
        "primary": None,
        "has_writable_server": True,
        "had_writable_server": False,
    }


def test_a_server_error_gives_a_failed_record_at_warning(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    with pytest.raises(OperationFailure), going(client.shop.users.find_one, {"name": "Ada"}):
        server.receives(find="users").command_err(
            code=50,
            errmsg="operation exceeded time limit",
            codeName="MaxTimeMSExpired",
            errorLabels=["TransientTransactionError"],
        )
    (failed,) = named(read_records(log_path), "mongodb.command.failed")
    assert without_volatile(failed, "command_shape") == {
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": "find",
        "database_name": "shop",
        "collection": "users",
        **address(server),
        "connection_id": 1,
        "command": '{"find":"users","filter":{"name":"?"},"limit":"?","singleBatch":"?",'
        '"$db":"shop"}',
        "error_type": "OperationFailure",
        "error_code": 50,
        "error_code_name": "MaxTimeMSExpired",
        "error_labels": ["TransientTransactionError"],
        "error": "operation exceeded time limit",
        "slow": False,
    }


def test_a_network_error_fails_the_command_closes_the_connection_and_clears_the_pool(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    with pytest.raises(AutoReconnect), going(client.admin.command, "count", "users"):
        server.receives(count="users").hangup()
    records = read_records(log_path)
    at = address(server)
    (failed,) = named(records, "mongodb.command.failed")
    assert failed["error"].startswith(f"localhost:{server.port}: connection closed")
    assert without_volatile(failed, "command_shape", "error") == {
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": "count",
        "database_name": "admin",
        "collection": "users",
        **at,
        "connection_id": 1,
        "command": '{"count":"users","$db":"admin"}',
        "error_type": "AutoReconnect",
        "slow": False,
    }
    assert strip(named(records, "mongodb.pool.cleared")) == [
        {"level": "warning", "event": "mongodb.pool.cleared", **at, "interrupt_connections": False}
    ]
    assert strip(named(records, "mongodb.connection.closed")) == [
        {
            "level": "warning",
            "event": "mongodb.connection.closed",
            **at,
            "connection_id": 1,
            "reason": "error",
        }
    ]
    assert client.admin.command("ping") == {"ok": 1}  # a new connection works


def test_a_stopped_server_fails_its_heartbeat_and_loses_the_writable_server(
    make_client: MakeClient, own_server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, own_server, log_path)
    client.admin.command("ping")  # leaves connection 1 idle in the pool
    at = address(own_server)
    wait_for(log_path, lambda rs: bool(named(rs, "mongodb.server.description_changed")))
    f.stop_quickly(own_server)
    records = wait_for(
        log_path,
        lambda rs: any(
            r["event"] == "mongodb.topology.description_changed" and r["level"] == "warning"
            for r in rs
        ),
    )
    failed = named(records, "mongodb.heartbeat.failed")[0]
    assert failed["error"].startswith(f"localhost:{own_server.port}: ")
    assert without_volatile(failed, "error") == {
        "level": "warning",
        "event": "mongodb.heartbeat.failed",
        **at,
        "awaited": False,
        "error_type": "AutoReconnect",
    }
    assert strip(named(records, "mongodb.pool.cleared")) == [
        {"level": "warning", "event": "mongodb.pool.cleared", **at, "interrupt_connections": False}
    ]
    assert strip(named(records, "mongodb.connection.closed")) == [
        {
            "level": "debug",
            "event": "mongodb.connection.closed",
            **at,
            "connection_id": 1,
            "reason": "stale",
        }
    ]
    went_unknown = [
        without_volatile(record, "error")
        for record in strip(named(records, "mongodb.server.description_changed"))
        if record["new_server_type"] == "Unknown"
        and record["error"].startswith(f"localhost:{own_server.port}: ")
    ]
    assert {
        "level": "info",
        "event": "mongodb.server.description_changed",
        **at,
        "previous_server_type": "Standalone",
        "new_server_type": "Unknown",
        "error_type": "AutoReconnect",
    } in went_unknown
    assert [
        r
        for r in strip(named(records, "mongodb.topology.description_changed"))
        if r["level"] == "warning"
    ] == [
        {
            "level": "warning",
            "event": "mongodb.topology.description_changed",
            "previous_topology_type": "Single",
            "new_topology_type": "Single",
            "primary": None,
            "has_writable_server": False,
            "had_writable_server": True,
        }
    ]


def test_closing_the_client_closes_connections_pool_server_and_topology(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    client.admin.command("ping")
    wait_for(log_path, lambda rs: bool(named(rs, "mongodb.server.description_changed")))
    client.close()
    records = wait_for(log_path, lambda rs: bool(named(rs, "mongodb.topology.closed")))
    at = address(server)
    closing = [
        r
        for r in strip(records)
        if r["event"].endswith("closed") or r["event"] == "mongodb.topology.description_changed"
    ]
    assert closing[-5:] == [
        {
            "level": "debug",
            "event": "mongodb.connection.closed",
            **at,
            "connection_id": 1,
            "reason": "poolClosed",
        },
        {"level": "info", "event": "mongodb.pool.closed", **at},
        {"level": "info", "event": "mongodb.server.closed", **at},
        {
            "level": "info",
            "event": "mongodb.topology.description_changed",
            "previous_topology_type": "Single",
            "new_topology_type": "Unknown",
            "primary": None,
            "has_writable_server": False,
            "had_writable_server": True,
        },
        {"level": "info", "event": "mongodb.topology.closed"},
    ]


def test_an_idle_connection_is_closed_for_being_idle(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path, maxIdleTimeMS=20)
    client.admin.command("ping")

    def closed_idle(records: list[dict[str, Any]]) -> bool:
        client.admin.command("ping")  # a check-out discards connections idle too long
        return bool(named(records, "mongodb.connection.closed"))

    records = wait_for(log_path, closed_idle)
    assert strip(named(records, "mongodb.connection.closed"))[0] == {
        "level": "debug",
        "event": "mongodb.connection.closed",
        **address(server),
        "connection_id": 1,
        "reason": "idle",
    }


def test_a_check_out_that_waits_too_long_fails_at_error(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path, maxPoolSize=1, waitQueueTimeoutMS=50)
    at = address(server)
    with going(client.shop.users.find_one, {"name": "Ada"}) as found:
        held = server.receives(find="users")  # the only connection is busy until we reply
        with pytest.raises(WaitQueueTimeoutError):
            client.admin.command("ping")
        held.ok(cursor={"id": 0, "firstBatch": [], "ns": "shop.users"})
    assert found() is None
    (failed,) = named(read_records(log_path), "mongodb.connection.check_out_failed")
    assert without_volatile(failed, "oldest_in_use_micros") == {
        "level": "error",
        "event": "mongodb.connection.check_out_failed",
        **at,
        "reason": "timeout",
        "in_use": 1,
        "max_pool_size": 1,
        "waiting": 0,
        "oldest_in_use_command": "find",
    }
    assert failed["duration_micros"] >= 50_000


def test_a_connection_whose_handshake_fails_fails_its_check_out(
    make_client: MakeClient, own_server: MockupDB, log_path: Path
) -> None:
    monitor: dict[str, int] = {}

    def hang_up_on_pool_handshakes(request: Any) -> bool:
        if request.command_name.lower() not in ("ismaster", "hello"):
            return False
        monitor.setdefault("port", request.client_port)  # the monitor connects first
        if request.client_port == monitor["port"]:
            return False
        return bool(request.hangup())

    own_server.autoresponds(hang_up_on_pool_handshakes)
    client = logged_client(make_client, own_server, log_path)
    with pytest.raises(AutoReconnect):
        client.admin.command("ping")
    records = read_records(log_path)
    at = address(own_server)
    assert strip(named(records, "mongodb.connection.check_out_failed")) == [
        {
            "level": "error",
            "event": "mongodb.connection.check_out_failed",
            **at,
            "reason": "connectionError",
            "in_use": 0,
            "max_pool_size": 100,
            "waiting": 0,
        }
    ]
    assert strip(named(records, "mongodb.connection.closed")) == [
        {
            "level": "warning",
            "event": "mongodb.connection.closed",
            **at,
            "connection_id": 1,
            "reason": "error",
        }
    ]


def test_a_unix_socket_server_has_an_address_without_a_port(
    make_client: MakeClient, tmp_path: Path, log_path: Path
) -> None:
    from urllib.parse import quote_plus

    path = str(tmp_path / "mongodb.sock")
    server = MockupDB(auto_ismaster=f.WIRE, uds_path=path)
    server.autoresponds("ping")
    server.run()
    try:
        listener_set = mongo_structlog.listeners(output=str(log_path))
        client = make_client("mongodb://" + quote_plus(path), event_listeners=listener_set)
        client.admin.command("ping")
    finally:
        f.stop_quickly(server)
    (succeeded,) = named(read_records(log_path), "mongodb.command.succeeded")
    assert (succeeded["server_address"], succeeded["server_host"]) == (path, path)
    assert "server_port" not in succeeded


def test_an_internal_error_does_not_break_the_client(
    make_client: MakeClient,
    server: MockupDB,
    log_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mongo_structlog import _commands

    listener_set = mongo_structlog.listeners(output=str(log_path))

    def completed(*args: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(_commands, "completed", completed)  # a bug in the command path
    client = make_client(server.uri, event_listeners=listener_set)
    assert client.admin.command("ping") == {"ok": 1}
    assert client.admin.command("ping") == {"ok": 1}
    assert mongo_structlog.stats()["internal_errors"] == 2
    assert named(read_records(log_path), "mongodb.command.succeeded") == []
    assert capsys.readouterr().err.splitlines() == [
        "mongo_structlog: internal error in command succeeded: KeyError('boom')"
        " (reported once; see mongo_structlog.stats())"
    ]


def test_concurrent_commands_each_get_their_own_completion(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = logged_client(make_client, server, log_path)
    threads = [threading.Thread(target=client.admin.command, args=("ping",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_records(log_path)
    started = named(records, "mongodb.command.started")
    succeeded = named(records, "mongodb.command.succeeded")
    assert len(started) == len(succeeded) == 8
    assert {r["driver_request_id"] for r in started} == {r["driver_request_id"] for r in succeeded}
    assert mongo_structlog.stats()["in_flight"] == 0


def test_a_command_published_outside_pymongo_has_no_connection_id(log_path: Path) -> None:
    """The connection number comes from PyMongo's own publishing, never from a guess."""
    commands, *_, pool = mongo_structlog.listeners(output=str(log_path), level="debug")
    pool.connection_checked_out(f.checked_out(7, 0.0001))
    commands.started(f.command_started(FIND, request_id=104))
    commands.succeeded(f.command_succeeded(request_id=104))
    records = read_records(log_path)
    assert [r["event"] for r in records] == [
        "mongodb.connection.checked_out",
        "mongodb.command.started",
        "mongodb.command.succeeded",
    ]
    assert ["connection_id" in r for r in records] == [True, False, False]
    assert mongo_structlog.stats()["internal_errors"] == 0


# -- every foreign string passes the gate ---------------------------------------------------------


def test_a_server_s_error_on_its_description_change_is_cut_to_the_document_length(
    log_path: Path,
) -> None:
    from pymongo.errors import NotPrimaryError

    reply = {"ok": 0, "errmsg": "not primary " + "x" * 200, "code": 10107}
    _, server, *_ = mongo_structlog.listeners(output=str(log_path), max_document_length=40)
    went_unknown = f.server_description(error=NotPrimaryError("not primary " + "x" * 200, reply))
    server.description_changed(
        f.server_changed(f.server_description(reply=f.hello()), went_unknown)
    )
    (record,) = read_records(log_path)
    assert record["event"] == "mongodb.server.description_changed"
    assert len(record["error"]) == 43
    assert record["error"].endswith("...")
    assert record["error_type"] == "NotPrimaryError"


@pytest.mark.parametrize("name", ["hello", "isMaster"])
def test_a_failed_hello_that_pymongo_emptied_keeps_only_code_code_name_and_labels(
    log_path: Path, name: str
) -> None:
    commands, *_ = mongo_structlog.listeners(output=str(log_path))
    hello = {name: 1, "speculativeAuthenticate": {"saslStart": 1, "payload": "secret-nonce"}}
    started = f.command_started(hello, request_id=7)
    assert started.command == {}  # PyMongo already replaced it
    commands.started(started)
    failure = {
        "ok": 0,
        "errmsg": "Authentication failed for user-secret",
        "code": 18,
        "codeName": "AuthenticationFailed",
        "errorLabels": ["RetryableWriteError"],
    }
    commands.failed(f.command_failed(failure, request_id=7, command_name=name))
    (record,) = read_records(log_path)
    assert {k: v for k, v in record.items() if k.startswith("error") or k == "command"} == {
        "command": "{}",
        "error_type": "OperationFailure",
        "error_code": 18,
        "error_code_name": "AuthenticationFailed",
        "error_labels": ["RetryableWriteError"],
    }
    assert "secret" not in log_path.read_text()


def test_a_failed_hello_whose_start_was_not_seen_keeps_no_message(log_path: Path) -> None:
    commands, *_ = mongo_structlog.listeners(output=str(log_path))
    failure = {"ok": 0, "errmsg": "Authentication failed for user-secret", "code": 18}
    commands.failed(f.command_failed(failure, request_id=8, command_name="hello"))
    (record,) = read_records(log_path)
    assert "error" not in record
    assert record["error_code"] == 18


def test_long_database_and_collection_names_are_cut_to_the_document_length(
    log_path: Path,
) -> None:
    commands, *_ = mongo_structlog.listeners(output=str(log_path), max_document_length=20)
    long = "c" * 100
    commands.started(f.command_started({"find": long, "$db": "d" * 100}, database_name="d" * 100))
    commands.succeeded(f.command_succeeded(database_name="d" * 100))
    (record,) = read_records(log_path)
    assert (record["collection"], record["database_name"]) == ("c" * 20 + "...", "d" * 20 + "...")
