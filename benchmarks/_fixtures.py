"""Realistic PyMongo traffic for the benchmarks, and the listener variants compared.

The command and reply documents look like what PyMongo 4 sends and receives for a
``find``: the filter, sort and limit, plus the driver's ``lsid``, ``$clusterTime`` and
``$db``; the reply has a first batch of three documents with BSON types in them.
"""

from __future__ import annotations

import datetime
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _peers import (
    Around,
    CountingSink,
    OpenTelemetry,
    Sentry,
    pymongo_logging_around,
    stdlib_handler,
)
from bson import Binary, Decimal128, Int64, ObjectId, Timestamp
from pymongo import monitoring
from pymongo.event_loggers import CommandLogger, ConnectionPoolLogger
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
        description: One line for the docs.
        flush: Untimed step after each batch (drain a queue); may be None.
        around: Wraps each batch (a logger switched on, transactions); may be None.
        written: Bytes the variant has written so far; may be None (nothing measured).
        query: Whether, and how, the query text is recorded.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], list[Any]],
        description: str,
        *,
        flush: Callable[[], None] | None = None,
        around: Around | None = None,
        written: Callable[[], int] | None = None,
        query: str = "",
    ) -> None:
        self.name = name
        self.build = build
        self.description = description
        self.flush = flush
        self.around = around
        self.written = written
        self.query = query


@contextmanager
def logging_to_files(directory: Path) -> Iterator[dict[str, CountingSink]]:
    """Point the stdlib loggers the variants use at byte-counting sinks that keep nothing.

    - the root logger (what ``CommandLogger`` and ``ConnectionPoolLogger`` write to) at
      ``INFO``, plain lines (:data:`STDLIB_LINE_FORMAT`);
    - ``mongo_structlog`` (OUTPUT=stdlib) at ``INFO`` with ``json_formatter()``;
    - ``pymongo.command`` (PyMongo's built-in command logging): its level is left alone,
      because that logger is global; its variant turns it on around its own batches.

    None of them propagates. ``directory`` is where our own file outputs go (unused here).

    Yields:
        ``{"root": sink, "stdlib": sink, "pymongo_command": sink}``.
    """
    import mongo_structlog

    del directory
    ours = logging.getLogger(getattr(mongo_structlog, "STDLIB_LOGGER_NAME", "mongo_structlog"))
    pymongo_command = logging.getLogger("pymongo.command")
    with (
        stdlib_handler(logging.getLogger(), STDLIB_LINE_FORMAT, logging.INFO) as root,
        stdlib_handler(ours, STDLIB_LINE_FORMAT, logging.INFO) as stdlib,
        stdlib_handler(pymongo_command, STDLIB_LINE_FORMAT, logging.NOTSET) as pymongo_sink,
    ):
        formatter = getattr(mongo_structlog, "json_formatter", None)
        if formatter is not None:
            for handler in ours.handlers:
                if getattr(handler, "stream", None) is stdlib:
                    handler.setFormatter(formatter())
        yield {"root": root, "stdlib": stdlib, "pymongo_command": pymongo_sink}


def _file_size(path: str) -> Callable[[], int]:
    def size() -> int:
        import mongo_structlog

        mongo_structlog.flush()
        return os.path.getsize(path) if os.path.exists(path) else 0

    return size


def command_variants(
    directory: Path, sinks: dict[str, CountingSink] | None = None
) -> list[Variant]:
    """The listener variants compared in every group, writing into ``directory``.

    Call inside :func:`logging_to_files` (whose sinks, passed as ``sinks``, count the
    stdlib variants' bytes). Never calls ``mongo_structlog.configure()``: PyMongo copies
    global listeners into every ``_EventListeners``, so a global registration would leak
    into the other variants.
    """
    import mongo_structlog

    def ours(path: str, **settings: Any) -> Callable[[], list[Any]]:
        output = settings.pop("output", path)
        return lambda: mongo_structlog.listeners(output=output, **settings)

    def counted(name: str) -> Callable[[], int] | None:
        return (lambda: sinks[name].count) if sinks is not None else None

    full_path = str(directory / "full.jsonl")
    sampled_path = str(directory / "sampled_out.jsonl")
    queued_path = str(directory / "queued.jsonl")
    shaped = "yes: names and operators, every value `?`"
    return [
        Variant(
            "none",
            list,
            "no listener: PyMongo builds the events and finds no subscriber",
            query="-",
        ),
        Variant(
            "noop",
            lambda: [NoopListener()],
            "a listener for all five kinds that does nothing",
            query="-",
        ),
        Variant(
            "CommandLogger",
            lambda: [CommandLogger()],
            "`pymongo.event_loggers.CommandLogger`: two plain lines per command (root logger, "
            "`StreamHandler`, `%(asctime)s %(levelname)s %(name)s %(message)s`)",
            written=counted("root"),
            query="no: command name, request id, connection",
        ),
        Variant(
            "ours: sampled out",
            ours(sampled_path, sample_rate=0.0),
            "mongo_structlog, `sample_rate=0`: the command is remembered at its start and "
            "dropped (counted) at its success",
            written=_file_size(sampled_path),
            query="- (nothing written)",
        ),
        Variant(
            "ours: full record",
            ours(full_path, documents="shape"),
            "mongo_structlog defaults (`level=info`, `documents=shape`) writing one JSON "
            "record per command to a file",
            written=_file_size(full_path),
            query=shaped,
        ),
        Variant(
            "ours: stdlib + python-json-logger",
            ours(full_path, output="stdlib", documents="shape"),
            "the same record handed to the stdlib logger `mongo_structlog`, a `StreamHandler` "
            "with `mongo_structlog.json_formatter()`",
            written=counted("stdlib"),
            query=shaped,
        ),
        Variant(
            "ours: queued",
            ours(queued_path, documents="shape", queue_size=10_000),
            "the full record through `queue_size=10000`, the queue drained (untimed) after "
            "each batch: the cost on the application's thread",
            flush=mongo_structlog.flush,
            written=_file_size(queued_path),
            query=shaped,
        ),
    ]


#: End-to-end rows of ours beyond :func:`command_variants`: (name, settings, description, query).
OURS_END_TO_END: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "ours: full record, documents=none",
        {"documents": "none"},
        "the full record without `command` (still `command_shape`)",
        "no (only the fingerprint `command_shape`)",
    ),
    (
        "ours: full record, documents=full",
        {"documents": "full"},
        "the full record with values kept (minus redaction)",
        "yes: values as sent, minus redaction",
    ),
    (
        "ours: full record, format=ecs",
        {"format": "ecs"},
        "the full record in Elastic Common Schema",
        "yes: names and operators, every value `?`",
    ),
    (
        "ours: level=warning",
        {"level": "warning"},
        "the workload's records are all below the level (nothing written), but a command "
        "is still remembered at its start in case it turns out slow or failed (`warning`)",
        "- (nothing written)",
    ),
    (
        "ours: sampled out, pool family off",
        {"sample_rate": 0, "families": "command,server,heartbeat,topology"},
        "as `ours: sampled out`, without the pool family: what keeping the pool-pressure "
        "counts (three pool events and the command's connection per operation) costs",
        "- (nothing written)",
    ),
    (
        "ours: level=error",
        {"level": "error"},
        "every event of the workload below the level, even a slow or failed command "
        "(nothing written)",
        "- (nothing written)",
    ),
]


def end_to_end_variants(directory: Path, sinks: dict[str, CountingSink]) -> list[Variant]:
    """Every end-to-end variant: :func:`command_variants`, more of ours, and the peers.

    Peers whose package is not installed are left out (the report names them).
    """
    import mongo_structlog

    variants = command_variants(directory, sinks)
    for name, settings, description, query in OURS_END_TO_END:
        path = str(
            directory / (name.replace(" ", "_").replace(",", "").replace(":", "") + ".jsonl")
        )
        variants.append(
            Variant(
                name,
                lambda path=path, settings=settings: mongo_structlog.listeners(
                    output=path, **settings
                ),
                description,
                written=_file_size(path),
                query=query,
            )
        )
    variants.append(
        Variant(
            "CommandLogger + ConnectionPoolLogger",
            lambda: [CommandLogger(), ConnectionPoolLogger()],
            "PyMongo's two example listeners together, as its monitoring docs show them",
            written=lambda: sinks["root"].count,
            query="no: command name, request id, connection",
        )
    )
    variants.append(
        Variant(
            PYMONGO_LOGGING,
            list,
            "PyMongo's own structured command logging: no listener, the `pymongo.command` "
            "logger at `DEBUG` (a `StreamHandler`), as PyMongo's logging docs enable it",
            around=pymongo_logging_around,
            written=lambda: sinks["pymongo_command"].count,
            query="yes: the command as JSON, values as sent, cut at 1,000 characters",
        )
    )
    variants += _installed_peers()
    return variants


PYMONGO_LOGGING = "pymongo.command logger at DEBUG"


def _installed_peers() -> list[Variant]:
    found: list[Variant] = []
    try:
        import opentelemetry.instrumentation.pymongo
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        pass
    else:
        for capture, name, query in (
            (False, "OpenTelemetry pymongo instrumentation", "no (the default)"),
            (
                True,
                "OpenTelemetry pymongo instrumentation, capture_statement=True",
                "yes: the filter, documents or pipeline, values as sent (Python repr)",
            ),
        ):
            otel = OpenTelemetry(capture)
            found.append(
                Variant(
                    name,
                    otel.build,
                    "`PymongoInstrumentor`, SDK `TracerProvider`, `BatchSpanProcessor`, an "
                    "exporter that discards (its thread's work counts: flushed in the batch)",
                    around=_then(otel.flush),
                    written=otel.written,
                    query=query,
                )
            )
    try:
        import sentry_sdk.integrations.pymongo  # noqa: F401
    except ImportError:
        pass
    else:
        sentry = Sentry()
        found.append(
            Variant(
                "Sentry PyMongo integration",
                sentry.build,
                "`sentry_sdk.init(integrations=[PyMongoIntegration()], traces_sample_rate=1.0)`, "
                "a transport that discards, a transaction per 10 operations",
                around=sentry.around,
                written=sentry.written,
                query="yes: the command as JSON, values replaced by `%s`",
            )
        )
    return found


def _then(step: Callable[[], None]) -> Around:
    def around(batch: Callable[[int], None]) -> Callable[[int], None]:
        def batch_then_step(n: int) -> None:
            batch(n)
            step()

        return batch_then_step

    return around
