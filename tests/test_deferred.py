"""A queued output leaves the command's documents and the rendering to its writer thread.

The records must be exactly those a synchronous output writes; the documents are read on
the writer thread (in modes that write no values), and what goes wrong there is counted,
never lost silently.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB

import mongo_structlog
from mongo_structlog import deferred, pipeline
from mongo_structlog.deferred import Later, complete

from . import factory as f
from .servers import read_records, two_interleaved_requests, with_async_client

FIND = {
    "find": "orders",
    "filter": {"customer": "ann@example.com", "total": {"$gte": 100}},
    "lsid": {"id": 1},
    "$db": "shop",
}
REPLY = {"cursor": {"firstBatch": [{"_id": 1}, {"_id": 2}], "id": 0, "ns": "shop.orders"}, "ok": 1}


def publish_all(command: Any) -> None:
    """A success, a slow success, a failure, a sensitive command, an unmatched success."""
    command.started(f.command_started(FIND, request_id=1, server_connection_id=9))
    command.succeeded(f.command_succeeded(REPLY, request_id=1, server_connection_id=9))
    command.started(f.command_started(FIND, request_id=2))
    command.succeeded(f.command_succeeded(REPLY, request_id=2, duration_micros=900_000))
    command.started(f.command_started(FIND, request_id=3))
    command.failed(f.command_failed(f.server_error(), request_id=3))
    command.started(f.command_started({"saslStart": 1, "payload": b"x"}, request_id=4))
    command.succeeded(
        f.command_succeeded({"ok": 1, "payload": b"y"}, command_name="saslStart", request_id=4)
    )
    command.succeeded(f.command_succeeded(REPLY, request_id=5))


@pytest.mark.parametrize("documents", ["shape", "none", "full"])
@pytest.mark.parametrize("fmt", ["json", "ecs"])
def test_a_queued_record_is_the_record_a_synchronous_output_writes(
    tmp_path: Path, documents: str, fmt: str
) -> None:
    written = {}
    for queue_size in (0, 100):
        path = tmp_path / f"queue{queue_size}.jsonl"
        settings = {"documents": documents, "format": fmt, "queue_size": queue_size}
        command, *_ = mongo_structlog.listeners(output=str(path), **settings)
        publish_all(command)
        mongo_structlog.flush()
        written[queue_size] = [
            {key: value for key, value in record.items() if key not in ("timestamp", "@timestamp")}
            for record in read_records(path)
        ]
    assert len(written[0]) == 5
    assert written[100] == written[0]
    assert [list(record) for record in written[100]] == [list(record) for record in written[0]]


@pytest.fixture
def completed_on(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """The thread of every ``Later.fields`` call (a record completed from its documents)."""
    threads: list[threading.Thread] = []
    fields = Later.fields

    def spy(self: Later) -> dict[str, Any]:
        threads.append(threading.current_thread())
        return fields(self)

    monkeypatch.setattr(Later, "fields", spy)
    return threads


def test_the_documents_are_read_on_the_writer_thread_in_shape_mode(
    log_path: Path, completed_on: list[threading.Thread]
) -> None:
    threads = completed_on
    command, *_ = mongo_structlog.listeners(output=str(log_path), queue_size=100)
    publish_all(command)
    mongo_structlog.flush()
    assert len(threads) == 5  # one per completion record (a failure's error is made at once)
    assert threading.current_thread() not in threads
    command, *_ = mongo_structlog.listeners(output=str(log_path), queue_size=100, documents="full")
    publish_all(command)
    mongo_structlog.flush()
    assert len(threads) == 5  # values are written as PyMongo sent them: read at once


def test_started_records_at_debug_are_rendered_at_once_and_still_match(tmp_path: Path) -> None:
    written = []
    for queue_size in (0, 100):
        path = tmp_path / f"queue{queue_size}.jsonl"
        command, *_ = mongo_structlog.listeners(
            output=str(path), queue_size=queue_size, level="debug", sample_rate=0.0
        )
        publish_all(command)  # dropped at their start: slow and failed ones are written late
        mongo_structlog.flush()
        written.append([{**r, "timestamp": None} for r in read_records(path)])
    assert [r["event"] for r in written[0]] == [
        "mongodb.command.started",
        "mongodb.command.succeeded",
        "mongodb.command.started",
        "mongodb.command.failed",
    ]
    assert written[1] == written[0]


def test_a_failure_on_the_writer_thread_is_counted_and_the_next_record_written(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []
    fields = Later.fields

    def fails_once(self: Later) -> dict[str, Any]:
        calls.append(self)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return fields(self)

    monkeypatch.setattr(Later, "fields", fails_once)
    command, *_ = mongo_structlog.listeners(output=str(log_path), queue_size=100)
    for request_id in (1, 2):
        command.started(f.command_started(FIND, request_id=request_id))
        command.succeeded(f.command_succeeded(REPLY, request_id=request_id))
    mongo_structlog.flush()

    assert [r["request_id"] for r in read_records(log_path)] == [2]
    assert mongo_structlog.stats()["internal_errors"] == 1
    assert "internal error in the writer: RuntimeError('boom')" in capsys.readouterr().err


class _Renderer:
    """Stands in for the DocumentRenderer: says what it was asked."""

    def command(self, name: str, command: Any) -> tuple[str | None, str]:
        return (None if command == {} else f"{name}:{sorted(command)}"), "0123456789abcdef"

    def reply(self, name: str, reply: Any, sensitive: bool) -> str:
        return f"{name}:{sorted(reply)}:{sensitive}"


def test_complete_fills_in_place_keeping_the_key_order() -> None:
    later = Later(_Renderer(), "find", {"find": "a", "filter": {}})
    later.reply("find", {"ok": 1}, False)
    record = {"event": "e", "command": later, "command_shape": later, "reply": later, "slow": 0}
    assert list(complete(record).items()) == [
        ("event", "e"),
        ("command", "find:['filter', 'find']"),
        ("command_shape", "0123456789abcdef"),
        ("reply", "find:['ok']:False"),
        ("slow", 0),
    ]


def test_complete_drops_the_command_text_a_mode_does_not_write() -> None:
    later = Later(_Renderer(), "find", {})  # text None, as in mode "none"
    record = {"command": later, "command_shape": later, "slow": 0}
    assert complete(record) == {"command_shape": "0123456789abcdef", "slow": 0}
    only_reply = Later(_Renderer(), "ping", None)
    only_reply.reply("ping", {"ok": 1}, True)
    assert complete({"reply": only_reply}) == {"reply": "ping:['ok']:True"}


def test_complete_leaves_a_record_without_later_alone() -> None:
    record = {"event": "e"}
    assert complete(record) is record
    assert deferred.Deferred(lambda _l, name, r: (name, r), "info", record).finish() == (
        "info",
        record,
    )


def test_behind_a_backlog_the_documents_are_read_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, completed_on: list[threading.Thread]
) -> None:
    written = []
    for behind in (False, True):
        path = tmp_path / f"behind{behind}.jsonl"
        command, *_ = mongo_structlog.listeners(output=str(path), queue_size=100)
        if behind:  # as if the writer were that far behind
            monkeypatch.setattr(command.pipeline, "_backlog", lambda: pipeline.DEFER_WHILE_BELOW)
        publish_all(command)
        mongo_structlog.flush()
        written.append([{**r, "timestamp": None} for r in read_records(path)])
    assert len(completed_on) == 5  # the first set's five records only
    assert written[1] == written[0]


def test_queued_records_of_concurrent_tasks_carry_their_own_context(
    server: MockupDB, log_path: Path
) -> None:
    server.autoresponds(
        lambda request: (
            request.command_name == "find"
            and request.ok({"cursor": {"id": 0, "firstBatch": [], "ns": "shop.orders"}})
        )
    )

    listener_set = mongo_structlog.listeners(output=str(log_path), queue_size=1000)
    with_async_client(server.uri, listener_set, two_interleaved_requests)
    mongo_structlog.flush()

    finds = [r for r in read_records(log_path) if r.get("collection") == "orders"]
    assert Counter(r["request_id_app"] for r in finds) == {"req-a": 5, "req-b": 5}
    assert {r["command"] for r in finds} == {
        '{"find":"orders","filter":{"request":"?"},"limit":"?","singleBatch":"?","$db":"shop"}'
    }
    assert all(type(r["connection_id"]) is int for r in finds)


class _ChangingWhileRead(dict):  # type: ignore[type-arg]
    """A command the application changes while the writer reads it (as the dict says then)."""

    def items(self) -> Any:
        yield from list(super().items())[:1]
        raise RuntimeError("dictionary changed size during iteration")


def test_a_document_changed_while_the_writer_reads_it_is_written_as_unrenderable(
    log_path: Path, completed_on: list[threading.Thread]
) -> None:
    command, *_ = mongo_structlog.listeners(output=str(log_path), queue_size=100)
    changing = _ChangingWhileRead(find="orders", filter={"customer": "ann@example.com"})
    command.started(f.command_started(changing, request_id=1))
    command.succeeded(f.command_succeeded(REPLY, request_id=1))
    mongo_structlog.flush()

    assert len(completed_on) == 1
    assert threading.current_thread() not in completed_on  # read on the writer thread
    (record,) = read_records(log_path)
    assert record["command"] == '{"$unrenderable":"_ChangingWhileRead"}'
    assert record["collection"] == "orders"  # read on the application's thread, at once
    assert record["reply"] == '{"ok":1,"cursorId":0,"batchSize":2}'
    assert mongo_structlog.stats()["internal_errors"] == 0
