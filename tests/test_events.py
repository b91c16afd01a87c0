"""``mongo_structlog.events``: real PyMongo events in, whole field dicts out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import monitoring
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure
from pymongo.topology_description import TOPOLOGY_TYPE

import mongo_structlog
from mongo_structlog import _catalogue as events
from mongo_structlog._commands import failure_fields

from . import factory as f
from .factory import ADDRESS_FIELDS
from .servers import read_records

IPV6 = ("fe80::1", 27018)
IPV6_FIELDS = {"server_address": "[fe80::1]:27018", "server_host": "fe80::1", "server_port": 27018}
SOCKET = ("/tmp/mongodb-27017.sock", None)
SOCKET_FIELDS = {
    "server_address": "/tmp/mongodb-27017.sock",
    "server_host": "/tmp/mongodb-27017.sock",
}


class Shown:
    """A stand-in gate that shows where it was applied: text is cut, names kept."""

    def text(self, value: str) -> str:
        return cut(value)

    def name(self, value: str) -> str:
        return value


class Plain:
    """A stand-in gate that changes nothing."""

    def text(self, value: str) -> str:
        return value

    def name(self, value: str) -> str:
        return value


SHOWN, PLAIN = Shown(), Plain()


def cut(text: str) -> str:
    """A stand-in message scrubber that shows it was applied."""
    return text[:12] + "..." if len(text) > 12 else text


# -- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (None, None),
        (("db0.example.com", 27017), "db0.example.com:27017"),
        (("10.0.0.7", 27019), "10.0.0.7:27019"),
        (("::1", 27017), "[::1]:27017"),
        (IPV6, "[fe80::1]:27018"),
        (SOCKET, "/tmp/mongodb-27017.sock"),
    ],
)
def test_format_address(address: Any, text: str | None) -> None:
    assert events.format_address(address) == text


@pytest.mark.parametrize(
    ("address", "expected"),
    [(f.ADDRESS, ADDRESS_FIELDS), (IPV6, IPV6_FIELDS), (SOCKET, SOCKET_FIELDS)],
)
def test_address_fields(address: Any, expected: dict[str, Any]) -> None:
    assert events.address_fields(address) == expected


def test_address_fields_are_cached_per_address() -> None:
    address = ("cache.example", 1)
    assert events.address_fields(address) is events.address_fields(("cache.example", 1))


def test_address_fields_stop_caching_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_ADDRESS_CACHE_LIMIT", 0)
    first = events.address_fields(("uncached.example", 2))
    assert first == {
        "server_address": "uncached.example:2",
        "server_host": "uncached.example",
        "server_port": 2,
    }
    assert events.address_fields(("uncached.example", 2)) is not first


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, None), (0.0, 0), (0.0025, 2500), (1.5, 1_500_000), (0.0000004, 0), (2e-6, 2)],
)
def test_micros_converts_seconds_to_whole_microseconds(
    seconds: float | None, expected: int | None
) -> None:
    assert events.micros(seconds) == expected


# -- command failures --------------------------------------------------------------------------


def test_failure_fields_of_a_server_error() -> None:
    failure = f.server_error(labels=["TransientTransactionError"])
    assert failure_fields(failure, False, SHOWN) == {
        "error_type": "OperationFailure",
        "error_code": 2,
        "error_code_name": "BadValue",
        "error_labels": ["TransientTransactionError"],
        "error": "unknown oper...",
    }


def test_failure_fields_of_a_network_error() -> None:
    failure = f.command_failed(f.network_error("connection closed")).failure
    assert failure_fields(failure, False, SHOWN) == {
        "error_type": "AutoReconnect",
        "error": "connection c...",
    }


def test_failure_fields_of_a_sensitive_command_keep_only_code_name_and_labels() -> None:
    failure = f.server_error(
        code=18, code_name="AuthenticationFailed", errmsg="bad auth for user alice", labels=["X"]
    )
    assert failure_fields(failure, True, SHOWN) == {
        "error_type": "OperationFailure",
        "error_code": 18,
        "error_code_name": "AuthenticationFailed",
        "error_labels": ["X"],
    }


def test_failure_fields_ignore_mistyped_parts() -> None:
    failure = {"ok": 0, "errmsg": 42, "code": True, "codeName": 7, "errorLabels": "Retry"}
    assert failure_fields(failure, False, SHOWN) == {
        "error_type": "OperationFailure",
        "error": "42",
    }


def test_failure_fields_without_a_message() -> None:
    assert failure_fields({"ok": 0, "code": 1}, False, SHOWN) == {
        "error_type": "OperationFailure",
        "error_code": 1,
    }


def test_failure_fields_without_a_document() -> None:
    assert failure_fields(None, False, SHOWN) == {"error_type": "Unknown"}


def test_error_fields_from_a_network_exception() -> None:
    exc = AutoReconnect("db0.example.com:27017: [Errno 111] Connection refused")
    assert events.error_fields_from_exception(exc, PLAIN) == {
        "error": "db0.example.com:27017: [Errno 111] Connection refused",
        "error_type": "AutoReconnect",
    }


def test_error_fields_from_a_server_exception_with_code_name_and_labels() -> None:
    details = {
        "ok": 0,
        "errmsg": "not primary",
        "code": 10107,
        "codeName": "NotWritablePrimary",
        "errorLabels": ["RetryableWriteError", "NoWritesPerformed"],
    }
    exc = OperationFailure("not primary", code=10107, details=details)
    assert events.error_fields_from_exception(exc, SHOWN) == {
        "error": "not primary,...",
        "error_type": "OperationFailure",
        "error_code": 10107,
        "error_code_name": "NotWritablePrimary",
        "error_labels": ["NoWritesPerformed", "RetryableWriteError"],
    }


def test_error_fields_from_a_server_exception_without_a_code_name() -> None:
    exc = OperationFailure("command failed", code=8000, details={"ok": 0, "codeName": 1})
    assert events.error_fields_from_exception(exc, PLAIN) == {
        "error": "command failed, full error: {'ok': 0, 'codeName': 1}",
        "error_type": "OperationFailure",
        "error_code": 8000,
    }


def test_error_fields_from_a_plain_exception() -> None:
    assert events.error_fields_from_exception(TimeoutError("timed out"), PLAIN) == {
        "error": "timed out",
        "error_type": "TimeoutError",
    }


# -- heartbeats --------------------------------------------------------------------------------


def test_heartbeat_started_fields() -> None:
    assert events.heartbeat_fields(f.heartbeat_started(awaited=True)) == {
        **ADDRESS_FIELDS,
        "awaited": True,
    }


def test_heartbeat_succeeded_fields_convert_seconds_to_micros() -> None:
    assert events.heartbeat_fields(f.heartbeat_succeeded(0.0025, address=IPV6)) == {
        **IPV6_FIELDS,
        "awaited": False,
        "duration_micros": 2500,
    }


def test_heartbeat_failed_fields() -> None:
    event = f.heartbeat_failed(NetworkTimeout("timed out"), seconds=10.0, awaited=True)
    assert events.heartbeat_fields(event) == {
        **ADDRESS_FIELDS,
        "awaited": True,
        "duration_micros": 10_000_000,
    }


# -- connections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (f.connection_created(7), {**ADDRESS_FIELDS, "connection_id": 7}),
        (
            f.connection_ready(7, 0.004),
            {**ADDRESS_FIELDS, "connection_id": 7, "duration_micros": 4000},
        ),
        (f.connection_ready(7, None), {**ADDRESS_FIELDS, "connection_id": 7}),
        (
            f.connection_closed(monitoring.ConnectionClosedReason.STALE, 3),
            {**ADDRESS_FIELDS, "connection_id": 3, "reason": "stale"},
        ),
        (
            f.connection_closed(monitoring.ConnectionClosedReason.ERROR, 4, SOCKET),
            {**SOCKET_FIELDS, "connection_id": 4, "reason": "error"},
        ),
        (f.check_out_started(IPV6), IPV6_FIELDS),
        (
            f.check_out_failed(monitoring.ConnectionCheckOutFailedReason.TIMEOUT, 0.1),
            {**ADDRESS_FIELDS, "duration_micros": 100_000, "reason": "timeout"},
        ),
        (
            f.check_out_failed(monitoring.ConnectionCheckOutFailedReason.CONN_ERROR, None),
            {**ADDRESS_FIELDS, "reason": "connectionError"},
        ),
        (
            f.checked_out(2, 0.000125),
            {**ADDRESS_FIELDS, "connection_id": 2, "duration_micros": 125},
        ),
        (f.checked_in(2), {**ADDRESS_FIELDS, "connection_id": 2}),
        (f.pool_ready(), ADDRESS_FIELDS),
        (f.pool_closed(SOCKET), SOCKET_FIELDS),
    ],
)
def test_connection_fields(event: Any, expected: dict[str, Any]) -> None:
    assert events.connection_fields(event) == expected


def test_a_failed_check_out_has_no_connection_id() -> None:
    event = f.check_out_failed(monitoring.ConnectionCheckOutFailedReason.POOL_CLOSED)
    assert event.connection_id == 0  # PyMongo's placeholder
    assert "connection_id" not in events.connection_fields(event)


def test_connection_fields_do_not_share_the_cached_address_dict() -> None:
    fields = events.connection_fields(f.checked_in(9))
    fields["extra"] = 1
    assert events.address_fields(f.ADDRESS) == ADDRESS_FIELDS


# -- servers and topologies --------------------------------------------------------------------


def test_server_changed_fields() -> None:
    event = f.server_changed()
    assert events.server_changed_fields(event, PLAIN) == {
        "topology_id": str(f.TOPOLOGY_ID),
        **ADDRESS_FIELDS,
        "previous_server_type": "Unknown",
        "new_server_type": "Standalone",
    }


def test_server_changed_fields_for_a_replica_set_member_losing_its_primary_role() -> None:
    me = ("db1.example.com", 27017)
    primary = f.server_description(me, f.replica_set_member(me, [me], me))
    unknown = f.server_description(me, error=AutoReconnect("connection closed"))
    assert events.server_changed_fields(f.server_changed(primary, unknown), PLAIN) == {
        "topology_id": str(f.TOPOLOGY_ID),
        "server_address": "db1.example.com:27017",
        "server_host": "db1.example.com",
        "server_port": 27017,
        "previous_server_type": "RSPrimary",
        "new_server_type": "Unknown",
        "error": "connection closed",
        "error_type": "AutoReconnect",
    }


A = ("a.example.com", 27017)
B_IPV6 = ("::1", 27018)


def replica_set(primary: Any) -> Any:
    hosts = [A, B_IPV6]
    members = [
        f.server_description(host, f.replica_set_member(host, hosts, primary)) for host in hosts
    ]
    kind = TOPOLOGY_TYPE.ReplicaSetWithPrimary if primary else TOPOLOGY_TYPE.ReplicaSetNoPrimary
    return f.topology_description(kind, *members, set_name="rs0")


def test_topology_changed_fields_name_the_new_primary() -> None:
    event = f.topology_changed(f.unknown_topology(A, B_IPV6), replica_set(B_IPV6))
    assert events.topology_changed_fields(event) == {
        "topology_id": str(f.TOPOLOGY_ID),
        "previous_topology_type": "Unknown",
        "new_topology_type": "ReplicaSetWithPrimary",
        "primary": "[::1]:27018",
        "has_writable_server": True,
        "had_writable_server": False,
    }


def test_topology_changed_fields_when_the_primary_is_lost() -> None:
    event = f.topology_changed(replica_set(A), replica_set(None))
    assert events.topology_changed_fields(event) == {
        "topology_id": str(f.TOPOLOGY_ID),
        "previous_topology_type": "ReplicaSetWithPrimary",
        "new_topology_type": "ReplicaSetNoPrimary",
        "primary": None,
        "has_writable_server": False,
        "had_writable_server": True,
    }


def test_topology_changed_fields_of_a_standalone_have_no_primary_but_are_writable() -> None:
    single = f.topology_description(
        TOPOLOGY_TYPE.Single, f.server_description(f.ADDRESS, f.hello())
    )
    event = f.topology_changed(f.unknown_topology(), single, ObjectId("65f0c0ffee0000000000beef"))
    assert events.topology_changed_fields(event) == {
        "topology_id": "65f0c0ffee0000000000beef",
        "previous_topology_type": "Unknown",
        "new_topology_type": "Single",
        "primary": None,
        "has_writable_server": True,
        "had_writable_server": False,
    }


# -- pools -------------------------------------------------------------------------------------


def test_pool_options_fields_keep_the_limits_as_ints() -> None:
    options = {
        "maxPoolSize": 1,
        "minPoolSize": 0,
        "maxConnecting": 2,
        "maxIdleTimeMS": 500,
        "waitQueueTimeoutMS": 100.0,
        "appname": "billing",
    }
    assert events.pool_options_fields(f.pool_created(options)) == {
        "max_pool_size": 1,
        "min_pool_size": 0,
        "max_connecting": 2,
        "max_idle_time_ms": 500,
        "wait_queue_timeout_ms": 100,
    }


def test_pool_options_fields_skip_missing_and_mistyped_options() -> None:
    options = {"maxPoolSize": True, "minPoolSize": "5", "maxIdleTimeMS": None}
    assert events.pool_options_fields(f.pool_created(options)) == {}
    assert events.pool_options_fields(f.pool_created()) == {}


def test_pool_cleared_fields() -> None:
    assert events.pool_cleared_fields(f.pool_cleared()) == {"interrupt_connections": False}


def test_pool_cleared_fields_behind_a_load_balancer() -> None:
    service = ObjectId("65f0c0ffee0000000000f00d")
    event = f.pool_cleared(service_id=service, interrupt_connections=True)
    assert events.pool_cleared_fields(event) == {
        "interrupt_connections": True,
        "service_id": "65f0c0ffee0000000000f00d",
    }


def test_a_server_host_longer_than_any_dns_name_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    host = "h" * 1000  # a replica set's hello lists its members' names: the server's text
    pool = mongo_structlog.listeners(output=str(path))[4]
    pool.pool_ready(f.pool_ready((host, 27017)))
    (record,) = read_records(path)
    assert record["server_host"] == "h" * 255 + "..."
    assert record["server_address"] == "h" * 255 + "...:27017"
