"""The queued output (``queue_size > 0``): a slow or stuck sink never holds up the application.

The sink here is a stdlib handler on the ``mongo_structlog`` logger that waits on an
event the test controls (a sink that sleeps as long as we like). Nothing is timed: the
tests assert who wrote what, on which thread, how much was dropped and counted, and
what ``flush()``, exit and ``fork()`` leave behind.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient, monitoring

import mongo_structlog
from mongo_structlog.output import _queue

from . import factory
from .servers import named

REPO = Path(__file__).resolve().parent.parent
#: The longest a gated sink waits for its gate: a safety net so a broken test cannot hang.
GATE_SAFETY_SECONDS = 30


class GatedHandler(logging.Handler):
    """A sink that blocks until the test opens its gate, then writes one JSON line per record.

    Records are written (with the process id that made them) to a file, so a forked
    child's lines can be read too. Only the drain thread of the process that built the
    handler waits at the gate; a record handled on the application's own thread is
    written at once and counted in ``on_app_thread`` (a synchronous sink would do that).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.on_app_thread = 0
        self.delay = 0.0
        self._owner = os.getpid()
        self._app_thread = threading.current_thread()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record: logging.LogRecord) -> None:  # runs under the handler's lock
        if threading.current_thread() is self._app_thread:
            self.on_app_thread += 1
        elif os.getpid() == self._owner:
            self.entered.set()
            self.gate.wait(GATE_SAFETY_SECONDS)
            time.sleep(self.delay)
        line = {
            "pid": record.process,
            "level": record.levelname,
            "event": vars(record)["event"],
            "command_name": getattr(record, "command_name", None),
            "driver_request_id": getattr(record, "driver_request_id", None),
        }
        if self._fd is not None:  # records of an earlier test's pipeline may arrive late
            os.write(self._fd, (json.dumps(line) + "\n").encode())

    def lines(self) -> list[dict[str, Any]]:
        """Every record written so far, in order."""
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        super().close()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[GatedHandler]:
    """A gated handler on the ``mongo_structlog`` logger (closed gate), removed afterwards."""
    handler = GatedHandler(tmp_path / "sink.jsonl")
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield handler
    handler.gate.set()
    mongo_structlog.flush()
    logger.removeHandler(handler)
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    handler.close()


def publish(command: Any, request_id: int, failed: bool = False) -> None:
    """One command's started and completion events, as PyMongo publishes them."""
    command.started(factory.command_started(request_id=request_id, operation_id=request_id))
    if failed:
        command.failed(factory.command_failed(request_id=request_id, operation_id=request_id))
    else:
        command.succeeded(factory.command_succeeded(request_id=request_id, operation_id=request_id))


def test_commands_complete_while_the_sink_is_blocked(
    server: MockupDB, make_client: Callable[..., MongoClient[dict[str, Any]]], sink: GatedHandler
) -> None:
    client = make_client(
        server.uri, event_listeners=mongo_structlog.listeners(output="stdlib", queue_size=1000)
    )
    for _ in range(10):
        assert client.admin.command("ping") == {"ok": 1}
    assert sink.entered.wait(10), "the drain thread never reached the sink"

    assert sink.lines() == []  # all ten commands finished; the sink has not written one record
    assert sink.on_app_thread == 0
    sink.gate.set()
    mongo_structlog.flush()
    pings = [
        r for r in named(sink.lines(), "mongodb.command.succeeded") if r["command_name"] == "ping"
    ]
    assert len(pings) == 10
    assert sink.on_app_thread == 0
    assert mongo_structlog.stats()["queue_dropped"] == 0


def test_a_full_queue_drops_records_and_counts_them(
    sink: GatedHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=2)
    for request_id in range(1, 11):
        publish(command, request_id)
    assert sink.entered.wait(10)

    stats = mongo_structlog.stats()
    assert stats["emitted_total"] == 0  # counted once written
    # The sink holds one record and the queue two: the other seven were dropped.
    assert stats["queue_dropped"] >= 7
    sink.gate.set()
    mongo_structlog.flush()
    after = mongo_structlog.stats()
    assert len(sink.lines()) + stats["queue_dropped"] == 10
    assert after["emitted_total"] == len(sink.lines())
    assert after["queue_dropped"] == stats["queue_dropped"]
    assert capsys.readouterr().err.count("output queue full (2 records); dropping records") == 1


def test_flush_waits_for_a_slow_sink_to_write_everything_queued(sink: GatedHandler) -> None:
    command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=100)
    for request_id in range(1, 6):
        publish(command, request_id)
    assert sink.entered.wait(10)
    sink.delay = 0.02  # once open, the sink still sleeps on every record
    sink.gate.set()

    mongo_structlog.flush()
    assert [r["driver_request_id"] for r in sink.lines()] == [1, 2, 3, 4, 5]


def test_queued_stdlib_records_keep_their_level(sink: GatedHandler) -> None:
    sink.gate.set()
    command, *_, pool = mongo_structlog.listeners(output="stdlib", queue_size=100, level="debug")
    publish(command, 1)
    publish(command, 2, failed=True)
    pool.connection_check_out_failed(factory.check_out_failed())

    mongo_structlog.flush()
    assert [(r["event"], r["level"], r["driver_request_id"]) for r in sink.lines()] == [
        ("mongodb.command.started", "DEBUG", 1),
        ("mongodb.command.succeeded", "INFO", 1),
        ("mongodb.command.started", "DEBUG", 2),
        ("mongodb.command.failed", "WARNING", 2),
        ("mongodb.connection.check_out_failed", "ERROR", None),
    ]
    assert sink.on_app_thread == 0


def test_configure_again_writes_what_the_old_queue_held_before_closing_it(
    sink: GatedHandler, log_path: Path
) -> None:
    mongo_structlog.configure(output="stdlib", queue_size=100)
    dispatch = monitoring._EventListeners(None)  # what a new client gets: the global listeners
    for request_id in (1, 2, 3):
        dispatch.publish_command_start({"ping": 1}, "admin", request_id, factory.ADDRESS, None)
        dispatch.publish_command_success(
            timedelta(microseconds=300), {"ok": 1}, "ping", request_id, factory.ADDRESS, None
        )
    assert sink.entered.wait(10)
    sink.delay = 0.02
    sink.gate.set()

    mongo_structlog.configure(output=str(log_path))  # closes the queued output it replaces
    assert [r["driver_request_id"] for r in sink.lines()] == [1, 2, 3]
    mongo_structlog.flush()  # the closed queue is skipped
    assert [r["driver_request_id"] for r in sink.lines()] == [1, 2, 3]


def test_a_queued_file_output_writes_every_line_by_flush(log_path: Path) -> None:
    # Enough records for the writer to fall behind and gather lines into one write.
    command, *_ = mongo_structlog.listeners(output=str(log_path), queue_size=10_000)
    for request_id in range(1, 2001):
        publish(command, request_id)

    mongo_structlog.flush()
    lines = log_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["driver_request_id"] for line in lines] == list(range(1, 2001))


def test_a_discarded_listener_set_writes_what_it_queued_and_ends_its_thread(
    log_path: Path,
) -> None:
    before = set(threading.enumerate())
    listeners = mongo_structlog.listeners(output=str(log_path), queue_size=100)
    (drain_thread,) = set(threading.enumerate()) - before
    publish(listeners[0], 1)

    del listeners  # as when a client and its listeners are dropped without any close()
    gc.collect()
    drain_thread.join(10)
    assert not drain_thread.is_alive()
    assert [
        json.loads(line)["driver_request_id"] for line in log_path.read_text().splitlines()
    ] == [1]


def test_flush_gives_up_on_a_stuck_sink_instead_of_hanging(
    sink: GatedHandler, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_queue, "FLUSH_STALL_SECONDS", 0.1)
    command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=100)
    publish(command, 1)
    publish(command, 2)
    assert sink.entered.wait(10)

    mongo_structlog.flush()  # returns although the sink never finishes a record
    assert sink.lines() == []
    assert "stopped writing" in capsys.readouterr().err


def test_flush_gives_up_on_a_stuck_sink_even_with_a_full_queue(
    sink: GatedHandler, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_queue, "FLUSH_STALL_SECONDS", 0.1)
    command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=1)
    publish(command, 1)
    assert sink.entered.wait(10)  # the sink holds record 1 ...
    publish(command, 2)  # ... record 2 fills the queue ...
    publish(command, 3)  # ... and record 3 is dropped

    mongo_structlog.flush()  # cannot even queue its marker, and returns
    assert sink.lines() == []
    assert "stopped writing" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_writes_its_own_records_and_not_the_parents_queued_ones(
    sink: GatedHandler,
) -> None:
    command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=100)
    for request_id in (1, 2, 3):
        publish(command, request_id)
    assert sink.entered.wait(10)  # the parent's sink holds record 1; 2 and 3 wait in its queue

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, whose coverage is not collected
        code = 1
        try:
            publish(command, 101)
            publish(command, 102)
            mongo_structlog.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.gate.set()
    mongo_structlog.flush()

    written = sorted((r["pid"], r["driver_request_id"]) for r in sink.lines())
    parent = os.getpid()
    assert written == sorted([(parent, 1), (parent, 2), (parent, 3), (pid, 101), (pid, 102)])


_SLOW_SINK_SCRIPT = """
import logging, os, sys, time
sys.path.insert(0, {repo!r})
import mongo_structlog
from tests import factory

class Sink(logging.Handler):
    def emit(self, record):
        time.sleep(0.01)
        os.write(1, f"{{record.event}} {{record.driver_request_id}}\\n".encode())

logger = logging.getLogger("mongo_structlog")
logger.addHandler(Sink())
logger.propagate = False
command, *_ = mongo_structlog.listeners(output="stdlib", queue_size=100)
for rid in range(1, 21):
    command.started(factory.command_started(request_id=rid, operation_id=rid))
    command.succeeded(factory.command_succeeded(request_id=rid, operation_id=rid))
"""

# A FIFO whose reader never reads: once the pipe's buffer is full, every write blocks.
_STUCK_SINK_SCRIPT = """
import fcntl, os, sys
sys.path.insert(0, {repo!r})
import mongo_structlog
from tests import factory

fifo = sys.argv[1]
os.mkfifo(fifo)
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
fcntl.fcntl(reader, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
command, *_ = mongo_structlog.listeners(output=fifo, queue_size=1000)
for rid in range(1, 201):
    command.started(factory.command_started(request_id=rid, operation_id=rid))
    command.succeeded(factory.command_succeeded(request_id=rid, operation_id=rid))
print(mongo_structlog.stats()["queue_dropped"])
"""


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script.format(repo=str(REPO))), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_records_still_queued_at_exit_are_written() -> None:
    done = _run(_SLOW_SINK_SCRIPT)

    assert done.returncode == 0, done.stderr
    expected = [f"mongodb.command.succeeded {rid}" for rid in range(1, 21)]
    assert done.stdout.splitlines() == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sizes a pipe with F_SETPIPE_SZ")
def test_a_stuck_sink_does_not_hang_the_exit(tmp_path: Path) -> None:
    done = _run(_STUCK_SINK_SCRIPT, str(tmp_path / "nobody-reads"))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "0\n"  # the application never waited, and nothing overflowed
    assert "output sink stopped writing" in done.stderr
