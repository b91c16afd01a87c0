"""Fixed fields on real records: service, environment, the application's own, pid and host.

A real client against mockupdb writes through ``configure()``; the records are read back
from the output file and compared whole (minus what changes per run).
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from .servers import named, read_records

MakeClient = Callable[..., MongoClient[dict[str, Any]]]
SUCCEEDED = "mongodb.command.succeeded"
#: Per-run values (and the wire id, named request_id or driver_request_id by version).
VOLATILE = {
    "timestamp",
    "@timestamp",
    "duration_micros",
    "request_id",
    "driver_request_id",
    "operation_id",
    "server_address",
    "server_port",
}


def ping_record(log_path: Path) -> dict[str, Any]:
    (record,) = named(read_records(log_path), SUCCEEDED)
    return {key: value for key, value in record.items() if key not in VOLATILE}


def test_service_fields_from_opentelemetry_variables_follow_the_first_keys(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.version=2.4.1,deployment.environment.name=production"
    )
    monkeypatch.setenv("MONGO_STRUCTLOG_FIELDS", "team=payments,region=eu")
    mongo_structlog.configure(output=str(log_path))
    make_client(server.uri).shop.command("ping")
    assert ping_record(log_path) == {
        "level": "info",
        "event": SUCCEEDED,
        "service_name": "billing",
        "service_version": "2.4.1",
        "service_environment": "production",
        "team": "payments",
        "region": "eu",
        "command_name": "ping",
        "database_name": "shop",
        "server_host": "localhost",
        "connection_id": 1,
        "command": '{"ping":1,"$db":"shop"}',
        "command_shape": "6ded2cb3d01b6240",
        "reply": '{"ok":1}',
        "slow": False,
    }
    (record,) = named(read_records(log_path), SUCCEEDED)
    assert list(record)[:5] == ["timestamp", "level", "event", "service_name", "service_version"]


def test_every_record_carries_them_and_keywords_beat_variables(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel")
    listeners = mongo_structlog.listeners(
        output=str(log_path),
        level="debug",
        service_name="billing",
        fields={"shard": 3, "canary": True},
    )
    make_client(server.uri, event_listeners=listeners).shop.command("ping")
    records = read_records(log_path)
    assert len(records) > 5
    assert {(r["service_name"], r["shard"], r["canary"], list(r)[3]) for r in records} == {
        ("billing", 3, True, "service_name")
    }


def test_fixed_values_are_cut_and_redacted_like_bound_values(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(
        output=str(log_path),
        max_document_length=8,
        service_name="a-very-long-service-name",
        fields={"api_token": "s3cret", "note": "0123456789"},
    )
    make_client(server.uri).shop.command("ping")
    record = ping_record(log_path)
    assert (record["service_name"], record["api_token"], record["note"]) == (
        "a-very-l...",
        "[REDACTED]",
        "01234567...",
    )


def test_ecs_records_map_the_fixed_fields(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(
        output=str(log_path),
        format="ecs",
        service_name="billing",
        service_version="2.4.1",
        service_environment="production",
        fields={"team": "payments"},
        process_fields=True,
    )
    make_client(server.uri).shop.command("ping")
    (document,) = [r for r in read_records(log_path) if r["event"]["action"] == SUCCEEDED]
    mongodb = {k: v for k, v in document.pop("mongodb").items() if k not in VOLATILE}
    document.pop("@timestamp")
    document["event"].pop("duration")
    document["server"].pop("port")
    document.pop("request_id", None)  # the wire id's name before driver_request_id
    assert document == {
        "log.level": "info",
        "message": document["message"],
        "ecs.version": "8.0.0",
        "event": {
            "action": SUCCEEDED,
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
            "outcome": "success",
        },
        "service": {"name": "billing", "version": "2.4.1", "environment": "production"},
        "host": {"hostname": socket.gethostname()},
        "process": {"pid": os.getpid()},
        "db": {
            "system": {"name": "mongodb"},
            "operation": {"name": "ping"},
            "namespace": "shop",
            "query": {"text": '{"ping":1,"$db":"shop"}'},
        },
        "server": {"address": "localhost"},
        "team": "payments",
    }
    assert document["message"].startswith("ping shop succeeded in ")
    assert mongodb == {
        "connection_id": 1,
        "command_shape": "6ded2cb3d01b6240",
        "reply": '{"ok":1}',
        "slow": False,
    }


@pytest.mark.skipif(sys.platform != "linux", reason="fork checked on Linux")
def test_a_forked_child_writes_its_own_process_id(server: MockupDB, log_path: Path) -> None:
    mongo_structlog.configure(output=str(log_path), process_fields=True)
    parent: MongoClient[dict[str, Any]] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        parent.parent.command("ping")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # forking with threads
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            status = 1
            try:
                child: MongoClient[dict[str, Any]] = MongoClient(
                    server.uri, serverSelectionTimeoutMS=5000
                )
                child.child.command("ping")
                child.close()
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        parent.parent.command("ping")
    finally:
        parent.close()
    pids = [
        (r["database_name"], r["process_pid"], r["host_name"])
        for r in named(read_records(log_path), SUCCEEDED)
    ]
    host = socket.gethostname()
    assert pids == [
        ("parent", os.getpid(), host),
        ("child", pid, host),
        ("parent", os.getpid(), host),
    ]
