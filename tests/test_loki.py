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
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jmespath
import pytest
from mockupdb import MockupDB
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pythonjsonlogger.json import JsonFormatter

import mongo_structlog
from mongo_structlog.settings import Settings

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
#: The ``families`` setting's names, and ``sampling`` for the summary records.
FAMILIES = {*Settings().families, "sampling"}
#: The regex of the Alloy ``stage.regex`` in ``docs/loki.md`` (checked against it below).
EVENT_FAMILY = re.compile(r"^mongodb\.(?P<event_family>[a-z]+)\.")
LOKI_DOC = Path(__file__).resolve().parents[1] / "docs" / "loki.md"

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
    """The ``event_family`` label the Alloy pipeline of ``docs/loki.md`` extracts.

    Its ``stage.regex``, then its ``stage.template`` reading ``connection`` as ``pool``.
    """
    match = EVENT_FAMILY.match(event)
    assert match is not None, event
    family = match.group("event_family")
    return "pool" if family == "connection" else family


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
    # Every family is there, named as the families setting names it.
    assert {event_family(r["event"]) for r in records} == FAMILIES
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


# -- The Alloy recipe against real lines of every output style ------------------------------------


def alloy_blocks() -> list[str]:
    """The ``alloy`` code blocks of ``docs/loki.md`` that parse records (have a stage.json)."""
    text = LOKI_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```alloy\n(.*?)```", text, flags=re.DOTALL)
    return [block for block in blocks if "stage.regex" in block]


def recipe(block: str) -> dict[str, Any]:
    """The parts of one Alloy pipeline that decide what is read and how it is labelled."""
    expressions = dict(re.findall(r"(\w+)\s*=\s*`([^`]*)`,", block.split("stage.json", 1)[1]))
    (regex,) = re.findall(r"expression = `([^`]*)`", block)
    templates = re.findall(r'source\s*=\s*"(\w+)"\s*\n\s*template = `([^`]*)`', block)
    selector = re.findall(r'selector = "((?:[^"\\]|\\.)*)"', block)
    line_filter = None
    if selector:
        logql = selector[0].replace('\\"', '"').replace("\\\\", "\\")
        line_filter = re.compile(logql.split("|~ `", 1)[1].rstrip("`"))
    return {
        "expressions": expressions,
        "regex": regex,
        "templates": templates,
        "line_filter": line_filter,
    }


def labels_from(line: str, parts: dict[str, Any]) -> dict[str, Any]:
    """What the pipeline extracts from one line: level, event_family and timestamp."""
    document = json.loads(line)
    extracted = {
        name: jmespath.search(expr, document) for name, expr in parts["expressions"].items()
    }
    level = extracted["level"].lower()  # stage.template: ToLower
    match = re.match(parts["regex"], extracted["event"])
    assert match is not None, extracted["event"]
    family = match.group("event_family")
    family = "pool" if family == "connection" else family  # stage.template: if eq ...
    return {"level": level, "event_family": family, "timestamp": extracted.get("timestamp")}


def test_every_pipeline_in_the_guide_has_the_same_stages() -> None:
    blocks = [recipe(block) for block in alloy_blocks()]
    assert len(blocks) == 2  # from a file, from stdout
    for parts in blocks:
        assert parts["expressions"] == {
            "level": '"log.level" || level || levelname',
            "event": "event.action || event",
            "timestamp": '"@timestamp" || timestamp',
        }
        assert parts["regex"] == EVENT_FAMILY.pattern
        assert parts["templates"] == [
            ("level", "{{ ToLower .Value }}"),
            ("event_family", '{{ if eq .Value "connection" }}pool{{ else }}{{ .Value }}{{ end }}'),
        ]
    assert blocks[0]["line_filter"] is None
    assert blocks[1]["line_filter"].pattern == '"(event|action)": ?"mongodb\\.'


def write_session(output: str, **settings: Any) -> None:
    """A short real session at debug: commands (one failing), pool and topology records."""
    server = standalone()

    def answer(request: Any) -> bool:
        if request.command_name == "find":
            return bool(request.ok(cursor={"id": 0, "firstBatch": [], "ns": "shop.orders"}))
        if request.command_name == "count":
            return bool(request.command_err(code=2, errmsg="bad count"))
        return False

    server.autoresponds(answer)
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            server.uri,
            serverSelectionTimeoutMS=2000,
            event_listeners=mongo_structlog.listeners(output=output, level="debug", **settings),
        )
        client.shop.orders.find_one({"status": "open"})
        with pytest.raises(PyMongoError):
            client.shop.command("count", "orders")
        client.close()
    finally:
        stop_quickly(server)
    mongo_structlog.flush()


def stdlib_lines(tmp_path: Path, **settings: Any) -> list[str]:
    """Lines of the ``stdlib`` output through python-json-logger, set up as its docs show."""
    path = tmp_path / "app.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        write_session("stdlib", **settings)
        logging.getLogger("app").info("user signed in", extra={"event": "login"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("style", "settings"),
    [
        ("json", {}),
        ("ecs", {"format": "ecs"}),
        ("stdlib", {}),
        ("stdlib-ecs", {"format": "ecs"}),
    ],
)
def test_the_recipe_reads_every_output_style(
    style: str, settings: dict[str, Any], tmp_path: Path
) -> None:
    if style.startswith("stdlib"):
        lines = stdlib_lines(tmp_path, **settings)
        ours = [line for line in lines if '"name": "mongo_structlog"' in line]
    else:
        path = tmp_path / "records.jsonl"
        write_session(str(path), **settings)
        # An application record beside ours, written the way structlog's JSONRenderer does.
        lines = [*path.read_text(encoding="utf-8").splitlines(), '{"event":"user signed in"}']
        ours = lines[:-1]
    assert len(ours) > 10
    file_recipe, stdout_recipe = (recipe(block) for block in alloy_blocks())
    # The stdout selector keeps exactly our lines.
    assert [line for line in lines if stdout_recipe["line_filter"].search(line)] == ours
    labelled = [labels_from(line, file_recipe) for line in ours]
    assert {label["level"] for label in labelled} <= LEVELS
    assert {label["event_family"] for label in labelled} >= {"command", "topology", "pool"}
    assert {label["event_family"] for label in labelled} <= FAMILIES
    for label in labelled:
        if style.startswith("stdlib"):
            continue  # the time is the application formatter's
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", label["timestamp"])
