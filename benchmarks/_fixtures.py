"""Realistic PyMongo traffic for the benchmarks, and the listener variants compared.

The command and reply documents look like what PyMongo 4 sends and receives for a
``find``: the filter, sort and limit, plus the driver's ``lsid``, ``$clusterTime`` and
``$db``; the reply has a first batch of three documents with BSON types in them.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId, Timestamp
from pymongo import monitoring
from pymongo.event_loggers import CommandLogger
from pymongo.hello import Hello

ADDRESS = ("db1.example.internal", 27017)
DATABASE = "shop"
DURATION = datetime.timedelta(microseconds=850)
CHECKOUT_SECONDS = 0.000012
CONNECTION_ID = 7
SERVER_CONNECTION_ID = 4211

#: The format a user would give the root logger for ``event_loggers.CommandLogger``.
STDLIB_LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def cluster_time(i: int) -> dict[str, Any]:
    """A ``$clusterTime`` as a replica set gossips it."""
    return {
        "clusterTime": Timestamp(1_764_057_600 + i, 1),
        "signature": {"hash": Binary(bytes(20), 0), "keyId": Int64(7_300_000_000_000_000_001)},
    }


def find_command(i: int) -> dict[str, Any]:
    """The ``find`` PyMongo sends for ``orders.find({...}).sort(...).limit(10)``."""
    return {
        "find": "orders",
        "filter": {
            "status": "paid",
            "customer_id": 10_000 + i,
            "total": {"$gte": 100 + i % 50},
            "created_at": {"$gte": datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)},
            "tags": {"$in": ["gift", "express"]},
        },
        "sort": {"created_at": -1},
        "limit": 10,
        "lsid": {"id": Binary(uuid.UUID(int=i + 1).bytes, 4)},
        "$clusterTime": cluster_time(i),
        "$db": DATABASE,
    }


def order(i: int) -> dict[str, Any]:
    """One document as the application stores it."""
    return {
        "_id": ObjectId(),
        "customer_id": 10_000 + i,
        "status": "paid",
        "total": Decimal128("129.90"),
        "created_at": datetime.datetime(2026, 11, 24, 17, 3, i % 60),
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
        "shipping": {"city": "Lyon", "email": "someone@example.org"},
    }


def find_reply(i: int) -> dict[str, Any]:
    """The server's reply to :func:`find_command`: a first batch of three documents."""
    return {
        "cursor": {
            "firstBatch": [order(i), order(i + 1), order(i + 2)],
            "id": 0,
            "ns": "shop.orders",
        },
        "ok": 1.0,
        "$clusterTime": cluster_time(i),
        "operationTime": Timestamp(1_764_057_600 + i, 1),
    }


HELLO = Hello(
    {
        "isWritablePrimary": True,
        "maxWireVersion": 21,
        "minWireVersion": 0,
        "maxBsonObjectSize": 16_777_216,
        "ok": 1.0,
    }
)


def publish_operation(
    listeners: monitoring._EventListeners, command: dict[str, Any], reply: dict[str, Any], rid: int
) -> None:
    """Publish one operation's events exactly as PyMongo's pool and network layer do."""
    listeners.publish_connection_check_out_started(ADDRESS)
    listeners.publish_connection_checked_out(ADDRESS, CONNECTION_ID, CHECKOUT_SECONDS)
    listeners.publish_command_start(
        command, DATABASE, rid, ADDRESS, SERVER_CONNECTION_ID, rid, service_id=None
    )
    listeners.publish_command_success(
        DURATION,
        reply,
        "find",
        rid,
        ADDRESS,
        SERVER_CONNECTION_ID,
        rid,
        service_id=None,
        speculative_hello=False,
        database_name=DATABASE,
    )
    listeners.publish_connection_checked_in(ADDRESS, CONNECTION_ID)


def publish_chatter(listeners: monitoring._EventListeners) -> None:
    """Events that sit below ``info``: pool check-out/in chatter and a heartbeat."""
    listeners.publish_connection_check_out_started(ADDRESS)
    listeners.publish_connection_checked_out(ADDRESS, CONNECTION_ID, CHECKOUT_SECONDS)
    listeners.publish_connection_checked_in(ADDRESS, CONNECTION_ID)
    listeners.publish_server_heartbeat_started(ADDRESS, False)
    listeners.publish_server_heartbeat_succeeded(ADDRESS, 0.0004, HELLO, False)


class NoopListener(
    monitoring.CommandListener,
    monitoring.ServerListener,
    monitoring.ServerHeartbeatListener,
    monitoring.TopologyListener,
    monitoring.ConnectionPoolListener,
):
    """Implements all five interfaces and does nothing: the floor any listener pays."""

    def started(self, event: Any) -> None:
        pass

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass

    def opened(self, event: Any) -> None:
        pass

    def description_changed(self, event: Any) -> None:
        pass

    def closed(self, event: Any) -> None:
        pass

    def pool_created(self, event: Any) -> None:
        pass

    def pool_ready(self, event: Any) -> None:
        pass

    def pool_cleared(self, event: Any) -> None:
        pass

    def pool_closed(self, event: Any) -> None:
        pass

    def connection_created(self, event: Any) -> None:
        pass

    def connection_ready(self, event: Any) -> None:
        pass

    def connection_closed(self, event: Any) -> None:
        pass

    def connection_check_out_started(self, event: Any) -> None:
        pass

    def connection_check_out_failed(self, event: Any) -> None:
        pass

    def connection_checked_out(self, event: Any) -> None:
        pass

    def connection_checked_in(self, event: Any) -> None:
        pass


class Variant:
    """One way of listening: how to build the listener list, and what to do between batches.

    Attributes:
        name: Row label.
        build: Returns the listeners for one client (a list, possibly empty).
        flush: Untimed step after each batch (drain a queue); may be None.
        description: One line for the docs.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], list[Any]],
        description: str,
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.build = build
        self.description = description
        self.flush = flush


@contextmanager
def logging_to_files(directory: Path) -> Iterator[dict[str, Path]]:
    """Point the stdlib loggers the variants use at files in ``directory``.

    - the root logger (what ``CommandLogger`` writes to) at ``INFO``, plain lines;
    - ``mongo_structlog`` (OUTPUT=stdlib) at ``INFO`` with ``json_formatter()``, not
      propagated;
    - ``pymongo.command`` (PyMongo's built-in command logging) gets its own file handler,
      not propagated; its level is left alone (the end-to-end benchmark turns it on only
      for its own variant, because that logger is global).

    Yields:
        ``{"command_logger": path, "stdlib": path, "pymongo_command": path}``.
    """
    import mongo_structlog

    paths = {
        "command_logger": directory / "command_logger.log",
        "stdlib": directory / "stdlib.jsonl",
        "pymongo_command": directory / "pymongo_command.log",
    }
    root = logging.getLogger()
    ours = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    pymongo_command = logging.getLogger("pymongo.command")
    saved = (root.level, ours.level, ours.propagate, pymongo_command.propagate)

    root_handler = logging.FileHandler(paths["command_logger"])
    root_handler.setFormatter(logging.Formatter(STDLIB_LINE_FORMAT))
    ours_handler = logging.FileHandler(paths["stdlib"])
    ours_handler.setFormatter(mongo_structlog.json_formatter())
    pymongo_handler = logging.FileHandler(paths["pymongo_command"])
    pymongo_handler.setFormatter(logging.Formatter(STDLIB_LINE_FORMAT))

    root.addHandler(root_handler)
    root.setLevel(logging.INFO)
    ours.addHandler(ours_handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    pymongo_command.addHandler(pymongo_handler)
    pymongo_command.propagate = False
    try:
        yield paths
    finally:
        root.removeHandler(root_handler)
        ours.removeHandler(ours_handler)
        pymongo_command.removeHandler(pymongo_handler)
        for handler in (root_handler, ours_handler, pymongo_handler):
            handler.close()
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
        ours.propagate = saved[2]
        pymongo_command.propagate = saved[3]


def command_variants(directory: Path) -> list[Variant]:
    """The listener variants the issue asks for, writing into ``directory``.

    Call inside :func:`logging_to_files`. Never calls ``mongo_structlog.configure()``:
    PyMongo copies global listeners into every ``_EventListeners``, so a global
    registration would leak into the other variants.
    """
    import mongo_structlog

    def ours(**settings: Any) -> Callable[[], list[Any]]:
        return lambda: mongo_structlog.listeners(**settings)

    def flush_all() -> None:
        mongo_structlog.flush()

    full_path = str(directory / "full.jsonl")
    return [
        Variant("none", list, "no listener: PyMongo builds the events and finds no subscriber"),
        Variant(
            "noop", lambda: [NoopListener()], "a listener for all five kinds that does nothing"
        ),
        Variant(
            "CommandLogger",
            lambda: [CommandLogger()],
            "`pymongo.event_loggers.CommandLogger`: two plain lines per command to a file "
            "(root logger, `FileHandler`, `%(asctime)s %(levelname)s %(name)s %(message)s`)",
        ),
        Variant(
            "ours: sampled out",
            ours(output=str(directory / "sampled_out.jsonl"), sample_rate=0.0),
            "mongo_structlog, `sample_rate=0`: the command is remembered at its start and "
            "dropped (counted) at its success",
        ),
        Variant(
            "ours: full record",
            ours(output=full_path, documents="shape"),
            "mongo_structlog defaults (`level=info`, `documents=shape`) writing one JSON "
            "record per command to a file",
        ),
        Variant(
            "ours: stdlib + python-json-logger",
            ours(output="stdlib", documents="shape"),
            "the same record handed to the stdlib logger `mongo_structlog`, a `FileHandler` "
            "with `mongo_structlog.json_formatter()`",
        ),
        Variant(
            "ours: queued",
            ours(output=str(directory / "queued.jsonl"), documents="shape", queue_size=10_000),
            "the full record through `queue_size=10000`: the application's thread decides, "
            "correlates and queues; a background thread shapes, renders and writes (drained, "
            "untimed, after each batch: the cost on the application's thread)",
            flush=flush_all,
        ),
    ]
