"""The caller's context on records: OpenTelemetry span ids and ``structlog.contextvars`` values.

Command and connection records are made on the thread or asyncio task that ran the
operation and carry what is active there: the span's ``trace_id``/``span_id`` (lower-case
hex) and the values bound with ``structlog.contextvars``. Heartbeat, server and topology
records come from PyMongo's monitors and carry neither, even when an asyncio monitor task
was started inside a request. Without ``opentelemetry`` the chain has no trace step.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from mockupdb import MockupDB
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span
from pymongo import AsyncMongoClient, MongoClient

import mongo_structlog
from mongo_structlog.context import trace_processor

from .factory import speed_up_sdam
from .servers import named, read_records, wait_for, with_async_client

MakeClient = Callable[..., MongoClient[dict[str, Any]]]

COMMAND_EVENTS = ("mongodb.command.started", "mongodb.command.succeeded")
MONITOR_PREFIXES = ("mongodb.heartbeat.", "mongodb.server.", "mongodb.topology.")
ONE_DOC = {"_id": 1, "status": "open"}


@pytest.fixture(autouse=True)
def _no_bound_values() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Finished spans of :func:`tracer`, to compare the records' ids with."""
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Any:
    """A tracer of a local SDK provider (the global provider can be set only once)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests.test_context")


def serve_finds(server: MockupDB) -> None:
    """Answer every ``find`` with one document."""

    def find(request: Any) -> bool:
        if request.command_name != "find":
            return False
        ns = f"{request.doc['$db']}.{request.doc['find']}"
        return bool(request.ok(cursor={"id": 0, "firstBatch": [ONE_DOC], "ns": ns}))

    server.autoresponds(find)


def ids_of(span: Span) -> dict[str, str]:
    """The ids a record made inside ``span`` must carry, as the adapter writes them."""
    context = span.get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def commands_on(records: list[dict[str, Any]], collection: str) -> list[dict[str, Any]]:
    """Started and succeeded records of the commands on ``collection``."""
    return [
        r for r in records if r["event"] in COMMAND_EVENTS and r.get("collection") == collection
    ]


def trace_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("trace_id", "span_id") if key in record}


# -- OpenTelemetry ---------------------------------------------------------------------------


def test_sync_command_records_carry_the_active_spans_ids_and_others_none(
    server: MockupDB,
    make_client: MakeClient,
    log_path: Path,
    tracer: Any,
    exporter: InMemorySpanExporter,
) -> None:
    serve_finds(server)
    client = make_client(
        server.uri,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
    )
    with tracer.start_as_current_span("GET /orders") as span:
        assert client.shop.orders.find_one({"status": "open"}) == ONE_DOC
    assert client.shop.archive.find_one({"status": "open"}) == ONE_DOC

    (finished,) = exporter.get_finished_spans()
    expected = ids_of(span)
    assert expected == {
        "trace_id": format(finished.context.trace_id, "032x"),
        "span_id": format(finished.context.span_id, "016x"),
    }
    assert re.fullmatch(r"[0-9a-f]{32}", expected["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", expected["span_id"])
    records = read_records(log_path)
    inside = commands_on(records, "orders")
    assert [r["event"] for r in inside] == list(COMMAND_EVENTS)
    assert [trace_fields(r) for r in inside] == [expected, expected]
    outside = commands_on(records, "archive")
    assert [r["event"] for r in outside] == list(COMMAND_EVENTS)
    assert [trace_fields(r) for r in outside] == [{}, {}]
    # The pool chatter of the command in the span is the span's too; nothing else is.
    traced = {r["event"] for r in records if "trace_id" in r}
    assert traced == {
        *COMMAND_EVENTS,
        "mongodb.connection.check_out_started",
        "mongodb.connection.checked_out",
        "mongodb.connection.checked_in",
        # The first operation opens the pool: its first connection is made in the span.
        "mongodb.connection.created",
        "mongodb.connection.ready",
    }
    assert all(trace_fields(r) == expected for r in records if "trace_id" in r)


def test_each_asyncio_task_gets_its_own_spans_ids_on_its_command_records(
    server: MockupDB, log_path: Path, tracer: Any
) -> None:
    serve_finds(server)
    spans: dict[str, Span] = {}

    async def handle(client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        with tracer.start_as_current_span(name) as span:
            spans[name] = span
            for _ in range(3):
                assert await client.shop[name].find_one({}) == ONE_DOC
                await asyncio.sleep(0)  # let the other task run in between

    async def run(client: AsyncMongoClient[dict[str, Any]]) -> None:
        await client.admin.command("ping")
        await asyncio.gather(handle(client, "alpha"), handle(client, "beta"))
        assert await client.shop.untraced.find_one({}) == ONE_DOC

    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    with_async_client(server.uri, listener_set, run)

    records = read_records(log_path)
    for name in ("alpha", "beta"):
        mine = commands_on(records, name)
        assert len(mine) == 6
        assert [trace_fields(r) for r in mine] == [ids_of(spans[name])] * 6
    assert ids_of(spans["alpha"]) != ids_of(spans["beta"])
    assert [trace_fields(r) for r in commands_on(records, "untraced")] == [{}, {}]


def test_without_opentelemetry_records_carry_no_trace_ids_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch,
    server: MockupDB,
    make_client: MakeClient,
    log_path: Path,
    tracer: Any,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # import now fails
    assert trace_processor() is None
    serve_finds(server)
    client = make_client(
        server.uri, event_listeners=mongo_structlog.listeners(output=str(log_path))
    )
    with tracer.start_as_current_span("GET /orders"):
        assert client.shop.orders.find_one({}) == ONE_DOC
    (succeeded,) = named(read_records(log_path), "mongodb.command.succeeded")
    assert trace_fields(succeeded) == {}
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_importing_the_package_does_not_import_opentelemetry_and_it_works_without_it(
    tmp_path: Path,
) -> None:
    script = f"""
import sys
import mongo_structlog
assert not any(m.startswith("opentelemetry") for m in sys.modules), "imported at import time"
sys.modules["opentelemetry"] = None  # as if it were not installed
from pymongo import monitoring
listener = mongo_structlog.listeners(output={str(tmp_path / "out.jsonl")!r})[4]
listener.pool_cleared(monitoring.PoolClearedEvent(("db", 27017)))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])
    (record,) = read_records(tmp_path / "out.jsonl")
    assert record["event"] == "mongodb.pool.cleared"
    assert "trace_id" not in record


# -- structlog.contextvars -----------------------------------------------------------------------


def test_values_bound_on_the_thread_appear_on_its_command_records_until_unbound(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    serve_finds(server)
    client = make_client(
        server.uri,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
    )
    structlog.contextvars.bind_contextvars(http_request_id="req-7f3a", user_id=42)
    assert client.shop.orders.find_one({}) == ONE_DOC
    structlog.contextvars.unbind_contextvars("user_id")
    assert client.shop.carts.find_one({}) == ONE_DOC
    structlog.contextvars.clear_contextvars()
    assert client.shop.archive.find_one({}) == ONE_DOC

    records = read_records(log_path)

    def bound(record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in ("http_request_id", "user_id") if k in record}

    both = {"http_request_id": "req-7f3a", "user_id": 42}
    assert [bound(r) for r in commands_on(records, "orders")] == [both, both]
    one = {"http_request_id": "req-7f3a"}
    assert [bound(r) for r in commands_on(records, "carts")] == [one, one]
    assert [bound(r) for r in commands_on(records, "archive")] == [{}, {}]
    # The bound values follow the record's own fields (records stay easy to read).
    started = commands_on(records, "orders")[0]
    assert list(started)[-2:] == ["http_request_id", "user_id"]


def test_bound_secrets_are_redacted_and_long_values_cut_on_the_records(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    serve_finds(server)
    listener_set = mongo_structlog.listeners(
        output=str(log_path), max_document_length=8, redact_keys="tenant_email"
    )
    client = make_client(server.uri, event_listeners=listener_set)
    structlog.contextvars.bind_contextvars(
        auth_token="eyJhbGciOiJIUzI1NiJ9",
        tenant_email="ops@example.org",
        request_body="x" * 10_000,
        user={"id": 42, "session_token": "s3cr3t"},
    )
    assert client.shop.orders.find_one({}) == ONE_DOC
    (record,) = commands_on(read_records(log_path), "orders")
    assert {k: record[k] for k in ("auth_token", "tenant_email", "request_body", "user")} == {
        "auth_token": "[REDACTED]",
        "tenant_email": "[REDACTED]",
        "request_body": "xxxxxxxx...",
        "user": {"id": 42, "session_token": "[REDACTED]"},
    }
    assert "s3cr3t" not in log_path.read_text()


def test_threads_sharing_a_client_each_get_only_their_own_values(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    serve_finds(server)
    client = make_client(
        server.uri,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
    )
    structlog.contextvars.bind_contextvars(tenant="main-thread")

    def work(tenant: str) -> None:
        structlog.contextvars.bind_contextvars(tenant=tenant)
        for _ in range(3):
            assert client.shop[tenant].find_one({}) == ONE_DOC

    threads = [threading.Thread(target=work, args=(t,)) for t in ("acme", "globex")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    records = read_records(log_path)
    for tenant in ("acme", "globex"):
        mine = commands_on(records, tenant)
        assert len(mine) == 6
        assert {r["tenant"] for r in mine} == {tenant}


def test_async_tasks_bound_values_appear_on_their_command_records(
    server: MockupDB, log_path: Path
) -> None:
    serve_finds(server)

    async def handle(client: AsyncMongoClient[dict[str, Any]], user: str) -> None:
        structlog.contextvars.bind_contextvars(user_id=user)
        for _ in range(3):
            assert await client.shop[user].find_one({}) == ONE_DOC
            await asyncio.sleep(0)

    async def run(client: AsyncMongoClient[dict[str, Any]]) -> None:
        await client.admin.command("ping")
        await asyncio.gather(handle(client, "ada"), handle(client, "linus"))

    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    with_async_client(server.uri, listener_set, run)

    records = read_records(log_path)
    for user in ("ada", "linus"):
        mine = commands_on(records, user)
        assert len(mine) == 6
        assert {r["user_id"] for r in mine} == {user}
    # Besides the commands, only the connection records of the tasks' own check-outs
    # (a task that finds the pool empty creates the connection itself).
    carrying = {r["event"] for r in records if "user_id" in r} - set(COMMAND_EVENTS)
    assert {"mongodb.connection.check_out_started", "mongodb.connection.checked_out"} <= carrying
    assert {e.rsplit(".", 1)[0] for e in carrying} == {"mongodb.connection"}


def test_a_bound_value_never_overrides_a_field_of_the_record_and_request_id_keeps_its_name(
    server: MockupDB, make_client: MakeClient, log_path: Path
) -> None:
    serve_finds(server)
    client = make_client(
        server.uri,
        event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
    )
    clashing = {
        "timestamp": "yesterday",
        "level": "critical",
        "event": "http.request",
        "request_id": "req-7f3a",
        "command_name": "nope",
        "database_name": "nope",
        "collection": "nope",
        "server_port": "nope",
        "slow": "nope",
        "reply": "nope",
    }
    structlog.contextvars.bind_contextvars(**clashing, user_id=42)
    assert client.shop.orders.find_one({}) == ONE_DOC
    structlog.contextvars.clear_contextvars()

    records = read_records(log_path)
    started, succeeded = commands_on(records, "orders")
    for record in (started, succeeded):
        assert record["user_id"] == 42
        assert type(record["driver_request_id"]) is int
        assert record["command_name"] == "find"
        assert record["database_name"] == "shop"
        assert record["collection"] == "orders"
        assert record["server_port"] == server.port
        assert record["event"] in COMMAND_EVENTS
        assert record["timestamp"] != "yesterday"
    assert (started["level"], succeeded["level"]) == ("debug", "info")
    assert succeeded["slow"] is False
    assert succeeded["reply"].startswith('{"ok":1,')
    # A bound name that is one of our field names is written as app_<name> on every
    # record, even one that lacks the field (a started record has no reply and no slow),
    # so that each key keeps one type across records.
    assert "reply" not in started
    assert "slow" not in started
    for record in (started, succeeded):
        assert record["request_id"] == "req-7f3a"  # not ours: an app's request_id keeps its name
        assert record["app_reply"] == "nope"
        assert record["app_slow"] == "nope"


# -- monitors ------------------------------------------------------------------------------------


def test_sync_monitor_records_carry_no_values_bound_or_span_active_on_the_app_thread(
    monkeypatch: pytest.MonkeyPatch,
    server: MockupDB,
    make_client: MakeClient,
    log_path: Path,
    tracer: Any,
) -> None:
    speed_up_sdam(monkeypatch)
    serve_finds(server)
    structlog.contextvars.bind_contextvars(user_id=42)
    with tracer.start_as_current_span("startup"):
        client = make_client(
            server.uri,
            heartbeatFrequencyMS=500,
            event_listeners=mongo_structlog.listeners(output=str(log_path), level="debug"),
        )
        assert client.shop.orders.find_one({}) == ONE_DOC
        records = wait_for(
            log_path,
            lambda rs: (
                len(named(rs, "mongodb.heartbeat.succeeded")) >= 2
                and named(rs, "mongodb.server.description_changed") != []
            ),
        )
    monitor = [r for r in records if r["event"].startswith(MONITOR_PREFIXES)]
    assert {"mongodb.heartbeat.started", "mongodb.topology.opened"} <= {r["event"] for r in monitor}
    assert [r for r in monitor if {"user_id", "trace_id", "span_id"} & set(r)] == []
    assert {r["user_id"] for r in commands_on(records, "orders")} == {42}


def test_async_monitor_records_carry_nothing_from_the_request_that_opened_the_client(
    monkeypatch: pytest.MonkeyPatch, server: MockupDB, log_path: Path, tracer: Any
) -> None:
    # An AsyncMongoClient connects on its first operation, and its monitor tasks copy the
    # context of the task that made them: here, a request with a span and a user id.
    speed_up_sdam(monkeypatch)
    serve_finds(server)

    async def run(client: AsyncMongoClient[dict[str, Any]]) -> None:
        with tracer.start_as_current_span("first request"):
            structlog.contextvars.bind_contextvars(user_id=42)
            assert await client.shop.orders.find_one({}) == ONE_DOC
            structlog.contextvars.clear_contextvars()
        for _ in range(200):
            if len(named(read_records(log_path), "mongodb.heartbeat.succeeded")) >= 2:
                break
            await asyncio.sleep(0.02)

    listener_set = mongo_structlog.listeners(output=str(log_path), level="debug")
    with_async_client(server.uri, listener_set, run, heartbeatFrequencyMS=500)

    records = read_records(log_path)
    assert len(named(records, "mongodb.heartbeat.succeeded")) >= 2
    monitor = [r for r in records if r["event"].startswith(MONITOR_PREFIXES)]
    assert [r for r in monitor if {"user_id", "trace_id", "span_id"} & set(r)] == []
    orders = commands_on(records, "orders")
    assert [r["user_id"] for r in orders] == [42, 42]
    assert all("trace_id" in r for r in orders)


def test_every_key_our_records_use_is_a_known_field_mapped_by_ecs(log_path: Path) -> None:
    """Guards the two lists that must follow every new field: OWN_FIELDS and ECS's mapping."""
    from mongo_structlog import ecs
    from mongo_structlog.context import OWN_FIELDS
    from mongo_structlog.demo import run_demo

    assert run_demo(output=str(log_path), level="debug") == 0
    used = {key for record in read_records(log_path) for key in record}
    assert used <= OWN_FIELDS
    mapped_by_ecs = set(ecs._MONGODB_KEYS) | set(ecs._FIELDS) | set(ecs._CONVERTED)
    assert not OWN_FIELDS - mapped_by_ecs
