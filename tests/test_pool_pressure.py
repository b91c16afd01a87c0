"""Pool pressure: why a check-out failed or waited, from counts kept as pool events pass.

A failed check-out, and a check-out that waited at least ``SLOW_MS`` (then at ``warning``,
with ``slow: true``), carry ``in_use``, ``max_pool_size``, ``waiting``,
``oldest_in_use_micros`` and ``oldest_in_use_command``; a check-out still waiting after
``SLOW_MS`` on a full pool writes ``mongodb.pool.starving``. The real-client tests hold a
two-connection pool with two known commands against a mockupdb server, and check the
figures against what the test did and its own clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB, going
from pymongo import MongoClient
from pymongo.errors import WaitQueueTimeoutError

import mongo_structlog

from . import factory as f
from .servers import named, read_records, wait_for, without_volatile

Client = MongoClient[dict[str, Any]]
MakeClient = Callable[..., Client]
SLOW_MS = 100
CHECKED_OUT = "mongodb.connection.checked_out"
FAILED = "mongodb.connection.check_out_failed"
STARVING = "mongodb.pool.starving"


def address_of(server: MockupDB) -> dict[str, Any]:
    return {
        "server_address": f"localhost:{server.port}",
        "server_host": "localhost",
        "server_port": server.port,
    }


class Held:
    """The two requests holding the pool's connections, as the server received them."""

    def __init__(self, find: Any, aggregate: Any) -> None:
        self.waiting = {"find": find, "aggregate": aggregate}

    def release(self, name: str) -> None:
        """Answer the request ``name`` (once): its connection goes back to the pool."""
        request = self.waiting.pop(name, None)
        if request is not None:
            request.ok(cursor={"id": 0, "firstBatch": [], "ns": "shop.orders"})


@contextmanager
def two_held(client: Client, server: MockupDB) -> Iterator[Held]:
    """Hold both connections of a two-connection pool: a ``find``, then an ``aggregate``."""
    with going(client.shop.orders.find_one, {"status": "open"}):
        find = server.receives(find="orders")
        with going(client.shop.orders.count_documents, {}):
            held = Held(find, server.receives(aggregate="orders"))
            yield held
            held.release("aggregate")
        held.release("find")


def test_a_timed_out_check_out_says_the_pool_was_full_and_who_held_it(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        maxPoolSize=2,
        waitQueueTimeoutMS=300,
        retryReads=False,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.admin.command("ping")
    first_held = time.monotonic()
    with two_held(client, server):
        with pytest.raises(WaitQueueTimeoutError):
            client.admin.command("ping")
        failed_by = time.monotonic()

    (failed,) = named(read_records(log_path), FAILED)
    assert without_volatile(failed, "oldest_in_use_micros") == {
        "level": "error",
        "event": FAILED,
        **address_of(server),
        "reason": "timeout",
        "in_use": 2,
        "max_pool_size": 2,
        "waiting": 0,  # the others still waiting: none
        "oldest_in_use_command": "find",  # held the longest
    }
    # The find held its connection for the whole wait, and no longer than the test ran.
    oldest = failed["oldest_in_use_micros"]
    assert 300_000 <= oldest <= (failed_by - first_held) * 1e6
    assert oldest >= failed["duration_micros"]


def test_a_starving_pool_warns_while_waiting_then_the_slow_check_out_says_why(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        maxPoolSize=2,
        retryReads=False,
        event_listeners=mongo_structlog.listeners(output=str(log_path), slow_ms=SLOW_MS),
    )
    client.admin.command("ping")
    where = address_of(server)
    with two_held(client, server) as held:
        waiter_started = time.monotonic()
        waiter = threading.Thread(target=client.admin.command, args=("ping",))
        waiter.start()
        records = wait_for(log_path, lambda rs: bool(named(rs, STARVING)))
        seen = time.monotonic()
        held.release("find")  # its connection goes to the waiter
        waiter.join(10)
        records = wait_for(log_path, lambda rs: bool(named(rs, CHECKED_OUT)))

    (starving,) = named(records, STARVING)
    assert without_volatile(starving, "oldest_in_use_micros", "oldest_waiting_micros") == {
        "level": "warning",
        "event": STARVING,
        **where,
        "in_use": 2,
        "max_pool_size": 2,
        "waiting": 1,
        "oldest_in_use_command": "find",
    }
    waited = starving["oldest_waiting_micros"]
    assert SLOW_MS * 1000 <= waited <= (seen - waiter_started) * 1e6
    assert starving["oldest_in_use_micros"] >= waited

    # At info, the only check-out record is the slow one, with the pool's state then.
    (slow,) = named(records, CHECKED_OUT)
    assert without_volatile(slow, "oldest_in_use_micros") == {
        "level": "warning",
        "event": CHECKED_OUT,
        **where,
        "connection_id": 1,  # the find's, checked in and handed to the waiter
        "in_use": 2,
        "max_pool_size": 2,
        "waiting": 0,
        "oldest_in_use_command": "aggregate",  # still held
        "slow": True,
    }
    assert slow["duration_micros"] >= SLOW_MS * 1000
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_a_quick_check_out_on_a_free_pool_writes_nothing_at_info(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri, event_listeners=mongo_structlog.listeners(output=str(log_path))
    )
    client.admin.command("ping")
    events = {r["event"] for r in read_records(log_path)}
    assert events.isdisjoint({CHECKED_OUT, FAILED, STARVING})


# -- from PyMongo's pool events -------------------------------------------------------------


def pool_listener(path: Path, **settings: Any) -> Any:
    return mongo_structlog.listeners(output=str(path), **settings)[4]


def test_a_pool_without_a_limit_has_no_max_pool_size(log_path: Path) -> None:
    pool = pool_listener(log_path, level="error")
    pool.pool_created(f.pool_created({"maxPoolSize": None}))
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_check_out_failed(f.check_out_failed())
    (failed,) = read_records(log_path)
    assert without_volatile(failed) == {
        "level": "error",
        "event": FAILED,
        **f.ADDRESS_FIELDS,
        "reason": "timeout",
        "in_use": 0,
        "waiting": 0,
    }


def test_a_pool_created_before_the_listeners_counts_from_their_first_event(
    log_path: Path,
) -> None:
    pool = pool_listener(log_path, level="debug")
    pool.connection_checked_in(f.checked_in(7))  # out before we knew: nothing to forget
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_checked_out(f.checked_out(3, seconds=0.5))
    slow = named(read_records(log_path), CHECKED_OUT)
    assert [without_volatile(r, "oldest_in_use_micros") for r in slow] == [
        {
            "level": "warning",
            "event": CHECKED_OUT,
            **f.ADDRESS_FIELDS,
            "connection_id": 3,
            "in_use": 1,
            "max_pool_size": 100,  # PyMongo's default
            "waiting": 0,
            "slow": True,
        }
    ]


def test_a_closed_pool_is_forgotten(log_path: Path) -> None:
    pool = pool_listener(log_path, level="warning")
    pool.pool_created(f.pool_created({"maxPoolSize": 1}))
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_checked_out(f.checked_out(1))
    pool.pool_closed(f.pool_closed())
    pool.connection_checked_in(f.checked_in(1))  # after its pool closed: ignored
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_check_out_failed(
        f.check_out_failed(f.monitoring.ConnectionCheckOutFailedReason.POOL_CLOSED)
    )
    (failed,) = read_records(log_path)
    assert (failed["in_use"], failed["max_pool_size"], failed["waiting"]) == (0, 100, 0)


def test_without_the_pool_family_nothing_is_counted(log_path: Path) -> None:
    commands, *_, pool = mongo_structlog.listeners(output=str(log_path), families="command")
    pool.connection_checked_out(f.checked_out(1, seconds=1.0))
    commands.started(f.command_started())
    assert read_records(log_path) == []


def test_an_event_the_watch_cannot_read_is_counted_not_raised(log_path: Path) -> None:
    pool = pool_listener(log_path)
    pool.connection_check_out_started(object())
    pool.connection_checked_in(object())
    assert mongo_structlog.stats()["internal_errors"] == 2
    assert read_records(log_path) == []


def test_the_oldest_connections_command_name_passes_the_name_gate(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    command, _, _, _, pool = mongo_structlog.listeners(output=str(path), max_document_length=20)
    long_name = "x" * 200  # a command's name is the application's text
    pool.pool_created(f.pool_created({"maxPoolSize": 1}))
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_checked_out(f.checked_out(1))
    command.started(f.command_started({long_name: 1, "$db": "shop"}))
    pool.connection_check_out_started(f.check_out_started())
    pool.connection_check_out_failed(f.check_out_failed())
    (failed,) = named(read_records(path), "mongodb.connection.check_out_failed")
    assert failed["oldest_in_use_command"] == "x" * 20 + "..."
    assert (failed["in_use"], failed["max_pool_size"], failed["waiting"]) == (1, 1, 0)
