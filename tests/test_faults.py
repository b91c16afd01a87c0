"""Bad input at the listener boundary: odd documents and unexpected objects.

PyMongo calls the listeners with whatever the application and the server produced:
``RawBSONDocument`` and ``SON`` documents, deep or huge ones, text that is not valid
UTF-8. And a listener may be handed an object it does not expect. Whatever comes in, no
exception reaches PyMongo; odd documents are still logged, as one valid JSON line each;
what cannot be handled is counted in ``stats()["internal_errors"]`` and reported once.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bson import SON, encode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from mockupdb import MockupDB, going
from pymongo import MongoClient, monitoring

import mongo_structlog

from . import factory as f
from .servers import iter_lines, named, read_records

MakeClient = Callable[..., MongoClient[Any]]

MAX_LENGTH = 1000


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... {"x": 1}}}``, ``depth`` levels deep."""
    document: dict[str, Any] = {"x": 1}
    for _ in range(depth):
        document = {"a": document}
    return document


def nested_list(depth: int) -> list[Any]:
    """``[[[ ... [1] ... ]]]``, ``depth`` levels deep."""
    value: list[Any] = [1]
    for _ in range(depth):
        value = [value]
    return value


def raw_with_invalid_utf8() -> RawBSONDocument:
    """A raw ``find`` whose filter holds a BSON string that is not UTF-8 (``ff fe``)."""
    valid = encode({"find": "users", "filter": {"name": "XX"}, "$db": "shop"})
    return RawBSONDocument(valid.replace(b"XX", b"\xff\xfe"))


ODD_COMMANDS: dict[str, Any] = {
    "RawBSONDocument": RawBSONDocument(
        encode({"find": "users", "filter": {"name": "Ada"}, "$db": "shop"})
    ),
    "RawBSONDocument with invalid UTF-8": raw_with_invalid_utf8(),
    "SON": SON([("find", "users"), ("filter", SON([("name", "Ada")])), ("$db", "shop")]),
    "200 levels deep": {"find": "users", "filter": nested(200), "$db": "shop"},
    "5000 levels deep": {"find": "users", "filter": nested(5000), "$db": "shop"},
    "5000 nested lists": {"find": "users", "filter": {"a": nested_list(5000)}, "$db": "shop"},
    "a 16 MB string": {"find": "users", "filter": {"s": "x" * 16_000_000}, "$db": "shop"},
    "100k keys": {"find": "users", "filter": {str(i): i for i in range(100_000)}, "$db": "shop"},
    "lone surrogate in a value": {"find": "users", "filter": {"name": "Ad\udcff"}, "$db": "shop"},
    "lone surrogate in a key": {"find": "users", "filter": {"na\udcffme": 1}, "$db": "shop"},
    "lone surrogate in the collection": {"find": "us\udcffers", "filter": {}, "$db": "shop"},
    "values BSON cannot hold": {
        "find": "users",
        "filter": {"o": object(), "n": float("nan"), "big": 2**80, "b": b"\xff", "k": {1: 2}},
        "$db": "shop",
    },
}

ODD_REPLIES: dict[str, Any] = {
    "RawBSONDocument with invalid UTF-8": RawBSONDocument(
        encode(
            {"ok": 1.0, "cursor": {"id": 0, "ns": "shop.users", "firstBatch": [{"n": "XX"}]}}
        ).replace(b"XX", b"\xff\xfe")
    ),
    "lone surrogates": {
        "ok": 1.0,
        "cursor": {"id": 0, "ns": "shop.users", "firstBatch": [{"n": "\udcff"}]},
        "note": "\udcff",
    },
    "100k documents": {
        "ok": 1.0,
        "cursor": {"id": 0, "ns": "shop.users", "firstBatch": [{"_id": i} for i in range(100_000)]},
    },
}

ODD_FAILURES: dict[str, Any] = {
    "lone surrogate in errmsg": f.server_error(errmsg="bad \udcff value"),
    "lone surrogates in code name and labels": f.server_error(
        code_name="Bad\udcffValue", labels=["Transient\udcff"]
    ),
    "a 1 MB errmsg": f.server_error(errmsg="e" * 1_000_000),
    "a code that is not an int": {"ok": 0.0, "errmsg": "odd", "code": "2", "codeName": 2},
}


def assert_lines_are_valid_json(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` is one JSON object (``json.loads`` rejects broken text)."""
    lines = list(iter_lines(path))
    assert all(line.endswith("\n") for line in lines)
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("command", ODD_COMMANDS.values(), ids=ODD_COMMANDS.keys())
@pytest.mark.parametrize("documents", ["shape", "full"])
def test_an_odd_command_is_logged_as_valid_json_without_raising(
    command: Any, documents: str, log_path: Path
) -> None:
    listener = mongo_structlog.listeners(output=str(log_path), level="debug", documents=documents)[
        0
    ]
    started = f.command_started(command)

    listener.started(started)
    listener.succeeded(f.command_succeeded(command_name=started.command_name))

    records = assert_lines_are_valid_json(log_path)
    assert [r["event"] for r in records] == ["mongodb.command.started", "mongodb.command.succeeded"]
    for record in records:
        assert len(record["command"]) <= MAX_LENGTH + len("...")
        assert len(record["command_shape"]) == 16
    assert mongo_structlog.stats()["internal_errors"] == 0


@pytest.mark.parametrize("reply", ODD_REPLIES.values(), ids=ODD_REPLIES.keys())
@pytest.mark.parametrize("documents", ["shape", "full"])
def test_an_odd_reply_is_logged_as_valid_json_without_raising(
    reply: Any, documents: str, log_path: Path
) -> None:
    listener = mongo_structlog.listeners(output=str(log_path), documents=documents)[0]

    listener.started(f.command_started())
    listener.succeeded(f.command_succeeded(reply))

    (record,) = assert_lines_are_valid_json(log_path)
    assert record["event"] == "mongodb.command.succeeded"
    assert type(record["reply"]) is str
    assert len(record["reply"]) <= MAX_LENGTH + len("...")
    assert mongo_structlog.stats()["internal_errors"] == 0


@pytest.mark.parametrize("failure", ODD_FAILURES.values(), ids=ODD_FAILURES.keys())
def test_an_odd_failure_is_logged_as_valid_json_without_raising(
    failure: Any, log_path: Path
) -> None:
    listener = mongo_structlog.listeners(output=str(log_path))[0]

    listener.started(f.command_started())
    listener.failed(f.command_failed(failure))

    (record,) = assert_lines_are_valid_json(log_path)
    assert (record["event"], record["level"]) == ("mongodb.command.failed", "warning")
    assert type(record["error_type"]) is str
    assert len(record.get("error", "")) <= MAX_LENGTH + len("...")
    assert mongo_structlog.stats()["internal_errors"] == 0


def test_raw_bson_and_son_documents_from_a_real_client_are_logged(
    server: MockupDB, log_path: Path, make_client: MakeClient
) -> None:
    client = make_client(
        server.uri,
        document_class=RawBSONDocument,
        event_listeners=mongo_structlog.listeners(output=str(log_path), documents="full"),
    )
    orders = client.shop.get_collection("orders", CodecOptions(document_class=RawBSONDocument))
    document = RawBSONDocument(encode({"_id": 1, "item": "book", "password": "hunter2"}))
    with going(orders.insert_one, document):
        server.receives().ok(n=1)
    with going(orders.find_one, SON([("item", "book"), ("qty", SON([("$gt", 1)]))])) as found:
        server.receives().ok(
            cursor={"id": 0, "ns": "shop.orders", "firstBatch": [{"_id": 1, "item": "book"}]}
        )
    assert found()["item"] == "book"

    records = read_records(log_path)
    (insert,) = [
        r for r in named(records, "mongodb.command.succeeded") if r["command_name"] == "insert"
    ]
    assert '"documents":[{"_id":1,"item":"book","password":"[REDACTED]"}]' in insert["command"]
    (find,) = [
        r for r in named(records, "mongodb.command.succeeded") if r["command_name"] == "find"
    ]
    assert '"filter":{"item":"book","qty":{"$gt":1}}' in find["command"]
    assert '"firstBatch":[{"_id":1,"item":"book"}]' in find["reply"]
    assert mongo_structlog.stats()["internal_errors"] == 0


# -- unexpected objects -------------------------------------------------------------------------

UNEXPECTED: dict[str, Any] = {
    "None": None,
    "an int": 42,
    "an object without attributes": object(),
    "another event": f.pool_created(),
}


def listener_methods(listeners: list[Any]) -> list[tuple[str, Callable[[Any], None]]]:
    """Every event method PyMongo may call, on each of the five listeners."""
    methods = []
    for listener in listeners:
        for base in type(listener).__mro__:
            if base.__module__ != monitoring.__name__ or base is monitoring._EventListener:
                continue
            for name, _ in inspect.getmembers(base, inspect.isfunction):
                if not name.startswith("_"):
                    methods.append((f"{type(listener).__name__}.{name}", getattr(listener, name)))
    return methods


@pytest.mark.parametrize("thing", UNEXPECTED.values(), ids=UNEXPECTED.keys())
def test_an_unexpected_object_never_raises_into_pymongo(
    thing: Any, log_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    listeners = mongo_structlog.listeners(output=str(log_path), level="debug")
    methods = listener_methods(listeners)
    assert len(methods) == 3 + 3 + 3 + 3 + 11  # every event PyMongo publishes

    for _, method in methods:
        method(thing)  # must not raise
    listeners[0].pipeline.close()  # writes a pool.created still waiting for a topology id

    stats = mongo_structlog.stats()
    failed = stats["internal_errors"]
    assert failed == len(methods) - sum(stats["emitted"].values())
    assert failed > 0
    reported = [line for line in capfd.readouterr().err.splitlines() if line]
    assert all(line.startswith("mongo_structlog: internal error in ") for line in reported)
    assert len(reported) == len(set(reported))  # each place reports once
    assert 0 < len(reported) <= failed
    # Whatever was written is still one valid JSON object per line.
    assert len(assert_lines_are_valid_json(log_path)) == sum(stats["emitted"].values())


def test_the_same_failure_is_reported_once_however_often_it_happens(
    log_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    listener = mongo_structlog.listeners(output=str(log_path))[0]

    for _ in range(100):
        listener.succeeded(None)  # type: ignore[arg-type]

    assert mongo_structlog.stats()["internal_errors"] == 100
    reported = capfd.readouterr().err.splitlines()
    assert reported == [
        "mongo_structlog: internal error in command succeeded: AttributeError(\"'NoneType' "
        "object has no attribute '_msl_request_id'\") (reported once; see mongo_structlog.stats())"
    ]
