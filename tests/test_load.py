"""Load: many threads sharing one client at sample rate 1 lose, double and break no record.

Every command must have exactly one started and one completion record, every line must
parse on its own, and every thread must finish (no deadlock), with the synchronous file
output and with the queued one.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from .servers import iter_lines, read_records

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

THREADS = 16
COMMANDS_PER_THREAD = 300


def hammer(client: MongoClient[dict[str, Any]]) -> list[BaseException]:
    """Run ``THREADS`` x ``COMMANDS_PER_THREAD`` pings at once; the errors raised, if any."""
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(number: int) -> None:
        database = client[f"worker{number}"]
        start.wait()
        try:
            for _ in range(COMMANDS_PER_THREAD):
                database.command("ping")
        except BaseException as exc:  # the test reports it; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert stuck == [], f"threads never finished (deadlock?): {stuck}"
    return errors


@pytest.mark.parametrize("queue_size", [0, 100_000], ids=["synchronous", "queued"])
def test_every_command_has_exactly_one_started_and_one_completion_record(
    queue_size: int, server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        maxPoolSize=THREADS,
        event_listeners=mongo_structlog.listeners(
            output=str(log_path), level="debug", queue_size=queue_size
        ),
    )

    assert hammer(client) == []
    mongo_structlog.flush()

    lines = list(iter_lines(log_path))
    assert all(line.endswith("}\n") for line in lines)
    records = [json.loads(line) for line in lines]  # fails on a broken or interleaved line
    commands = [r for r in records if r["event"].startswith("mongodb.command.")]
    workers = [r for r in commands if r["database_name"].startswith("worker")]
    by_event = Counter(r["event"] for r in workers)
    assert by_event == {
        "mongodb.command.started": THREADS * COMMANDS_PER_THREAD,
        "mongodb.command.succeeded": THREADS * COMMANDS_PER_THREAD,
    }
    started = Counter(r["driver_request_id"] for r in workers if r["event"].endswith("started"))
    completed = Counter(r["driver_request_id"] for r in workers if r["event"].endswith("succeeded"))
    assert set(started.values()) == {1}
    assert set(completed.values()) == {1}
    assert started.keys() == completed.keys()
    assert Counter(r["database_name"] for r in workers) == {
        f"worker{n}": 2 * COMMANDS_PER_THREAD for n in range(THREADS)
    }
    stats = mongo_structlog.stats()
    written = Counter(r["event"] for r in commands)
    # Every command record counted was written (monitors may add heartbeats meanwhile).
    assert {e: stats["emitted"][e] for e in written} == written
    assert (stats["internal_errors"], stats["sink_errors"], stats["queue_dropped"]) == (0, 0, 0)
    assert stats["in_flight"] == 0


def test_info_level_load_writes_one_completion_per_command_and_nothing_else_per_command(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        maxPoolSize=THREADS,
        event_listeners=mongo_structlog.listeners(output=str(log_path), sample_rate=1),
    )

    assert hammer(client) == []

    records = read_records(log_path)
    workers = [r for r in records if r.get("database_name", "").startswith("worker")]
    assert {r["event"] for r in workers} == {"mongodb.command.succeeded"}
    assert len({r["driver_request_id"] for r in workers}) == len(workers)
    assert len(workers) == THREADS * COMMANDS_PER_THREAD
    assert all("sample_rate" not in r for r in workers)
    assert mongo_structlog.stats()["internal_errors"] == 0
