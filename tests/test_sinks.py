"""Failing sinks under a real client: a full disk, a closed stdout, a broken pipe, stdlib
handlers that raise.

The application's commands all succeed, the failure is reported once on stderr, and every
record that could not be written is counted in ``stats()["sink_errors"]``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

PINGS = 20


def run_pings(client: MongoClient[dict[str, Any]]) -> None:
    """The application's work: every command must succeed whatever the sink does."""
    for _ in range(PINGS):
        assert client.admin.command("ping") == {"ok": 1}


def reports(err: str) -> list[str]:
    """Our lines on stderr (the application's own output is not ours to check)."""
    return [line for line in err.splitlines() if line.startswith("mongo_structlog: ")]


def assert_every_record_failed(expected_report: str, err: str) -> None:
    """One report naming the failure; every record made counted once, as a sink error."""
    assert reports(err) == [
        f"mongo_structlog: cannot write log records to {expected_report} "
        "(reported once; see mongo_structlog.stats())"
    ]
    stats = mongo_structlog.stats()
    assert stats["emitted"] == {}
    assert stats["sink_errors"] >= PINGS  # one succeeded record per ping at least
    reason = "sink: " + expected_report.split(": ", 1)[1].split("(", maxsplit=1)[0]
    assert stats["lost_reasons"] == {reason: stats["sink_errors"]}
    assert stats["internal_errors"] == 0


def test_a_full_disk_loses_the_records_not_the_commands(
    server: MockupDB, make_client: MakeClient, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="/dev/full"))
    run_pings(client)
    client.close()

    assert_every_record_failed(
        "/dev/full: OSError(28, 'No space left on device')", capfd.readouterr().err
    )


def test_a_full_disk_behind_a_queue_is_counted_by_the_writer_thread(
    server: MockupDB, make_client: MakeClient, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(
        server.uri,
        event_listeners=mongo_structlog.listeners(output="/dev/full", queue_size=1000),
    )
    run_pings(client)
    client.close()
    mongo_structlog.flush()

    assert_every_record_failed(
        "/dev/full: OSError(28, 'No space left on device')", capfd.readouterr().err
    )
    assert mongo_structlog.stats()["queue_dropped"] == 0


def test_a_closed_stdout_loses_the_records_not_the_commands(
    server: MockupDB,
    make_client: MakeClient,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = io.TextIOWrapper(io.BytesIO())
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="stdout"))
    run_pings(client)
    client.close()

    assert_every_record_failed(
        "stdout: ValueError('I/O operation on closed file.')", capfd.readouterr().err
    )


@contextlib.contextmanager
def broken_pipe_stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``sys.stdout`` writes into a pipe nobody reads any more (``EPIPE``).

    Used inside the test body: ``capfd`` puts its own ``sys.stdout`` back at each phase.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = io.TextIOWrapper(open(write_end, "wb"))  # noqa: SIM115  # closed below
    monkeypatch.setattr("sys.stdout", stream)
    try:
        yield
    finally:
        monkeypatch.undo()
        with contextlib.suppress(BrokenPipeError):  # its buffer holds what never went out
            stream.close()


def test_a_broken_pipe_on_stdout_loses_the_records_not_the_commands(
    server: MockupDB,
    make_client: MakeClient,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with broken_pipe_stdout(monkeypatch):
        client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="stdout"))
        run_pings(client)
        client.close()

    assert_every_record_failed("stdout: BrokenPipeError(32, 'Broken pipe')", capfd.readouterr().err)


# -- output=stdlib: the application's handlers ---------------------------------------------------


class RaisingHandler(logging.Handler):
    """A handler whose ``emit`` raises, as one posting to an unreachable collector may."""

    def emit(self, record: logging.LogRecord) -> None:
        raise ConnectionRefusedError("log collector unreachable")


@pytest.fixture
def stdlib_logger() -> Iterator[logging.Logger]:
    """The ``mongo_structlog`` logger, without propagation; restored afterwards."""
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    propagate, handlers = logger.propagate, list(logger.handlers)
    logger.propagate = False
    yield logger
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(logging.NOTSET)


def test_a_stdlib_handler_that_raises_is_counted_and_reported_once(
    server: MockupDB,
    make_client: MakeClient,
    capfd: pytest.CaptureFixture[str],
    stdlib_logger: logging.Logger,
) -> None:
    stdlib_logger.addHandler(RaisingHandler())
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="stdlib"))
    run_pings(client)
    client.close()

    assert_every_record_failed(
        "the stdlib logger: ConnectionRefusedError('log collector unreachable')",
        capfd.readouterr().err,
    )


def test_a_stdlib_stream_handler_on_a_dead_stream_is_the_stdlib_s_to_report(
    server: MockupDB,
    make_client: MakeClient,
    capfd: pytest.CaptureFixture[str],
    stdlib_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stdlib's own handlers catch their failures in emit() and call handleError(),
    # which prints "--- Logging error ---" per record when logging.raiseExceptions is true
    # (the default) and is silent otherwise. Nothing reaches the adapter, so nothing is
    # counted: the application's logging policy decides.
    monkeypatch.setattr(logging, "raiseExceptions", True)
    dead = io.StringIO()
    dead.close()
    stdlib_logger.addHandler(logging.StreamHandler(dead))
    client = make_client(server.uri, event_listeners=mongo_structlog.listeners(output="stdlib"))
    run_pings(client)
    client.close()

    err = capfd.readouterr().err
    assert "--- Logging error ---" in err
    assert "ValueError: I/O operation on closed file" in err
    assert reports(err) == []
    stats = mongo_structlog.stats()
    assert (stats["sink_errors"], stats["internal_errors"]) == (0, 0)
    assert stats["emitted"]["mongodb.command.succeeded"] >= PINGS
