"""Topology incidents: the last writable server lost, one restored, the primary changed.

Each is one record derived from PyMongo's topology changes (``docs/incidents.md``). The
first tests feed real topology-change events (``tests/factory.py``) to a listener set; the
last ones fail a three-member mockupdb replica set over and check the records against
the moments the test itself made the changes happen.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient, common
from pymongo.topology_description import TOPOLOGY_TYPE

import mongo_structlog

from . import factory as f
from .servers import named, read_records, replica_set_hello, wait_for

LOST = "mongodb.topology.writable_server_lost"
RESTORED = "mongodb.topology.writable_server_restored"
PRIMARY_CHANGED = "mongodb.topology.primary_changed"
INCIDENTS = (LOST, RESTORED, PRIMARY_CHANGED)
T = str(f.TOPOLOGY_ID)
A, B = ("db0.example.com", 27017), ("db1.example.com", 27017)

Records = list[dict[str, Any]]


def seconds(timestamp: str) -> float:
    """An RFC 3339 record timestamp as seconds since the epoch."""
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=timezone.utc).timestamp()


def incidents(path: Path) -> Records:
    """The incident records written to ``path``, in order."""
    return [r for r in read_records(path) if r["event"] in INCIDENTS]


def without_time(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("timestamp", "published_after_micros")}


# -- from PyMongo's topology-change events --------------------------------------------------


def standalone(up: bool) -> Any:
    reply = f.hello() if up else None
    return f.topology_description(TOPOLOGY_TYPE.Single, f.server_description(reply=reply))


def replica_set(primary: tuple[str, int] | None) -> Any:
    members = [f.server_description(m, f.replica_set_member(m, [A, B], primary)) for m in (A, B)]
    kind = TOPOLOGY_TYPE.ReplicaSetNoPrimary
    if primary is not None:
        kind = TOPOLOGY_TYPE.ReplicaSetWithPrimary
    return f.topology_description(kind, *members, set_name="rs0")


def changes(path: Path, *descriptions: Any, **settings: Any) -> list[Any]:
    """Feed ``descriptions`` to a listener set as successive topology changes."""
    topology = mongo_structlog.listeners(output=str(path), **settings)[3]
    events = [f.topology_changed(a, b) for a, b in itertools.pairwise(descriptions)]
    for event in events:
        topology.description_changed(event)
    return events


def test_a_standalone_going_down_and_back_is_lost_then_restored_with_its_outage(
    log_path: Path,
) -> None:
    up, down, back = standalone(True), standalone(False), standalone(True)
    changes(log_path, f.unknown_topology(), up, down, back)
    lost, restored = incidents(log_path)
    assert [without_time(lost), without_time(restored)] == [
        {"level": "warning", "event": LOST, "topology_id": T, "previous_primary": None},
        {
            "level": "info",
            "event": RESTORED,
            "topology_id": T,
            "primary": None,
            "unavailable_micros": round(
                (
                    back.server_descriptions()[f.ADDRESS].last_update_time
                    - down.server_descriptions()[f.ADDRESS].last_update_time
                )
                * 1e6
            ),
        },
    ]


def test_a_primary_lost_and_another_elected_is_lost_restored_and_changed(log_path: Path) -> None:
    changes(log_path, replica_set(A), replica_set(None), replica_set(B))
    assert [without_time(r) for r in incidents(log_path)] == [
        {
            "level": "warning",
            "event": LOST,
            "topology_id": T,
            "previous_primary": "db0.example.com:27017",
        },
        {
            "level": "info",
            "event": RESTORED,
            "topology_id": T,
            "primary": "db1.example.com:27017",
            "unavailable_micros": incidents(log_path)[1]["unavailable_micros"],
        },
        {
            "level": "info",
            "event": PRIMARY_CHANGED,
            "topology_id": T,
            "previous_primary": "db0.example.com:27017",
            "primary": "db1.example.com:27017",
        },
    ]
    _lost, restored, changed = incidents(log_path)
    assert changed["timestamp"] == restored["timestamp"]  # the same observation
    assert restored["unavailable_micros"] > 0


def test_the_same_primary_back_is_restored_but_not_changed(log_path: Path) -> None:
    changes(log_path, replica_set(A), replica_set(None), replica_set(A))
    assert [r["event"] for r in incidents(log_path)] == [LOST, RESTORED]
    assert incidents(log_path)[1]["primary"] == "db0.example.com:27017"


def test_a_primary_moving_without_a_gap_is_only_a_primary_change(log_path: Path) -> None:
    changes(log_path, replica_set(A), replica_set(B))
    assert [without_time(r) for r in incidents(log_path)] == [
        {
            "level": "info",
            "event": PRIMARY_CHANGED,
            "topology_id": T,
            "previous_primary": "db0.example.com:27017",
            "primary": "db1.example.com:27017",
        }
    ]


def test_finding_a_writable_server_for_the_first_time_is_no_incident(log_path: Path) -> None:
    changes(log_path, f.unknown_topology(A, B), replica_set(None), replica_set(A))
    assert incidents(log_path) == []


def test_closing_resets_to_unknown_which_is_no_incident_and_forgets_the_outage(
    log_path: Path,
) -> None:
    # Lost, then the client closes (Unknown), then a new discovery finds a primary.
    changes(log_path, replica_set(A), replica_set(None), f.unknown_topology(A, B), replica_set(B))
    assert [r["event"] for r in incidents(log_path)] == [LOST]


def test_at_warning_only_the_loss_is_written(log_path: Path) -> None:
    changes(log_path, replica_set(A), replica_set(None), replica_set(B), level="warning")
    assert [(r["event"], r["level"]) for r in read_records(log_path)] == [
        ("mongodb.topology.description_changed", "warning"),
        (LOST, "warning"),
    ]


def test_each_topology_keeps_its_own_outage(log_path: Path) -> None:
    topology = mongo_structlog.listeners(output=str(log_path))[3]
    other = f.ObjectId("65f0c0ffee0000000000beef")
    topology.description_changed(f.topology_changed(replica_set(A), replica_set(None)))
    topology.description_changed(f.topology_changed(replica_set(None), replica_set(B), other))
    topology.description_changed(f.topology_changed(replica_set(None), replica_set(B)))
    assert [(r["event"], r["topology_id"]) for r in incidents(log_path)] == [
        (LOST, T),
        (RESTORED, T),
        (PRIMARY_CHANGED, T),
    ]


# -- a real failover -----------------------------------------------------------------------

#: The client's heartbeat interval (ms): PyMongo's minimum, 0.5 s.
HEARTBEAT_MS = 500
#: How late the driver may observe a change the test made: one heartbeat, and some slack
#: for a loaded machine. PyMongo publishes up to EVENTS_QUEUE_S later still: a timestamp
#: taken at publication would often miss these bounds.
OBSERVED_WITHIN = HEARTBEAT_MS / 1000 + 0.7
EVENTS_QUEUE_S = 2.5


@dataclass
class ReplicaSet:
    """Three mockupdb members that answer ``hello`` from a shared state: who is primary."""

    servers: list[MockupDB]
    hosts: list[str]
    state: dict[str, str | None] = field(default_factory=dict)

    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/?replicaSet=rs0"

    def set_primary(self, host: str | None) -> float:
        """Make ``host`` primary (``None``: no primary); return when (``time.time()``)."""
        self.state["primary"] = host
        return time.time()


@pytest.fixture
def rs(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplicaSet]:
    """A replica set ``rs0`` of three mockupdb members, the first primary.

    PyMongo publishes topology events every EVENTS_QUEUE_S, more than a heartbeat.
    """
    monkeypatch.setattr(common, "EVENTS_QUEUE_FREQUENCY", EVENTS_QUEUE_S)
    servers = [MockupDB(auto_ismaster=False) for _ in range(3)]
    hosts = [f"localhost:{server.run()}" for server in servers]
    rs = ReplicaSet(servers, hosts, {"primary": hosts[0]})

    def member(me: str) -> Callable[[Any], bool]:
        def answer(request: Any) -> bool:
            name = (request.command_name or "").lower()
            if name in ("hello", "ismaster"):
                primary = rs.state["primary"]
                reply = replica_set_hello(me, hosts, primary, secondary=me != primary)
                return bool(request.ok(reply))
            if name in ("ping", "endsessions"):
                return bool(request.ok())
            return False

        return answer

    for server, host in zip(servers, hosts, strict=True):
        server.autoresponds(member(host))
    yield rs
    stopping = [threading.Thread(target=server.stop) for server in servers]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def test_a_failover_is_stamped_when_observed_and_its_window_matches_the_tests_clock(
    rs: ReplicaSet, log_path: Path
) -> None:
    old, new, _ = rs.hosts
    client: MongoClient[dict[str, Any]] = MongoClient(
        rs.uri(),
        heartbeatFrequencyMS=HEARTBEAT_MS,
        serverSelectionTimeoutMS=5000,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    try:
        client.admin.command("ping")
        wait_for(log_path, lambda rs_: any(r.get("primary") == old for r in rs_))
        stepped_down = rs.set_primary(None)
        wait_for(log_path, lambda rs_: bool(named(rs_, LOST)))
        time.sleep(0.5)  # the window stays open a little longer than the test saw
        elected = rs.set_primary(new)
        records = wait_for(log_path, lambda rs_: bool(named(rs_, PRIMARY_CHANGED)))
    finally:
        client.close()

    (lost,) = named(records, LOST)
    (restored,) = named(records, RESTORED)
    (changed,) = named(records, PRIMARY_CHANGED)
    assert [without_time(r) for r in (lost, restored, changed)] == [
        {
            "level": "warning",
            "event": LOST,
            "topology_id": lost["topology_id"],
            "previous_primary": old,
        },
        {
            "level": "info",
            "event": RESTORED,
            "topology_id": lost["topology_id"],
            "primary": new,
            "unavailable_micros": restored["unavailable_micros"],
        },
        {
            "level": "info",
            "event": PRIMARY_CHANGED,
            "topology_id": lost["topology_id"],
            "previous_primary": old,
            "primary": new,
        },
    ]
    # Observed within a heartbeat of the moment the test made each change.
    lost_at, restored_at = seconds(lost["timestamp"]), seconds(restored["timestamp"])
    assert stepped_down <= lost_at <= stepped_down + OBSERVED_WITHIN, (stepped_down, lost)
    assert elected <= restored_at <= elected + OBSERVED_WITHIN, (elected, restored)
    # The window is the distance between the two observations (to clock-read precision)...
    window = restored["unavailable_micros"] / 1e6
    assert abs(window - (restored_at - lost_at)) < 0.001
    # ...and so the test's own window, give or take one observation delay.
    assert (
        elected - stepped_down - OBSERVED_WITHIN
        <= window
        <= elected - stepped_down + OBSERVED_WITHIN
    )
    # The step-down's own server and topology changes carry the same observed time.
    (server,) = [
        r
        for r in named(records, "mongodb.server.description_changed")
        if (r["server_address"], r["previous_server_type"], r["new_server_type"])
        == (old, "RSPrimary", "RSSecondary")
    ]
    (topology,) = [
        r
        for r in named(records, "mongodb.topology.description_changed")
        if r["had_writable_server"] and not r["has_writable_server"]
    ]
    assert server["timestamp"] == topology["timestamp"] == lost["timestamp"]
    # PyMongo published them later; a record says by how much.
    for record in (server, topology, lost, restored, changed):
        assert type(record["published_after_micros"]) is int
        assert 0 <= record["published_after_micros"] <= (EVENTS_QUEUE_S + 1) * 1e6
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_a_restore_observed_before_the_loss_reports_no_negative_window(tmp_path: Path) -> None:
    # Two monitors race: the new primary's reply was observed (and its description made)
    # before the old primary's failure was processed.
    up, back = replica_set(A), replica_set(B)
    down = replica_set(None)
    changes(tmp_path / "r.jsonl", up, down, back)
    restored = [r for r in incidents(tmp_path / "r.jsonl") if r["event"] == RESTORED]
    assert [r["unavailable_micros"] for r in restored] == [0]
