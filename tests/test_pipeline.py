"""``pipeline.py``: which records sampling keeps, and what they carry.

The first part feeds real PyMongo event objects (built here with PyMongo's own
constructors) to one listener set writing to a file and compares whole records. The
second part runs a real ``MongoClient`` against mockupdb: thousands of commands with
PyMongo's own request ids, failures, slow commands and a dropped connection.
"""

from __future__ import annotations

import datetime
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from mockupdb import MockupDB
from pymongo import MongoClient, monitoring
from pymongo.errors import AutoReconnect, OperationFailure

import mongo_structlog
from mongo_structlog import DocumentRenderer
from mongo_structlog.sampling import keep_request, threshold

from .servers import named, read_records, wait_for, without_volatile

Client = MongoClient[dict[str, Any]]
MakeClient = Callable[..., Client]

A = ("db1.example.com", 27017)
B = ("db2.example.com", 27017)
AT_A = {
    "server_address": "db1.example.com:27017",
    "server_host": "db1.example.com",
    "server_port": 27017,
}
AT_B = {
    "server_address": "db2.example.com:27017",
    "server_host": "db2.example.com",
    "server_port": 27017,
}

FIND = {"find": "users", "filter": {"name": "Ada"}, "$db": "shop"}
FIND_TEXT = '{"find":"users","filter":{"name":"?"},"$db":"shop"}'
FIND_SHAPE = DocumentRenderer("shape").command("find", FIND)[1]
INSERT = {"insert": "orders", "documents": [{"sku": "A-1"}], "$db": "shop"}
INSERT_TEXT = '{"insert":"orders","documents":[{"sku":"?"}],"$db":"shop"}'
INSERT_SHAPE = DocumentRenderer("shape").command("insert", INSERT)[1]
REPLY = {"ok": 1, "cursor": {"id": 0, "firstBatch": [], "ns": "shop.users"}}
REPLY_TEXT = '{"ok":1,"cursorId":0,"batchSize":0}'
FAILURE = {"ok": 0, "errmsg": "bad value", "code": 2, "codeName": "BadValue"}

#: What every ``find`` record on server A says besides its ids, timing and outcome.
FIND_ON_A = {
    "command_name": "find",
    "database_name": "shop",
    "collection": "users",
    **AT_A,
    "command": FIND_TEXT,
    "command_shape": FIND_SHAPE,
}

COMMAND, SERVER, HEARTBEAT, TOPOLOGY, POOL = range(5)
SUMMARY = "mongodb.sampling.summary"
TOPOLOGY_ID = ObjectId("6543210fedcba98765432100")


# -- real PyMongo events ------------------------------------------------------------------


def started(
    request_id: int, address: Any = A, command: dict[str, Any] | None = None
) -> monitoring.CommandStartedEvent:
    """PyMongo's started event for ``command`` (a ``find`` by default)."""
    return monitoring.CommandStartedEvent(
        FIND if command is None else command, "shop", request_id, address, request_id
    )


def succeeded(
    request_id: int, micros: int = 850, address: Any = A, name: str = "find"
) -> monitoring.CommandSucceededEvent:
    """PyMongo's succeeded event, ``micros`` after its start."""
    return monitoring.CommandSucceededEvent(
        datetime.timedelta(microseconds=micros),
        REPLY if name == "find" else {"ok": 1},
        name,
        request_id,
        address,
        request_id,
        database_name="shop",
    )


def failed(
    request_id: int, micros: int = 900, address: Any = A, name: str = "find"
) -> monitoring.CommandFailedEvent:
    """PyMongo's failed event for a server error (``BadValue``)."""
    return monitoring.CommandFailedEvent(
        datetime.timedelta(microseconds=micros),
        FAILURE,
        name,
        request_id,
        address,
        request_id,
        database_name="shop",
    )


def listener_set(log_path: Path, **settings: Any) -> list[Any]:
    """One client's five listeners writing to ``log_path``."""
    return mongo_structlog.listeners(output=str(log_path), **settings)


def run(listeners: list[Any], request_id: int, **outcome: Any) -> None:
    """Start and complete one ``find`` (``fail=True`` fails it; ``micros=`` sets its duration)."""
    commands = listeners[COMMAND]
    commands.started(started(request_id))
    if outcome.get("fail"):
        commands.failed(failed(request_id, outcome.get("micros", 900)))
    else:
        commands.succeeded(succeeded(request_id, outcome.get("micros", 850)))


def kept_at(rate: float, ids: Any) -> list[int]:
    """The request ids among ``ids`` a sample ``rate`` keeps."""
    cutoff = threshold(rate)
    return [request_id for request_id in ids if keep_request(request_id, cutoff)]


def ids_of(records: list[dict[str, Any]], event: str) -> list[int]:
    return [record["driver_request_id"] for record in named(records, event)]


def strip(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [without_volatile(record) for record in records]


# -- one record per command ---------------------------------------------------------------


def test_one_record_per_command_at_info_with_the_command_its_duration_and_outcome(
    log_path: Path,
) -> None:
    run(listener_set(log_path), 7)
    (record,) = read_records(log_path)
    assert without_volatile(record, "topology_id") | {"duration_micros": 850} == {
        "level": "info",
        "event": "mongodb.command.succeeded",
        **FIND_ON_A,
        "duration_micros": 850,
        "reply": REPLY_TEXT,
        "slow": False,
    }
    assert (record["driver_request_id"], record["operation_id"]) == (7, 7)


def test_at_debug_the_started_record_comes_first_and_neither_has_a_sample_rate_at_one(
    log_path: Path,
) -> None:
    run(listener_set(log_path, level="debug"), 7)
    assert [without_volatile(r, "driver_request_id") for r in read_records(log_path)] == [
        {"level": "debug", "event": "mongodb.command.started", **FIND_ON_A},
        {
            "level": "info",
            "event": "mongodb.command.succeeded",
            **FIND_ON_A,
            "reply": REPLY_TEXT,
            "slow": False,
        },
    ]


def test_kept_records_carry_the_sample_rate_and_dropped_ones_are_counted(log_path: Path) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0.25)
    for request_id in range(1, 41):
        run(listeners, request_id)
    records = read_records(log_path)
    kept = kept_at(0.25, range(1, 41))
    assert kept == [3, 10, 18, 20, 21, 33, 40]
    assert ids_of(records, "mongodb.command.started") == kept
    assert ids_of(records, "mongodb.command.succeeded") == kept
    assert {record["sample_rate"] for record in records} == {0.25}
    assert without_volatile(named(records, "mongodb.command.succeeded")[0]) == {
        "level": "info",
        "event": "mongodb.command.succeeded",
        **FIND_ON_A,
        "reply": REPLY_TEXT,
        "slow": False,
        "sample_rate": 0.25,
    }
    stats = mongo_structlog.stats()
    assert stats["emitted"] == {"mongodb.command.started": 7, "mongodb.command.succeeded": 7}
    assert stats["dropped"] == {"mongodb.command.started": 33, "mongodb.command.succeeded": 33}
    assert stats["in_flight"] == 0


def test_the_family_rate_for_commands_wins_over_the_general_rate(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0.9, sample_rate_command=0.25)
    for request_id in range(1, 41):
        run(listeners, request_id)
    records = read_records(log_path)
    assert ids_of(records, "mongodb.command.succeeded") == kept_at(0.25, range(1, 41))


def test_started_and_completion_records_agree_for_every_request_id(log_path: Path) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0.3)
    commands = listeners[COMMAND]
    ids = [*range(-(2**31), -(2**31) + 300), *range(-150, 150), *range(2**31 - 300, 2**31)]
    # Fifty commands in flight at a time, completed in another order than started.
    for start in range(0, len(ids), 50):
        batch = ids[start : start + 50]
        for request_id in batch:
            commands.started(started(request_id))
        for request_id in reversed(batch):
            if request_id % 11 == 0:
                commands.failed(failed(request_id))
            else:
                commands.succeeded(succeeded(request_id))
    records = read_records(log_path)
    started_ids = ids_of(records, "mongodb.command.started")
    completed = [
        *ids_of(records, "mongodb.command.succeeded"),
        *ids_of(records, "mongodb.command.failed"),
    ]
    assert sorted(started_ids) == sorted(completed)
    assert len(started_ids) == len(set(started_ids))
    expected = set(kept_at(0.3, ids)) | {request_id for request_id in ids if request_id % 11 == 0}
    assert set(completed) == expected


# -- never sampled out --------------------------------------------------------------------


def test_a_failed_command_is_logged_at_rate_zero_with_its_started_record_written_late(
    log_path: Path,
) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0)
    run(listeners, 7, fail=True, micros=900)
    late, failure = read_records(log_path)
    assert without_volatile(late) == {
        "level": "debug",
        "event": "mongodb.command.started",
        **FIND_ON_A,
    }
    assert without_volatile(failure) == {
        "level": "warning",
        "event": "mongodb.command.failed",
        **FIND_ON_A,
        "error_type": "OperationFailure",
        "error_code": 2,
        "error_code_name": "BadValue",
        "error": "bad value",
        "slow": False,
    }
    # Stamped with the time the command started: its duration before the failure.
    assert late["timestamp"] < failure["timestamp"]
    stats = mongo_structlog.stats()
    assert stats["dropped"] == {}
    assert stats["emitted"] == {"mongodb.command.started": 1, "mongodb.command.failed": 1}


def test_a_command_at_or_over_slow_ms_is_logged_at_warning_at_rate_zero(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, slow_ms=2)
    run(listeners, 1, micros=1999)
    run(listeners, 2, micros=2000)
    run(listeners, 3, micros=250_000)
    records = read_records(log_path)
    assert ids_of(records, "mongodb.command.succeeded") == [2, 3]
    assert without_volatile(records[0]) == {
        "level": "warning",
        "event": "mongodb.command.succeeded",
        **FIND_ON_A,
        "reply": REPLY_TEXT,
        "slow": True,
    }
    assert mongo_structlog.stats()["dropped"] == {"mongodb.command.succeeded": 1}


def test_a_failure_kept_by_its_rate_too_carries_no_sample_rate(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0.5)
    kept = kept_at(0.5, range(1, 20))[0]
    run(listeners, kept, fail=True)
    run(listeners, kept + 1000, micros=500_000)  # slow
    records = read_records(log_path)
    assert [("sample_rate" in record, record["level"]) for record in records] == [
        (False, "warning"),
        (False, "warning"),
    ]


def test_state_changes_are_logged_at_every_rate_and_burst_limit(log_path: Path) -> None:
    listeners = listener_set(
        log_path,
        level="debug",
        sample_rate=0,
        sample_rate_heartbeat=0,
        sample_rate_pool=0,
        burst_limit=1,
        burst_thereafter=0,
    )
    pool, heartbeat = listeners[POOL], listeners[HEARTBEAT]
    for _ in range(3):
        pool.pool_cleared(monitoring.PoolClearedEvent(A))
        pool.connection_check_out_failed(
            monitoring.ConnectionCheckOutFailedEvent(A, "timeout", 0.12)
        )
        pool.connection_closed(monitoring.ConnectionClosedEvent(A, 4, "error"))
        heartbeat.failed(monitoring.ServerHeartbeatFailedEvent(0.01, AutoReconnect("down"), A))
        # Chatter of the same families is dropped.
        pool.connection_checked_out(monitoring.ConnectionCheckedOutEvent(A, 4, 0.0001))
        pool.connection_closed(monitoring.ConnectionClosedEvent(A, 5, "idle"))
        heartbeat.started(monitoring.ServerHeartbeatStartedEvent(A))
    records = read_records(log_path)
    assert [record["event"] for record in records] == [
        "mongodb.pool.cleared",
        "mongodb.connection.check_out_failed",
        "mongodb.connection.closed",
        "mongodb.heartbeat.failed",
    ] * 3
    assert all("sample_rate" not in record for record in records)
    assert mongo_structlog.stats()["dropped"] == {
        "mongodb.connection.checked_out": 3,
        "mongodb.connection.closed": 3,
        "mongodb.heartbeat.started": 3,
    }


# -- chatter: family rates and the burst limiter ------------------------------------------


def test_the_burst_limiter_lets_n_through_then_one_in_m_per_event_and_server(
    log_path: Path,
) -> None:
    listeners = listener_set(log_path, level="debug", burst_limit=3, burst_thereafter=5)
    pool = listeners[POOL]
    for _ in range(20):
        pool.connection_checked_out(monitoring.ConnectionCheckedOutEvent(A, 1, 0.0001))
    for _ in range(4):
        pool.connection_checked_out(monitoring.ConnectionCheckedOutEvent(B, 1, 0.0001))
    records = read_records(log_path)
    on_a = [r for r in records if r["server_address"] == AT_A["server_address"]]
    on_b = [r for r in records if r["server_address"] == AT_B["server_address"]]
    # The 1st, 2nd, 3rd, then the 8th, 13th and 18th on A; three on B.
    assert (len(on_a), len(on_b)) == (6, 3)
    assert strip(on_b)[0] == {
        "level": "debug",
        "event": "mongodb.connection.checked_out",
        **AT_B,
        "connection_id": 1,
    }
    stats = mongo_structlog.stats()
    assert stats["emitted"] == {"mongodb.connection.checked_out": 9}
    assert stats["dropped"] == {"mongodb.connection.checked_out": 15}


def test_chatter_kept_by_a_family_rate_below_one_carries_it(log_path: Path) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate_pool=0.5, burst_limit=0)
    for _ in range(400):
        listeners[POOL].connection_checked_in(monitoring.ConnectionCheckedInEvent(A, 1))
        listeners[HEARTBEAT].started(monitoring.ServerHeartbeatStartedEvent(A))
    records = read_records(log_path)
    checked_in = named(records, "mongodb.connection.checked_in")
    assert {record["sample_rate"] for record in checked_in} == {0.5}
    assert 0 < len(checked_in) < 400
    stats = mongo_structlog.stats()
    assert len(checked_in) + stats["dropped"]["mongodb.connection.checked_in"] == 400
    # The heartbeat family has its own rate, 1 by default: all kept, no sample_rate.
    heartbeats = named(records, "mongodb.heartbeat.started")
    assert len(heartbeats) == 400
    assert all("sample_rate" not in record for record in heartbeats)


# -- the summary ----------------------------------------------------------------------------


def test_a_summary_reports_drops_even_when_every_record_is_dropped(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, summary_interval_ms=1)
    for request_id in range(1, 11):
        run(listeners, request_id)
        time.sleep(0.003)  # drops are rare: each one looks at the clock
    summaries = named(read_records(log_path), "mongodb.sampling.summary")
    assert summaries
    assert {record["suppressed_event"] for record in summaries} == {"mongodb.command.succeeded"}
    assert {record["level"] for record in summaries} == {"info"}
    assert all(record["burst_limited"] == 0 for record in summaries)
    assert all(record["interval_ms"] >= 1 for record in summaries)
    assert 1 <= sum(record["sampled_out"] for record in summaries) <= 10
    assert without_volatile(summaries[0], "interval_ms", "sampled_out") == {
        "level": "info",
        "event": "mongodb.sampling.summary",
        "suppressed_event": "mongodb.command.succeeded",
        "burst_limited": 0,
    }


def test_a_logged_record_brings_out_the_summary_of_earlier_drops(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, summary_interval_ms=1)
    for request_id in range(1, 4):
        run(listeners, request_id)
    time.sleep(0.005)
    for request_id in range(100, 164):  # every 64th logged completion looks at the clock
        run(listeners, request_id, fail=True)
    records = read_records(log_path)
    assert records[-1]["event"] == "mongodb.sampling.summary"
    summaries = named(records, "mongodb.sampling.summary")
    assert sum(record["sampled_out"] for record in summaries) == 3
    assert without_volatile(records[-1], "interval_ms", "sampled_out") == {
        "level": "info",
        "event": "mongodb.sampling.summary",
        "suppressed_event": "mongodb.command.succeeded",
        "burst_limited": 0,
    }


def test_a_summary_separates_sampled_out_from_burst_limited(log_path: Path) -> None:
    listeners = listener_set(
        log_path, level="debug", sample_rate_pool=0.5, burst_limit=1, summary_interval_ms=1
    )
    pool = listeners[POOL]
    for _ in range(200):
        pool.connection_checked_in(monitoring.ConnectionCheckedInEvent(A, 1))
    time.sleep(0.005)
    for request_id in range(64):  # logged completions: the 64th brings out the summary
        run(listeners, request_id, fail=True)
    records = read_records(log_path)
    summaries = named(records, "mongodb.sampling.summary")
    assert {record["suppressed_event"] for record in summaries} == {"mongodb.connection.checked_in"}
    sampled_out = sum(record["sampled_out"] for record in summaries)
    burst_limited = sum(record["burst_limited"] for record in summaries)
    kept = len(named(records, "mongodb.connection.checked_in"))
    assert sampled_out > 0
    assert burst_limited > 0
    assert kept + sampled_out + burst_limited == 200


def test_closing_a_set_reports_the_drops_not_reported_yet(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, summary_interval_ms=3_600_000)
    for request_id in range(1, 8):
        run(listeners, request_id)
    assert named(read_records(log_path), SUMMARY) == []  # the hour has not passed
    listeners[COMMAND].pipeline.close()
    (summary,) = named(read_records(log_path), SUMMARY)
    assert without_volatile(summary, "interval_ms") == {
        "level": "info",
        "event": SUMMARY,
        "suppressed_event": "mongodb.command.succeeded",
        "sampled_out": 7,
        "burst_limited": 0,
    }
    assert type(summary["interval_ms"]) is int


def test_a_dropped_set_reports_its_drops_with_its_topology_id(log_path: Path) -> None:
    import gc

    listeners = listener_set(log_path, sample_rate=0, summary_interval_ms=3_600_000)
    listeners[TOPOLOGY].opened(monitoring.TopologyOpenedEvent(TOPOLOGY_ID))
    for request_id in range(1, 4):
        run(listeners, request_id)
    gc.disable()
    try:
        del listeners  # the client and its listeners are gone: no close() call
        (summary,) = named(read_records(log_path), SUMMARY)
    finally:
        gc.enable()
    assert (summary["topology_id"], summary["sampled_out"]) == (str(TOPOLOGY_ID), 3)


def test_configure_again_reports_the_previous_settings_drops(tmp_path: Path) -> None:
    from .factory import stop_quickly
    from .servers import standalone

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    mongo_structlog.configure(output=str(first), sample_rate=0, summary_interval_ms=3_600_000)
    server = standalone()
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        for _ in range(5):
            client.admin.command("ping")
        mongo_structlog.configure(output=str(second))
    finally:
        client.close()
        stop_quickly(server)
    (summary,) = named(read_records(first), SUMMARY)
    assert summary["sampled_out"] == 5
    assert named(read_records(second), SUMMARY) == []  # the client's closing records only
    mongo_structlog.reset()


def test_the_drops_not_reported_yet_are_reported_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "exit.jsonl"
    script = f"""
import mongo_structlog
from tests.test_pipeline import run
mongo_structlog.configure(output={str(path)!r}, sample_rate=0, summary_interval_ms=3_600_000)
from mongo_structlog import api
for request_id in range(1, 10):
    run(api._GLOBAL, request_id)
queued = mongo_structlog.listeners(output={str(path)!r}, sample_rate=0, queue_size=100)
for request_id in range(1, 3):
    run(queued, request_id)
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])
    summaries = named(read_records(path), SUMMARY)
    assert sorted(record["sampled_out"] for record in summaries) == [2, 9]


def test_no_summary_below_info(log_path: Path) -> None:
    listeners = listener_set(log_path, level="warning", sample_rate=0, summary_interval_ms=1)
    for request_id in range(1, 6):
        run(listeners, request_id)
        time.sleep(0.002)
    run(listeners, 6, fail=True)
    assert [record["event"] for record in read_records(log_path)] == ["mongodb.command.failed"]


def test_with_documents_none_a_late_started_record_has_the_shape_but_no_text(
    log_path: Path,
) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0, documents="none")
    commands = listeners[COMMAND]
    commands.started(
        monitoring.CommandStartedEvent(FIND, "shop", 9, A, 9, server_connection_id=118)
    )
    commands.failed(
        monitoring.CommandFailedEvent(
            datetime.timedelta(microseconds=900),
            FAILURE,
            "find",
            9,
            A,
            9,
            database_name="shop",
            server_connection_id=118,
        )
    )
    late, failure = read_records(log_path)
    assert without_volatile(late) == {
        "level": "debug",
        "event": "mongodb.command.started",
        "command_name": "find",
        "database_name": "shop",
        "collection": "users",
        **AT_A,
        "server_connection_id": 118,
        "command_shape": FIND_SHAPE,
    }
    assert failure["server_connection_id"] == 118
    assert "command" not in failure


# -- correlation ---------------------------------------------------------------------------


def test_a_completion_without_its_start_is_decided_by_its_request_id(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0.5)
    kept = kept_at(0.5, range(1, 30))
    dropped = sorted(set(range(1, 30)) - set(kept))
    commands = listeners[COMMAND]
    commands.succeeded(succeeded(kept[0]))  # the listener came after the command started
    commands.succeeded(succeeded(dropped[0]))
    commands.failed(failed(dropped[1]))
    records = read_records(log_path)
    assert [without_volatile(record) for record in records] == [
        {
            "level": "info",
            "event": "mongodb.command.succeeded",
            "command_name": "find",
            "database_name": "shop",
            **AT_A,
            "reply": REPLY_TEXT,
            "slow": False,
            "sample_rate": 0.5,
        },
        {
            "level": "warning",
            "event": "mongodb.command.failed",
            "command_name": "find",
            "database_name": "shop",
            **AT_A,
            "error_type": "OperationFailure",
            "error_code": 2,
            "error_code_name": "BadValue",
            "error": "bad value",
            "slow": False,
        },
    ]


def test_a_hello_without_its_start_is_treated_as_sensitive(log_path: Path) -> None:
    listeners = listener_set(log_path)
    listeners[COMMAND].succeeded(succeeded(5, name="hello"))
    (record,) = read_records(log_path)
    assert record["reply"] == "{}"


def test_a_sensitive_command_is_logged_empty_whatever_the_rate(log_path: Path) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0)
    sasl = {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"secret", "$db": "admin"}
    commands = listeners[COMMAND]
    commands.started(started(8, command=sasl))
    commands.failed(failed(8, name="saslStart"))
    late, failure = read_records(log_path)
    assert late["command"] == failure["command"] == "{}"
    assert "error" not in failure  # the message may quote the credentials
    assert failure["error_code"] == 2


def test_two_commands_sharing_a_request_id_on_two_servers_keep_their_own_command(
    log_path: Path,
) -> None:
    commands = listener_set(log_path)[COMMAND]
    commands.started(started(7, A))
    commands.started(started(7, B, command=INSERT))
    commands.succeeded(succeeded(7, address=B, name="insert"))
    commands.succeeded(succeeded(7, address=A))
    on_b, on_a = read_records(log_path)
    assert (on_b["server_address"], on_b["command"], on_b["collection"]) == (
        AT_B["server_address"],
        INSERT_TEXT,
        "orders",
    )
    assert on_b["command_shape"] == INSERT_SHAPE
    assert (on_a["server_address"], on_a["command"]) == (AT_A["server_address"], FIND_TEXT)
    assert mongo_structlog.stats()["in_flight"] == 0


def test_the_correlation_map_stays_bounded_when_completions_are_lost(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, correlation_capacity=100)
    commands = listeners[COMMAND]
    for request_id in range(5000):
        commands.started(started(request_id))  # no completion ever comes
        assert mongo_structlog.stats()["in_flight"] <= 100
    stats = mongo_structlog.stats()
    assert stats["evicted"] == 5000 - stats["in_flight"]
    # A late failure is logged either way; with its command only if it was still held.
    commands.failed(failed(4999))
    commands.failed(failed(0))
    recent, evicted = read_records(log_path)
    assert recent["command"] == FIND_TEXT
    assert "command" not in evicted
    assert evicted["event"] == "mongodb.command.failed"


def test_the_correlation_map_ages_out_commands_older_than_its_ttl(log_path: Path) -> None:
    listeners = listener_set(log_path, sample_rate=0, correlation_ttl_ms=1, summary_interval_ms=1)
    commands = listeners[COMMAND]
    for request_id in range(10):
        commands.started(started(request_id))  # lost
    time.sleep(0.005)
    for request_id in range(100, 110):  # completed: their drops look at the clock
        run(listeners, request_id)
        time.sleep(0.002)
    stats = mongo_structlog.stats()
    assert (stats["evicted"], stats["in_flight"]) == (10, 0)


# -- stats and boundaries ------------------------------------------------------------------


def test_a_broken_event_is_counted_as_an_internal_error_not_raised(log_path: Path) -> None:
    commands = listener_set(log_path)[COMMAND]
    commands.started(object())  # type: ignore[arg-type]
    commands.succeeded(object())  # type: ignore[arg-type]
    assert mongo_structlog.stats()["internal_errors"] == 2
    assert read_records(log_path) == []


def test_without_the_command_family_nothing_is_remembered(log_path: Path) -> None:
    listeners = listener_set(log_path, families="server,pool")
    listeners[COMMAND].started(started(1))
    assert mongo_structlog.stats()["in_flight"] == 0


def test_a_kept_success_below_the_level_is_not_built(log_path: Path) -> None:
    listeners = listener_set(log_path, level="warning")
    run(listeners, 1)
    run(listeners, 2, fail=True)
    assert ids_of(read_records(log_path), "mongodb.command.failed") == [2]
    assert mongo_structlog.stats()["emitted"] == {"mongodb.command.failed": 1}


def test_commands_from_many_threads_are_each_logged_once(log_path: Path) -> None:
    listeners = listener_set(log_path, level="debug", sample_rate=0.5, correlation_capacity=64)

    def work(worker: int) -> None:
        for i in range(300):
            run(listeners, worker * 10_000 + i, fail=i % 50 == 0)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_records(log_path)
    ids = [w * 10_000 + i for w in range(6) for i in range(300)]
    failing = {w * 10_000 + i for w in range(6) for i in range(0, 300, 50)}
    completed = ids_of(records, "mongodb.command.succeeded") + ids_of(
        records, "mongodb.command.failed"
    )
    assert sorted(completed) == sorted(set(kept_at(0.5, ids)) | failing)
    assert sorted(ids_of(records, "mongodb.command.started")) == sorted(completed)


# -- a real client ---------------------------------------------------------------------------


class Recorder(monitoring.CommandListener):
    """Every command PyMongo publishes, as (event kind, request id, command name)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append(("started", event.request_id, event.command_name))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.seen.append(("succeeded", event.request_id, event.command_name))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.seen.append(("failed", event.request_id, event.command_name))


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """PyMongo draws request ids from ``random``: seed it so the run is repeatable."""
    state = random.getstate()
    random.seed(20261125)
    yield
    random.setstate(state)


def fail_command(request: Any) -> bool:
    """mockupdb handler: answer the ``fail`` command with a server error."""
    if request.command_name != "fail":
        return False
    return bool(request.command_err(code=2, errmsg="bad value", codeName="BadValue"))


@pytest.mark.usefixtures("seeded_random")
def test_rate_a_tenth_keeps_a_tenth_of_thousands_of_real_commands(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    recorder = Recorder()
    listeners = listener_set(log_path, sample_rate=0.1)
    client = make_client(server.uri, event_listeners=[*listeners, recorder])
    n = 3000
    for _ in range(n):
        client.admin.command("ping")
    pings = [rid for kind, rid, name in recorder.seen if kind == "succeeded" and name == "ping"]
    assert len(pings) == n
    logged = [
        record
        for record in named(read_records(log_path), "mongodb.command.succeeded")
        if record["command_name"] == "ping"
    ]
    # Exactly the commands whose request id the fixed mix keeps...
    assert [record["driver_request_id"] for record in logged] == kept_at(0.1, pings)
    assert {record["sample_rate"] for record in logged} == {0.1}
    # ...which is a tenth, within three binomial standard deviations (±49 of 300).
    sigma = (n * 0.1 * 0.9) ** 0.5
    assert abs(len(logged) - n * 0.1) <= 3 * sigma
    assert mongo_structlog.stats()["dropped"]["mongodb.command.succeeded"] >= n - len(logged)


def test_at_debug_no_real_command_has_a_started_record_without_its_completion(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    server.autoresponds(fail_command)
    listeners = listener_set(log_path, level="debug", sample_rate=0.3)
    client = make_client(server.uri, event_listeners=listeners)
    for i in range(400):
        if i % 10 == 0:
            with pytest.raises(OperationFailure):
                client.admin.command("fail")
        else:
            client.admin.command("ping")
    records = read_records(log_path)
    started_ids = ids_of(records, "mongodb.command.started")
    completed_ids = ids_of(records, "mongodb.command.succeeded") + ids_of(
        records, "mongodb.command.failed"
    )
    assert sorted(started_ids) == sorted(completed_ids)
    failures = named(records, "mongodb.command.failed")
    assert len(failures) == 40
    assert {record["command_name"] for record in failures} == {"fail"}


def test_at_rate_zero_real_failures_and_state_changes_are_all_there(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    server.autoresponds(fail_command)
    server.autoresponds(lambda request: request.command_name == "drop" and request.hangup())
    listeners = listener_set(
        log_path,
        level="debug",
        sample_rate=0,
        sample_rate_heartbeat=0,
        sample_rate_pool=0,
        burst_limit=1,
        burst_thereafter=0,
    )
    client = make_client(server.uri, event_listeners=listeners)
    for _ in range(50):
        client.admin.command("ping")
    with pytest.raises(OperationFailure):
        client.admin.command("fail")
    with pytest.raises(AutoReconnect):
        client.admin.command("drop")  # the server hangs up
    records = wait_for(
        log_path,
        lambda rs: (
            any(r["event"] == "mongodb.server.description_changed" for r in rs)
            and any(r["event"] == "mongodb.topology.description_changed" for r in rs)
        ),
    )
    events = [record["event"] for record in records]
    assert events.count("mongodb.command.failed") == 2
    assert events.count("mongodb.command.started") == 2  # written late, for the failures
    assert "mongodb.command.succeeded" not in events
    for state_change in (
        "mongodb.pool.cleared",
        "mongodb.connection.closed",
        "mongodb.server.description_changed",
        "mongodb.topology.description_changed",
    ):
        assert state_change in events
    closed = named(records, "mongodb.connection.closed")
    assert {record["reason"] for record in closed} == {"error"}
    assert not any("sample_rate" in record for record in records)


def test_at_rate_zero_real_slow_commands_are_all_there(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    listeners = listener_set(log_path, sample_rate=0, slow_ms=0)
    client = make_client(server.uri, event_listeners=listeners)
    for _ in range(20):
        client.admin.command("ping")
    pings = [r for r in read_records(log_path) if r.get("command_name") == "ping"]
    assert len(pings) == 20
    assert {(r["level"], r["slow"], "sample_rate" in r) for r in pings} == {
        ("warning", True, False)
    }
