"""``python -m mongo_structlog demo``: a real workload against an embedded server, as JSON lines."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongo_structlog import demo
from mongo_structlog.__main__ import main

from . import factory as f
from .servers import named

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = ("hunter2", "s3cret")


def run_main(argv: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    """Run the command line in this process; its exit status, records and raw text."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("MONGO_STRUCTLOG_"):
                patch.delenv(name)
        with contextlib.redirect_stdout(out):
            status = main(argv)
    text = out.getvalue()
    return status, [json.loads(line) for line in text.splitlines()], text


@pytest.fixture(scope="module")
def default_run() -> tuple[int, list[dict[str, Any]], str]:
    """One ``demo`` run with default settings, shared by the tests that read it."""
    return run_main(["demo"])


def test_the_demo_exits_zero_printing_only_json_records(
    default_run: tuple[int, list[dict[str, Any]], str],
) -> None:
    status, records, text = default_run
    assert status == 0
    assert len(records) == len(text.splitlines()) > 10
    for record in records:
        assert list(record)[:3] == ["timestamp", "level", "event"]
        assert record["event"].startswith("mongodb.")


def test_the_demo_shows_successful_and_failed_commands(
    default_run: tuple[int, list[dict[str, Any]], str],
) -> None:
    records = default_run[1]
    names = {r["command_name"] for r in named(records, "mongodb.command.succeeded")}
    assert {"insert", "find", "aggregate", "ping"} <= names
    bogus = [r for r in named(records, "mongodb.command.failed") if r.get("error_code") == 2]
    assert [
        (r["level"], r["command_name"], r["collection"], r["error"], r["slow"]) for r in bogus
    ] == [("warning", "find", "users", "unknown top level operator: $bogus", False)]
    hung_up = [r for r in named(records, "mongodb.command.failed") if r["command_name"] == "count"]
    assert [(r["error_type"], r["level"]) for r in hung_up] == [("AutoReconnect", "warning")]


def test_the_demo_shows_a_slow_command_at_warning(
    default_run: tuple[int, list[dict[str, Any]], str],
) -> None:
    slow = [r for r in named(default_run[1], "mongodb.command.succeeded") if r["slow"]]
    assert [(r["level"], r["command_name"]) for r in slow] == [("warning", "find")]
    assert slow[0]["duration_micros"] >= 100_000
    fast = [r for r in named(default_run[1], "mongodb.command.succeeded") if not r["slow"]]
    assert {r["level"] for r in fast} == {"info"}


def test_the_demo_shows_a_check_out_timeout_and_a_cleared_pool(
    default_run: tuple[int, list[dict[str, Any]], str],
) -> None:
    records = default_run[1]
    timeouts = named(records, "mongodb.connection.check_out_failed")
    # The read is retried once, so its check-out may time out twice.
    assert {(r["level"], r["reason"]) for r in timeouts} == {("error", "timeout")}
    assert [r["level"] for r in named(records, "mongodb.pool.cleared")] == ["warning"]
    closed = named(records, "mongodb.connection.closed")
    assert [(r["level"], r["reason"]) for r in closed] == [("warning", "error")]


def test_the_demo_never_prints_the_inserted_passwords(
    default_run: tuple[int, list[dict[str, Any]], str],
) -> None:
    text = default_run[2]
    assert '"command_name":"insert"' in text
    assert not any(password in text for password in PASSWORDS)


def test_level_debug_adds_started_records_and_full_documents_stay_redacted() -> None:
    status, records, text = run_main(["demo", "--level", "debug", "--documents", "full"])
    assert status == 0
    started = named(records, "mongodb.command.started")
    succeeded = named(records, "mongodb.command.succeeded")
    assert {r["driver_request_id"] for r in succeeded} <= {r["driver_request_id"] for r in started}
    assert named(records, "mongodb.connection.checked_out")
    (insert,) = [r for r in started if r["command_name"] == "insert"]
    assert '"name":"Ada"' in insert["command"]  # full documents: values kept
    assert not any(password in text for password in PASSWORDS)


def test_the_demo_runs_against_a_given_uri_and_drops_its_scratch_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = demo.mock_server()
    server.autoresponds("dropDatabase")
    try:
        status, records, _ = run_main(["demo", "--uri", server.uri])
    finally:
        f.stop_quickly(server)
    assert status == 0
    assert named(records, "mongodb.command.succeeded")


def test_the_embedded_server_rejects_unknown_commands_like_mongodb() -> None:
    server = demo.mock_server()
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
        with pytest.raises(OperationFailure, match="no such command: 'frobnicate'") as caught:
            client.admin.command("frobnicate")
        client.close()
    finally:
        f.stop_quickly(server)
    assert caught.value.code == 59


def test_a_bad_setting_exits_2_with_a_message_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGO_STRUCTLOG_SLOW_MS", "-1")
    started: list[Any] = []
    real_mock_server = demo.mock_server

    def mock_server() -> Any:
        started.append(real_mock_server())
        return started[-1]

    monkeypatch.setattr(demo, "mock_server", mock_server)
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == (
        "mongo-structlog: invalid value for MONGO_STRUCTLOG_SLOW_MS='-1': "
        "expected a number from 0 to inf\n"
    )
    assert started == []  # no embedded server was left running


def test_without_mockupdb_the_embedded_server_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mockupdb", None)  # makes the import fail
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == (
        "mongo-structlog: the embedded demo server needs mockupdb: "
        "pip install 'mongo-structlog[demo]'\n"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], "Structured logs for every PyMongo monitoring event."),
        (["demo", "--help"], "--documents {shape,full,none}"),
    ],
)
def test_help(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["demo", "--level", "loud"], ["serve"]])
def test_a_wrong_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: mongo-structlog" in capsys.readouterr().err


def test_python_dash_m_runs_the_demo() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONGO_STRUCTLOG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "mongo_structlog", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert named(records, "mongodb.command.succeeded")
    assert named(records, "mongodb.command.failed")
    assert not any(password in done.stdout for password in PASSWORDS)
