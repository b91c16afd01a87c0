"""``output="structlog"``: our records through the application's own structlog configuration.

The application configures structlog as structlog's documentation shows (contextvars
merge first, a level, a time stamp, a renderer; a filtering bound logger); records made
by a real client against mockupdb, or from real PyMongo events, then come out of the
application's chain as its own records do. Whole records are compared; only times,
durations, ports and the driver's request id are masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from mockupdb import MockupDB
from opentelemetry.sdk.trace import TracerProvider
from pymongo import MongoClient

import mongo_structlog
from mongo_structlog import ecs
from mongo_structlog.context import merge_contextvars, trace_processor
from mongo_structlog.documents import DocumentRenderer, RedactDocuments

from . import factory as f

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

FIND = '{"find":"users","filter":{"name":"?"},"$db":"shop"}'
FOUND = {"cursor": {"id": 0, "firstBatch": [{"_id": 1, "status": "paid"}], "ns": "shop.orders"}}
DB0 = {
    "server_address": "db0.example.com:27017",
    "server_host": "db0.example.com",
    "server_port": 27017,
}


def add_service(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """An application's own processor: its service field on every record."""
    event_dict["service"] = "billing"
    return event_dict


def configure_app_structlog() -> None:
    """The application's structlog configuration, as structlog's docs show it."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_service,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )


@pytest.fixture(autouse=True)
def _app_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every JSON line the application's renderer printed, without the driver's request id."""
    records = [json.loads(line) for line in capsys.readouterr().out.split("\n") if line]
    for record in records:
        record.pop("request_id", None)
        record.pop("driver_request_id", None)
    return records


def timestamps_of(records: list[dict[str, Any]]) -> list[str]:
    return [record.pop("timestamp") for record in records]


def test_records_go_through_the_applications_processors_and_renderer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Ours first, the application's configure after: its configuration still applies.
    mongo_structlog.configure(output="structlog")
    configure_app_structlog()
    command, *_ = mongo_structlog.listeners(output="structlog")

    def request() -> None:
        structlog.contextvars.bind_contextvars(user="ada")
        command.started(f.command_started())
        command.succeeded(f.command_succeeded())
        structlog.get_logger("app").info("order.viewed", order=7)

    contextvars.Context().run(request)  # no connection an earlier test checked out
    ours, app = printed(capsys)
    assert all(stamp.endswith("Z") for stamp in timestamps_of([ours, app]))
    assert ours == {
        "operation_id": 101,
        "command_name": "find",
        "database_name": "shop",
        "collection": "users",
        **DB0,
        "duration_micros": 1500,
        "command": FIND,
        "command_shape": "d340fe2a342c72da",
        "reply": '{"ok":1,"cursorId":0,"batchSize":0}',
        "slow": False,
        "user": "ada",
        "event": "mongodb.command.succeeded",
        "level": "info",
        "service": "billing",
    }
    assert app == {
        "order": 7,
        "user": "ada",
        "event": "order.viewed",
        "level": "info",
        "service": "billing",
    }
    assert mongo_structlog.stats()["emitted"] == {"mongodb.command.succeeded": 1}


def test_the_applications_level_filter_applies(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            add_service,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(),
    )
    pool = mongo_structlog.listeners(output="structlog", level="debug")[4]
    pool.pool_ready(f.pool_ready())  # info: below the application's level
    pool.pool_cleared(f.pool_cleared())
    records = printed(capsys)
    timestamps_of(records)  # ours: the application's chain has no time stamper
    assert records == [
        {
            **DB0,
            "interrupt_connections": False,
            "event": "mongodb.pool.cleared",
            "level": "warning",
            "service": "billing",
        }
    ]


def test_without_an_application_time_stamper_our_event_time_stays(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(),
    )
    mongo_structlog.listeners(output="structlog")[4].pool_ready(f.pool_ready())
    (record,) = printed(capsys)
    stamp = record.pop("timestamp")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)  # ours: microseconds
    assert record == {**DB0, "event": "mongodb.pool.ready", "level": "info"}


def test_a_record_the_applications_chain_drops_is_no_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def drop_pool_records(logger: Any, method_name: str, event_dict: Any) -> Any:
        if event_dict["event"].startswith("mongodb.pool."):
            raise structlog.DropEvent
        return event_dict

    structlog.configure(
        processors=[drop_pool_records, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(),
    )
    mongo_structlog.listeners(output="structlog")[4].pool_ready(f.pool_ready())
    assert capsys.readouterr().out == ""
    assert mongo_structlog.stats()["sink_errors"] == 0


def test_a_failing_application_chain_is_counted_and_reported_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(logger: Any, method_name: str, event_dict: Any) -> Any:
        raise RuntimeError("renderer bug")

    structlog.configure(processors=[broken], logger_factory=structlog.PrintLoggerFactory())
    pool = mongo_structlog.listeners(output="structlog")[4]
    pool.pool_ready(f.pool_ready())
    pool.pool_ready(f.pool_ready())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "mongo_structlog: cannot write log records to the application's structlog"
        " configuration: RuntimeError('renderer bug') (reported once; see mongo_structlog.stats())"
    ]
    assert mongo_structlog.stats()["sink_errors"] == 2


def test_a_queued_structlog_output_runs_the_applications_chain_on_the_writer_thread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_app_structlog()
    pool = mongo_structlog.listeners(output="structlog", queue_size=10)[4]
    pool.pool_ready(f.pool_ready())
    mongo_structlog.flush()
    records = printed(capsys)
    timestamps_of(records)
    assert records == [
        {**DB0, "event": "mongodb.pool.ready", "level": "info", "service": "billing"}
    ]


def test_the_output_is_chosen_by_its_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_app_structlog()
    monkeypatch.setenv("MONGO_STRUCTLOG_OUTPUT", "structlog")
    mongo_structlog.listeners()[4].pool_ready(f.pool_ready())
    (record,) = printed(capsys)
    assert record["service"] == "billing"


def test_a_real_clients_commands_come_out_of_the_applications_chain(
    capsys: pytest.CaptureFixture[str], server: MockupDB, make_client: MakeClient
) -> None:
    configure_app_structlog()
    server.autoresponds(lambda request: request.command_name == "find" and request.ok(FOUND))
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="structlog"))
    structlog.contextvars.bind_contextvars(user="ada")
    client.shop.orders.find_one({"status": "paid"})
    records = [r for r in printed(capsys) if r["event"].startswith("mongodb.command.")]
    timestamps_of(records)
    (record,) = records
    for volatile in ("operation_id", "duration_micros", "connection_id", "topology_id"):
        assert type(record.pop(volatile)) is (str if volatile == "topology_id" else int)
    host, port = server.address
    assert record == {
        "command_name": "find",
        "database_name": "shop",
        "collection": "orders",
        "server_address": f"{host}:{port}",
        "server_host": host,
        "server_port": port,
        "command": (
            '{"find":"orders","filter":{"status":"?"},"limit":"?","singleBatch":"?","$db":"shop"}'
        ),
        "command_shape": record["command_shape"],
        "reply": '{"ok":1,"cursorId":0,"batchSize":1}',
        "slow": False,
        "user": "ada",
        "event": "mongodb.command.succeeded",
        "level": "info",
        "service": "billing",
    }


# -- our building blocks in the application's chain --------------------------------------------


def test_our_processors_work_in_the_applications_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_trace_ids = trace_processor()  # None without opentelemetry-api
    assert add_trace_ids is not None
    structlog.configure(
        processors=[
            merge_contextvars,  # mongo_structlog.context: bound values, our names kept apart
            add_trace_ids,
            RedactDocuments(DocumentRenderer("full", redact_keys=("email",))),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ecs.to_ecs,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(),
    )
    tracer = TracerProvider().get_tracer("checkout")
    with tracer.start_as_current_span("GET /orders") as span:
        structlog.get_logger().info(
            "orders.lookup",
            command_name="find",
            command={"find": "orders", "filter": {"email": "ada@example.com"}},
        )
    ids = span.get_span_context()
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record.pop("@timestamp").endswith("Z")
    assert record == {
        "log.level": "info",
        "message": "orders.lookup",
        "ecs.version": ecs.ECS_VERSION,
        "db": {
            "operation": {"name": "find"},
            "query": {"text": '{"find":"orders","filter":{"email":"[REDACTED]"}}'},
        },
        "trace": {"id": format(ids.trace_id, "032x")},
        "span": {"id": format(ids.span_id, "016x")},
        "mongodb": {"command_shape": record["mongodb"]["command_shape"]},
    }
