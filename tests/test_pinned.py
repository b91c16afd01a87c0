"""``connection_id`` on command records is the connection the command really ran on.

Checked against a server that notes the TCP connection (the client's port) each request
arrived on. On a pinned connection no check-out precedes the command on that thread:
a load-balanced cursor's ``getMore`` and ``killCursors``, a transaction's later
statements. Two cursors are interleaved so that the connection checked out last is
never the one a ``getMore`` runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from .factory import stop_quickly
from .servers import STANDALONE, read_records

COMMANDS = ("mongodb.command.succeeded", "mongodb.command.failed")


class PortLog:
    """Answers finds with a cursor of two batches and notes each request's client port."""

    def __init__(self) -> None:
        #: The handshake of a server behind a load balancer (it carries a ``serviceId``).
        self.hello = {
            **STANDALONE,
            "serviceId": ObjectId(),
            "msg": "isdbgrid",
            "helloOk": True,
            "logicalSessionTimeoutMinutes": 30,
        }
        self.ports: list[tuple[str, int]] = []  # (command name, client port), in order
        self._lock = threading.Lock()
        self._cursors = iter(range(1000, 2000))

    def __call__(self, request: Any) -> bool:
        name = request.command_name
        if name.lower() in ("hello", "ismaster"):  # mockupdb answers only isMaster itself
            return bool(request.ok(self.hello))
        if name == "endSessions":
            return bool(request.ok())
        with self._lock:
            self.ports.append((name, request.client_port))
        if name == "find":
            cursor = {"id": next(self._cursors), "firstBatch": [{"_id": 1}], "ns": "db.c"}
            return bool(request.ok(cursor=cursor))
        if name == "getMore":
            cursor = {"id": 0, "nextBatch": [{"_id": 2}], "ns": "db.c"}
            return bool(request.ok(cursor=cursor))
        if name in ("killCursors", "insert", "commitTransaction", "abortTransaction"):
            return bool(request.ok(n=1, cursorsKilled=[request.doc.get("cursors", [0])[0]]))
        return False


@pytest.fixture
def balanced() -> Iterator[tuple[MockupDB, PortLog]]:
    """A server behind a load balancer (its hello carries a ``serviceId``)."""
    log = PortLog()
    server = MockupDB(auto_ismaster=log.hello)
    server.autoresponds(log.__call__)
    server.run()
    yield server, log
    stop_quickly(server)


def connection_ports(records: list[dict[str, Any]], log: PortLog) -> list[tuple[str, int, int]]:
    """(command, our connection_id, the server's client port) per command, in order."""
    ours = [r for r in records if r["event"] in COMMANDS]
    theirs = log.ports
    ours = [r for r in ours if r["command_name"] != "endSessions"]
    assert [r["command_name"] for r in ours] == [name for name, _ in theirs]
    return [
        (r["command_name"], r["connection_id"], port)
        for r, (_, port) in zip(ours, theirs, strict=True)
    ]


def assert_one_connection_per_port(pairs: list[tuple[str, int, int]]) -> None:
    by_id: dict[int, set[int]] = {}
    by_port: dict[int, set[int]] = {}
    for _, number, port in pairs:
        by_id.setdefault(number, set()).add(port)
        by_port.setdefault(port, set()).add(number)
    assert all(len(ports) == 1 for ports in by_id.values()), pairs
    assert all(len(ids) == 1 for ids in by_port.values()), pairs


def test_a_load_balanced_cursor_s_get_more_names_its_pinned_connection(
    balanced: tuple[MockupDB, PortLog], log_path: Path
) -> None:
    server, log = balanced
    client: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://{server.address_string}/?loadBalanced=true",
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
        serverSelectionTimeoutMS=5000,
    )
    try:
        first = client.db.c.find({}, batch_size=1)
        second = client.db.c.find({"x": 1}, batch_size=1)
        next(first)  # find on one connection, pinned to the cursor
        next(second)  # find on another: the first is still pinned
        assert next(first) == {"_id": 2}  # getMore on the first cursor's connection
        assert next(second) == {"_id": 2}
    finally:
        client.close()
    pairs = connection_ports(read_records(log_path), log)
    assert [name for name, _, _ in pairs] == ["find", "find", "getMore", "getMore"]
    assert_one_connection_per_port(pairs)
    (_, first_find, _), (_, second_find, _), (_, first_more, _), (_, second_more, _) = pairs
    assert first_find != second_find
    assert (first_more, second_more) == (first_find, second_find)


def test_a_load_balanced_cursor_closed_early_kills_it_on_its_pinned_connection(
    balanced: tuple[MockupDB, PortLog], log_path: Path
) -> None:
    server, log = balanced
    client: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://{server.address_string}/?loadBalanced=true",
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
        serverSelectionTimeoutMS=5000,
    )
    try:
        first = client.db.c.find({}, batch_size=1)
        second = client.db.c.find({"x": 1}, batch_size=1)
        next(first)
        next(second)
        first.close()  # killCursors on the first cursor's connection
        second.close()
    finally:
        client.close()
    pairs = connection_ports(read_records(log_path), log)
    assert [name for name, _, _ in pairs] == ["find", "find", "killCursors", "killCursors"]
    assert_one_connection_per_port(pairs)
    assert [number for _, number, _ in pairs[2:]] == [number for _, number, _ in pairs[:2]]


def test_a_load_balanced_transaction_runs_every_statement_on_its_pinned_connection(
    balanced: tuple[MockupDB, PortLog], log_path: Path
) -> None:
    server, log = balanced
    client: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://{server.address_string}/?loadBalanced=true",
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
        serverSelectionTimeoutMS=5000,
    )
    try:
        other = client.db.c.find({}, batch_size=1)
        with client.start_session() as session, session.start_transaction():
            client.db.c.insert_one({"_id": 1}, session=session)
            next(other)  # a cursor outside the transaction takes another connection
            client.db.c.insert_one({"_id": 2}, session=session)
        other.close()
    finally:
        client.close()
    pairs = connection_ports(read_records(log_path), log)
    names = [name for name, _, _ in pairs]
    assert names == ["insert", "find", "insert", "commitTransaction", "killCursors"]
    assert_one_connection_per_port(pairs)
    numbers = {name: number for name, number, _ in pairs if name != "insert"}
    inserts = [number for name, number, _ in pairs if name == "insert"]
    assert inserts[0] == inserts[1] == numbers["commitTransaction"] != numbers["find"]
    assert numbers["killCursors"] == numbers["find"]
