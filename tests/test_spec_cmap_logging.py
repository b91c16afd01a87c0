"""MongoDB's connection-pool logging specification tests, mapped to our records.

Ported from ``mongodb/specifications``,
``source/connection-monitoring-and-pooling/tests/logging/connection-logging.yml``: the
same operations, run by a real client against mockupdb, and the same expected messages
in the same order, each mapped to our event name and fields:

Mapping (spec message -> our event; spec field -> our field):

* Connection pool created / ready / cleared / closed -> ``mongodb.pool.created`` /
  ``ready`` / ``cleared`` / ``closed``;
* Connection checkout started / checked out / checked in / checkout failed ->
  ``mongodb.connection.check_out_started`` / ``checked_out`` / ``checked_in`` /
  ``check_out_failed``;
* Connection created / ready / closed -> ``mongodb.connection.created`` / ``ready`` /
  ``closed``;
* ``serverHost``, ``serverPort``, ``driverConnectionId``, ``durationMS``, ``reason`` ->
  ``server_host``, ``server_port``, ``connection_id``, ``duration_micros``, ``reason``
  (PyMongo's words: ``poolClosed``, ``error``, ``connectionError``).

The spec's ``failCommand`` fail point (close the connection during authentication) is
played by the server hanging up on ``saslStart``. Our pool records carry no ``error``
text (PyMongo's pool events have none); the reason says what happened. The spec's
"pending response" scenario needs a server-side block and client-side timeouts that
mockupdb cannot script; PyMongo publishes no event for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, ConnectionFailure

import mongo_structlog

from .factory import stop_quickly
from .servers import read_records, standalone

Int, Str = int, str
#: (spec message, our event, {our field: expected type or value})
Expected = list[tuple[str, str, dict[str, Any]]]

ADDRESS = {"server_host": Str, "server_port": Int}


def matches(record: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether ``record`` has every field, of the type (a class) or value given."""
    for key, want in fields.items():
        if key not in record:
            return False
        got = record[key]
        if isinstance(want, type):
            if type(got) is not want:
                return False
        elif got != want:
            return False
    return True


def assert_spec(records: list[dict[str, Any]], expected: Expected) -> None:
    pool = [r for r in records if r["event"].startswith(("mongodb.pool.", "mongodb.connection."))]
    assert [r["event"] for r in pool] == [event for _, event, _ in expected]
    for record, (message, _, fields) in zip(pool, expected, strict=True):
        assert matches(record, fields), (message, record)


def test_create_a_client_run_a_command_and_close_the_client(log_path: Path) -> None:
    server = standalone(logicalSessionTimeoutMinutes=30)
    server.autoresponds(_answer)
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
        serverSelectionTimeoutMS=5000,
    )
    try:
        client.list_database_names()
        client.close()
    finally:
        stop_quickly(server)
    connection = {**ADDRESS, "connection_id": Int}
    assert_spec(
        read_records(log_path),
        [
            ("Connection pool created", "mongodb.pool.created", ADDRESS),
            ("Connection pool ready", "mongodb.pool.ready", ADDRESS),
            ("Connection checkout started", "mongodb.connection.check_out_started", ADDRESS),
            ("Connection created", "mongodb.connection.created", connection),
            (
                "Connection ready",
                "mongodb.connection.ready",
                {**connection, "duration_micros": Int},
            ),
            (
                "Connection checked out",
                "mongodb.connection.checked_out",
                {**connection, "duration_micros": Int},
            ),
            ("Connection checked in", "mongodb.connection.checked_in", connection),
            # The next three are for ending the session.
            ("Connection checkout started", "mongodb.connection.check_out_started", ADDRESS),
            (
                "Connection checked out",
                "mongodb.connection.checked_out",
                {**connection, "duration_micros": Int},
            ),
            ("Connection checked in", "mongodb.connection.checked_in", connection),
            (
                "Connection closed",
                "mongodb.connection.closed",
                {**connection, "reason": "poolClosed", "level": "debug"},
            ),
            ("Connection pool closed", "mongodb.pool.closed", ADDRESS),
        ],
    )


def _answer(request: Any) -> bool:
    """``listDatabases`` and ``endSessions`` (mockupdb matches neither by name here)."""
    if request.command_name == "listDatabases":
        return bool(request.ok(databases=[]))
    if request.command_name == "endSessions":
        return bool(request.ok())
    return False


def _hang_up_on(name: str) -> Callable[[Any], bool]:
    def handler(request: Any) -> bool:
        if request.command_name == name:
            request.hangup()
            return True
        return False

    return handler


@pytest.mark.parametrize("level", ["debug", "info"])
def test_connection_checkout_fails_due_to_error_establishing_connection(
    log_path: Path, level: str
) -> None:
    server = standalone()
    server.autoresponds(_hang_up_on("saslStart"))
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri.replace("mongodb://", "mongodb://user:secret@"),
        authMechanism="PLAIN",
        authSource="$external",
        retryReads=False,
        heartbeatFrequencyMS=10000,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level=level),
        serverSelectionTimeoutMS=5000,
    )
    try:
        with pytest.raises((AutoReconnect, ConnectionFailure)):
            client.list_database_names()
        client.close()
    finally:
        stop_quickly(server)
    connection = {**ADDRESS, "connection_id": Int}
    expected: Expected = [
        ("Connection pool created", "mongodb.pool.created", ADDRESS),
        ("Connection pool ready", "mongodb.pool.ready", ADDRESS),
        ("Connection checkout started", "mongodb.connection.check_out_started", ADDRESS),
        ("Connection created", "mongodb.connection.created", connection),
        # PyMongo publishes the pool's clearing after the failed check-out (the spec's
        # order has it first); each record is the spec's message, mapped.
        (
            "Connection closed",
            "mongodb.connection.closed",
            {**connection, "reason": "error", "level": "warning"},
        ),
        (
            "Connection checkout failed",
            "mongodb.connection.check_out_failed",
            {**ADDRESS, "reason": "connectionError", "duration_micros": Int, "level": "error"},
        ),
        ("Connection pool cleared", "mongodb.pool.cleared", {**ADDRESS, "level": "warning"}),
        ("Connection pool closed", "mongodb.pool.closed", ADDRESS),
    ]
    if level == "info":  # the debug chatter is not written; the state changes are
        expected = [e for e in expected if e[1] not in _CHATTER]
    records = read_records(log_path)
    assert_spec(records, expected)
    assert all("secret" not in str(r) for r in records)


_CHATTER = {
    "mongodb.connection.check_out_started",
    "mongodb.connection.created",
    "mongodb.connection.ready",
    "mongodb.connection.checked_out",
    "mongodb.connection.checked_in",
}
