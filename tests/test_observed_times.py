"""Server and topology records carry when the driver observed a change, not when it said so.

PyMongo stamps every ``ServerDescription`` with ``last_update_time`` (its monotonic clock)
as it builds it from a heartbeat, and publishes the change later from a background
thread. Here real descriptions are built, then their change events are published a known
while later: the record's ``timestamp`` is the moment of the description, and
``published_after_micros`` the while.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pymongo.topology_description import TOPOLOGY_TYPE

import mongo_structlog

from . import factory as f
from .servers import read_records

#: How long the tests wait between building a description and publishing its change.
LATE_S = 0.2
B = ("db1.example.com", 27017)


def seconds(timestamp: str) -> float:
    """An RFC 3339 record timestamp as seconds since the epoch."""
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=timezone.utc).timestamp()


def test_a_server_change_is_stamped_when_its_new_description_was_built(log_path: Path) -> None:
    server = mongo_structlog.listeners(output=str(log_path))[1]
    before = time.time()
    new = f.server_description(reply=f.hello())
    after = time.time()
    time.sleep(LATE_S)
    published = time.time()
    server.description_changed(f.server_changed(f.server_description(), new))
    (record,) = read_records(log_path)
    assert before - 0.001 <= seconds(record["timestamp"]) <= after + 0.001
    assert type(record["published_after_micros"]) is int
    assert record["published_after_micros"] >= (published - after) * 1e6
    assert seconds(record["timestamp"]) + record["published_after_micros"] / 1e6 >= published


def test_a_topology_change_takes_the_newest_of_the_servers_that_changed(log_path: Path) -> None:
    topology = mongo_structlog.listeners(output=str(log_path))[3]
    unchanged = f.server_description(B, reply=f.hello())
    first = f.server_description(reply=f.hello())
    time.sleep(LATE_S)
    before = time.time()
    changed = f.server_description()  # f.ADDRESS went Unknown: the change
    after = time.time()
    previous = f.topology_description(TOPOLOGY_TYPE.Single, first, unchanged)
    new = f.topology_description(TOPOLOGY_TYPE.Single, changed, unchanged)
    time.sleep(LATE_S)
    topology.description_changed(f.topology_changed(previous, new))
    record = read_records(log_path)[0]
    assert record["event"] == "mongodb.topology.description_changed"
    assert before - 0.001 <= seconds(record["timestamp"]) <= after + 0.001
    assert record["published_after_micros"] >= LATE_S * 1e6


def test_a_topology_change_of_no_server_takes_the_newest_of_them_all(log_path: Path) -> None:
    topology = mongo_structlog.listeners(output=str(log_path), level="debug")[3]
    older = f.server_description(B, reply=f.hello())
    before = time.time()
    newest = f.server_description(reply=f.hello())
    after = time.time()
    same = f.topology_description(TOPOLOGY_TYPE.Single, newest, older)
    time.sleep(LATE_S)
    topology.description_changed(f.topology_changed(same, same))
    (record,) = read_records(log_path)
    assert before - 0.001 <= seconds(record["timestamp"]) <= after + 0.001


def test_a_topology_without_servers_is_stamped_when_published(log_path: Path) -> None:
    topology = mongo_structlog.listeners(output=str(log_path))[3]
    empty = f.topology_description(TOPOLOGY_TYPE.Unknown)
    before = time.time()
    topology.description_changed(f.topology_changed(empty, empty))
    after = time.time()
    (record,) = read_records(log_path)
    assert before - 0.001 <= seconds(record["timestamp"]) <= after + 0.001
    assert record["published_after_micros"] == 0


def test_records_of_one_observation_share_their_timestamp(log_path: Path) -> None:
    server, _, topology = mongo_structlog.listeners(output=str(log_path))[1:4]
    up = f.server_description(reply=f.hello())
    down = f.server_description()
    time.sleep(LATE_S)
    server.description_changed(f.server_changed(up, down))
    before = f.topology_description(TOPOLOGY_TYPE.Single, up)
    after = f.topology_description(TOPOLOGY_TYPE.Single, down)
    topology.description_changed(f.topology_changed(before, after))
    records: list[dict[str, Any]] = read_records(log_path)
    assert [r["event"] for r in records] == [
        "mongodb.server.description_changed",
        "mongodb.topology.description_changed",
        "mongodb.topology.writable_server_lost",
    ]
    assert len({r["timestamp"] for r in records}) == 1
