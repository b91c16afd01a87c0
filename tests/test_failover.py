"""Incidents against real clients and mockupdb servers: failover, network errors, pool
exhaustion, heartbeat failures. Each test checks the records tell the incident in order,
at the contract's levels, and that the application recovers afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB, going
from pymongo import MongoClient, common
from pymongo.errors import AutoReconnect, WaitQueueTimeoutError

import mongo_structlog

from .servers import (
    STANDALONE,
    named,
    read_records,
    replica_set_hello,
    wait_for,
    without_volatile,
)

Client = MongoClient[dict[str, Any]]
MakeClient = Callable[..., Client]
Records = list[dict[str, Any]]

#: What the client waits between heartbeats in these tests (ms).
HEARTBEAT_MS = 100


@pytest.fixture(autouse=True)
def _fast_monitoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats every 0.1 s and SDAM events published within 0.05 s, not 0.5 s and 1 s."""
    monkeypatch.setattr(common, "MIN_HEARTBEAT_INTERVAL", 0.05)
    monkeypatch.setattr(common, "EVENTS_QUEUE_FREQUENCY", 0.05)


def address_of(server: MockupDB) -> dict[str, Any]:
    """The address fields every record tied to ``server`` carries."""
    return {
        "server_address": f"localhost:{server.port}",
        "server_host": "localhost",
        "server_port": server.port,
    }


def type_changes(records: Records) -> list[tuple[str, str, str]]:
    """``(server_address, previous, new)`` of every server type change, in order."""
    return [
        (r["server_address"], r["previous_server_type"], r["new_server_type"])
        for r in named(records, "mongodb.server.description_changed")
        if r["previous_server_type"] != r["new_server_type"]
    ]


# -- replica-set failover ----------------------------------------------------------------------


@dataclass
class ReplicaSet:
    """Three mockupdb members that answer ``hello`` from a shared state: who is primary."""

    servers: list[MockupDB]
    hosts: list[str]
    state: dict[str, str | None] = field(default_factory=dict)

    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/?replicaSet=rs0"

    def step_down(self) -> None:
        """The primary steps down; every member is a secondary and none knows a primary."""
        self.state["primary"] = None

    def elect(self, host: str) -> None:
        """``host`` wins the election."""
        self.state["primary"] = host


@pytest.fixture
def replica_set() -> Iterator[ReplicaSet]:
    """A three-member replica set ``rs0`` whose first member is primary."""
    servers = [MockupDB(auto_ismaster=False) for _ in range(3)]
    hosts = [f"localhost:{server.run()}" for server in servers]
    rs = ReplicaSet(servers, hosts, {"primary": hosts[0]})

    def member(me: str) -> Callable[[Any], bool]:
        def answer(request: Any) -> bool:
            name = (request.command_name or "").lower()
            if name in ("hello", "ismaster"):
                primary = rs.state["primary"]
                # A member that lost its primary is still a secondary (not RSOther).
                return bool(
                    request.ok(replica_set_hello(me, hosts, primary, secondary=me != primary))
                )
            if name in ("ping", "endsessions"):
                return bool(request.ok())
            return False

        return answer

    for server, host in zip(servers, hosts, strict=True):
        server.autoresponds(member(host))
    yield rs
    # Each stop waits up to 1 s for mockupdb's accept loop: stop the three at once.
    stopping = [threading.Thread(target=server.stop) for server in servers]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def test_failover_tells_step_down_no_primary_and_election_in_order(
    replica_set: ReplicaSet, log_path: Path, make_client: MakeClient
) -> None:
    old, new, _ = replica_set.hosts
    client = make_client(
        replica_set.uri(),
        heartbeatFrequencyMS=HEARTBEAT_MS,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")
    wait_for(log_path, lambda rs: any(r.get("primary") == old for r in rs))

    replica_set.step_down()
    wait_for(log_path, lambda rs: (old, "RSPrimary", "RSSecondary") in type_changes(rs))
    replica_set.elect(new)
    records = wait_for(
        log_path,
        lambda rs: (
            any(r.get("primary") == new for r in rs)
            and (new, "RSSecondary", "RSPrimary") in type_changes(rs)
        ),
    )
    assert client.admin.command("ping") == {"ok": 1}

    # The story, in order: primary gone, no writable server, then the new primary.
    def first(predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> int:
        return next(i for i in range(start, len(records)) if predicate(records[i]))

    def topology(record: dict[str, Any]) -> bool:
        return record["event"] == "mongodb.topology.description_changed"

    def changed(host: str, previous: str, new: str) -> Callable[[dict[str, Any]], bool]:
        return lambda r: (
            (r.get("server_address"), r.get("previous_server_type"), r.get("new_server_type"))
            == (host, previous, new)
        )

    stepped_down = first(changed(old, "RSPrimary", "RSSecondary"))
    lost = first(topology, stepped_down)
    elected = first(changed(new, "RSSecondary", "RSPrimary"), lost)
    found = first(topology, elected)
    host, port = old.split(":")
    new_host, new_port = new.split(":")
    assert [without_volatile(records[i]) for i in (stepped_down, lost, elected, found)] == [
        {
            "level": "info",
            "event": "mongodb.server.description_changed",
            "server_address": old,
            "server_host": host,
            "server_port": int(port),
            "previous_server_type": "RSPrimary",
            "new_server_type": "RSSecondary",
        },
        {
            "level": "warning",
            "event": "mongodb.topology.description_changed",
            "previous_topology_type": "ReplicaSetWithPrimary",
            "new_topology_type": "ReplicaSetNoPrimary",
            "primary": None,
            "has_writable_server": False,
            "had_writable_server": True,
        },
        {
            "level": "info",
            "event": "mongodb.server.description_changed",
            "server_address": new,
            "server_host": new_host,
            "server_port": int(new_port),
            "previous_server_type": "RSSecondary",
            "new_server_type": "RSPrimary",
        },
        {
            "level": "info",
            "event": "mongodb.topology.description_changed",
            "previous_topology_type": "ReplicaSetNoPrimary",
            "new_topology_type": "ReplicaSetWithPrimary",
            "primary": new,
            "has_writable_server": True,
            "had_writable_server": False,
        },
    ]
    # While there is no primary, every topology record says so, at info (not a new loss).
    meanwhile = [r for r in records[lost + 1 : found] if topology(r)]
    assert all(
        (r["primary"], r["has_writable_server"], r["level"]) == (None, False, "info")
        for r in meanwhile
    )
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_closing_the_client_is_not_reported_as_losing_the_primary(
    replica_set: ReplicaSet, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        replica_set.uri(),
        heartbeatFrequencyMS=HEARTBEAT_MS,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")
    wait_for(log_path, lambda rs: any(r.get("has_writable_server") for r in rs))
    client.close()

    records = read_records(log_path)
    closing = named(records, "mongodb.topology.description_changed")[-1]
    assert without_volatile(closing) == {
        "level": "info",
        "event": "mongodb.topology.description_changed",
        "previous_topology_type": "ReplicaSetWithPrimary",
        "new_topology_type": "Unknown",
        "primary": None,
        "has_writable_server": False,
        "had_writable_server": True,
    }
    assert [r for r in records if r["level"] != "info"] == []
    assert records[-1]["event"] == "mongodb.topology.closed"


# -- a network error in the middle of a command --------------------------------------------------


def test_network_error_mid_command_is_told_then_recovered(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        heartbeatFrequencyMS=HEARTBEAT_MS,
        retryReads=False,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")
    wait_for(log_path, lambda rs: bool(type_changes(rs)))
    before = len(read_records(log_path))

    where = address_of(server)
    with pytest.raises(AutoReconnect), going(client.db.orders.find_one, {"status": "open"}):
        server.receives().hangup()
    # The server is marked Unknown and, checked at once, found again (maybe in one batch).
    wait_for(log_path, lambda rs: len(type_changes(rs)) == 3)
    with going(client.db.orders.find_one, {"status": "open"}) as found:
        server.receives().ok(cursor={"id": 0, "firstBatch": [], "ns": "db.orders"})
    assert found() is None
    records = read_records(log_path)[before:]

    failed = named(records, "mongodb.command.failed")
    assert len(failed) == 1
    error = failed[0].pop("error")
    assert error.startswith(f"{where['server_address']}: connection closed")
    assert without_volatile(failed[0], "command_shape") == {
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": "find",
        "database_name": "db",
        "collection": "orders",
        **where,
        "connection_id": 1,
        "command": (
            '{"find":"orders","filter":{"status":"?"},"limit":"?","singleBatch":"?","$db":"db"}'
        ),
        "error_type": "AutoReconnect",
        "slow": False,
    }
    incident = [
        without_volatile(r)
        for r in records
        if r["event"] in ("mongodb.pool.cleared", "mongodb.connection.closed")
    ]
    assert incident == [
        {
            "level": "warning",
            "event": "mongodb.pool.cleared",
            **where,
            "interrupt_connections": False,
        },
        {
            "level": "warning",
            "event": "mongodb.connection.closed",
            **where,
            "connection_id": 1,
            "reason": "error",
        },
    ]
    assert type_changes(records) == [
        (where["server_address"], "Standalone", "Unknown"),
        (where["server_address"], "Unknown", "Standalone"),
    ]
    # Recovery: the pool is ready again and the same query succeeds on a new connection.
    assert "mongodb.pool.ready" in [r["event"] for r in records]
    succeeded = named(records, "mongodb.command.succeeded")
    assert [(r["command_name"], r["collection"], r["level"]) for r in succeeded] == [
        ("find", "orders", "info")
    ]
    assert succeeded[0]["command_shape"] == failed[0]["command_shape"]


# -- pool exhaustion ----------------------------------------------------------------------------


def test_pool_exhaustion_fails_the_waiter_with_reason_timeout_and_its_wait(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        maxPoolSize=1,
        waitQueueTimeoutMS=200,
        retryReads=False,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")

    # The only connection is held by a slow find while another thread wants one.
    with going(client.db.command, "find", "orders") as held:
        slow = server.receives()
        waiter_error: list[BaseException] = []

        def waiter() -> None:
            try:
                client.admin.command("ping")
            except WaitQueueTimeoutError as exc:
                waiter_error.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(10)
        slow.ok(cursor={"id": 0, "firstBatch": [], "ns": "db.orders"})
    assert held()["ok"] == 1
    assert len(waiter_error) == 1

    records = read_records(log_path)
    failed = named(records, "mongodb.connection.check_out_failed")
    assert len(failed) == 1
    wait = failed[0]["duration_micros"]
    assert type(wait) is int
    assert wait >= 200_000  # it waited out waitQueueTimeoutMS (0.2 s), in microseconds
    assert without_volatile(failed[0], "oldest_in_use_micros") == {
        "level": "error",
        "event": "mongodb.connection.check_out_failed",
        **address_of(server),
        "reason": "timeout",
        "in_use": 1,
        "max_pool_size": 1,
        "waiting": 0,
        "oldest_in_use_command": "find",
    }
    # The held command still completes, and nothing else went wrong.
    assert [r["command_name"] for r in named(records, "mongodb.command.succeeded")] == [
        "ping",
        "find",
    ]
    assert mongo_structlog.stats()["emitted"]["mongodb.connection.check_out_failed"] == 1


# -- heartbeat failures -------------------------------------------------------------------------


def test_heartbeats_fail_while_the_server_is_down_and_stop_failing_when_it_returns(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        heartbeatFrequencyMS=HEARTBEAT_MS,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")
    wait_for(log_path, lambda rs: bool(type_changes(rs)))
    where = address_of(server)

    server.stop()
    down = wait_for(
        log_path,
        lambda rs: (
            len(named(rs, "mongodb.heartbeat.failed")) >= 2 and type_changes(rs)[-1][2] == "Unknown"
        ),
    )
    returned = MockupDB(port=server.port, auto_ismaster=STANDALONE)
    returned.autoresponds("ping")
    returned.autoresponds("endSessions")
    returned.run()
    try:
        records = wait_for(log_path, lambda rs: type_changes(rs)[-1][2] == "Standalone")
        assert client.admin.command("ping") == {"ok": 1}
        after = read_records(log_path)[len(records) :]
    finally:
        returned.stop()

    failures = named(down, "mongodb.heartbeat.failed")
    for failure in failures:
        assert failure.pop("error").startswith(f"{where['server_address']}: ")
        assert type(failure["duration_micros"]) is int
    assert {str(without_volatile(f)) for f in failures} == {
        str(
            {
                "level": "warning",
                "event": "mongodb.heartbeat.failed",
                **where,
                "awaited": False,
                "error_type": "AutoReconnect",
            }
        )
    }
    assert type_changes(records) == [
        (where["server_address"], "Unknown", "Standalone"),
        (where["server_address"], "Standalone", "Unknown"),
        (where["server_address"], "Unknown", "Standalone"),
    ]
    cleared = named(records, "mongodb.pool.cleared")
    assert [without_volatile(r) for r in cleared] == [
        {
            "level": "warning",
            "event": "mongodb.pool.cleared",
            **where,
            "interrupt_connections": False,
        }
    ]
    # Once the server is back, heartbeats stop failing and commands succeed.
    assert named(after, "mongodb.heartbeat.failed") == []
    assert [r["command_name"] for r in named(after, "mongodb.command.succeeded")] == ["ping"]
