"""Specification of the ECS format: flat records in, ECS logging documents out."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ecs_logging
import orjson
import pytest
from ecs_logging._utils import normalize_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_structlog.ecs import DATASET, ECS_VERSION, message_of, to_ecs

TOPOLOGY_ID = "6745b0c0e4b0a1b2c3d4e5f6"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
FIND = '{"find":"users","filter":{"age":{"$gt":"?"}}}'
INSERT = '{"insert":"users","ordered":true,"documents":[{"_id":"?","email":"?"}]}'

COMMAND_SUCCEEDED: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:00.123456Z",
    "level": "info",
    "event": "mongodb.command.succeeded",
    "driver_request_id": 1681692777,
    "operation_id": 1681692777,
    "command_name": "find",
    "database_name": "app",
    "collection": "users",
    "server_address": "db1:27017",
    "server_host": "db1",
    "server_port": 27017,
    "connection_id": 3,
    "server_connection_id": 118,
    "duration_micros": 1532,
    "command": FIND,
    "command_shape": "9f86d081884c7d65",
    "reply": '{"ok":1,"n":0}',
    "sample_rate": 0.1,
    "trace_id": TRACE_ID,
    "span_id": SPAN_ID,
    "topology_id": TOPOLOGY_ID,
    "request_user": "bob",
}

COMMAND_FAILED: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:01.000250Z",
    "level": "warning",
    "event": "mongodb.command.failed",
    "driver_request_id": 1681692778,
    "operation_id": 1681692778,
    "command_name": "insert",
    "database_name": "app",
    "collection": "users",
    "server_address": "db1:27017",
    "server_host": "db1",
    "server_port": 27017,
    "connection_id": 3,
    "duration_micros": 2210,
    "command": INSERT,
    "command_shape": "1b4f0e9851971998",
    "error": "not primary",
    "error_type": "NotPrimaryError",
    "error_code": 10107,
    "error_code_name": "NotWritablePrimary",
    "error_labels": ["RetryableWriteError"],
    "topology_id": TOPOLOGY_ID,
}

HEARTBEAT_FAILED: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:02.500000Z",
    "level": "warning",
    "event": "mongodb.heartbeat.failed",
    "server_address": "db2:27017",
    "server_host": "db2",
    "server_port": 27017,
    "awaited": True,
    "duration_micros": 10003112,
    "error": "db2:27017: timed out",
    "error_type": "NetworkTimeout",
    "topology_id": TOPOLOGY_ID,
}

TOPOLOGY_CHANGED: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:02.500100Z",
    "level": "warning",
    "event": "mongodb.topology.description_changed",
    "topology_id": TOPOLOGY_ID,
    "previous_topology_type": "ReplicaSetWithPrimary",
    "new_topology_type": "ReplicaSetNoPrimary",
    "primary": None,
    "has_writable_server": False,
    "had_writable_server": True,
}

CHECK_OUT_FAILED: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:03.000000Z",
    "level": "error",
    "event": "mongodb.connection.check_out_failed",
    "server_address": "db1:27017",
    "server_host": "db1",
    "server_port": 27017,
    "reason": "timeout",
    "duration_micros": 120004,
    "topology_id": TOPOLOGY_ID,
}

SAMPLING_SUMMARY: dict[str, Any] = {
    "timestamp": "2026-11-25T08:01:00.000000Z",
    "level": "info",
    "event": "mongodb.sampling.summary",
    "suppressed_event": "mongodb.command.succeeded",
    "sampled_out": 9012,
    "burst_limited": 0,
    "interval_ms": 60000,
    "topology_id": TOPOLOGY_ID,
}

RECORDS = [
    COMMAND_SUCCEEDED,
    COMMAND_FAILED,
    HEARTBEAT_FAILED,
    TOPOLOGY_CHANGED,
    CHECK_OUT_FAILED,
    SAMPLING_SUMMARY,
]

# Every key a record of ours may carry (CONTRACT.md and the sampling summary): an
# application key is anything else.
RECORD_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "topology_id",
        "server_address",
        "server_host",
        "server_port",
        "connection_id",
        "server_connection_id",
        "duration_micros",
        "reason",
        "driver_request_id",
        "operation_id",
        "command_name",
        "database_name",
        "collection",
        "command",
        "command_shape",
        "reply",
        "error",
        "error_type",
        "error_code",
        "error_code_name",
        "error_labels",
        "awaited",
        "previous_server_type",
        "new_server_type",
        "previous_topology_type",
        "new_topology_type",
        "primary",
        "has_writable_server",
        "had_writable_server",
        "interrupt_connections",
        "service_id",
        "max_pool_size",
        "min_pool_size",
        "max_connecting",
        "max_idle_time_ms",
        "wait_queue_timeout_ms",
        "in_flight",
        "slow",
        "sample_rate",
        "trace_id",
        "span_id",
        "suppressed_event",
        "sampled_out",
        "burst_limited",
        "interval_ms",
        "exception",
        "service_name",
        "service_version",
        "service_environment",
        "host_name",
        "process_pid",
        "previous_primary",
        "unavailable_micros",
        "in_use",
        "waiting",
        "oldest_in_use_micros",
        "oldest_in_use_command",
        "published_after_micros",
    }
)


# -- A validator written from the ECS logging spec (elastic/ecs-logging spec/spec.json) --

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")

# The spec's required fields and its order ("index") for the first three.
SPEC_REQUIRED = {"@timestamp": str, "log.level": str, "message": str, "ecs.version": str}
SPEC_ORDER = ["@timestamp", "log.level", "message"]

# ECS (and OpenTelemetry, for db.*) types of the fields the ECS format writes.
FIELD_TYPES: dict[str, type] = {
    "event.action": str,
    "event.kind": str,
    "event.category": list,
    "event.dataset": str,
    "event.duration": int,
    "event.outcome": str,
    "event.reason": str,
    "db.system.name": str,
    "db.namespace": str,
    "db.collection.name": str,
    "db.operation.name": str,
    "db.query.text": str,
    "db.response.status_code": str,
    "server.address": str,
    "server.port": int,
    "error.message": str,
    "error.type": str,
    "error.code": str,
    "error.stack_trace": str,
    "trace.id": str,
    "span.id": str,
    "service.name": str,
    "service.version": str,
    "service.environment": str,
    "host.hostname": str,
    "process.pid": int,
}
OUTCOMES = {"success", "failure", "unknown"}
KINDS = {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}


def leaf_paths(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of ``document`` by its dotted path, failing on anything ES refuses.

    Dotted keys are expanded the way Elasticsearch expands them, so a path that is
    both a value and an object, a path given twice, or an empty or blank field name
    fails the assertion.
    """
    values: dict[str, Any] = {}
    objects: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: list[str]) -> None:
        for key, value in node.items():
            assert type(key) is str, key
            parts = key.split(".")
            assert all(part.strip() for part in parts), f"invalid field name {key!r}"
            if not prefix:
                assert not parts[0].startswith("_"), f"metadata field {key!r}"
            path = [*prefix, *parts]
            for depth in range(1, len(path)):
                objects.add(".".join(path[:depth]))
            dotted = ".".join(path)
            if isinstance(value, Mapping):
                objects.add(dotted)
                walk(value, path)
            else:
                assert dotted not in values, f"{dotted} given twice"
                assert not holds_mapping(value), f"{dotted}: an array of objects"
                values[dotted] = value

    walk(document, [])
    clashes = objects & set(values)
    assert not clashes, f"both a value and an object: {sorted(clashes)}"
    return values


def holds_mapping(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(isinstance(item, Mapping) or holds_mapping(item) for item in value)
    return False


def assert_valid_ecs(document: dict[str, Any]) -> dict[str, Any]:
    """Fail unless ``document`` is a valid ECS logging document; return its leaf paths."""
    assert list(document)[:3] == SPEC_ORDER
    for field, kind in SPEC_REQUIRED.items():
        assert type(document[field]) is kind, field
    assert RFC3339.match(document["@timestamp"]), document["@timestamp"]
    values = leaf_paths(document)
    for field, kind in FIELD_TYPES.items():
        if field in values:
            assert type(values[field]) is kind, (field, values[field])
    if "event.category" in values:
        assert all(type(item) is str for item in values["event.category"])
    if "event.outcome" in values:
        assert values["event.outcome"] in OUTCOMES
    if "event.kind" in values:
        assert values["event.kind"] in KINDS
    labels = document.get("labels", {})
    assert isinstance(labels, dict)
    for key, value in labels.items():
        assert not set(key) & {".", "*", "\\"}, key
        assert not isinstance(value, Mapping), key
    return values


@pytest.mark.parametrize(
    "document",
    [
        {"a": 1, "a.b": 2},
        {"a.b": 2, "a": {"b": 3}},
        {"log.level": "info", "log": {"level": "info"}},
        {"": 1},
        {"a..b": 1},
        {" ": 1},
        {"_id": 1},
        {"x": [1, {"a": 1}]},
    ],
)
def test_the_validator_rejects_what_elasticsearch_rejects(document: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        leaf_paths(document)


# -- Whole records --


def test_command_succeeded_becomes_an_ecs_document() -> None:
    assert to_ecs(None, "info", dict(COMMAND_SUCCEEDED)) == {
        "@timestamp": "2026-11-25T08:00:00.123456Z",
        "log.level": "info",
        "message": "find app.users succeeded in 1.5 ms",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.command.succeeded",
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
            "duration": 1532000,
            "outcome": "success",
        },
        "db": {
            "system": {"name": "mongodb"},
            "operation": {"name": "find"},
            "namespace": "app",
            "collection": {"name": "users"},
            "query": {"text": FIND},
        },
        "server": {"address": "db1", "port": 27017},
        "trace": {"id": TRACE_ID},
        "span": {"id": SPAN_ID},
        "mongodb": {
            "driver_request_id": 1681692777,
            "operation_id": 1681692777,
            "server_address": "db1:27017",
            "connection_id": 3,
            "server_connection_id": 118,
            "command_shape": "9f86d081884c7d65",
            "reply": '{"ok":1,"n":0}',
            "sample_rate": 0.1,
            "topology_id": TOPOLOGY_ID,
        },
        "request_user": "bob",
    }


def test_command_failed_carries_the_error_as_ecs_and_otel_fields() -> None:
    assert to_ecs(None, "warning", dict(COMMAND_FAILED)) == {
        "@timestamp": "2026-11-25T08:00:01.000250Z",
        "log.level": "warning",
        "message": "insert app.users failed in 2.2 ms with NotWritablePrimary",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.command.failed",
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
            "duration": 2210000,
            "outcome": "failure",
        },
        "db": {
            "system": {"name": "mongodb"},
            "operation": {"name": "insert"},
            "namespace": "app",
            "collection": {"name": "users"},
            "query": {"text": INSERT},
            "response": {"status_code": "10107"},
        },
        "server": {"address": "db1", "port": 27017},
        "error": {"message": "not primary", "type": "NotPrimaryError", "code": "10107"},
        "mongodb": {
            "driver_request_id": 1681692778,
            "operation_id": 1681692778,
            "server_address": "db1:27017",
            "connection_id": 3,
            "command_shape": "1b4f0e9851971998",
            "error_code_name": "NotWritablePrimary",
            "error_labels": ["RetryableWriteError"],
            "topology_id": TOPOLOGY_ID,
        },
    }


def test_heartbeat_failed_is_a_failure_with_its_duration() -> None:
    assert to_ecs(None, "warning", dict(HEARTBEAT_FAILED)) == {
        "@timestamp": "2026-11-25T08:00:02.500000Z",
        "log.level": "warning",
        "message": "heartbeat to db2:27017 failed in 10.0 s with NetworkTimeout",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.heartbeat.failed",
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
            "duration": 10003112000,
            "outcome": "failure",
        },
        "db": {"system": {"name": "mongodb"}},
        "server": {"address": "db2", "port": 27017},
        "error": {"message": "db2:27017: timed out", "type": "NetworkTimeout"},
        "mongodb": {"server_address": "db2:27017", "awaited": True, "topology_id": TOPOLOGY_ID},
    }


def test_topology_change_keeps_a_null_primary_and_has_no_outcome() -> None:
    assert to_ecs(None, "warning", dict(TOPOLOGY_CHANGED)) == {
        "@timestamp": "2026-11-25T08:00:02.500100Z",
        "log.level": "warning",
        "message": (
            "topology changed from ReplicaSetWithPrimary to ReplicaSetNoPrimary, no writable server"
        ),
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.topology.description_changed",
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
        },
        "db": {"system": {"name": "mongodb"}},
        "mongodb": {
            "topology_id": TOPOLOGY_ID,
            "previous_topology_type": "ReplicaSetWithPrimary",
            "new_topology_type": "ReplicaSetNoPrimary",
            "primary": None,
            "has_writable_server": False,
            "had_writable_server": True,
        },
    }


def test_check_out_failure_puts_its_reason_in_event_reason() -> None:
    assert to_ecs(None, "error", dict(CHECK_OUT_FAILED)) == {
        "@timestamp": "2026-11-25T08:00:03.000000Z",
        "log.level": "error",
        "message": "connection check-out from db1:27017 failed after 120.0 ms (timeout)",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.connection.check_out_failed",
            "kind": "event",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
            "duration": 120004000,
            "outcome": "failure",
            "reason": "timeout",
        },
        "db": {"system": {"name": "mongodb"}},
        "server": {"address": "db1", "port": 27017},
        "mongodb": {"server_address": "db1:27017", "topology_id": TOPOLOGY_ID},
    }


def test_sampling_summary_is_a_metric_with_its_counts_under_mongodb() -> None:
    assert to_ecs(None, "info", dict(SAMPLING_SUMMARY)) == {
        "@timestamp": "2026-11-25T08:01:00.000000Z",
        "log.level": "info",
        "message": "mongodb.command.succeeded: 9012 sampled out, 0 burst-limited in 60.0 s",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.sampling.summary",
            "kind": "metric",
            "category": ["database"],
            "dataset": "mongodb.monitoring",
        },
        "db": {"system": {"name": "mongodb"}},
        "mongodb": {
            "suppressed_event": "mongodb.command.succeeded",
            "sampled_out": 9012,
            "burst_limited": 0,
            "interval_ms": 60000,
            "topology_id": TOPOLOGY_ID,
        },
    }


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("mongodb.command.succeeded", "success"),
        ("mongodb.heartbeat.succeeded", "success"),
        ("mongodb.connection.checked_out", "success"),
        ("mongodb.command.failed", "failure"),
        ("mongodb.heartbeat.failed", "failure"),
        ("mongodb.connection.check_out_failed", "failure"),
        ("mongodb.command.started", None),
        ("mongodb.connection.closed", None),
        ("mongodb.pool.cleared", None),
    ],
)
def test_event_outcome_only_on_events_that_end_something(event: str, outcome: str | None) -> None:
    document = to_ecs(None, "info", {"event": event, "timestamp": "2026-11-25T08:00:00Z"})
    assert document["event"].get("outcome") == outcome


def test_the_example_in_the_elk_guide_is_real_output() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "elk.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", guide, flags=re.DOTALL)
    flat, ecs = (orjson.loads(block) for block in blocks[:2])
    assert flat == COMMAND_SUCCEEDED
    assert list(ecs) == list(to_ecs(None, "info", flat))
    assert ecs == to_ecs(None, "info", flat)


# -- The envelope --


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record["event"])
def test_every_record_is_a_valid_ecs_logging_document(record: dict[str, Any]) -> None:
    document = to_ecs(None, record["level"], dict(record))
    assert_valid_ecs(document)
    assert assert_valid_ecs(orjson.loads(orjson.dumps(document))) == leaf_paths(document)


def test_the_envelope_matches_ecs_loggings_own_structlog_formatter() -> None:
    theirs = orjson.loads(
        ecs_logging.StructlogFormatter()(
            None,
            "info",
            {"event": "mongodb.command.succeeded", "@timestamp": "2026-11-25T08:00:00Z"},
        )
    )
    ours = to_ecs(
        None, "info", {"event": "mongodb.command.succeeded", "timestamp": "2026-11-25T08:00:00Z"}
    )
    assert list(ours)[:4] == list(theirs)[:4] == [*SPEC_ORDER, "ecs.version"]
    assert {key: ours[key] for key in theirs} == {**theirs, "ecs.version": ECS_VERSION}


# Every ECS field (not db.*, OpenTelemetry's, nor mongodb.*, ours) the format writes, and the
# first ECS release that has it: ecs.version must be at least the newest of them.
ECS_FIELDS_SINCE = {
    "@timestamp": "1.0.0",
    "log.level": "1.0.0",
    "message": "1.0.0",
    "ecs.version": "1.0.0",
    "event.action": "1.0.0",
    "event.kind": "1.0.0",
    "event.category": "1.0.0",
    "event.dataset": "1.0.0",
    "event.duration": "1.0.0",
    "event.outcome": "1.0.0",
    "event.reason": "1.7.0",
    "server.address": "1.0.0",
    "server.port": "1.0.0",
    "error.message": "1.0.0",
    "error.type": "1.3.0",
    "error.code": "1.0.0",
    "error.stack_trace": "1.3.0",
    "trace.id": "1.1.0",
    "span.id": "1.5.0",
    "service.name": "1.0.0",
    "service.version": "1.0.0",
    "service.environment": "8.0.0",
    "host.hostname": "1.0.0",
    "process.pid": "1.0.0",
}


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_ecs_version_is_the_first_release_with_every_ecs_field_written() -> None:
    written: set[str] = set()
    for record in [*RECORDS, FIXED_FIELDS_RECORD, {**COMMAND_FAILED, "exception": "Traceback"}]:
        written |= set(leaf_paths(to_ecs(None, "info", dict(record))))
    ecs_fields = {f for f in written if not f.startswith(("db.", "mongodb.", "labels."))}
    assert ecs_fields - {"request_user", "team"} == set(ECS_FIELDS_SINCE)  # app keys
    assert ECS_VERSION == max(ECS_FIELDS_SINCE.values(), key=version) == "8.0.0"


FIXED_FIELDS_RECORD: dict[str, Any] = {
    "timestamp": "2026-11-25T08:00:00.123456Z",
    "level": "info",
    "event": "mongodb.command.succeeded",
    "service_name": "billing",
    "service_version": "2.4.1",
    "service_environment": "production",
    "team": "payments",
    "process_pid": 4711,
    "host_name": "web-1",
    "driver_request_id": 1681692777,
    "operation_id": 1681692777,
    "command_name": "ping",
    "database_name": "admin",
    "server_address": "db1:27017",
    "server_host": "db1",
    "server_port": 27017,
    "duration_micros": 480,
    "reply": '{"ok":1}',
    "slow": False,
}


def test_fixed_fields_map_to_service_host_and_process() -> None:
    assert to_ecs(None, "info", FIXED_FIELDS_RECORD) == {
        "@timestamp": "2026-11-25T08:00:00.123456Z",
        "log.level": "info",
        "message": "ping admin succeeded in 0.48 ms",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.command.succeeded",
            "kind": "event",
            "category": ["database"],
            "dataset": DATASET,
            "duration": 480000,
            "outcome": "success",
        },
        "service": {"name": "billing", "version": "2.4.1", "environment": "production"},
        "host": {"hostname": "web-1"},
        "process": {"pid": 4711},
        "db": {"system": {"name": "mongodb"}, "operation": {"name": "ping"}, "namespace": "admin"},
        "server": {"address": "db1", "port": 27017},
        "mongodb": {
            "driver_request_id": 1681692777,
            "operation_id": 1681692777,
            "server_address": "db1:27017",
            "reply": '{"ok":1}',
            "slow": False,
        },
        "team": "payments",
    }


def test_an_application_service_name_fills_in_only_without_the_fixed_field() -> None:
    bound = {"event": "mongodb.pool.ready", "timestamp": "2026-11-25T08:00:00Z"}
    alone = to_ecs(None, "info", {**bound, "service.name": "app", "host.hostname": "h"})
    assert (alone["service"], alone["host"]) == ({"name": "app"}, {"hostname": "h"})
    both = to_ecs(None, "info", {**bound, "service_name": "billing", "service.name": "app"})
    assert (both["service"], both["labels"]) == ({"name": "billing"}, {"service_name": "app"})


def test_incident_and_pool_pressure_fields_go_under_mongodb() -> None:
    lost = {
        "timestamp": "2026-11-25T08:00:00Z",
        "level": "warning",
        "event": "mongodb.topology.writable_server_lost",
        "topology_id": TOPOLOGY_ID,
        "previous_primary": "db1:27017",
        "published_after_micros": 1200,
    }
    restored = {
        "timestamp": "2026-11-25T08:00:09Z",
        "level": "info",
        "event": "mongodb.topology.writable_server_restored",
        "topology_id": TOPOLOGY_ID,
        "primary": "db2:27017",
        "unavailable_micros": 9_000_000,
    }
    pressure = {
        **CHECK_OUT_FAILED,
        "in_use": 10,
        "max_pool_size": 10,
        "waiting": 3,
        "oldest_in_use_micros": 5_000_000,
        "oldest_in_use_command": "aggregate",
    }
    assert to_ecs(None, "warning", lost) == {
        "@timestamp": "2026-11-25T08:00:00Z",
        "log.level": "warning",
        "message": "no writable server left (was db1:27017)",
        "ecs.version": ECS_VERSION,
        "event": {
            "action": "mongodb.topology.writable_server_lost",
            "kind": "event",
            "category": ["database"],
            "dataset": DATASET,
        },
        "db": {"system": {"name": "mongodb"}},
        "mongodb": {
            "topology_id": TOPOLOGY_ID,
            "previous_primary": "db1:27017",
            "published_after_micros": 1200,
        },
    }
    assert to_ecs(None, "info", restored)["mongodb"] == {
        "topology_id": TOPOLOGY_ID,
        "primary": "db2:27017",
        "unavailable_micros": 9_000_000,
    }
    document = to_ecs(None, "error", pressure)
    assert document["message"] == (
        "connection check-out from db1:27017 failed after 120.0 ms (timeout): "
        "10 of 10 in use, 3 waiting"
    )
    assert document["mongodb"] == {
        "server_address": "db1:27017",
        "topology_id": TOPOLOGY_ID,
        "in_use": 10,
        "max_pool_size": 10,
        "waiting": 3,
        "oldest_in_use_micros": 5_000_000,
        "oldest_in_use_command": "aggregate",
    }


A = {"server_address": "db1:27017", "server_host": "db1", "server_port": 27017}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {
                "event": "mongodb.command.started",
                "command_name": "find",
                "database_name": "shop",
                "collection": "orders",
            },
            "find shop.orders started",
        ),
        (
            {
                "event": "mongodb.command.succeeded",
                "command_name": "find",
                "database_name": "shop",
                "collection": "orders",
                "duration_micros": 500,
                "slow": False,
            },
            "find shop.orders succeeded in 0.5 ms",
        ),
        (
            {
                "event": "mongodb.command.succeeded",
                "command_name": "aggregate",
                "database_name": "shop",
                "collection": "orders",
                "duration_micros": 250_829,
                "slow": True,
            },
            "aggregate shop.orders succeeded in 250.8 ms (slow)",
        ),
        (
            {
                "event": "mongodb.command.succeeded",
                "command_name": "ping",
                "database_name": "admin",
                "duration_micros": 35,
            },
            "ping admin succeeded in 0.035 ms",
        ),
        (
            {
                "event": "mongodb.command.failed",
                "command_name": "insert",
                "database_name": "shop",
                "collection": "orders",
                "duration_micros": 1200,
                "error_code_name": "DuplicateKey",
                "error_type": "DuplicateKeyError",
            },
            "insert shop.orders failed in 1.2 ms with DuplicateKey",
        ),
        (
            {
                "event": "mongodb.command.failed",
                "command_name": "count",
                "database_name": "shop",
                "duration_micros": 3_000_000,
                "error_type": "AutoReconnect",
            },
            "count shop failed in 3.0 s with AutoReconnect",
        ),
        ({"event": "mongodb.server.opening", **A}, "server db1:27017 added"),
        (
            {
                "event": "mongodb.server.description_changed",
                **A,
                "previous_server_type": "Unknown",
                "new_server_type": "RSPrimary",
            },
            "server db1:27017 changed from Unknown to RSPrimary",
        ),
        ({"event": "mongodb.server.closed", **A}, "server db1:27017 removed"),
        ({"event": "mongodb.heartbeat.started", **A}, "heartbeat to db1:27017 started"),
        (
            {"event": "mongodb.heartbeat.succeeded", **A, "duration_micros": 1500},
            "heartbeat to db1:27017 succeeded in 1.5 ms",
        ),
        (
            {
                "event": "mongodb.heartbeat.failed",
                **A,
                "duration_micros": 10_000_000,
                "error_type": "NetworkTimeout",
            },
            "heartbeat to db1:27017 failed in 10.0 s with NetworkTimeout",
        ),
        ({"event": "mongodb.topology.opened"}, "topology opened"),
        ({"event": "mongodb.topology.closed"}, "topology closed"),
        (
            {
                "event": "mongodb.topology.description_changed",
                "previous_topology_type": "Unknown",
                "new_topology_type": "ReplicaSetWithPrimary",
                "primary": "db1:27017",
                "has_writable_server": True,
            },
            "topology changed from Unknown to ReplicaSetWithPrimary, primary db1:27017",
        ),
        (
            {
                "event": "mongodb.topology.description_changed",
                "previous_topology_type": "Unknown",
                "new_topology_type": "Single",
                "primary": None,
                "has_writable_server": True,
            },
            "topology changed from Unknown to Single",
        ),
        (
            {"event": "mongodb.topology.writable_server_lost", "previous_primary": None},
            "no writable server left",
        ),
        (
            {
                "event": "mongodb.topology.writable_server_restored",
                "primary": None,
                "unavailable_micros": 2_500_000,
            },
            "writable server back after 2.5 s",
        ),
        (
            {
                "event": "mongodb.topology.writable_server_restored",
                "primary": "db2:27017",
                "unavailable_micros": 800_000,
            },
            "writable server back after 800.0 ms: db2:27017",
        ),
        (
            {
                "event": "mongodb.topology.primary_changed",
                "previous_primary": "db1:27017",
                "primary": "db2:27017",
            },
            "primary changed from db1:27017 to db2:27017",
        ),
        ({"event": "mongodb.pool.created", **A}, "pool for db1:27017 created"),
        ({"event": "mongodb.pool.ready", **A}, "pool for db1:27017 ready"),
        (
            {"event": "mongodb.pool.cleared", **A, "interrupt_connections": False},
            "pool for db1:27017 cleared",
        ),
        (
            {"event": "mongodb.pool.cleared", **A, "interrupt_connections": True},
            "pool for db1:27017 cleared, in-use connections interrupted",
        ),
        ({"event": "mongodb.pool.closed", **A}, "pool for db1:27017 closed"),
        (
            {"event": "mongodb.connection.created", **A, "connection_id": 4},
            "connection 4 to db1:27017 created",
        ),
        (
            {"event": "mongodb.connection.ready", **A, "connection_id": 4, "duration_micros": 2500},
            "connection 4 to db1:27017 ready in 2.5 ms",
        ),
        (
            {"event": "mongodb.connection.closed", **A, "connection_id": 4, "reason": "stale"},
            "connection 4 to db1:27017 closed (stale)",
        ),
        (
            {"event": "mongodb.connection.check_out_started", **A},
            "connection check-out from db1:27017 started",
        ),
        (
            {
                "event": "mongodb.connection.check_out_failed",
                **A,
                "duration_micros": 120_004,
                "reason": "timeout",
            },
            "connection check-out from db1:27017 failed after 120.0 ms (timeout)",
        ),
        (
            {
                "event": "mongodb.connection.checked_out",
                **A,
                "connection_id": 4,
                "duration_micros": 40,
            },
            "connection 4 to db1:27017 checked out in 0.04 ms",
        ),
        (
            {
                "event": "mongodb.connection.checked_out",
                **A,
                "connection_id": 4,
                "duration_micros": 0,
            },
            "connection 4 to db1:27017 checked out in 0 ms",
        ),
        (
            {
                "event": "mongodb.connection.checked_out",
                **A,
                "connection_id": 4,
                "duration_micros": 150_000,
                "slow": True,
                "in_use": 50,
                "max_pool_size": 50,
                "waiting": 7,
                "oldest_in_use_micros": 2_000_000,
            },
            "connection 4 to db1:27017 checked out in 150.0 ms (slow): 50 of 50 in use, 7 waiting",
        ),
        (
            {"event": "mongodb.connection.checked_in", **A, "connection_id": 4},
            "connection 4 to db1:27017 checked in",
        ),
        (
            {
                "event": "mongodb.sampling.summary",
                "suppressed_event": "mongodb.heartbeat.started",
                "sampled_out": 0,
                "burst_limited": 120,
                "interval_ms": 10000,
            },
            "mongodb.heartbeat.started: 0 sampled out, 120 burst-limited in 10.0 s",
        ),
    ],
    ids=lambda value: value["event"] if isinstance(value, dict) else "",
)
def test_the_message_is_a_sentence_for_every_event(record: dict[str, Any], message: str) -> None:
    document = to_ecs(None, "info", {"timestamp": "2026-11-25T08:00:00Z", **record})
    assert (document["message"], message_of(record)) == (message, message)


@pytest.mark.parametrize(
    "record",
    [
        {"event": "mongodb.command.succeeded", "duration_micros": 500},
        {"event": "mongodb.command.succeeded", "command_name": "find", "database_name": "x"},
        {"event": "mongodb.pool.ready"},
        {"event": "mongodb.sampling.summary", "suppressed_event": "x", "interval_ms": None},
        {"event": "mongodb.future.event", **A},
    ],
)
def test_a_record_lacking_what_its_sentence_needs_keeps_its_event_name(
    record: dict[str, Any],
) -> None:
    assert message_of(record) == record["event"]
    assert to_ecs(None, "info", record)["message"] == record["event"]


def test_the_input_record_is_left_as_it_was() -> None:
    record = {**COMMAND_FAILED, "tags": {"team": ["core"]}, "db.user": "app"}
    before = copy.deepcopy(record)
    to_ecs(None, "warning", record)
    assert record == before


def test_a_record_without_timestamp_or_level_gets_now_and_the_method_name() -> None:
    document = to_ecs(None, "debug", {"event": "mongodb.pool.ready", "timestamp": None})
    assert RFC3339.match(document["@timestamp"])
    assert document["@timestamp"].endswith("Z")
    assert document["log.level"] == "debug"


def test_an_application_record_gets_the_mapping_without_mongodb_defaults() -> None:
    document = to_ecs(
        None,
        "error",
        {"event": "payment declined", "timestamp": "2026-11-25T08:00:00Z", "error": "card expired"},
    )
    assert document == {
        "@timestamp": "2026-11-25T08:00:00Z",
        "log.level": "error",
        "message": "payment declined",
        "ecs.version": ECS_VERSION,
        "error": {"message": "card expired"},
    }


@pytest.mark.parametrize(("event", "message"), [(None, ""), (42, "42")])
def test_the_message_is_always_a_string(event: Any, message: str) -> None:
    document = to_ecs(None, "info", {"event": event, "timestamp": "2026-11-25T08:00:00Z"})
    assert document["message"] == message


def test_a_structlog_exception_becomes_the_error_stack_trace() -> None:
    trace = 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError: x'
    document = to_ecs(None, "error", {**HEARTBEAT_FAILED, "exception": trace})
    assert document["error"]["stack_trace"] == trace


# -- Application keys --


def with_app_keys(**keys: Any) -> dict[str, Any]:
    document = to_ecs(None, "info", {**COMMAND_SUCCEEDED, **keys})
    assert_valid_ecs(document)
    return document


def test_application_keys_stay_at_the_top_level_with_dotted_keys_expanded() -> None:
    document = with_app_keys(
        **{"tenant": "acme", "service.name": "shop", "http": {"request.id": "r1", "method": "GET"}}
    )
    assert document["tenant"] == "acme"
    assert document["service"] == {"name": "shop"}
    assert document["http"] == {"request": {"id": "r1"}, "method": "GET"}
    assert "labels" not in document


def test_application_keys_may_extend_the_objects_this_format_writes() -> None:
    document = with_app_keys(**{"db.user": "app_rw", "log.logger": "shop.db", "ecs.extra": 1})
    assert document["db"]["user"] == "app_rw"
    assert document["log"] == {"logger": "shop.db"}
    assert document["log.level"] == "info"
    assert document["ecs"] == {"extra": 1}


def test_application_keys_are_placed_as_ecs_logging_places_them() -> None:
    app = {"service.name": "shop", "user": {"id.hash": "h1"}, "user.roles": ["admin"]}
    document = with_app_keys(**app)
    expected = normalize_dict(copy.deepcopy(app))
    assert {key: document[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("key", "value", "label"),
    [
        ("db", "orders", "db"),
        ("message", "hello", "message"),
        ("@timestamp", "yesterday", "@timestamp"),
        ("log", "x", "log"),
        ("log.level", "x", "log_level"),
        ("ecs", {"version": "8"}, "ecs_version"),
        ("event.action", "login", "event_action"),
        ("event.duration", "slow", "event_duration"),
        ("db.system", "mongo", "db_system"),
        ("db.namespace", "other", "db_namespace"),
        ("server.port.number", 1, "server_port_number"),
        ("error.code", 5, "error_code"),
        ("mongodb", "x", "mongodb"),
        ("mongodb.tenant", "acme", "mongodb_tenant"),
        ("_id", 1, "_id"),
        ("_source.x", 1, "_source_x"),
        ("", 1, "_"),
        (" ", 1, "_ "),
        ("a..b", 1, "a__b"),
        (".a", 1, "_a"),
        ("a.", 1, "a_"),
        ("labels.a*b\\c", 1, "a_b_c"),
        ("labels", "x", "labels"),
        ("labels.team.name", "core", "team_name"),
        ("labels.", "x", "_"),
        ("a.b.c.d.e.f.g.h.i.j.k", 1, "a_b_c_d_e_f_g_h_i_j_k"),
    ],
)
def test_application_keys_that_would_clash_go_to_labels(key: str, value: Any, label: str) -> None:
    document = with_app_keys(**{key: value})
    expected = value if not isinstance(value, dict) else value["version"]
    assert document["labels"] == {label: expected}
    assert to_ecs(None, "info", dict(COMMAND_SUCCEEDED)).items() <= document.items()


def test_only_label_keys_are_sanitised() -> None:
    assert with_app_keys(**{"a*b\\c": 1})["a*b\\c"] == 1


def test_application_keys_that_clash_with_each_other_keep_the_first_in_place() -> None:
    document = with_app_keys(**{"order": 1, "order.id": 2, "cart": None, "cart.size": 3})
    assert document["order"] == 1
    assert document["cart"] is None
    assert document["labels"] == {"order_id": 2, "cart_size": 3}


def test_an_object_then_a_value_at_the_same_path_keeps_the_object() -> None:
    document = with_app_keys(
        **{"order.id": 2, "order": 1, "user.name": "x", "user.name.first": "y"}
    )
    assert document["order"] == {"id": 2}
    assert document["user"] == {"name": "x"}
    assert document["labels"] == {"order": 1, "user_name_first": "y"}


def test_an_application_string_event_dataset_replaces_the_default() -> None:
    assert with_app_keys(**{"event.dataset": "shop.mongodb"})["event"]["dataset"] == "shop.mongodb"
    other = with_app_keys(**{"event.dataset": 7})
    assert other["event"]["dataset"] == DATASET
    assert other["labels"] == {"event_dataset": 7}


def test_application_trace_ids_fill_in_only_where_the_record_has_none() -> None:
    ids = {"trace.id": "a" * 32, "span": {"id": "b" * 16}}
    document = to_ecs(None, "warning", {**HEARTBEAT_FAILED, **ids})
    assert document["trace"] == {"id": "a" * 32}
    assert document["span"] == {"id": "b" * 16}
    assert "labels" not in document
    assert list(document)[:7] == [*SPEC_ORDER, "ecs.version", "event", "db", "server"]
    ours = with_app_keys(**ids)
    assert ours["trace"] == {"id": TRACE_ID}
    assert ours["span"] == {"id": SPAN_ID}
    assert ours["labels"] == {"trace_id": "a" * 32, "span_id": "b" * 16}


def test_lists_of_objects_become_json_text() -> None:
    document = with_app_keys(
        items=[{"sku": "a.b", "qty": 1}, {"sku": {"x": 2}}],
        nested=[1, [2, [{"k": 3}]]],
        plain=[1, [2, "3"]],
        huge=[{"n": 2**70}],
        empty={},
    )
    assert document["items"] == '[{"sku":"a.b","qty":1},{"sku":{"x":2}}]'
    assert document["nested"] == '[1,[2,[{"k":3}]]]'
    assert document["plain"] == [1, [2, "3"]]
    assert document["huge"] == "[{'n': 1180591620717411303424}]"
    assert "empty" not in document


def test_non_string_keys_are_named_by_their_text() -> None:
    document = to_ecs(None, "info", {**COMMAND_SUCCEEDED, 7: "seven", "map": {1: "one"}})  # type: ignore[dict-item]
    assert document["7"] == "seven"
    assert document["map"] == {"1": "one"}


# -- Arbitrary application keys --

SEGMENTS = ["event", "db", "log", "message", "labels", "mongodb", "ecs", "error", "level"]
SEGMENTS += ["server", "trace", "span", "system", "name", "id", "port", "dataset", "@timestamp"]
SEGMENTS += ["_id", "", " ", "a", "b", "x*y", "x\\y"]
app_keys = st.one_of(
    st.sampled_from(SEGMENTS),
    st.text(max_size=8),
    st.lists(st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=4)), min_size=2, max_size=4).map(
        ".".join
    ),
).filter(lambda key: key not in RECORD_KEYS)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
app_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(app_keys, inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(record=st.sampled_from(RECORDS), app=st.dictionaries(app_keys, app_values, max_size=6))
def test_arbitrary_application_keys_never_break_the_document(
    record: dict[str, Any], app: dict[str, Any]
) -> None:
    event_dict = {**record, **app}
    before = copy.deepcopy(event_dict)
    document = to_ecs(None, "info", event_dict)
    assert event_dict == before
    values = assert_valid_ecs(document)
    assert_valid_ecs(orjson.loads(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)))
    # What the record itself says is never changed by what the application binds.
    for path, value in leaf_paths(to_ecs(None, "info", dict(record))).items():
        if path == "event.dataset" and type(app.get("event.dataset")) is str:
            continue
        assert values[path] == value, path
