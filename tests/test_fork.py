"""Fork: configure, fork, keep logging in parent and child at once.

Neither process deadlocks on a lock inherited mid-use, no line is lost, doubled or
broken in the shared ``O_APPEND`` file, and a queued output in the child starts afresh.
Linux only (``os.fork``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from .servers import iter_lines, read_records

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork checked on Linux")

COMMANDS = 200
REPO = Path(__file__).resolve().parent.parent


def fork() -> int:
    """``os.fork()``, without Python 3.12's warning about forking a process with threads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def run_child(uri: str) -> None:
    """The child's work; it exits 0 if all went well, 1 otherwise, and never returns.

    Its own client (made after the fork), ``COMMANDS`` pings, a flush, and a look at the
    counters.
    """
    status = 1
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        for _ in range(COMMANDS):
            client.child.command("ping")
        client.close()
        mongo_structlog.flush()
        mongo_structlog.stats()  # as a worker exporting its counters would
        status = 0
    except BaseException as exc:
        sys.stderr.write(f"child failed: {exc!r}\n")
    finally:
        os._exit(status)  # never return into pytest's machinery in the child


def wait_child(pid: int, timeout: float = 30.0) -> int:
    """The child's exit code; kill it and fail if it does not finish (a deadlock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the child never finished: deadlocked after fork?")


@pytest.mark.parametrize("queue_size", [0, 10_000], ids=["synchronous", "queued"])
def test_parent_and_child_both_log_everything_once_after_fork(
    queue_size: int, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(output=str(log_path), queue_size=queue_size)
    parent = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        parent.parent.command("ping")
        # Another thread is logging as the fork happens, so the adapter's locks may be held.
        stop = threading.Event()
        background_pings = [0]

        def keep_logging() -> None:
            while not stop.is_set():
                parent.background.command("ping")
                background_pings[0] += 1

        thread = threading.Thread(target=keep_logging)
        thread.start()
        time.sleep(0.05)
        pid = fork()
        if pid == 0:
            run_child(server.uri)
        for _ in range(COMMANDS):
            parent.parent.command("ping")
        exit_code = wait_child(pid)
        stop.set()
        thread.join(10)
    finally:
        parent.close()
    mongo_structlog.flush()
    assert exit_code == 0

    lines = list(iter_lines(log_path))
    records = [json.loads(line) for line in lines]  # fails on a broken or interleaved line
    succeeded = Counter(
        r["database_name"] for r in records if r["event"] == "mongodb.command.succeeded"
    )
    assert succeeded["parent"] == COMMANDS + 1
    assert succeeded["child"] == COMMANDS
    assert succeeded["background"] == background_pings[0]
    # No record of the parent was written twice (the child did not inherit its queue).
    ids = Counter(
        (r["database_name"], r["driver_request_id"])
        for r in records
        if r["event"] == "mongodb.command.succeeded" and r["database_name"] != "child"
    )
    assert set(ids.values()) == {1}
    stats = mongo_structlog.stats()  # the parent's counters only
    assert (stats["internal_errors"], stats["sink_errors"], stats["queue_dropped"]) == (0, 0, 0)


def busy(stop: threading.Event, work: Any) -> threading.Thread:
    """A thread doing ``work()`` until ``stop`` is set."""

    def loop() -> None:
        while not stop.is_set():
            work()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_a_fork_while_other_threads_log_sample_and_count_never_deadlocks_the_child(
    server: MockupDB, log_path: Path
) -> None:
    # Sampling drops commands, and each drop may age out the correlation map and write a
    # summary; every record is counted: the steps that take a lock. Fork again and again
    # while other threads are inside them.
    mongo_structlog.configure(
        output=str(log_path), sample_rate=0.5, correlation_ttl_ms=1, summary_interval_ms=1
    )
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    stop = threading.Event()
    threads = [busy(stop, lambda: client.parent.command("ping")) for _ in range(2)]
    threads.append(busy(stop, mongo_structlog.stats))
    try:
        for _ in range(5):
            pid = fork()
            if pid == 0:
                run_child(server.uri)
            assert wait_child(pid, timeout=30) == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        client.close()
    records = read_records(log_path)
    assert sum(r.get("database_name") == "child" for r in records) > 0
    assert any(r["event"] == "mongodb.sampling.summary" for r in records)


_FORK_IN_CONFIGURE = """
import os, sys, threading, time, warnings
sys.path.insert(0, {repo!r})
import mongo_structlog

warnings.simplefilter("ignore", DeprecationWarning)
folder = sys.argv[1]
stop = threading.Event()

def storm():
    number = 0
    while not stop.is_set():
        number += 1
        mongo_structlog.configure(output=os.path.join(folder, f"parent-{{number % 3}}.jsonl"),
                                  queue_size=number % 2 * 100)
        if number % 5 == 0:
            mongo_structlog.reset()

thread = threading.Thread(target=storm, daemon=True)
thread.start()
time.sleep(0.05)
for attempt in range(20):
    pid = os.fork()
    if pid == 0:
        mongo_structlog.configure(output=os.path.join(folder, "child.jsonl"), queue_size=10)
        mongo_structlog.reset()
        mongo_structlog.flush()
        os._exit(0)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            print("child", attempt, "hung")
            sys.exit(1)
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0, status
    time.sleep(0.005)
stop.set()
thread.join(20)
print("ok")
"""


def test_a_fork_while_another_thread_is_inside_configure_lets_the_child_configure(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FORK_IN_CONFIGURE.format(repo=str(REPO)), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net: a hung child is reported by the script itself
        check=False,
        cwd=REPO,
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
