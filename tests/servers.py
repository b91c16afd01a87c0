"""Wire-protocol test servers (mockupdb) and helpers to read the records they cause.

Every test that needs "a real server" gets a :class:`mockupdb.MockupDB` over TCP on
loopback: it answers the driver's handshake by itself; tests script the rest.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import structlog
from mockupdb import MockupDB
from pymongo import AsyncMongoClient

#: A MongoDB 7.0 standalone's handshake.
STANDALONE = {"maxWireVersion": 21, "minWireVersion": 0}

T = TypeVar("T")


def standalone(**hello: Any) -> MockupDB:
    """Start a standalone server that answers ``ping`` and ``endSessions`` by itself."""
    server = MockupDB(auto_ismaster={**STANDALONE, **hello})
    server.autoresponds("ping")
    server.autoresponds("endSessions")
    server.run()
    return server


def replica_set_hello(
    me: str, hosts: list[str], primary: str | None, set_name: str = "rs0", **extra: Any
) -> dict[str, Any]:
    """A replica-set member's ``hello`` reply (primary when ``me == primary``)."""
    reply: dict[str, Any] = {
        **STANDALONE,
        "setName": set_name,
        "hosts": hosts,
        "me": me,
        "setVersion": 1,
        "isWritablePrimary": me == primary,
        "ismaster": me == primary,
        "secondary": primary is not None and me != primary,
    }
    if primary is not None:
        reply["primary"] = primary
    reply.update(extra)
    return reply


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Every JSON line written to ``path`` (fails the test on a broken line)."""
    text = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
    return [json.loads(line) for line in text.splitlines() if line]


def named(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """The records of one event name, in order."""
    return [record for record in records if record["event"] == event]


def wait_for(
    path: Path | str,
    predicate: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Poll ``path`` until ``predicate(records)`` holds (SDAM events arrive asynchronously).

    Raises:
        AssertionError: The predicate never held; the records read last are in the message.
    """
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = read_records(path)
        if predicate(records):
            return records
        time.sleep(0.02)
    events = [record["event"] for record in records]
    raise AssertionError(f"condition not met within {timeout}s; events seen: {events}")


def without_volatile(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of ``record`` without fields that change per run (timestamps, ids, durations)."""
    volatile = {
        "timestamp",
        "published_after_micros",
        "duration_micros",
        "driver_request_id",
        "operation_id",
        "topology_id",
        *keys,
    }
    return {key: value for key, value in record.items() if key not in volatile}


def iter_lines(path: Path | str) -> Iterator[str]:
    """Raw lines of ``path`` (to check none is broken or interleaved)."""
    with open(path, encoding="utf-8") as handle:
        yield from handle


def with_async_client(
    uri: str,
    listeners: list[Any],
    body: Callable[[AsyncMongoClient[dict[str, Any]]], Awaitable[T]],
    **options: Any,
) -> T:
    """Run ``body(client)`` under ``asyncio.run`` with an ``AsyncMongoClient`` made inside it.

    The client is made in the running loop (as an application makes it, so its monitor
    tasks copy that task's context), with ``listeners`` and any client ``options``, and
    closed afterwards.
    """

    async def run() -> T:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=5000, event_listeners=listeners, **options
        )
        try:
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(run())


async def two_interleaved_requests(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """A ping, then two tasks that interleave five ``find_one`` on ``shop.orders`` each.

    Each task binds its own ``request_id_app`` (``req-a``, ``req-b``) with
    ``structlog.contextvars`` and yields to the other after every command.
    """

    async def handle(request: str) -> None:
        structlog.contextvars.bind_contextvars(request_id_app=request)
        for _ in range(5):
            await client.shop.orders.find_one({"request": request})
            await asyncio.sleep(0)  # let the other task run in between

    await client.admin.command("ping")
    await asyncio.gather(handle("req-a"), handle("req-b"))
