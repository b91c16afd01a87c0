"""Security-sensitive commands through a real client: nothing of them reaches the log.

The MongoDB drivers' logging specification names the commands whose documents must
never be logged; PyMongo empties their command and reply in its events, but not the
failure document, which we must reduce to code, code name and labels ourselves.
Everything here runs with ``documents="full"``, the mode that would show the most.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient
from pymongo.errors import OperationFailure

import mongo_structlog

from .servers import named, read_records, without_volatile

MakeClient = Callable[..., MongoClient[dict[str, Any]]]
SECRET = "s3cr3t-Pa55"

SENSITIVE = [
    "authenticate",
    "saslStart",
    "saslContinue",
    "getnonce",
    "createUser",
    "updateUser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
    "SASLSTART",  # any casing
    "CreateUser",
]


def answer(server: MockupDB, fail: bool = False) -> None:
    """Reply to every command with the secret in the reply (or in the error)."""

    def handle(request: Any) -> bool:
        if request.command_name in ("ping", "endSessions", "hello", "isMaster", "ismaster"):
            return False  # the handshake and heartbeats stay mockupdb's
        if fail:
            return bool(
                request.command_err(
                    code=18,
                    errmsg=f"Authentication failed for password {SECRET}",
                    codeName="AuthenticationFailed",
                    errorLabels=["NoWritesPerformed"],
                )
            )
        return bool(request.ok(payload=SECRET, conversationId=1, done=False))

    server.autoresponds(handle)


def client_for(make_client: MakeClient, server: MockupDB, log_path: Path) -> Any:
    listeners = mongo_structlog.listeners(
        output=str(log_path), level="debug", documents="full", families="command"
    )
    return make_client(server.uri, event_listeners=listeners)


@pytest.mark.parametrize("name", SENSITIVE)
def test_a_sensitive_command_logs_empty_documents(
    name: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    answer(server)
    client = client_for(make_client, server, log_path)
    client.admin.command(name, 1, password=SECRET, payload=SECRET.encode())
    records = read_records(log_path)
    started = named(records, "mongodb.command.started")
    succeeded = named(records, "mongodb.command.succeeded")
    assert [r["command_name"] for r in started] == [name]
    assert started[0]["command"] == "{}"
    assert succeeded[0]["command"] == "{}"
    assert succeeded[0]["reply"] == "{}"
    assert SECRET not in log_path.read_text(encoding="utf-8")


def test_a_failed_sasl_start_keeps_only_code_code_name_and_labels(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    answer(server, fail=True)
    client = client_for(make_client, server, log_path)
    with pytest.raises(OperationFailure):
        client.admin.command("saslStart", 1, mechanism="SCRAM-SHA-256", payload=SECRET.encode())
    (failed,) = named(read_records(log_path), "mongodb.command.failed")
    assert without_volatile(failed, "command_shape", "connection_id") == {
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": "saslStart",
        "database_name": "admin",
        "server_address": f"localhost:{server.port}",
        "server_host": "localhost",
        "server_port": server.port,
        "command": "{}",
        "error_type": "OperationFailure",
        "error_code": 18,
        "error_code_name": "AuthenticationFailed",
        "error_labels": ["NoWritesPerformed"],
        "slow": False,
    }
    assert SECRET not in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["hello", "isMaster", "ismaster"])
def test_a_hello_with_speculative_authenticate_logs_empty_documents(
    name: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    def handle(request: Any) -> bool:
        if request.command_name != name:
            return False
        reply = {"speculativeAuthenticate": {"payload": SECRET}, "maxWireVersion": 21}
        return bool(request.ok(**reply))

    server.autoresponds(handle)
    client = client_for(make_client, server, log_path)
    speculative = {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": SECRET}
    client.admin.command(name, 1, speculativeAuthenticate=speculative)
    records = read_records(log_path)
    (succeeded,) = named(records, "mongodb.command.succeeded")
    assert succeeded["command_name"] == name
    assert (succeeded["command"], succeeded["reply"]) == ("{}", "{}")
    assert SECRET not in log_path.read_text(encoding="utf-8")


def test_a_hello_without_speculative_authenticate_is_logged_as_usual(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    def handle(request: Any) -> bool:
        if request.command_name != "hello":
            return False
        return bool(request.ok(isWritablePrimary=True, maxWireVersion=21))

    server.autoresponds(handle)
    client = client_for(make_client, server, log_path)
    client.admin.command("hello")
    (succeeded,) = named(read_records(log_path), "mongodb.command.succeeded")
    assert succeeded["command"] == '{"hello":1,"$db":"admin"}'
    assert '"isWritablePrimary":true' in succeeded["reply"]


@pytest.mark.parametrize("name", ["hello", "isMaster", "HELLO"])
def test_a_failed_hello_with_speculative_authenticate_keeps_only_code_code_name_and_labels(
    name: str, server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    # PyMongo publishes such a hello's command as {}; its failure document is the server's.
    def handle(request: Any) -> bool:
        if request.command_name != name:
            return False
        return bool(
            request.command_err(
                code=18,
                errmsg=f"Authentication failed for payload {SECRET}",
                codeName="AuthenticationFailed",
            )
        )

    server.autoresponds(handle)
    client = client_for(make_client, server, log_path)
    speculative = {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": SECRET}
    with pytest.raises(OperationFailure):
        client.admin.command(name, 1, speculativeAuthenticate=speculative)
    (failed,) = named(read_records(log_path), "mongodb.command.failed")
    assert without_volatile(failed, "command_shape", "connection_id") == {
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": name,
        "database_name": "admin",
        "server_address": f"localhost:{server.port}",
        "server_host": "localhost",
        "server_port": server.port,
        "command": "{}",
        "error_type": "OperationFailure",
        "error_code": 18,
        "error_code_name": "AuthenticationFailed",
        "slow": False,
    }
    assert SECRET not in log_path.read_text(encoding="utf-8")
