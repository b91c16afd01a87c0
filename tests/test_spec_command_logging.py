"""MongoDB's command logging and monitoring specification tests, mapped to our records.

Ported from ``mongodb/specifications``, ``source/command-logging-and-monitoring/tests``:
``logging/redacted-commands.yml`` and the prose tests of its ``README.md`` (truncation).
Each runs a real ``MongoClient`` against mockupdb. The mapping:

* the spec's log message ``command`` / ``reply`` (``$$matchAsDocument: {}``) is our
  ``command`` / ``reply`` field, ``"{}"``;
* ``failureIsRedacted: true`` (a server error to a sensitive command) is our failure
  reduced to ``error_type``, ``error_code``, ``error_code_name`` and ``error_labels``:
  no ``error`` text;
* ``failureIsRedacted: false`` (a network error) is where we are stricter than the spec:
  the record keeps the error's type (``AutoReconnect``) but, the command being
  sensitive, no message text either;
* "max document length" is ``max_document_length``, counted in Unicode code points; the
  trailing ellipsis is ``...``. The redaction tests run with ``documents="full"`` and a
  length of 10,000, as the spec asks; truncation holds in every mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, OperationFailure

import mongo_structlog

from .servers import named, read_records

MakeClient = Callable[..., MongoClient[dict[str, Any]]]
DATABASE = "logging-redaction-tests"
# (command name, command) as redacted-commands.yml runs them, then other casings.
SENSITIVE: list[tuple[str, dict[str, Any]]] = [
    (
        "authenticate",
        {
            "authenticate": 1,
            "mechanism": "MONGODB-X509",
            "user": "CN=myName,OU=myOrgUnit,O=myOrg,L=myLocality,ST=myState,C=myCountry",
            "db": "$external",
        },
    ),
    ("saslStart", {"saslStart": 1, "payload": "definitely-invalid-payload", "db": "admin"}),
    (
        "saslContinue",
        {"saslContinue": 1, "conversationId": 0, "payload": "definitely-invalid-payload"},
    ),
    ("getnonce", {"getnonce": 1}),
    ("createUser", {"createUser": "private", "pwd": {}, "roles": []}),
    ("updateUser", {"updateUser": "private", "pwd": {}, "roles": []}),
    ("copydbgetnonce", {"copydbgetnonce": 1, "fromhost": "private"}),
    ("copydbsaslstart", {"copydbsaslstart": 1, "payload": "private"}),
    ("copydb", {"copydb": 1, "fromdb": "private", "todb": "private"}),
    ("SASLSTART", {"SASLSTART": 1, "payload": "private"}),
    ("CreateUser", {"CreateUser": "private", "pwd": "private"}),
    ("AUTHENTICATE", {"AUTHENTICATE": 1, "user": "private"}),
]
HANDSHAKE = ("hello", "isMaster", "ismaster", "ping", "endSessions")


def listening(log_path: Path, **settings: Any) -> list[Any]:
    settings.setdefault("documents", "full")
    settings.setdefault("max_document_length", 10_000)
    return mongo_structlog.listeners(
        output=str(log_path), level="debug", families="command", **settings
    )


def respond(server: MockupDB, name: str, how: str, **reply: Any) -> None:
    """Answer the command ``name`` with ``ok`` (and ``reply``), a server error or a hang-up."""

    def handle(request: Any) -> bool:
        if request.command_name != name or request.doc.get("$db") != DATABASE:
            return False  # the monitors' handshakes stay mockupdb's
        if how == "error":
            return bool(
                request.command_err(
                    code=18,
                    errmsg="Authentication failed. private",
                    codeName="AuthenticationFailed",
                )
            )
        if how == "hangup":
            return bool(request.hangup())
        return bool(request.ok(maxWireVersion=21, **reply))

    server.autoresponds(handle)


def run(client: MongoClient[dict[str, Any]], command: dict[str, Any]) -> None:
    client[DATABASE].command(command)


@pytest.mark.parametrize(("name", "command"), SENSITIVE)
def test_a_sensitive_command_and_its_server_error_are_redacted(
    name: str, command: dict[str, Any], server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    respond(server, name, "error")
    client = make_client(server.uri, event_listeners=listening(log_path))
    with pytest.raises(OperationFailure):
        run(client, command)
    records = read_records(log_path)
    (started,) = named(records, "mongodb.command.started")
    (failed,) = named(records, "mongodb.command.failed")
    assert (started["command_name"], started["database_name"]) == (name, DATABASE)
    assert started["command"] == failed["command"] == "{}"
    assert {k: failed[k] for k in failed if k.startswith("error")} == {
        "error_type": "OperationFailure",
        "error_code": 18,
        "error_code_name": "AuthenticationFailed",
    }
    assert "private" not in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "command"), SENSITIVE)
def test_a_network_error_to_a_sensitive_command_keeps_its_type_and_no_text(
    name: str, command: dict[str, Any], server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    respond(server, name, "hangup")
    client = make_client(server.uri, event_listeners=listening(log_path))
    with pytest.raises(AutoReconnect):
        run(client, command)
    records = read_records(log_path)
    (failed,) = named(records, "mongodb.command.failed")
    assert failed["command"] == "{}"
    assert failed["error_type"] == "AutoReconnect"
    assert "error" not in failed
    assert "private" not in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "command"), SENSITIVE)
def test_a_sensitive_command_and_its_reply_are_redacted(
    name: str, command: dict[str, Any], server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    respond(server, name, "ok", nonce="private", payload=b"private")
    client = make_client(server.uri, event_listeners=listening(log_path))
    run(client, command)
    records = read_records(log_path)
    (started,) = named(records, "mongodb.command.started")
    (succeeded,) = named(records, "mongodb.command.succeeded")
    assert started["command"] == succeeded["command"] == succeeded["reply"] == "{}"
    assert "private" not in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["hello", "ismaster", "isMaster"])
def test_a_hello_with_speculative_authenticate_and_its_reply_are_redacted(
    name: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    respond(server, name, "ok", speculativeAuthenticate={"payload": "private"}, ismaster=True)
    client = make_client(server.uri, event_listeners=listening(log_path))
    run(client, {name: 1, "speculativeAuthenticate": {"saslStart": 1, "payload": "private"}})
    records = read_records(log_path)
    (started,) = named(records, "mongodb.command.started")
    (succeeded,) = named(records, "mongodb.command.succeeded")
    assert (started["command_name"], started["database_name"]) == (name, DATABASE)
    assert started["command"] == succeeded["command"] == succeeded["reply"] == "{}"
    assert "private" not in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["hello", "ismaster", "isMaster"])
def test_a_hello_without_speculative_authenticate_and_its_reply_are_not_redacted(
    name: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    respond(server, name, "ok", isWritablePrimary=True, ismaster=True)
    client = make_client(server.uri, event_listeners=listening(log_path))
    run(client, {name: 1})
    records = read_records(log_path)
    (started,) = named(records, "mongodb.command.started")
    (succeeded,) = named(records, "mongodb.command.succeeded")
    assert json.loads(started["command"]) == {name: 1, "$db": DATABASE}
    reply = json.loads(succeeded["reply"])
    assert (reply["ok"], reply["isWritablePrimary"], reply["ismaster"]) == (1, True, True)


# -- prose tests: truncation ---------------------------------------------------------------


def answer_inserts_and_finds(server: MockupDB, batch: list[dict[str, Any]]) -> None:
    def handle(request: Any) -> bool:
        if request.command_name == "insert":
            return bool(request.ok(n=len(request.docs)))
        if request.command_name == "find":
            cursor = {"id": 0, "ns": f"{DATABASE}.docs", "firstBatch": batch}
            return bool(request.ok(cursor=cursor))
        return False

    server.autoresponds(handle)


@pytest.mark.parametrize("documents", ["full", "shape"])
def test_1_the_default_truncation_limit_is_1000_code_points(
    documents: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    docs = [{"x": "y"} for _ in range(100)]
    answer_inserts_and_finds(server, docs)
    listeners = mongo_structlog.listeners(
        output=str(log_path), level="debug", families="command", documents=documents
    )
    client = make_client(server.uri, event_listeners=listeners)
    client[DATABASE].docs.insert_many([dict(doc) for doc in docs])
    list(client[DATABASE].docs.find())
    records = read_records(log_path)
    insert_started = named(records, "mongodb.command.started")[0]
    insert_succeeded, find_succeeded = named(records, "mongodb.command.succeeded")
    assert len(insert_succeeded["reply"]) <= 1000 + 3
    if documents == "full":
        assert len(insert_started["command"]) == 1000 + 3
        assert insert_started["command"].endswith("...")
        assert len(find_succeeded["reply"]) == 1000 + 3
    else:  # a shape shows each distinct document shape once; a reply is a summary
        assert len(insert_started["command"]) <= 1000 + 3
        assert len(find_succeeded["reply"]) <= 1000 + 3


@pytest.mark.parametrize("documents", ["full", "shape"])
def test_2_an_explicit_truncation_limit_applies_to_command_reply_and_server_error(
    documents: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    def handle(request: Any) -> bool:
        if request.command_name == "notARealCommand":
            return bool(
                request.command_err(
                    code=59, errmsg="no such command: 'notARealCommand'", codeName="CommandNotFound"
                )
            )
        if request.command_name == "hello" and "$db" in request.doc and len(request.doc) < 4:
            return bool(request.ok(isWritablePrimary=True, maxWireVersion=21))
        return False

    server.autoresponds(handle)
    listeners = listening(log_path, documents=documents, max_document_length=5)
    client = make_client(server.uri, event_listeners=listeners)
    client[DATABASE].command({"hello": True})
    with pytest.raises(OperationFailure):
        client[DATABASE].command({"notARealCommand": True})
    records = read_records(log_path)
    hello_started = named(records, "mongodb.command.started")[0]
    (hello_succeeded,) = named(records, "mongodb.command.succeeded")
    (failed,) = named(records, "mongodb.command.failed")
    assert len(hello_started["command"]) == 5 + 3
    assert len(hello_succeeded["reply"]) == 5 + 3
    assert failed["error"] == "no su..."


@pytest.mark.parametrize("limit", [1, 7, 8, 9, 10])
def test_3_truncation_never_splits_a_multi_byte_code_point(
    limit: int, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    text = "é🤔中" * 10
    answer_inserts_and_finds(server, [{"t": text}])
    listeners = listening(log_path, max_document_length=limit)
    client = make_client(server.uri, event_listeners=listeners)
    client[DATABASE].docs.insert_one({"t": text})
    list(client[DATABASE].docs.find())
    records = read_records(log_path)  # every line is valid UTF-8 JSON
    started = named(records, "mongodb.command.started")[0]
    find_succeeded = named(records, "mongodb.command.succeeded")[1]
    assert started["command"] == '{"insert":"docs","ordered":true,"$db":'[:limit] + "..."
    whole = '{"cursor":{"id":0,"ns":"logging-redaction-tests.docs","firstBatch":[{"t":"' + text
    reply = find_succeeded["reply"]
    assert len(reply) == limit + 3
    assert whole.startswith(reply[:-3]) or '{"ok":1' in reply
