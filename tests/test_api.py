"""The entry points: ``configure()``, ``listeners()``, ``reset()``, ``stats()``, ``flush()``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB, going
from pymongo import MongoClient, monitoring

import mongo_structlog
from mongo_structlog.listeners import (
    LoggingCommandListener,
    LoggingConnectionPoolListener,
    LoggingHeartbeatListener,
    LoggingServerListener,
    LoggingTopologyListener,
)

from . import factory as f
from .servers import named, read_records

MakeClient = Callable[..., MongoClient[dict[str, Any]]]
SUCCEEDED = "mongodb.command.succeeded"


@pytest.fixture(autouse=True)
def _fast_sdam(monkeypatch: pytest.MonkeyPatch) -> None:
    f.speed_up_sdam(monkeypatch)


def test_listeners_returns_one_listener_of_each_kind_sharing_one_pipeline() -> None:
    listener_set = mongo_structlog.listeners(output="stderr")
    assert [type(listener).__base__ for listener in listener_set] == [
        LoggingCommandListener,
        LoggingServerListener,
        LoggingHeartbeatListener,
        LoggingTopologyListener,
        LoggingConnectionPoolListener,
    ]
    assert all(isinstance(listener, monitoring._EventListener) for listener in listener_set)
    assert len({id(listener.pipeline) for listener in listener_set}) == 1  # type: ignore[attr-defined]


def test_configure_returns_the_settings_in_force() -> None:
    settings = mongo_structlog.configure(output="stderr", level="warning", slow_ms=5)
    assert settings == mongo_structlog.load_settings(
        environ={}, output="stderr", level="warning", slow_ms=5
    )


def test_configure_logs_clients_created_afterwards(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(output=str(log_path))
    client = make_client(server.uri)
    client.admin.command("ping")
    assert [r["command_name"] for r in named(read_records(log_path), SUCCEEDED)] == ["ping"]


def test_configure_again_re_applies_the_settings_to_the_same_listeners(
    make_client: MakeClient, server: MockupDB, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    mongo_structlog.configure(output=str(first))
    client = make_client(server.uri)
    client.admin.command("ping")
    mongo_structlog.configure(output=str(second), level="debug")
    client.admin.command("ping")
    client.admin.command("ping")
    assert len(named(read_records(first), SUCCEEDED)) == 1
    # Registered once: each command is logged once, with the new level (started records).
    records = read_records(second)
    assert len(named(records, SUCCEEDED)) == 2
    assert len(named(records, "mongodb.command.started")) == 2


def test_reset_silences_configure_and_the_client_keeps_working(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(output=str(log_path))
    client = make_client(server.uri)
    client.admin.command("ping")
    mongo_structlog.reset()
    before = mongo_structlog.stats()["emitted_total"]
    assert client.admin.command("ping") == {"ok": 1}
    assert len(named(read_records(log_path), SUCCEEDED)) == 1
    assert mongo_structlog.stats()["emitted_total"] == before


def test_reset_without_configure_does_nothing() -> None:
    mongo_structlog.reset()
    mongo_structlog.reset()
    assert mongo_structlog.stats()["emitted_total"] == 0


def test_listener_sets_of_two_clients_keep_their_records_apart(
    make_client: MakeClient, server: MockupDB, tmp_path: Path
) -> None:
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    clients = [
        make_client(server.uri, event_listeners=mongo_structlog.listeners(output=str(path)))
        for path in paths
    ]
    clients[0].admin.command("ping")
    clients[1].admin.command("ping")
    clients[1].admin.command("ping")
    a, b = (named(read_records(path), SUCCEEDED) for path in paths)
    assert (len(a), len(b)) == (1, 2)
    assert a[0]["topology_id"] != b[0]["topology_id"]
    assert b[0]["topology_id"] == b[1]["topology_id"]


STATS_KEYS = {
    "emitted",
    "dropped",
    "emitted_total",
    "dropped_total",
    "evicted",
    "internal_errors",
    "sink_errors",
    "queue_dropped",
    "lost_reasons",
    "in_flight",
}


def test_stats_start_at_zero() -> None:
    assert mongo_structlog.stats() == {
        "emitted": {},
        "dropped": {},
        "emitted_total": 0,
        "dropped_total": 0,
        "evicted": 0,
        "internal_errors": 0,
        "sink_errors": 0,
        "queue_dropped": 0,
        "lost_reasons": {},
        "in_flight": 0,
    }


def test_stats_count_emitted_and_dropped_records_per_event(log_path: Path) -> None:
    command, _, _, _, pool = mongo_structlog.listeners(
        output=str(log_path), level="debug", sample_rate=0, sample_rate_pool=0
    )
    for request_id in (1, 2, 3):
        command.started(f.command_started(request_id=request_id))
        command.succeeded(f.command_succeeded(request_id=request_id))
    command.started(f.command_started(request_id=4))
    command.failed(f.command_failed(request_id=4))
    pool.connection_checked_in(f.checked_in())
    pool.pool_ready(f.pool_ready())
    stats = mongo_structlog.stats()
    assert set(stats) == STATS_KEYS
    # The failed command's started record, dropped at first, is written late.
    assert stats["emitted"] == {
        "mongodb.command.started": 1,
        "mongodb.command.failed": 1,
        "mongodb.pool.ready": 1,
    }
    assert stats["dropped"] == {
        "mongodb.command.started": 3,
        "mongodb.command.succeeded": 3,
        "mongodb.connection.checked_in": 1,
    }
    assert (stats["emitted_total"], stats["dropped_total"]) == (3, 7)
    assert len(read_records(log_path)) == 3


def test_stats_keep_the_drops_of_sets_that_are_gone_and_forget_those_before_a_clear(
    log_path: Path,
) -> None:
    from mongo_structlog.stats import STATS

    def drop_three(listener_set: list[Any], first: int) -> None:
        for request_id in range(first, first + 3):
            listener_set[0].started(f.command_started(request_id=request_id))
            listener_set[0].succeeded(f.command_succeeded(request_id=request_id))

    kept = mongo_structlog.listeners(output=str(log_path), sample_rate=0)
    drop_three(kept, 1)
    STATS.clear()  # counted before: forgotten, though the set lives on
    gone = mongo_structlog.listeners(output=str(log_path), sample_rate=0)
    drop_three(gone, 10)
    del gone  # its drops outlive it
    drop_three(kept, 20)
    assert mongo_structlog.stats()["dropped"] == {"mongodb.command.succeeded": 6}
    assert mongo_structlog.stats()["dropped"] == {"mongodb.command.succeeded": 6}


def test_stats_count_commands_in_flight(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    client = make_client(
        server.uri, event_listeners=mongo_structlog.listeners(output=str(log_path))
    )
    with going(client.shop.users.find_one, {}):
        request = server.receives(find="users")
        assert mongo_structlog.stats()["in_flight"] == 1
        request.ok(cursor={"id": 0, "firstBatch": [], "ns": "shop.users"})
    assert mongo_structlog.stats()["in_flight"] == 0


def test_flush_writes_everything_a_queued_output_holds(tmp_path: Path) -> None:
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    pools = [
        mongo_structlog.listeners(
            output=str(path), queue_size=10_000, level="debug", burst_limit=0
        )[4]
        for path in paths
    ]
    for connection_id in range(1, 301):
        for pool in pools:
            pool.connection_checked_in(f.checked_in(connection_id))
    mongo_structlog.flush()
    for path in paths:
        assert [r["connection_id"] for r in read_records(path)] == list(range(1, 301))
    mongo_structlog.flush()  # nothing left: returns at once


def test_flush_without_queued_outputs_does_nothing(log_path: Path) -> None:
    mongo_structlog.listeners(output=str(log_path))
    mongo_structlog.flush()
    assert read_records(log_path) == []


def test_a_dropped_listener_set_closes_its_file_at_once(tmp_path: Path) -> None:
    import gc
    import os

    def open_files() -> set[str]:
        names = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                names.add(os.readlink(f"/proc/self/fd/{fd}"))
            except FileNotFoundError:  # the descriptor that listed the directory
                continue
        return names

    path = tmp_path / "dropped.jsonl"
    gc.disable()  # no reference cycle: dropping the last reference is enough
    try:
        for level in ("info", "debug"):
            listener_set = mongo_structlog.listeners(output=str(path), level=level)
            assert str(path) in open_files()
            del listener_set
            assert str(path) not in open_files()
    finally:
        gc.enable()
