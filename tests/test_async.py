"""``AsyncMongoClient``: the same records as the synchronous client, and each asyncio task's
``structlog.contextvars`` on the records of the commands it ran.

There is no pytest-asyncio here: each test drives its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mockupdb import MockupDB
from pymongo import AsyncMongoClient, MongoClient

import mongo_structlog

from .servers import (
    named,
    read_records,
    two_interleaved_requests,
    with_async_client,
    without_volatile,
)

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

FOUND = {"cursor": {"id": 0, "firstBatch": [{"_id": 1, "status": "open"}], "ns": "shop.orders"}}


def serve_orders(server: MockupDB) -> None:
    """Answer every ``find`` with one document."""
    server.autoresponds(lambda request: request.command_name == "find" and request.ok(FOUND))


def completions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Command completion records without run-specific values, in order."""
    return [
        without_volatile(r, "server_connection_id")
        for r in records
        if r["event"] in ("mongodb.command.succeeded", "mongodb.command.failed")
        and r["command_name"] != "endSessions"
    ]


def test_async_client_writes_the_same_command_records_as_the_sync_client(
    server: MockupDB, tmp_path: Path, make_client: MakeClient
) -> None:
    serve_orders(server)
    sync_log, async_log = tmp_path / "sync.jsonl", tmp_path / "async.jsonl"

    sync_client = make_client(
        server.uri, event_listeners=mongo_structlog.listeners(output=str(sync_log))
    )
    assert sync_client.shop.orders.find_one({"status": "open"}) == {"_id": 1, "status": "open"}
    sync_client.close()

    async def find(client: AsyncMongoClient[dict[str, Any]]) -> dict[str, Any] | None:
        return await client.shop.orders.find_one({"status": "open"})

    listener_set = mongo_structlog.listeners(output=str(async_log))
    assert with_async_client(server.uri, listener_set, find) == {"_id": 1, "status": "open"}

    sync_records, async_records = read_records(sync_log), read_records(async_log)
    assert completions(async_records) == completions(sync_records)
    assert completions(async_records) == [
        {
            "level": "info",
            "event": "mongodb.command.succeeded",
            "command_name": "find",
            "database_name": "shop",
            "collection": "orders",
            "server_address": f"localhost:{server.port}",
            "server_host": "localhost",
            "server_port": server.port,
            "connection_id": 1,  # the async pool's check-out, seen from the same task
            "command": '{"find":"orders","filter":{"status":"?"},"limit":"?","singleBatch":"?",'
            '"$db":"shop"}',
            "command_shape": completions(sync_records)[0]["command_shape"],
            "reply": '{"ok":1,"cursorId":0,"batchSize":1}',
            "slow": False,
        }
    ]
    # The lifecycle records (topology, server, pool) are the same events too, though the
    # async client publishes some of them in a different order.
    assert Counter(r["event"] for r in async_records) == Counter(r["event"] for r in sync_records)


def test_each_task_carries_its_own_contextvars_on_its_command_records(
    server: MockupDB, log_path: Path
) -> None:
    serve_orders(server)

    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug", documents="full")
    with_async_client(server.uri, listener_set, two_interleaved_requests)

    records = read_records(log_path)
    finds = [r for r in records if r.get("collection") == "orders"]
    assert Counter((r["event"], r.get("request_id_app")) for r in finds) == {
        ("mongodb.command.started", "req-a"): 5,
        ("mongodb.command.succeeded", "req-a"): 5,
        ("mongodb.command.started", "req-b"): 5,
        ("mongodb.command.succeeded", "req-b"): 5,
    }
    # Each record carries the value of the task that ran its command (its filter says which).
    for record in finds:
        assert f'"filter":{{"request":"{record["request_id_app"]}"}}' in record["command"]
    # Pool check-outs happen on the task too; monitors and the ping before the tasks have none.
    checkouts = named(records, "mongodb.connection.checked_out")
    assert Counter(r.get("request_id_app") for r in checkouts) == {None: 1, "req-a": 5, "req-b": 5}
    untouched = [
        r for r in records if not r["event"].startswith(("mongodb.command.", "mongodb.connection."))
    ]
    assert untouched
    assert all("request_id_app" not in r for r in untouched)
    ping = [r for r in records if r.get("command_name") == "ping"]
    assert len(ping) == 2
    assert all("request_id_app" not in r for r in ping)
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_every_record_of_an_async_clients_set_carries_its_topology_id(
    server: MockupDB, log_path: Path
) -> None:
    serve_orders(server)

    async def run(client: AsyncMongoClient[dict[str, Any]]) -> None:
        await client.shop.orders.find_one({})

    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    with_async_client(server.uri, listener_set, run)
    records = read_records(log_path)
    # The pool is created before the topology's opened event comes out of PyMongo's queue:
    # its record waits for the id and follows the opened record.
    assert [r["event"] for r in records[:2]] == [
        "mongodb.topology.opened",
        "mongodb.pool.created",
    ]
    assert len({r.get("topology_id") for r in records}) == 1
    assert None not in {r.get("topology_id") for r in records}
