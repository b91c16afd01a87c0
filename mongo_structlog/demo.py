"""``python -m mongo_structlog demo``: a short realistic workload, its records printed.

Without ``--uri`` it starts an embedded wire-protocol server (mockupdb, from the
``demo`` extra) so no database is needed: inserts, finds, an aggregation, a failing
command, a slow command, a pool check-out timeout and a network error that clears the
pool, all through a real ``MongoClient``. With ``--uri`` the same harmless workload
runs against a real deployment in a scratch database that is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from . import api

__all__ = ["mock_server", "run_demo"]

#: What the embedded server says in its handshake: a MongoDB 7.0 standalone.
HELLO = {"maxWireVersion": 21, "minWireVersion": 0, "maxBsonObjectSize": 16777216}
SLOW_SECONDS = 0.25


def mock_server() -> Any:
    """Start a mockupdb server that answers the demo workload by itself.

    Returns:
        The running ``mockupdb.MockupDB``; call ``stop()`` when done.

    Raises:
        RuntimeError: mockupdb is not installed (``pip install 'mongo-structlog[demo]'``).
    """
    try:
        from mockupdb import MockupDB  # noqa: PLC0415  # optional: only the demo needs it
    except ImportError:
        raise RuntimeError(
            "the embedded demo server needs mockupdb: pip install 'mongo-structlog[demo]'"
        ) from None

    server = MockupDB(auto_ismaster=HELLO)
    state = {"hung_up": False}
    slow_started = threading.Event()

    def handle(request: Any) -> bool:
        name = request.command_name
        doc = request.doc
        if name in ("insert", "update", "delete"):
            return bool(request.ok(n=len(doc.get("documents", doc.get("updates", [1])))))
        if name == "find":
            if "$bogus" in doc.get("filter", {}):
                return bool(
                    request.command_err(code=2, errmsg="unknown top level operator: $bogus")
                )
            if doc.get("filter", {}).get("slow"):
                slow_started.set()
                time.sleep(SLOW_SECONDS)
            ns = f"{doc['$db']}.{doc['find']}"
            batch = [{"_id": 1, "name": "Ada", "email": "ada@example.com", "balance": 120}]
            return bool(request.ok(cursor={"id": 0, "firstBatch": batch, "ns": ns}))
        if name == "aggregate":
            ns = f"{doc['$db']}.{doc['aggregate']}"
            batch = [{"_id": "gold", "total": 3}]
            return bool(request.ok(cursor={"id": 0, "firstBatch": batch, "ns": ns}))
        if name == "count" and not state["hung_up"]:
            state["hung_up"] = True
            return bool(request.hangup())
        if name in (
            "ping",
            "endSessions",
            "count",
            "dropDatabase",
            "hello",
            "isMaster",
            "ismaster",
        ):
            return bool(request.ok(n=0, **(HELLO if name != "ping" else {})))
        return bool(request.command_err(code=59, errmsg=f"no such command: '{name}'"))

    server.autoresponds(handle)
    server.run()
    server.slow_started = slow_started
    return server


def _workload(
    client: MongoClient[dict[str, Any]], database: str, slow_started: threading.Event | None
) -> None:
    users = client[database]["users"]
    users.insert_many(
        [
            {"name": "Ada", "email": "ada@example.com", "password": "hunter2", "tier": "gold"},
            {"name": "Linus", "email": "linus@example.com", "password": "s3cret", "tier": "free"},
        ]
    )
    users.find_one({"email": "ada@example.com", "balance": {"$gt": 100}})
    list(
        users.aggregate(
            [{"$match": {"tier": "gold"}}, {"$group": {"_id": "$tier", "n": {"$sum": 1}}}]
        )
    )
    with contextlib.suppress(PyMongoError):
        users.find_one({"$bogus": 1})  # the server rejects the unknown operator
    # A slow query holds the only connection; a second thread's check-out times out.
    slow = threading.Thread(target=lambda: users.find_one({"slow": True}))
    slow.start()
    if slow_started is None or not slow_started.wait(5):
        time.sleep(0.05)
    with contextlib.suppress(PyMongoError):
        users.find_one({"name": "Linus"})
    slow.join()
    # The server hangs up mid-command: the connection closes and the pool is cleared.
    with contextlib.suppress(PyMongoError):
        client[database].command("count", "users")
    client.admin.command("ping")


def run_demo(uri: str | None = None, **settings: Any) -> int:
    """Run the workload with ``configure(**settings)`` and print the records to stdout.

    Args:
        uri: A real deployment to use (a scratch database is created and dropped);
            ``None`` for the embedded server.
        **settings: Settings for :func:`mongo_structlog.configure`.

    Returns:
        The process exit status.
    """
    # Settings first: a bad one must fail before the embedded server starts.
    api.configure(**settings)
    server = None
    if uri is None:
        try:
            server = mock_server()
        except RuntimeError:
            api.reset()
            raise
        uri = server.uri
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, maxPoolSize=1, waitQueueTimeoutMS=100, serverSelectionTimeoutMS=5000
    )
    database = f"mongo_structlog_demo_{uuid.uuid4().hex[:8]}"
    try:
        _workload(client, database, getattr(server, "slow_started", None))
        if server is None:
            client.drop_database(database)
    finally:
        client.close()
        api.flush()
        api.reset()
        if server is not None:
            server.stop()
    return 0
