"""Outputs across their life: swaps, FIFOs, stuck sinks, shared pipes, unencodable values.

Run against real files, FIFOs and pipes, with real clients and processes: the adapter
never writes to a descriptor it no longer owns, never blocks the application beyond a
small bound, and counts every record it makes exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from . import factory as f
from .servers import read_records

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pipes")

REPO = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., MongoClient[dict[str, Any]]]
PINGED = "mongodb.command.succeeded"
#: A generous safety net for what must not block: a hang fails, a slow machine does not.
NEVER_BLOCKS_SECONDS = 3.0


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds (a safety timeout, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def lost(stats: dict[str, Any]) -> int:
    """Records counted as lost by the output (the queue's and the sinks')."""
    return int(stats["queue_dropped"] + stats["sink_errors"])


# -- configure() and reset() while other threads log -----------------------------------------


@pytest.mark.parametrize("queue_size", [0, 1000], ids=["synchronous", "queued"])
def test_a_configure_storm_never_writes_into_the_application_s_files_and_counts_every_record(
    server: MockupDB, make_client: MakeClient, tmp_path: Path, queue_size: int
) -> None:
    ours = [tmp_path / f"ours-{number}.jsonl" for number in range(3)]
    # Command records only: a topology or pool record lost in a swap would be counted too.
    only = {"families": "command", "queue_size": queue_size}
    mongo_structlog.configure(output=str(ours[0]), **only)
    clients = [make_client(server.uri) for _ in range(3)]
    for client in clients:
        client.admin.command("ping")
    mongo_structlog.flush()
    before = mongo_structlog.stats()
    stop = threading.Event()
    pings = [0] * len(clients)

    def ping(index: int) -> None:
        while not stop.is_set():
            clients[index].admin.command("ping")
            pings[index] += 1

    threads = [threading.Thread(target=ping, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    foreign: list[Path] = []
    try:
        for swap in range(150):
            mongo_structlog.configure(output=str(ours[swap % 3]), **only)
            # The application opens files of its own: a closed descriptor's number is reused.
            path = tmp_path / f"application-{swap}.txt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            foreign.append(path)
            time.sleep(0.001)
            os.close(fd)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    mongo_structlog.configure(output=str(tmp_path / "after.jsonl"))
    mongo_structlog.flush()

    assert [path.stat().st_size for path in foreign] == [0] * len(foreign)
    after = mongo_structlog.stats()
    written = after["emitted"][PINGED] - before["emitted"][PINGED]
    assert written + lost(after) - lost(before) == sum(pings)
    in_files = [r for path in ours for r in read_records(path) if r["event"] == PINGED]
    assert len(in_files) - before["emitted"][PINGED] == written
    assert set(after["lost_reasons"]) <= {"sink: OutputClosed", "queue: closed"}


# -- FIFOs and stuck sinks -------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody has opened."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_fifo_output_without_a_queue_is_refused_with_a_clear_error(fifo: Path) -> None:
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # with a reader too: writes may block
    try:
        with pytest.raises(ValueError, match=r"MONGO_STRUCTLOG_OUTPUT=.* is a FIFO .*queue_size"):
            mongo_structlog.configure(output=str(fifo))
    finally:
        os.close(reader)


_FIFO_SCRIPT = """
import json, os, sys, time
sys.path.insert(0, {repo!r})
import mongo_structlog
from tests import factory

fifo = sys.argv[1]
started = time.monotonic()
command, *_ = mongo_structlog.listeners(output=fifo, queue_size=100)
for rid in range(1, 4):
    command.started(factory.command_started(request_id=rid, operation_id=rid))
    command.succeeded(factory.command_succeeded(request_id=rid, operation_id=rid))
mongo_structlog.configure(output=fifo, queue_size=100)
mongo_structlog.reset()
print(time.monotonic() - started < {bound}, flush=True)
reader = os.open(fifo, os.O_RDONLY)  # now somebody reads: what was queued is written
mongo_structlog.flush()
data = b""
while data.count(b"\\n") < 3:
    data += os.read(reader, 65536)
print(sorted(json.loads(line)["operation_id"] for line in data.splitlines()))
"""


def test_a_queued_fifo_output_nobody_reads_is_opened_without_blocking_the_caller(
    fifo: Path,
) -> None:
    script = textwrap.dedent(_FIFO_SCRIPT.format(repo=str(REPO), bound=NEVER_BLOCKS_SECONDS))
    done = subprocess.run(
        [sys.executable, "-c", script, str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert (done.returncode, done.stdout) == (0, "True\n[1, 2, 3]\n"), done.stderr


@pytest.fixture
def stuck_pipe(fifo: Path) -> Iterator[tuple[Path, int]]:
    """A FIFO with a reader that never reads, its buffer as small as Linux allows."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    yield fifo, reader
    os.close(reader)


def fill(pool: Any, records: int) -> None:
    """Make ``records`` records (a pool's ready events, 250 bytes or so each)."""
    for _ in range(records):
        pool.pool_ready(f.pool_ready())


def test_a_stuck_sink_bounds_configure_and_reset_and_counts_what_its_queue_held(
    stuck_pipe: tuple[Path, int], server: MockupDB, make_client: MakeClient
) -> None:
    fifo, _ = stuck_pipe
    mongo_structlog.configure(output=str(fifo), queue_size=1000)
    client = make_client(server.uri)
    for _ in range(100):  # more than the pipe holds: the writer blocks
        client.admin.command("ping")

    started = time.monotonic()
    mongo_structlog.configure(output="stderr", level="error")
    mongo_structlog.reset()
    assert time.monotonic() - started < NEVER_BLOCKS_SECONDS

    eventually(lambda: mongo_structlog.stats()["queue_dropped"] > 0)
    stats = mongo_structlog.stats()
    assert stats["lost_reasons"] == {"queue: stuck": stats["queue_dropped"]}
    assert stats["emitted"].get(PINGED, 0) + stats["queue_dropped"] >= 100


def test_a_dropped_listener_set_with_a_stuck_sink_does_not_block_and_counts_its_records(
    stuck_pipe: tuple[Path, int],
) -> None:
    fifo, _ = stuck_pipe
    pool = mongo_structlog.listeners(output=str(fifo), queue_size=1000, burst_limit=0)[4]
    fill(pool, 200)  # more than the pipe holds: the writer blocks

    started = time.monotonic()
    del pool
    gc.collect()  # the set is dropped with its client: its queue closes
    assert time.monotonic() - started < NEVER_BLOCKS_SECONDS

    # Counted at once, or by the reaper when the writer had moved on a little first.
    eventually(lambda: mongo_structlog.stats()["queue_dropped"] > 0)
    stats = mongo_structlog.stats()
    # Each counted once (only this set's records: a record another test's background
    # thread writes meanwhile is not ours to count).
    assert stats["emitted"].get("mongodb.pool.ready", 0) + stats["queue_dropped"] == 200
    assert stats["lost_reasons"] == {"queue: stuck": stats["queue_dropped"]}


def test_a_sink_that_slows_down_then_stops_after_configure_is_abandoned_and_counted(
    stuck_pipe: tuple[Path, int],
) -> None:
    fifo, reader = stuck_pipe
    pool = mongo_structlog.listeners(output=str(fifo), queue_size=1000, burst_limit=0)[4]
    fill(pool, 1000)
    reading = threading.Event()

    def read_slowly() -> None:  # a reader that keeps up a while, then stops for good
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                os.read(reader, 4096)
            reading.set()
            time.sleep(0.05)  # 80 KiB a second: less than the queue holds

    thread = threading.Thread(target=read_slowly)
    thread.start()
    assert reading.wait(10)
    started = time.monotonic()
    del pool
    gc.collect()  # closed while the writer still makes progress: it goes on in the background
    assert time.monotonic() - started < NEVER_BLOCKS_SECONDS
    thread.join(10)

    eventually(lambda: mongo_structlog.stats()["queue_dropped"] > 0)
    stats = mongo_structlog.stats()
    assert stats["emitted_total"] + stats["queue_dropped"] == 1000  # each counted once
    assert stats["emitted_total"] > 100  # the writer did go on after the close
    assert stats["lost_reasons"] == {"queue: stuck": stats["queue_dropped"]}


# -- several processes, one pipe ---------------------------------------------------------------

_WRITER_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
import mongo_structlog
from tests import factory

command = mongo_structlog.listeners(output="stdout", queue_size=100_000, documents="full")[0]
for rid in range(1, {commands} + 1):
    find = {{"find": "users", "filter": {{"tag": "x" * (rid * 7 % 900)}}}}  # many lengths
    command.started(factory.command_started(find, request_id=rid, operation_id=rid))
    command.succeeded(factory.command_succeeded(request_id=rid, operation_id=rid))
"""


def test_several_processes_sharing_one_slowly_read_pipe_never_splice_a_line() -> None:
    commands, writers = 600, 4
    read_end, write_end = os.pipe()
    script = textwrap.dedent(_WRITER_SCRIPT.format(repo=str(REPO), commands=commands))
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=write_end, cwd=REPO)
        for _ in range(writers)
    ]
    os.close(write_end)
    data = bytearray()
    while chunk := os.read(read_end, 4096):  # a slow reader: the pipe stays full
        data += chunk
        time.sleep(0.0002)
    os.close(read_end)
    for process in processes:
        assert process.wait(60) == 0

    records = [json.loads(line) for line in data.splitlines()]  # every line is whole JSON
    assert Counter(r["operation_id"] for r in records if r["event"] == PINGED) == Counter(
        dict.fromkeys(range(1, commands + 1), writers)
    )


# -- values no encoder takes -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "ecs", "console"])
def test_a_lone_surrogate_in_a_bound_value_is_written_escaped(log_path: Path, fmt: str) -> None:
    pool = mongo_structlog.listeners(output=str(log_path), format=fmt)[4]
    with structlog.contextvars.bound_contextvars(upload=os.fsdecode(b"report-\xff.csv")):
        pool.pool_ready(f.pool_ready())

    text = log_path.read_text(encoding="utf-8")
    if fmt == "console":  # quoted as JSON there: the escape's backslash is escaped too
        assert 'upload="report-\\\\udcff.csv"' in text
    else:
        assert json.loads(text)["upload"] == "report-\\udcff.csv"
    assert mongo_structlog.stats()["emitted_total"] == 1


@pytest.mark.parametrize("fmt", ["json", "ecs", "console"])
def test_any_bound_text_is_written_as_one_record_and_never_lost(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "records"
    pool = mongo_structlog.listeners(output=str(path), format=fmt)[4]

    @settings(max_examples=60, deadline=None)
    @given(value=st.text(st.characters(exclude_categories=()), max_size=40))  # surrogates too
    def written(value: str) -> None:
        before = mongo_structlog.stats()
        size = path.stat().st_size if path.exists() else 0
        with structlog.contextvars.bound_contextvars(upload=value):
            pool.pool_ready(f.pool_ready())

        after = mongo_structlog.stats()
        assert after["emitted_total"] == before["emitted_total"] + 1
        assert lost(after) == 0
        with path.open("rb") as records:
            records.seek(size)
            line = records.read()
        text = line.decode("utf-8")  # valid UTF-8, whatever the value
        if fmt != "console":
            assert type(json.loads(text)["upload"]) is str

    written()
