"""The ``console`` format: one compact line per record, colours as https://no-color.org says."""

from __future__ import annotations

import contextvars
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mongo_structlog

from . import factory as f

FIND = json.dumps('{"find":"users","filter":{"name":"?"},"$db":"shop"}')
REPLY = json.dumps('{"ok":1,"cursorId":0,"batchSize":0}')
DB0 = "server_address=db0.example.com:27017 server_host=db0.example.com server_port=27017"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ")
DRIVER_ID = re.compile(r" (driver_)?request_id=\d+")


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_colour_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


def lines_of(text: str) -> list[str]:
    """The lines, each without its timestamp and the driver's request id."""
    out = []
    for line in text.splitlines():
        assert STAMP.match(line), line
        out.append(DRIVER_ID.sub("", STAMP.sub("", line)))
    return out


def command_listener(**settings: Any) -> Any:
    return mongo_structlog.listeners(format="console", **settings)[0]


def test_a_command_is_one_compact_line(capsys: pytest.CaptureFixture[str]) -> None:
    command = command_listener()

    def two_finds() -> None:
        command.started(f.command_started())
        command.succeeded(f.command_succeeded(duration_micros=250829))
        command.started(f.command_started(request_id=102, operation_id=102))
        command.failed(f.command_failed(request_id=102, operation_id=102, duration_micros=42))

    contextvars.Context().run(two_finds)  # no connection an earlier test checked out
    assert lines_of(capsys.readouterr().out) == [
        # Slow (over slow_ms): written at warning, and the line says so after the duration.
        "warning mongodb.command.succeeded find shop.users 250.8 ms slow"
        f" operation_id=101 {DB0} command={FIND} command_shape=d340fe2a342c72da"
        f" reply={REPLY}",
        "warning mongodb.command.failed find shop.users 0.042 ms BadValue(2)"
        f" operation_id=102 {DB0} command={FIND} command_shape=d340fe2a342c72da"
        ' error_type=OperationFailure error="unknown operator: $bogus" slow=false',
    ]


def test_other_durations_are_written_in_milliseconds(capsys: pytest.CaptureFixture[str]) -> None:
    pool = mongo_structlog.listeners(format="console", level="debug")[4]
    # In a context of its own: the check-out is remembered for the thread's next commands.
    contextvars.copy_context().run(pool.connection_checked_out, f.checked_out(3, 0.0125))
    pool.connection_checked_in(f.checked_in(3))
    assert lines_of(capsys.readouterr().out) == [
        f"debug   mongodb.connection.checked_out 12.5 ms {DB0} connection_id=3",
        f"debug   mongodb.connection.checked_in {DB0} connection_id=3",
    ]


def test_no_color_turns_colours_off_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")  # NO_COLOR wins
    mongo_structlog.listeners(format="console")[4].pool_ready(f.pool_ready())
    assert lines_of(terminal.getvalue()) == [f"info    mongodb.pool.ready {DB0}"]


def test_force_color_turns_colours_on_in_a_file(
    monkeypatch: pytest.MonkeyPatch, log_path: Path
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    mongo_structlog.listeners(format="console", output=str(log_path))[4].pool_cleared(
        f.pool_cleared()
    )
    (line,) = log_path.read_text(encoding="utf-8").splitlines()
    stamp, rest = line.split(" ", 1)
    assert stamp.startswith("\x1b[2m")
    assert rest == (
        "\x1b[33mwarning\x1b[0m \x1b[1mmongodb.pool.cleared\x1b[0m"
        " \x1b[36mserver_address\x1b[0m=db0.example.com:27017"
        " \x1b[36mserver_host\x1b[0m=db0.example.com"
        " \x1b[36mserver_port\x1b[0m=27017"
        " \x1b[36minterrupt_connections\x1b[0m=false"
    )


def test_an_empty_no_color_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setenv("NO_COLOR", "")
    mongo_structlog.listeners(format="console")[4].pool_ready(f.pool_ready())
    assert "\x1b[32minfo   \x1b[0m" in terminal.getvalue()


def test_a_lone_surrogate_in_a_bound_value_is_escaped_not_lost(log_path: Path) -> None:
    structlog.contextvars.bind_contextvars(file_name="report-\udcff.csv", note="two words")
    mongo_structlog.listeners(format="console", output=str(log_path))[4].pool_ready(f.pool_ready())
    (line,) = lines_of(log_path.read_text(encoding="utf-8"))
    # Text with a backslash is quoted as JSON, so the escape itself reads \\udcff.
    file_name, note = 'file_name="report-\\\\udcff.csv"', 'note="two words"'
    # Bound values come in the order their context variables were first made in this
    # process (structlog's registry), which depends on the tests run before it.
    assert line in (
        f"info    mongodb.pool.ready {DB0} {file_name} {note}",
        f"info    mongodb.pool.ready {DB0} {note} {file_name}",
    )


def test_bound_values_json_cannot_hold_and_bound_durations_are_written_readably(
    log_path: Path,
) -> None:
    structlog.contextvars.bind_contextvars(big=2**70, wait_micros=1500, tags={"a": [1, None]})
    mongo_structlog.listeners(format="console", output=str(log_path))[4].pool_ready(f.pool_ready())
    assert lines_of(log_path.read_text(encoding="utf-8")) == [
        f"info    mongodb.pool.ready {DB0} big=1180591620717411303424 wait_ms=1.5"
        ' tags={"a":[1,null]}'
    ]


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(
        alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=20
    )
)
def test_any_bound_text_stays_on_its_one_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / f"console-{abs(hash(value))}.log"
    structlog.contextvars.bind_contextvars(note=value)
    mongo_structlog.listeners(format="console", output=str(path))[4].pool_ready(f.pool_ready())
    structlog.contextvars.clear_contextvars()
    text = path.read_bytes().decode("utf-8")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "\r" not in text
