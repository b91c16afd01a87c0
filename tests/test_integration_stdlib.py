"""``output="stdlib"`` in an application's own logging configuration.

Each formatter is set up as its own documentation shows: a plain ``logging.Formatter``,
python-json-logger's ``JsonFormatter``, structlog's ``ProcessorFormatter`` with its
``foreign_pre_chain``, and ``logging.config.dictConfig``. Whole lines are compared; only
times, durations, ports and the driver's request id (``request_id`` in older records,
``driver_request_id`` since) are masked.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import logging.config
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mockupdb import MockupDB
from pymongo import MongoClient
from pythonjsonlogger.json import JsonFormatter

import mongo_structlog

from . import factory as f
from .servers import read_records

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

#: The command record's text as ``documents="shape"`` writes it (factory's find).
FIND = '{"find":"users","filter":{"name":"?"},"$db":"shop"}'
REPLY = '{"ok":1,"cursorId":0,"batchSize":0}'
DB0 = "server_address=db0.example.com:27017 server_host=db0.example.com server_port=27017"
FOUND = {"cursor": {"id": 0, "firstBatch": [{"_id": 1, "status": "paid"}], "ns": "shop.orders"}}
DRIVER_ID = re.compile(r" (driver_)?request_id=\d+")


def unmasked(line: str) -> str:
    """``line`` without the driver's request id (renamed ``driver_request_id``)."""
    return DRIVER_ID.sub("", line)


def without_driver_id(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("request_id", "driver_request_id")}


@pytest.fixture
def app_logging() -> Iterator[logging.Logger]:
    """The root logger, given back after the test as it was (and every logger's ``disabled``)."""
    root = logging.getLogger()
    ours = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    saved_root = (root.level, list(root.handlers))
    saved_ours = (ours.level, list(ours.handlers), ours.propagate)
    disabled = {
        name: logger.disabled
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    ours.setLevel(logging.NOTSET)
    root.handlers = []
    structlog.contextvars.clear_contextvars()
    yield root
    structlog.contextvars.clear_contextvars()
    root.setLevel(saved_root[0])
    root.handlers = saved_root[1]
    ours.setLevel(saved_ours[0])
    ours.handlers, ours.propagate = saved_ours[1], saved_ours[2]
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.disabled = disabled.get(name, False)


def handler_writing_to(stream: io.StringIO, formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    return handler


def log_a_find_that_succeeds_and_one_that_fails() -> None:
    # In a fresh context: no connection an earlier test checked out on this thread.
    contextvars.Context().run(log_two_finds)


def log_two_finds() -> None:
    command, *_ = mongo_structlog.listeners(output="stdlib")
    command.started(f.command_started())
    command.succeeded(f.command_succeeded())
    command.started(f.command_started(request_id=102, operation_id=102))
    command.failed(f.command_failed(request_id=102, operation_id=102))


# -- a plain logging.Formatter -----------------------------------------------------------------


def test_a_plain_formatter_shows_one_readable_line_with_every_detail(
    app_logging: logging.Logger,
) -> None:
    stream = io.StringIO()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s %(message)s", stream=stream, force=True
    )
    log_a_find_that_succeeds_and_one_that_fails()
    assert [unmasked(line) for line in stream.getvalue().splitlines()] == [
        "INFO mongo_structlog mongodb.command.succeeded find shop.users 1.5 ms"
        f" operation_id=101 {DB0} command={json.dumps(FIND)} command_shape=d340fe2a342c72da"
        f" reply={json.dumps(REPLY)} slow=false",
        "WARNING mongo_structlog mongodb.command.failed find shop.users 1.5 ms BadValue(2)"
        f" operation_id=102 {DB0} command={json.dumps(FIND)} command_shape=d340fe2a342c72da"
        ' error_type=OperationFailure error="unknown operator: $bogus" slow=false',
    ]


def test_the_log_record_time_is_when_the_event_happened(
    app_logging: logging.Logger, log_path: Path
) -> None:
    # Queued: the LogRecord is made later, on the writer thread, and still says when.
    stream = io.StringIO()
    handler = handler_writing_to(stream, mongo_structlog.json_formatter())
    captured: list[logging.LogRecord] = []

    def capture(record: logging.LogRecord) -> bool:
        captured.append(record)
        return True

    handler.addFilter(capture)
    app_logging.handlers = [handler]
    app_logging.setLevel(logging.INFO)
    pool = mongo_structlog.listeners(output="stdlib", queue_size=10)[4]
    pool.pool_ready(f.pool_ready())
    mongo_structlog.flush()
    (record,) = read_records_from(stream)
    (log_record,) = captured
    assert record["timestamp"] == _rfc3339_of(log_record.created)
    assert log_record.msecs == int(record["timestamp"][20:23])


def test_json_formatter_writes_the_time_of_any_record_to_the_microsecond() -> None:
    # A record the application made on our logger: its time rounds up to the next second.
    record = logging.LogRecord("mongo_structlog", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1764547199.9999996
    line = mongo_structlog.json_formatter().format(record)
    assert json.loads(line) == {"timestamp": "2025-12-01T00:00:00.000000Z", "level": "info"}


def read_records_from(stream: io.StringIO) -> list[dict[str, Any]]:
    return json_lines(stream.getvalue())


def json_lines(text: str) -> list[dict[str, Any]]:
    # Not splitlines(): a record may hold U+0085 or U+2028, which JSON leaves as they are.
    return [json.loads(line) for line in text.split("\n") if line]


def _rfc3339_of(created: float) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- python-json-logger ------------------------------------------------------------------------


def test_python_json_logger_writes_each_field_once_beside_its_own(
    app_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("{asctime}{levelname}{name}{message}", style="{"))
    app_logging.handlers = [handler]
    app_logging.setLevel(logging.INFO)
    log_a_find_that_succeeds_and_one_that_fails()
    succeeded, failed = json_lines(capsys.readouterr().err)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", succeeded.pop("asctime"))
    assert without_driver_id(succeeded) | {"message": unmasked(succeeded["message"])} == {
        "levelname": "INFO",
        "name": "mongo_structlog",
        "message": "mongodb.command.succeeded find shop.users 1.5 ms"
        f" operation_id=101 {DB0} command={json.dumps(FIND)} command_shape=d340fe2a342c72da"
        f" reply={json.dumps(REPLY)} slow=false",
        "event": "mongodb.command.succeeded",
        "operation_id": 101,
        "command_name": "find",
        "database_name": "shop",
        "collection": "users",
        "server_address": "db0.example.com:27017",
        "server_host": "db0.example.com",
        "server_port": 27017,
        "duration_micros": 1500,
        "command": FIND,
        "command_shape": "d340fe2a342c72da",
        "reply": REPLY,
        "slow": False,
    }
    assert (failed["levelname"], failed["event"], failed["error_code"]) == (
        "WARNING",
        "mongodb.command.failed",
        2,
    )
    assert not {"timestamp", "level"} & (set(succeeded) | set(failed))


# -- structlog's ProcessorFormatter ------------------------------------------------------------


def test_structlog_processor_formatter_renders_our_records_as_its_own(
    app_logging: logging.Logger,
) -> None:
    # As structlog's "Rendering using structlog-based formatters within logging" shows.
    timestamper = structlog.processors.TimeStamper(fmt="iso")
    pre_chain = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        timestamper,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    stream = io.StringIO()
    app_logging.handlers = [handler_writing_to(stream, formatter)]
    app_logging.setLevel(logging.INFO)
    log_a_find_that_succeeds_and_one_that_fails()
    succeeded, failed = read_records_from(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", succeeded.pop("timestamp"))
    assert without_driver_id(succeeded) == {
        "event": "mongodb.command.succeeded",
        "level": "info",
        "operation_id": 101,
        "command_name": "find",
        "database_name": "shop",
        "collection": "users",
        "server_address": "db0.example.com:27017",
        "server_host": "db0.example.com",
        "server_port": 27017,
        "duration_micros": 1500,
        "command": FIND,
        "command_shape": "d340fe2a342c72da",
        "reply": REPLY,
        "slow": False,
    }
    assert (failed["level"], failed["event"], failed["error"]) == (
        "warning",
        "mongodb.command.failed",
        "unknown operator: $bogus",
    )


# -- our json_formatter ------------------------------------------------------------------------


def test_json_formatter_writes_the_records_a_file_gets_from_a_real_client(
    app_logging: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    server: MockupDB,
    make_client: MakeClient,
    log_path: Path,
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(mongo_structlog.json_formatter())
    logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME).addHandler(handler)
    logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME).propagate = False
    server.autoresponds(lambda request: request.command_name == "find" and request.ok(FOUND))
    both = mongo_structlog.listeners(output="stdlib") + mongo_structlog.listeners(
        output=str(log_path)
    )
    client = make_client(server.uri, event_listeners=both)
    client.shop.orders.find_one({"status": "paid"})
    client.close()
    via_stdlib = commands(json_lines(capsys.readouterr().err))
    via_file = commands(read_records(log_path))
    assert [r["event"] for r in via_file] == ["mongodb.command.succeeded"]
    # Same keys in the same order, same values; only the two sets' clock readings differ.
    assert [list(r) for r in via_stdlib] == [list(r) for r in via_file]
    assert [untimed(r) for r in via_stdlib] == [untimed(r) for r in via_file]


def commands(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["event"].startswith("mongodb.command.")]


def untimed(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("timestamp", "duration_micros")}


# -- names a LogRecord already has -------------------------------------------------------------

#: Every LogRecord attribute, as the stdlib makes them on this Python, plus what formatters set.
RECORD_NAMES = sorted(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)


def test_bound_names_a_log_record_has_are_written_with_an_app_prefix(
    app_logging: logging.Logger,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("{levelname}{name}", style="{"))
    app_logging.addHandler(handler)
    app_logging.setLevel(logging.INFO)
    structlog.contextvars.bind_contextvars(**{name: f"bound {name}" for name in RECORD_NAMES})
    mongo_structlog.listeners(output="stdlib")[4].pool_ready(f.pool_ready())
    (record,) = read_records_from(stream)
    assert record == {
        "levelname": "INFO",
        "name": "mongo_structlog",
        "event": "mongodb.pool.ready",
        "server_address": "db0.example.com:27017",
        "server_host": "db0.example.com",
        "server_port": 27017,
        **{f"app_{name}": f"bound {name}" for name in RECORD_NAMES},
    }
    assert mongo_structlog.stats()["sink_errors"] == 0


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(
        alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=20
    )
)
def test_no_bound_text_loses_a_record(app_logging: logging.Logger, value: str) -> None:
    stream = io.BytesIO()
    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    app_logging.handlers = [logging.StreamHandler(text)]
    app_logging.handlers[0].setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    json_stream = io.StringIO()
    app_logging.addHandler(handler_writing_to(json_stream, mongo_structlog.json_formatter()))
    app_logging.setLevel(logging.INFO)
    structlog.contextvars.bind_contextvars(file_name=value)
    mongo_structlog.listeners(output="stdlib")[4].pool_ready(f.pool_ready())
    structlog.contextvars.clear_contextvars()
    written = value.encode("utf-8", "backslashreplace").decode("utf-8")
    assert stream.getvalue().decode("utf-8").startswith("INFO mongodb.pool.ready ")
    (record,) = read_records_from(json_stream)
    assert record["file_name"] == written


def test_a_lone_surrogate_is_escaped_not_lost(app_logging: logging.Logger) -> None:
    stream = io.BytesIO()
    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    app_logging.addHandler(handler_writing_to(text, logging.Formatter("%(message)s")))  # type: ignore[arg-type]
    app_logging.setLevel(logging.INFO)
    structlog.contextvars.bind_contextvars(file_name="report-\udcff.csv")
    mongo_structlog.listeners(output="stdlib")[4].pool_ready(f.pool_ready())
    assert stream.getvalue().decode("utf-8") == (
        f"mongodb.pool.ready {DB0} file_name=" + json.dumps("report-\\udcff.csv") + "\n"
    )


# -- logging.config.dictConfig -----------------------------------------------------------------

APP_CONFIG: dict[str, Any] = {
    "version": 1,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}


def test_dict_config_after_configure_is_reported_once_and_its_records_counted(
    app_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    mongo_structlog.configure(output="stdlib")
    pool = mongo_structlog.listeners(output="stdlib")[4]  # a client's, made before dictConfig
    logging.config.dictConfig(APP_CONFIG)  # disable_existing_loggers defaults to True
    pool.pool_ready(f.pool_ready())
    pool.pool_ready(f.pool_ready())
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "mongo_structlog: the stdlib logger 'mongo_structlog' is disabled, so its records are"
        " dropped; logging.config.dictConfig() disables loggers that exist before it: pass"
        " disable_existing_loggers=False or list 'mongo_structlog' under 'loggers'"
        " (reported once; see mongo_structlog.stats())"
    ]
    assert mongo_structlog.stats()["sink_errors"] == 2


@pytest.mark.parametrize(
    "fix",
    [
        {"disable_existing_loggers": False},
        {"loggers": {"mongo_structlog": {"level": "INFO"}}},
    ],
    ids=["disable_existing_loggers=False", "listed under loggers"],
)
def test_dict_config_that_keeps_our_logger_gets_its_records(
    app_logging: logging.Logger, capsys: pytest.CaptureFixture[str], fix: dict[str, Any]
) -> None:
    pool = mongo_structlog.listeners(output="stdlib")[4]
    logging.config.dictConfig({**APP_CONFIG, **fix})
    pool.pool_ready(f.pool_ready())
    captured = capsys.readouterr()
    assert captured.err == f"INFO mongo_structlog mongodb.pool.ready {DB0}\n"
    assert mongo_structlog.stats()["sink_errors"] == 0


# -- PyMongo's own loggers ---------------------------------------------------------------------


def test_quieting_pymongos_own_loggers_leaves_ours(
    app_logging: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    server: MockupDB,
    make_client: MakeClient,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s", force=True
    )
    pymongo_logger = logging.getLogger("pymongo")
    saved = pymongo_logger.level
    server.autoresponds(lambda request: request.command_name == "find" and request.ok(FOUND))
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="stdlib"))
    try:
        client.shop.orders.find_one({"email": "ada@example.com"})
        before = capsys.readouterr().err
        logging.getLogger("pymongo").setLevel(logging.INFO)
        client.shop.orders.find_one({"email": "ada@example.com"})
        after = capsys.readouterr().err
    finally:
        pymongo_logger.setLevel(saved)
    # PyMongo's own records say the command twice, the address in clear.
    assert [
        line.split(" ", 2)[:2] for line in before.splitlines() if "ada@example.com" in line
    ] == [["pymongo.command", "DEBUG"]]
    assert "ada@example.com" not in after
    assert [line.split(" ", 3)[:3] for line in after.splitlines()] == [
        ["mongo_structlog", "INFO", "mongodb.command.succeeded"]
    ]


def test_a_record_below_the_applications_level_for_our_logger_is_counted_dropped() -> None:
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    before = logger.level
    logger.setLevel(logging.ERROR)  # the application's own choice for our logger
    try:
        mongo_structlog.listeners(output="stdlib")[4].pool_ready(f.pool_ready())
    finally:
        logger.setLevel(before)
    stats = mongo_structlog.stats()
    assert (stats["emitted_total"], stats["dropped"]) == (0, {"mongodb.pool.ready": 1})
