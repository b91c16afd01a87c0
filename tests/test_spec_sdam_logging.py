"""MongoDB's SDAM logging specification tests, mapped to our records.

Ported from ``mongodb/specifications``,
``source/server-discovery-and-monitoring/tests/unified/logging-standalone.yml`` ("Topology
lifecycle"): a client discovers a standalone and is closed; a real client against mockupdb.

Mapping (spec message -> our event; spec field -> our field):

* Starting topology monitoring -> ``mongodb.topology.opened``;
* Topology description changed -> ``mongodb.topology.description_changed``
  (``previousDescription``/``newDescription`` -> ``previous_topology_type``,
  ``new_topology_type``, ``primary``, ``has_writable_server``);
* Starting server monitoring -> ``mongodb.server.opening``;
* Server heartbeat started / succeeded / failed -> ``mongodb.heartbeat.started`` /
  ``succeeded`` / ``failed`` (``awaited``, ``durationMS`` -> ``duration_micros``,
  ``failure`` -> ``error``);
* Stopping topology monitoring -> ``mongodb.topology.closed``;
* ``topologyId``, ``serverHost``, ``serverPort`` -> ``topology_id``, ``server_host``,
  ``server_port``.

mockupdb's server is not streaming (no ``topologyVersion``), so the spec's awaited
heartbeat, only on 4.4+ servers, does not happen; the heartbeat failure is covered by the
second test, with a server that stops answering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

import mongo_structlog

from . import factory as f
from .servers import named, read_records, standalone, wait_for

Int, Str, Bool = int, str, bool
SDAM = (
    "mongodb.topology.",
    "mongodb.server.opening",
    "mongodb.server.closed",
    "mongodb.heartbeat.",
)
ADDRESS = {"server_host": Str, "server_port": Int}


def matches(record: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether ``record`` has every field, of the type (a class) or value given."""
    return all(
        key in record
        and (type(record[key]) is want if isinstance(want, type) else record[key] == want)
        for key, want in fields.items()
    )


@pytest.fixture(autouse=True)
def _fast_sdam(monkeypatch: pytest.MonkeyPatch) -> None:
    f.speed_up_sdam(monkeypatch)


def test_topology_lifecycle(log_path: Path) -> None:
    server = standalone()
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        heartbeatFrequencyMS=60_000,  # one check: the spec's discovery, then close
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
        serverSelectionTimeoutMS=5000,
    )
    try:
        wait_for(
            log_path,
            lambda rs: any(
                r.get("new_server_type") == "Standalone"
                for r in named(rs, "mongodb.server.description_changed")
            ),
        )
        client.close()
    finally:
        f.stop_quickly(server)
    records = [r for r in read_records(log_path) if r["event"].startswith(SDAM)]
    topology = {"topology_id": Str}
    expected = [
        ("Starting topology monitoring", "mongodb.topology.opened", topology),
        (
            "Topology description changed",
            "mongodb.topology.description_changed",
            # PyMongo's first change adds the seed: still Unknown without directConnection.
            {**topology, "previous_topology_type": "Unknown", "new_topology_type": Str},
        ),
        ("Starting server monitoring", "mongodb.server.opening", {**topology, **ADDRESS}),
        (
            "Server heartbeat started",
            "mongodb.heartbeat.started",
            {**topology, **ADDRESS, "awaited": False},
        ),
        (
            "Server heartbeat succeeded",
            "mongodb.heartbeat.succeeded",
            {**topology, **ADDRESS, "awaited": False, "duration_micros": Int},
        ),
        (
            "Topology description changed",
            "mongodb.topology.description_changed",
            {**topology, "new_topology_type": "Single", "has_writable_server": True},
        ),
    ]
    first = records[: len(expected)]
    # PyMongo publishes server.opening from its event thread and heartbeats from the
    # monitor's, so those two may come in either order; every other step is in order.
    order = [e for _, e, _ in expected]
    assert sorted(r["event"] for r in first) == sorted(order)
    assert [r["event"] for r in first if r["event"] != "mongodb.server.opening"] == [
        e for e in order if e != "mongodb.server.opening"
    ]
    for message, name, fields in expected:
        record = next((r for r in first if r["event"] == name and matches(r, fields)), None)
        assert record is not None, message
    assert records[-1]["event"] == "mongodb.topology.closed"  # Stopping topology monitoring
    started = next(r for r in first if r["event"] == "mongodb.heartbeat.started")
    assert "server_connection_id" not in started  # not known at the first heartbeat


def test_a_heartbeat_to_a_stopped_server_fails_with_its_error(log_path: Path) -> None:
    server = standalone()
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        heartbeatFrequencyMS=500,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
        serverSelectionTimeoutMS=5000,
    )
    try:
        wait_for(log_path, lambda rs: bool(named(rs, "mongodb.heartbeat.succeeded")))
        f.stop_quickly(server)
        records = wait_for(log_path, lambda rs: bool(named(rs, "mongodb.heartbeat.failed")))
    finally:
        client.close()
    failed = named(records, "mongodb.heartbeat.failed")[0]
    assert matches(
        failed,
        {
            "level": "warning",
            "topology_id": Str,
            **ADDRESS,
            "awaited": Bool,
            "duration_micros": Int,
            "error": Str,
            "error_type": Str,
        },
    )
