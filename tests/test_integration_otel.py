"""OpenTelemetry logs: our records through the SDK's logging bridge to an exporter.

The recipe of docs/existing-logging.md, run with the SDK's in-memory exporter where an
application passes ``OTLPLogExporter()``: records arrive with typed attributes (ints stay
ints, booleans booleans), the readable line as body, our level as severity, the event's
time as timestamp, and the ids of the span that was active when the command ran.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mockupdb import MockupDB
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
)
from opentelemetry.sdk.trace import TracerProvider
from pymongo import MongoClient

import mongo_structlog

from . import factory as f

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

FOUND = {"cursor": {"id": 0, "firstBatch": [{"_id": 1, "status": "paid"}], "ns": "shop.orders"}}
DRIVER_ID = re.compile(r" (driver_)?request_id=\d+")


def send_mongodb_records_to(exporter: LogRecordExporter) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME).addHandler(handler)
    mongo_structlog.configure(output="stdlib")
    return provider


@pytest.fixture
def exporter() -> Iterator[tuple[InMemoryLogRecordExporter, LoggerProvider]]:
    """The recipe, with the in-memory exporter; its handler removed after the test."""
    ours = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    saved = (ours.level, list(ours.handlers))
    ours.setLevel(logging.NOTSET)
    memory = InMemoryLogRecordExporter()
    provider = send_mongodb_records_to(memory)
    yield memory, provider
    provider.shutdown()
    ours.setLevel(saved[0])
    ours.handlers = saved[1]


def exported(memory: InMemoryLogRecordExporter, provider: LoggerProvider) -> list[dict[str, Any]]:
    """What reached the exporter, one dict per log record, the driver's request id left out."""
    provider.force_flush()
    out = []
    for data in memory.get_finished_logs():
        record = data.log_record
        attributes = dict(record.attributes or {})
        attributes.pop("request_id", None)
        attributes.pop("driver_request_id", None)
        out.append(
            {
                "severity_text": record.severity_text,
                "body": DRIVER_ID.sub("", str(record.body)),
                "attributes": attributes,
                "trace_id": record.trace_id,
                "span_id": record.span_id,
            }
        )
    return out


def test_records_reach_the_exporter_typed_and_linked_to_the_active_span(
    exporter: tuple[InMemoryLogRecordExporter, LoggerProvider],
    server: MockupDB,
    make_client: MakeClient,
) -> None:
    server.autoresponds(lambda request: request.command_name == "find" and request.ok(FOUND))
    client = make_client(server.uri)
    tracer = TracerProvider().get_tracer("checkout")
    with tracer.start_as_current_span("GET /orders") as span:
        client.shop.orders.find_one({"status": "paid"})
    ids = span.get_span_context()
    (record,) = [
        r for r in exported(*exporter) if r["attributes"]["event"] == "mongodb.command.succeeded"
    ]
    attributes = record["attributes"]
    host, port = server.address
    volatile = {"operation_id", "duration_micros", "connection_id", "command_shape"}
    assert all(type(attributes.pop(key)) in (int, str) for key in volatile)
    assert attributes == {
        "event": "mongodb.command.succeeded",
        "command_name": "find",
        "database_name": "shop",
        "collection": "orders",
        "server_address": f"{host}:{port}",
        "server_host": host,
        "server_port": port,
        "command": (
            '{"find":"orders","filter":{"status":"?"},"limit":"?","singleBatch":"?","$db":"shop"}'
        ),
        "reply": '{"ok":1,"cursorId":0,"batchSize":1}',
        "slow": False,
        "trace_id": format(ids.trace_id, "032x"),
        "span_id": format(ids.span_id, "016x"),
    }
    assert (record["severity_text"], record["trace_id"], record["span_id"]) == (
        "INFO",
        ids.trace_id,
        ids.span_id,
    )
    assert record["body"].startswith("mongodb.command.succeeded find shop.orders ")


def test_the_exported_time_is_when_the_event_happened(
    exporter: tuple[InMemoryLogRecordExporter, LoggerProvider],
) -> None:
    # Queued: the logger is called later, on the writer thread; the time is still the event's.
    stream = io.StringIO()
    beside = logging.StreamHandler(stream)
    beside.setFormatter(mongo_structlog.json_formatter())
    logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME).addHandler(beside)
    mongo_structlog.listeners(output="stdlib", queue_size=10)[4].pool_cleared(f.pool_cleared())
    mongo_structlog.flush()
    exporter[1].force_flush()
    written = json.loads(stream.getvalue())["timestamp"]
    (data,) = exporter[0].get_finished_logs()
    record = data.log_record
    assert dict(record.attributes or {}) == {
        "event": "mongodb.pool.cleared",
        "server_address": "db0.example.com:27017",
        "server_host": "db0.example.com",
        "server_port": 27017,
        "interrupt_connections": False,
    }
    assert record.severity_text == "WARN"
    moment = datetime.datetime.strptime(written, "%Y-%m-%dT%H:%M:%S.%fZ")
    epoch = moment.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert record.timestamp is not None
    assert abs(record.timestamp - round(epoch * 1e9)) < 1000  # the same microsecond


def test_a_queued_record_is_exported_outside_the_span_with_its_ids_as_attributes(
    exporter: tuple[InMemoryLogRecordExporter, LoggerProvider],
) -> None:
    command = mongo_structlog.listeners(output="stdlib", queue_size=10)[0]
    tracer = TracerProvider().get_tracer("checkout")
    with tracer.start_as_current_span("GET /orders") as span:
        command.started(f.command_started())
        command.succeeded(f.command_succeeded())
    mongo_structlog.flush()
    ids = span.get_span_context()
    (record,) = exported(*exporter)
    assert (record["trace_id"], record["span_id"]) == (0, 0)  # made on the writer thread
    assert (record["attributes"]["trace_id"], record["attributes"]["span_id"]) == (
        format(ids.trace_id, "032x"),
        format(ids.span_id, "016x"),
    )
