"""Outputs and formats: stdout, stderr, a file, the stdlib logger, console, a queue, context."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from bson import Decimal128, ObjectId
from mockupdb import MockupDB
from opentelemetry.sdk.trace import TracerProvider

import mongo_structlog
from mongo_structlog.context import trace_processor
from mongo_structlog.output import build_output, json_default, render_json, rfc3339_now
from mongo_structlog.settings import load_settings

from . import factory as f
from .factory import ADDRESS_FIELDS as A
from .servers import read_records

#: The record ``pool.pool_cleared(f.pool_cleared())`` makes, without its timestamp.
CLEARED = {
    "level": "warning",
    "event": "mongodb.pool.cleared",
    **A,
    "interrupt_connections": False,
}
READY = {"level": "info", "event": "mongodb.pool.ready", **A}


def pool_listener(**settings: Any) -> Any:
    """The pool listener of a fresh listener set."""
    return mongo_structlog.listeners(**settings)[4]


def untimed(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "timestamp"}


def parse_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def clean_contextvars() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def stdlib_logger() -> Iterator[logging.Logger]:
    """The ``mongo_structlog`` stdlib logger, restored after the test."""
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    saved = (logger.level, list(logger.handlers), list(logger.filters), logger.propagate)
    logger.setLevel(logging.NOTSET)
    yield logger
    logger.level, logger.handlers, logger.filters, logger.propagate = (
        saved[0],
        saved[1],
        saved[2],
        saved[3],
    )


# -- streams and files -------------------------------------------------------------------------


def test_stdout_gets_one_json_line_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    pool = pool_listener(output="stdout")
    pool.pool_cleared(f.pool_cleared())
    pool.pool_ready(f.pool_ready())
    out = capsys.readouterr().out
    assert out.endswith("\n")
    assert [untimed(record) for record in parse_lines(out)] == [CLEARED, READY]


def test_stderr_gets_the_records(capsys: pytest.CaptureFixture[str]) -> None:
    pool_listener(output="stderr").pool_cleared(f.pool_cleared())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [untimed(record) for record in parse_lines(captured.err)] == [CLEARED]


def test_the_stream_is_looked_up_at_write_time(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = pool_listener(output="stdout")
    replaced = io.StringIO()  # a text stream without a binary buffer
    monkeypatch.setattr("sys.stdout", replaced)
    pool.pool_ready(f.pool_ready())
    assert [untimed(record) for record in parse_lines(replaced.getvalue())] == [READY]


def test_a_broken_stream_is_counted_and_reported_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = pool_listener(output="stdout")
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    pool.pool_ready(f.pool_ready())
    pool.pool_ready(f.pool_ready())
    assert mongo_structlog.stats()["sink_errors"] == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("mongo_structlog: cannot write log records to stdout: ValueError(")
    assert line.endswith(" (reported once; see mongo_structlog.stats())")


def test_a_file_is_appended_to_never_truncated(log_path: Path) -> None:
    log_path.write_text('{"event": "written before"}\n', encoding="utf-8")
    first = pool_listener(output=str(log_path))
    second = pool_listener(output=str(log_path))
    first.pool_cleared(f.pool_cleared())
    second.pool_ready(f.pool_ready())
    records = read_records(log_path)
    assert records[0] == {"event": "written before"}
    assert [untimed(record) for record in records[1:]] == [CLEARED, READY]


def test_configure_again_closes_the_previous_file(tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    mongo_structlog.configure(output=str(first))
    mongo_structlog.configure(output=str(tmp_path / "second.jsonl"))
    assert first.exists()


@pytest.mark.parametrize("directory", ["missing-dir/records.jsonl", ""])
def test_an_output_that_cannot_be_opened_raises_value_error_naming_variable_or_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: str
) -> None:
    path = str(tmp_path / directory) if directory else str(tmp_path)  # a directory itself
    with pytest.raises(ValueError, match="invalid value for keyword output=") as caught:
        mongo_structlog.listeners(output=path)
    assert repr(path) in str(caught.value)
    assert "cannot open it" in str(caught.value)
    monkeypatch.setenv("MONGO_STRUCTLOG_OUTPUT", path)
    with pytest.raises(ValueError, match="invalid value for MONGO_STRUCTLOG_OUTPUT=") as caught:
        mongo_structlog.configure()
    assert repr(path) in str(caught.value)
    assert "cannot open it" in str(caught.value)


# -- formats -----------------------------------------------------------------------------------


def test_console_format_writes_a_human_line_with_the_event_and_its_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pool_listener(output="stdout", format="console").pool_cleared(f.pool_cleared())
    (line,) = capsys.readouterr().out.splitlines()
    assert " warning " in line
    assert "mongodb.pool.cleared" in line
    assert "server_address=db0.example.com:27017" in line
    assert "interrupt_connections=false" in line
    assert "\x1b[" not in line  # no colours when not writing to a terminal


def test_console_format_to_a_file(log_path: Path) -> None:
    pool_listener(output=str(log_path), format="console").pool_ready(f.pool_ready())
    text = log_path.read_text(encoding="utf-8")
    assert text.count("\n") == 1
    assert "mongodb.pool.ready" in text
    assert "\x1b[" not in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _BrokenTerminal(io.StringIO):
    def isatty(self) -> bool:
        raise OSError("gone")


def test_console_format_is_coloured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    pool_listener(output="stderr", format="console").pool_ready(f.pool_ready())
    assert "\x1b[" in terminal.getvalue()
    broken = _BrokenTerminal()
    monkeypatch.setattr("sys.stderr", broken)
    pool_listener(output="stderr", format="console").pool_ready(f.pool_ready())
    assert "\x1b[" not in broken.getvalue()


def test_ecs_format_renders_ecs_field_names(log_path: Path) -> None:
    pool_listener(output=str(log_path), format="ecs").pool_cleared(f.pool_cleared())
    (record,) = read_records(log_path)
    assert record["message"] == "pool for db0.example.com:27017 cleared"
    assert record["log.level"] == "warning"
    assert record["server"] == {"address": "db0.example.com", "port": 27017}
    assert "@timestamp" in record


# -- the stdlib logger -------------------------------------------------------------------------


def test_stdlib_output_with_json_formatter_writes_exactly_our_record(
    stdlib_logger: logging.Logger, log_path: Path
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(mongo_structlog.json_formatter())
    stdlib_logger.addHandler(handler)
    stdlib_logger.propagate = False
    via_stdlib = mongo_structlog.listeners(output="stdlib", level="debug")
    via_file = mongo_structlog.listeners(output=str(log_path), level="debug")
    for listener_set in (via_stdlib, via_file):
        listener_set[4].pool_cleared(f.pool_cleared())
        listener_set[4].connection_checked_out(f.checked_out(3, 0.0002))
        listener_set[2].failed(f.heartbeat_failed(TimeoutError("timed out")))
    from_stdlib = parse_lines(stream.getvalue())
    from_file = read_records(log_path)
    assert [untimed(r) for r in from_stdlib] == [untimed(r) for r in from_file]
    assert [list(r) for r in from_stdlib] == [list(r) for r in from_file]
    assert len(from_stdlib) == 3


def test_json_formatter_takes_python_json_logger_options(stdlib_logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(mongo_structlog.json_formatter(static_fields={"service": "billing"}))
    stdlib_logger.addHandler(handler)
    stdlib_logger.propagate = False
    pool_listener(output="stdlib").pool_ready(f.pool_ready())
    (record,) = parse_lines(stream.getvalue())
    assert untimed(record) == {**READY, "service": "billing"}


def test_stdlib_output_hands_the_event_as_message_and_fields_as_attributes(
    stdlib_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    pool_listener(output="stdlib").pool_cleared(f.pool_cleared())
    (record,) = caplog.records
    assert (record.name, record.levelname, vars(record)["event"]) == (
        "mongo_structlog",
        "WARNING",
        "mongodb.pool.cleared",
    )
    assert record.server_address == "db0.example.com:27017"  # type: ignore[attr-defined]
    assert record.interrupt_connections is False  # type: ignore[attr-defined]


def test_stdlib_output_sets_our_level_on_a_logger_without_one(
    stdlib_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    # The root logger stays at WARNING; our info records still reach its handlers.
    pool = pool_listener(output="stdlib")
    assert stdlib_logger.level == logging.INFO
    pool.pool_ready(f.pool_ready())
    pool.connection_checked_in(f.checked_in())  # debug: below our level, never made
    assert [vars(r)["event"] for r in caplog.records] == ["mongodb.pool.ready"]


def test_stdlib_output_respects_the_level_the_application_set(
    stdlib_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    stdlib_logger.setLevel(logging.WARNING)
    pool = pool_listener(output="stdlib", level="debug")
    assert stdlib_logger.level == logging.WARNING
    pool.pool_ready(f.pool_ready())
    pool.pool_cleared(f.pool_cleared())
    pool.connection_check_out_failed(f.check_out_failed())
    assert [(r.levelname, vars(r)["event"]) for r in caplog.records] == [
        ("WARNING", "mongodb.pool.cleared"),
        ("ERROR", "mongodb.connection.check_out_failed"),
    ]


def test_a_failing_stdlib_logger_is_counted_not_raised(
    stdlib_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(record: logging.LogRecord) -> bool:
        raise RuntimeError("filter failed")

    stdlib_logger.addFilter(explode)
    pool_listener(output="stdlib").pool_ready(f.pool_ready())
    assert mongo_structlog.stats()["sink_errors"] == 1
    assert "cannot write log records to the stdlib logger" in capsys.readouterr().err


def test_stdlib_output_in_ecs_format(
    stdlib_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    pool_listener(output="stdlib", format="ecs").pool_cleared(f.pool_cleared())
    (record,) = caplog.records
    assert vars(record)["event"]["action"] == "mongodb.pool.cleared"
    assert record.server == {"address": "db0.example.com", "port": 27017}  # type: ignore[attr-defined]


def test_a_queued_stdlib_output_calls_the_logger_on_flush(
    stdlib_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_listener(output="stdlib", queue_size=100, level="debug")
    pool.connection_checked_in(f.checked_in())
    pool.pool_ready(f.pool_ready())
    pool.pool_cleared(f.pool_cleared())
    pool.connection_check_out_failed(f.check_out_failed())
    mongo_structlog.flush()
    assert [(r.levelname, vars(r)["event"]) for r in caplog.records] == [
        ("DEBUG", "mongodb.connection.checked_in"),
        ("INFO", "mongodb.pool.ready"),
        ("WARNING", "mongodb.pool.cleared"),
        ("ERROR", "mongodb.connection.check_out_failed"),
    ]


# -- the queue ---------------------------------------------------------------------------------


def test_a_queued_output_writes_everything_after_flush(capsys: pytest.CaptureFixture[str]) -> None:
    pool = pool_listener(output="stdout", queue_size=1000, level="debug", burst_limit=0)
    for connection_id in range(1, 201):
        pool.connection_checked_in(f.checked_in(connection_id))
    mongo_structlog.flush()
    lines = parse_lines(capsys.readouterr().out)
    assert [r["connection_id"] for r in lines] == list(range(1, 201))
    assert mongo_structlog.stats()["queue_dropped"] == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sizes a pipe (F_SETPIPE_SZ)")
def test_a_full_queue_drops_and_counts_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "nobody-reads-yet"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    pool = pool_listener(output=str(fifo), queue_size=1, burst_limit=0)
    for _ in range(50):  # the pipe fills, the writer blocks, the queue fills
        pool.pool_ready(f.pool_ready())
    stats = mongo_structlog.stats()
    assert stats["queue_dropped"] > 0
    assert stats["lost_reasons"] == {"queue: full": stats["queue_dropped"]}
    assert "output queue full (1 records); dropping records" in capsys.readouterr().err

    lines = b""
    while b"".join(lines.splitlines(keepends=True)).count(b"\n") < 50 - stats["queue_dropped"]:
        try:
            lines += os.read(reader, 65536)
        except BlockingIOError:
            time.sleep(0.01)
    os.close(reader)
    stats = mongo_structlog.stats()
    assert stats["emitted_total"] + stats["queue_dropped"] == 50  # each record counted once
    assert all(json.loads(line)["event"] == "mongodb.pool.ready" for line in lines.splitlines())


def test_configure_again_writes_what_the_old_queue_holds_to_the_old_file(
    tmp_path: Path, server: MockupDB, make_client: Any
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    mongo_structlog.configure(output=str(first), queue_size=1000)
    client = make_client(server.uri)
    for _ in range(20):
        client.admin.command("ping")
    mongo_structlog.configure(output=str(second), queue_size=1000)
    pings = [r for r in read_records(first) if r["event"] == "mongodb.command.succeeded"]
    assert len(pings) == 20
    stats = mongo_structlog.stats()
    assert stats["emitted"]["mongodb.command.succeeded"] == 20
    assert (stats["queue_dropped"], stats["sink_errors"]) == (0, 0)


# -- context: structlog contextvars and OpenTelemetry ------------------------------------------


@pytest.mark.usefixtures("clean_contextvars")
def test_values_bound_with_structlog_contextvars_appear_and_bson_values_render(
    log_path: Path,
) -> None:
    pool = pool_listener(output=str(log_path))
    structlog.contextvars.bind_contextvars(
        order_id=ObjectId("65f0c0ffee0000000000abcd"),
        amount=Decimal128("10.50"),
        server_port="bound values never override the record's own fields",
    )
    pool.pool_ready(f.pool_ready())
    structlog.contextvars.unbind_contextvars("amount")
    pool.pool_ready(f.pool_ready())
    first, second = read_records(log_path)
    clash = {"app_server_port": "bound values never override the record's own fields"}
    order = {"order_id": "65f0c0ffee0000000000abcd"}
    assert untimed(first) == {**READY, **order, "amount": "10.50", **clash}
    assert untimed(second) == {**READY, **order, **clash}


@pytest.mark.usefixtures("clean_contextvars")
def test_values_bound_on_another_thread_do_not_leak(log_path: Path) -> None:
    pool = pool_listener(output=str(log_path))

    def other() -> None:
        structlog.contextvars.bind_contextvars(tenant="acme")
        pool.pool_ready(f.pool_ready())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    pool.pool_ready(f.pool_ready())
    assert [r.get("tenant") for r in read_records(log_path)] == ["acme", None]


@pytest.mark.usefixtures("clean_contextvars")
def test_values_orjson_rejects_become_text(log_path: Path) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    pool = pool_listener(output=str(log_path))
    structlog.contextvars.bind_contextvars(
        huge=2**70, raw=b"\x01\xff", tags={"b"}, pair=(1, 2), odd=Unprintable()
    )
    pool.pool_ready(f.pool_ready())
    (record,) = read_records(log_path)
    assert untimed(record) == {
        **READY,
        "huge": str(2**70),
        "raw": "01ff",
        "tags": ["b"],
        "pair": [1, 2],
        "odd": "<unrepresentable Unprintable>",
    }


def test_records_made_inside_an_opentelemetry_span_carry_its_ids(log_path: Path) -> None:
    tracer = TracerProvider().get_tracer("tests")
    pool = pool_listener(output=str(log_path))
    with tracer.start_as_current_span("checkout") as span:
        pool.pool_ready(f.pool_ready())
        context = span.get_span_context()
    pool.pool_ready(f.pool_ready())
    inside, outside = read_records(log_path)
    assert untimed(inside) == {
        **READY,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
    assert untimed(outside) == READY


def test_without_opentelemetry_there_is_no_trace_step(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # makes the import fail
    assert trace_processor() is None
    tracer = TracerProvider().get_tracer("tests")
    pool = pool_listener(output=str(log_path))
    with tracer.start_as_current_span("checkout"):
        pool.pool_ready(f.pool_ready())
    assert [untimed(r) for r in read_records(log_path)] == [READY]


def test_a_broken_stderr_loses_the_report_but_raises_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = pool_listener(output="stderr")
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stderr", closed)
    pool.pool_ready(f.pool_ready())  # the write fails, and so does the report of it
    assert mongo_structlog.stats()["sink_errors"] == 1


# -- building blocks ---------------------------------------------------------------------------


def test_json_default_turns_anything_into_text_or_a_list() -> None:
    assert json_default(ObjectId("65f0c0ffee0000000000abcd")) == "65f0c0ffee0000000000abcd"
    assert json_default(bytearray(b"\x00\x10")) == "0010"
    assert json_default(memoryview(b"\xab")) == "ab"
    assert json_default(frozenset()) == []
    assert json_default((1, "a")) == [1, "a"]


def test_render_json_writes_keys_that_are_not_str_as_text() -> None:
    # A processor's or a bound dict's keys: the fast first attempt refuses them.
    line = render_json(None, "info", {"event": "x", 7: "a", "ctx": {1: [2], None: 3.5}})
    assert line == b'{"event":"x","7":"a","ctx":{"1":[2],"null":3.5}}\n'


def test_render_json_keeps_what_it_can_when_orjson_rejects_a_value() -> None:
    line = render_json(
        None,
        "info",
        {
            "event": "x",
            "n": 2**64,
            "ok": True,
            "f": 1.5,
            "none": None,
            "tags": ["a"],
            7: [1],
            "deep": {"n": [2**70, "b"]},
        },
    )
    assert json.loads(line) == {
        "event": "x",
        "n": str(2**64),
        "ok": True,
        "f": 1.5,
        "none": None,
        "tags": ["a"],
        "7": [1],
        "deep": {"n": [str(2**70), "b"]},
    }
    assert line.endswith(b"\n")


def test_rfc3339_now_has_microseconds_and_a_z() -> None:
    assert rfc3339_now(0.25) == "1970-01-01T00:00:00.250000Z"
    assert rfc3339_now(0.5) == "1970-01-01T00:00:00.500000Z"
    assert rfc3339_now(1_795_000_000.5) == "2026-11-18T11:06:40.500000Z"


def test_an_extra_processor_may_drop_a_record(log_path: Path) -> None:
    def drop_pool_ready(logger: Any, method_name: str, event_dict: Any) -> Any:
        if event_dict["event"] == "mongodb.pool.ready":
            raise structlog.DropEvent
        return event_dict

    output = build_output(
        load_settings(environ={}, output=str(log_path)), extra_processors=[drop_pool_ready]
    )
    output.log_record("info", {"timestamp": "t", "level": "info", "event": "mongodb.pool.ready"})
    output.log_record("info", {"timestamp": "t", "level": "info", "event": "mongodb.pool.closed"})
    output.close()
    assert read_records(log_path) == [
        {"timestamp": "t", "level": "info", "event": "mongodb.pool.closed"}
    ]
    stats = mongo_structlog.stats()
    assert (stats["emitted"], stats["dropped"]) == (
        {"mongodb.pool.closed": 1},
        {"mongodb.pool.ready": 1},
    )
