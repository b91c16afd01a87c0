"""The documentation against the code it describes.

Every setting has its row and variable in ``docs/configuration.md``; every event name the
package emits is in ``docs/events.md``, whose example records match their event's row;
every public name has its entry in ``docs/api.md``; every ``json`` example in ``docs/``
parses; the Getting started record is what the code writes today; the site builds strictly.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog

from .factory import stop_quickly
from .servers import STANDALONE, named, read_records

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "mongo_structlog"
EVENT_NAME = re.compile(r"mongodb\.[a-z_]+\.[a-z_]+")
REQUEST_LINE = re.compile(r"(GET|PUT|POST|DELETE) \S+\n")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row (header and separator rows included)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def code_blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def emitted_event_names() -> set[str]:
    """Every string constant in the package that is a whole event name."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and EVENT_NAME.fullmatch(node.value)
            ):
                names.add(node.value)
    return names


def json_values(block: str) -> list[Any]:
    """A block is one JSON document, or JSON lines; either way every value in it.

    A Kibana Dev Tools request (``PUT _index_template/x`` then its JSON body) counts as
    its body.
    """
    if REQUEST_LINE.match(block):
        block = block.split("\n", 1)[1]
    try:
        return [json.loads(block)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in block.splitlines() if line.strip()]


# -- configuration.md ----------------------------------------------------------------------------


def test_every_setting_has_a_row_with_its_variable_and_default() -> None:
    rows = {row[0]: row for row in table_rows(read("configuration.md")) if len(row) == 5}
    fields = dataclasses.fields(mongo_structlog.Settings)
    for field in fields:
        row = rows.get(f"`{field.name}`")
        assert row is not None, f"no row for {field.name} in docs/configuration.md"
        assert row[1] == f"`MONGO_STRUCTLOG_{field.name.upper()}`", row
        default = field.default
        if type(default) is str:
            assert f"`{default}`" in row[3], (field.name, row[3])
        elif type(default) in (int, float):
            assert f"`{default:g}`" in row[3], (field.name, row[3])
    documented = {key for key in rows if key.startswith("`") and key != "`keyword`"}
    assert documented == {f"`{field.name}`" for field in fields}


def test_the_error_examples_are_the_messages_the_code_raises() -> None:
    text = read("configuration.md")
    (examples,) = [b for b in code_blocks(text, "text") if "ValueError" in b]
    raised: list[str] = []
    for keywords, environ in [
        ({}, {"MONGO_STRUCTLOG_LEVEL": "verbose"}),
        ({"sample_rate": 1.5}, {}),
        ({}, {"MONGO_STRUCTLOG_SAMPLE_RATE": "half"}),
        ({"documents": "raw"}, {}),
        ({}, {"MONGO_STRUCTLOG_FAMILIES": "command,queries"}),
        ({"max_document_length": -1}, {}),
        ({"queue_size": True}, {}),
    ]:
        with pytest.raises(ValueError, match=r"^invalid value for ") as error:
            mongo_structlog.load_settings(environ, **keywords)
        raised.append(f"ValueError: {error.value}")
    with pytest.raises(TypeError) as unknown:
        mongo_structlog.load_settings({}, colour=True)
    raised.append(f"TypeError: {unknown.value}")
    for message in raised:
        assert message in examples.splitlines(), message


# -- events.md -------------------------------------------------------------------------------------


def test_every_event_the_package_emits_is_documented_and_nothing_else() -> None:
    emitted = emitted_event_names()
    # 23 PyMongo events, mongodb.sampling.summary, and 4 derived ones (incidents.md)
    assert len(emitted) == 28
    text = read("events.md") + read("incidents.md")
    rows = {row[0].strip("`"): row for row in table_rows(text) if row[0].startswith("`mongodb.")}
    assert set(rows) == emitted
    assert set(EVENT_NAME.findall(text)) <= emitted


def test_example_records_match_their_events_row() -> None:
    text = read("events.md")
    rows = {row[0].strip("`"): row for row in table_rows(text) if row[0].startswith("`mongodb.")}
    examples = [value for block in code_blocks(text, "json") for value in json_values(block)]
    assert {record["event"] for record in examples} == set(rows)  # one example at least each
    for record in examples:
        _, levels, keys = rows[record["event"]]
        assert list(record)[:3] == ["timestamp", "level", "event"]
        assert f"`{record['level']}`" in levels, record
        documented = set(re.findall(r"`([a-z_]+)`", keys)) | {"topology_id", "sample_rate"}
        assert set(record) - {"timestamp", "level", "event"} <= documented, record


# -- api.md ----------------------------------------------------------------------------------------


def test_every_public_name_has_an_entry_in_the_api_reference() -> None:
    headings = set(re.findall(r"^### `([^`]+)`$", read("api.md"), re.MULTILINE))
    assert set(mongo_structlog.__all__) <= headings
    assert headings - set(mongo_structlog.__all__) == set()


# -- every page ----------------------------------------------------------------------------------


def test_every_json_example_in_the_docs_parses() -> None:
    blocks = [
        (page.name, block)
        for page in sorted(DOCS.glob("*.md"))
        for block in code_blocks(page.read_text(encoding="utf-8"), "json")
    ]
    assert len(blocks) >= 7
    for page, block in blocks:
        try:
            json_values(block)
        except json.JSONDecodeError as exc:
            pytest.fail(f"a json block in docs/{page} does not parse: {exc}")


@pytest.fixture
def port_27017() -> Iterator[MockupDB]:
    """The Getting started server: localhost:27017, when that port is free."""
    server = MockupDB(port=27017, auto_ismaster=STANDALONE)
    server.autoresponds("ping")
    server.autoresponds("endSessions")
    try:
        server.run()
    except OSError:
        pytest.skip("port 27017 is taken")
    yield server
    stop_quickly(server)


def test_the_getting_started_record_is_what_the_code_writes(
    port_27017: MockupDB, log_path: Path
) -> None:
    def find(request: Any) -> bool:
        if request.command_name != "find":
            return False
        batch = [{"_id": 7, "status": "open", "total": 42}]
        return bool(request.ok(cursor={"id": 0, "firstBatch": batch, "ns": "shop.orders"}))

    port_27017.autoresponds(find)
    client: MongoClient[dict[str, Any]] = MongoClient(
        "mongodb://localhost:27017",
        serverSelectionTimeoutMS=5000,
        event_listeners=mongo_structlog.listeners(output=str(log_path)),
    )
    client.shop.orders.find_one({"status": "open", "customer": "ada@example.com"})
    client.close()

    (written,) = named(read_records(log_path), "mongodb.command.succeeded")
    documented = json.loads(code_blocks(read("index.md"), "json")[0])
    volatile = {"timestamp", "driver_request_id", "operation_id", "duration_micros", "topology_id"}
    assert {k: v for k, v in written.items() if k not in volatile} == {
        k: v for k, v in documented.items() if k not in volatile
    }


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
