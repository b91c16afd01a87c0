"""Records as Grafana Loki sees them: JSON lines that LogQL's ``| json`` parses without surprises.

A real client session at level ``debug`` with every family (and a second, sampled one for
the summary records) writes its records to a file, as Alloy's ``loki.source.file`` would
read them. Every line must be one flat JSON object: scalar values or lists of scalars
(documents are strings), label-safe keys, ``level`` and ``event`` present, nothing that
LogQL's flattening (nested keys joined with ``_``) would make collide, and no line longer
than the bound ``docs/loki.md`` derives from ``max_document_length``, which keeps it under
Loki's default ``max_line_size`` of 256 KB.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient
from pymongo.errors import PyMongoError

import mongo_structlog

from .factory import speed_up_sdam, stop_quickly
from .servers import named, standalone, wait_for

#: Loki's default ``limits_config.max_line_size``: a longer line is rejected.
LOKI_MAX_LINE_SIZE = 256 * 1024
#: The largest ``max_document_length`` ``docs/loki.md`` calls safe for that limit.
LOKI_SAFE_MAX_DOCUMENT_LENGTH = 20_000
#: Everything on a record besides its cut strings: names, ids, addresses, counters.
#: (Collection, database and command names, and bound context values, are the
#: application's own and count on top; this session keeps them short.)
FIXED_PART = 2048

LABEL_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
LEVELS = {"debug", "info", "warning", "error"}
FAMILIES = {"command", "server", "heartbeat", "topology", "pool", "sampling"}
#: The regex of the Alloy ``stage.regex`` in ``docs/loki.md``; ``connection.*`` is the pool family.
EVENT_FAMILY = re.compile(r"^mongodb\.(?P<event_family>[a-z]+)\.")

# Worst-case text: astral characters (4 bytes of UTF-8), quotes and backslashes (escaped:
# 2 bytes), control characters (\u00XX: 6 bytes in an error message). 80k characters, so
# any value that escaped the cut would break every bound below.
BIG = '\U0001f600"\\\x01' * 20_000


def line_bound(max_document_length: int) -> int:
    """The longest line a record can make, from the settings alone (see ``docs/loki.md``).

    ``command``, ``reply`` and ``error`` are each cut to ``max_document_length`` characters
    plus ``...``; a record carries at most two of them (command and reply, or command and
    error). In the JSON line a character of the document texts (already JSON) takes at most
    4 bytes, one of an error message at most 6.
    """
    cut = max_document_length + 3
    return 4 * cut + 6 * cut + FIXED_PART


def event_family(event: str) -> str:
    """The ``event_family`` label the Alloy pipeline of ``docs/loki.md`` extracts."""
    match = EVENT_FAMILY.match(event)
    assert match is not None, event
    return match.group("event_family")


def scalar(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool)


def logql_json_labels(record: dict[str, Any]) -> dict[str, str]:
    """What LogQL's ``| json`` (no parameters) extracts from a line, collisions refused.

    Nested objects are flattened with ``_`` between the keys; arrays are skipped; values
    become strings.
    """
    labels: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}_{key}" if prefix else key, item)
        elif isinstance(value, list):
            return
        else:
            assert prefix not in labels, f"| json would extract {prefix!r} twice"
            labels[prefix] = json.dumps(value) if not isinstance(value, str) else value

    walk("", record)
    return labels


@pytest.fixture
def workload_server() -> Iterator[MockupDB]:
    """A standalone that answers with worst-case text, is slow once, and hangs up once."""
    server = standalone()
    state = {"hung_up": False}

    def answer(request: Any) -> bool:
        name, doc = request.command_name, request.doc
        if name == "insert":
            return bool(request.ok(n=len(doc["documents"])))
        if name == "find":
            filter_ = doc.get("filter", {})
            if "$bogus" in filter_:
                return bool(request.command_err(code=2, errmsg=f"unknown operator: {BIG}"))
            if filter_.get("slow"):
                time.sleep(0.3)
            ns = f"{doc['$db']}.{doc['find']}"
            batch = [{"_id": 1, "note": BIG}]
            return bool(request.ok(cursor={"id": 0, "firstBatch": batch, "ns": ns}))
        if name == "count" and not state["hung_up"]:
            state["hung_up"] = True
            return bool(request.hangup())
        return False

    server.autoresponds(answer)
    yield server
    stop_quickly(server)


def run_session(server: MockupDB, log_path: Path, max_document_length: int) -> list[str]:
    """Run every kind of event through real clients; return the raw lines written."""
    common: dict[str, Any] = {
        "output": str(log_path),
        "level": "debug",
        "documents": "full",
        "max_document_length": max_document_length,
        "slow_ms": 100,
    }
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        maxPoolSize=1,
        waitQueueTimeoutMS=50,
        heartbeatFrequencyMS=100,
        serverSelectionTimeoutMS=2000,
        event_listeners=mongo_structlog.listeners(**common),
    )
    users = client.shop.users
    users.insert_one({"name": BIG, "password": BIG})
    users.find_one({"name": BIG})
    with pytest.raises(PyMongoError):
        users.find_one({"$bogus": 1})
    # A slow find holds the only connection; another thread's check-out times out.
    slow = threading.Thread(target=users.find_one, args=({"slow": True},))
    slow.start()
    wait_for(
        log_path,
        lambda rs: any('"slow":true' in r["command"] for r in named(rs, "mongodb.command.started")),
    )
    with pytest.raises(PyMongoError):
        users.find_one({})
    slow.join()
    with pytest.raises(PyMongoError):  # the server hangs up: the pool is cleared
        client.shop.command("count", "users")

    # A sampled-out client: its drops come back as mongodb.sampling.summary records.
    sampled: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        serverSelectionTimeoutMS=2000,
        event_listeners=mongo_structlog.listeners(**common, sample_rate=0, summary_interval_ms=1),
    )
    for _ in range(5):
        sampled.admin.command("ping")
        time.sleep(0.005)
    sampled.close()

    stop_quickly(server)  # the monitor's next check fails
    wait_for(log_path, lambda rs: named(rs, "mongodb.heartbeat.failed") != [])
    client.close()
    return log_path.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def fast_sdam(monkeypatch: pytest.MonkeyPatch) -> None:
    speed_up_sdam(monkeypatch)


@pytest.mark.usefixtures("fast_sdam")
def test_every_line_is_a_flat_json_object_logql_parses_without_surprises(
    workload_server: MockupDB, log_path: Path
) -> None:
    lines = run_session(workload_server, log_path, max_document_length=1000)

    records = [json.loads(line) for line in lines]
    assert all(type(record) is dict for record in records)
    # Every family is there ("connection" records belong to the pool family).
    assert {event_family(r["event"]) for r in records} == FAMILIES | {"connection"}
    assert {
        "mongodb.command.started",
        "mongodb.command.succeeded",
        "mongodb.command.failed",
        "mongodb.heartbeat.failed",
        "mongodb.pool.cleared",
        "mongodb.connection.check_out_failed",
        "mongodb.sampling.summary",
    } <= {r["event"] for r in records}
    for record in records:
        assert record["level"] in LEVELS
        assert record["event"].startswith("mongodb.")
        for key, value in record.items():
            assert LABEL_NAME.match(key), key
            assert scalar(value) or (type(value) is list and all(scalar(item) for item in value)), (
                key,
                value,
            )
        for document in ("command", "reply"):
            if document in record:
                assert type(record[document]) is str
        labels = logql_json_labels(record)
        assert labels["level"] == record["level"]
        assert labels["event"] == record["event"]
    # What a label could be made of stays small.
    assert {r["level"] for r in records} == LEVELS
    assert len({r["event"] for r in records}) <= 28  # 24 + 4 derived (docs/incidents.md)


@pytest.mark.usefixtures("fast_sdam")
def test_lines_stay_under_the_bound_derived_from_max_document_length(
    workload_server: MockupDB, log_path: Path
) -> None:
    lines = run_session(workload_server, log_path, max_document_length=1000)

    sizes = [len(line.encode("utf-8")) + 1 for line in lines]  # with its newline
    assert max(sizes) <= line_bound(1000) == 12_078
    # The worst-case text made it into the records, cut.
    records = [json.loads(line) for line in lines]
    (failed,) = [r for r in named(records, "mongodb.command.failed") if r.get("error_code") == 2]
    assert failed["error"].endswith("...")
    assert len(failed["error"]) == 1003


@pytest.mark.usefixtures("fast_sdam")
def test_at_the_largest_safe_document_length_no_line_reaches_lokis_limit(
    workload_server: MockupDB, log_path: Path
) -> None:
    lines = run_session(
        workload_server, log_path, max_document_length=LOKI_SAFE_MAX_DOCUMENT_LENGTH
    )

    sizes = [len(line.encode("utf-8")) + 1 for line in lines]
    assert line_bound(LOKI_SAFE_MAX_DOCUMENT_LENGTH) < LOKI_MAX_LINE_SIZE
    assert max(sizes) <= line_bound(LOKI_SAFE_MAX_DOCUMENT_LENGTH)
    # The limit is not met by accident: the biggest lines carry 20k-character texts.
    assert max(sizes) > 20 * LOKI_SAFE_MAX_DOCUMENT_LENGTH // 10
