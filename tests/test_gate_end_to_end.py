"""End to end: generated commands, replies and failures through every mode, format and output.

Real PyMongo event objects (``tests/factory.py``) are fed to the listeners
``mongo_structlog.listeners()`` returns, for each documents mode (``shape``, ``full``,
``none``) x format (``json``, ``ecs``, ``console``) x output (``stdout``, a file, ``stdlib``
with a handler, a file behind a queue), with values bound with ``structlog.contextvars``.
On every line written:

* no canary secret (a value under a name on the redaction list) appears;
* in ``shape`` and ``none`` mode no canary literal appears;
* the line stays within the bound ``docs/redaction.md`` states: every string value of a
  JSON record is at most ``max_document_length`` + 3 characters
  (``"[REDACTED]"`` aside), and a console line at most
  ``FIELDS x 10 x (max_document_length + 3) + 2048`` characters.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mongo_structlog

from . import factory as f
from .test_gate_properties import (
    LITERAL,
    SECRET,
    USER_KEYS,
    bound_values,
    commands,
    messages,
    names,
    replies,
    secrets,
    strings_in,
)

MAX = 60
FIELDS = 40  # more than any record of ours carries, bound values included
CONSOLE_BOUND = FIELDS * 10 * (MAX + 3) + 2048
MODES = ("shape", "full", "none")
FORMATS = ("json", "ecs", "console")
OUTPUTS = ("stdout", "file", "stdlib", "queued")
REQUEST_IDS = itertools.count(1000)


class Output:
    """One listener set and what it has written so far."""

    def __init__(self, mode: str, fmt: str, output: str, directory: Path) -> None:
        self.mode, self.format, self.output = mode, fmt, output
        self.path = directory / f"{mode}-{fmt}-{output}.log"
        self.stream = io.StringIO()
        target = {"stdout": "stdout", "stdlib": "stdlib"}.get(output, str(self.path))
        self.listeners = mongo_structlog.listeners(
            output=target,
            format=fmt,
            documents=mode,
            level="debug",
            max_document_length=MAX,
            redact_keys=",".join(USER_KEYS),
            queue_size=64 if output == "queued" else 0,
        )
        self.read = 0

    def lines(self) -> list[str]:
        """The lines written since the last call."""
        if self.output in ("stdout", "stdlib"):
            text = self.stream.getvalue()
        else:
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        new, self.read = text[self.read :], len(text)
        return [line for line in new.splitlines() if line.strip()]

    def is_json(self) -> bool:
        return self.format != "console" or self.output == "stdlib"


@contextlib.contextmanager
def outputs() -> Iterator[list[Output]]:
    """Every mode x format x output, the stdlib ones writing through one JSON handler each."""
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    saved = (logger.level, list(logger.handlers), logger.propagate)
    with tempfile.TemporaryDirectory() as directory:
        made = [
            Output(mode, fmt, out, Path(directory))
            for mode, fmt, out in itertools.product(MODES, FORMATS, OUTPUTS)
        ]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.handlers = []
        try:
            yield made
        finally:
            logger.level, logger.handlers, logger.propagate = saved
            mongo_structlog.flush()


scenarios = st.lists(
    st.tuples(
        commands(),
        st.one_of(replies(), messages()),
        names,
        st.lists(bound_values(), max_size=2),
    ),
    min_size=1,
    max_size=3,
)


def feed(output: Output, scenario: Any, heartbeat_error: str) -> None:
    """Publish one command's events, then a failed heartbeat, to one listener set."""
    (name, command), outcome, database, bound = scenario
    command_listener, heartbeat_listener = output.listeners[0], output.listeners[2]
    request_id = next(REQUEST_IDS)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**dict(bound))
    try:
        command_listener.started(
            f.command_started(command, database_name=database, request_id=request_id)
        )
        if isinstance(outcome, dict):
            event: Any = f.command_succeeded(
                outcome, command_name=name, database_name=database, request_id=request_id
            )
            command_listener.succeeded(event)
        else:
            failure = f.server_error(code=11000, code_name="DuplicateKey", errmsg=outcome)
            event = f.command_failed(
                failure, command_name=name, database_name=database, request_id=request_id
            )
            command_listener.failed(event)
        heartbeat_listener.failed(f.heartbeat_failed(RuntimeError(heartbeat_error)))
    finally:
        structlog.contextvars.clear_contextvars()


def check_line(output: Output, line: str) -> None:
    lowered = line.lower()
    assert SECRET.lower() not in lowered, (output.mode, output.format, output.output, line)
    if output.mode != "full":
        assert LITERAL.lower() not in lowered, (output.mode, output.format, line)
    if output.is_json():
        record = json.loads(line)
        # ECS's message is our sentence made of gated, bounded parts (name, namespace, ...).
        message = record.pop("message", "") if output.format == "ecs" else ""
        assert len(message) <= 4 * (MAX + 3) + 80, message
        for text in strings_in(record):
            assert len(text) <= MAX + 3 or text == "[REDACTED]", (output.output, text)
    else:
        assert len(line) <= CONSOLE_BOUND


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios, messages(), secrets)
def test_no_line_reveals_a_secret_or_in_shape_a_literal_and_every_line_is_bounded(
    batch: list[Any], heartbeat_error: str, saslsecret: str
) -> None:
    with outputs() as made:
        stdlib_logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
        for output in made:
            handler = logging.StreamHandler(output.stream)
            handler.setFormatter(mongo_structlog.json_formatter())
            stdlib_logger.handlers = [handler] if output.output == "stdlib" else []
            sensitive = (("saslStart", {"saslStart": 1, "payload": saslsecret}), "x", "admin", [])
            with contextlib.redirect_stdout(output.stream):
                for scenario in [*batch, sensitive]:
                    feed(output, scenario, heartbeat_error)
                mongo_structlog.flush()
            lines = output.lines()
            assert len(lines) >= 3 * (len(batch) + 1), (output.mode, output.output)
            for line in lines:
                check_line(output, line)


def test_long_collection_and_database_names_are_cut_on_every_line() -> None:
    long_name = "c" * (MAX * 4)
    with outputs() as made:
        output = next(o for o in made if o.output == "file" and o.format == "json")
        scenario = (("find", {"find": long_name, "$db": long_name}), {"ok": 1}, long_name, [])
        feed(output, scenario, "boom")
        lines = output.lines()
        assert lines
        for line in lines:
            check_line(output, line)


@pytest.mark.parametrize("mode", MODES)
def test_a_server_description_error_loses_the_cluster_time_signature(mode: str) -> None:
    from pymongo.errors import NotPrimaryError

    reply = {"ok": 0, "errmsg": "not primary", "$clusterTime": {"signature": {"hash": SECRET}}}
    unknown = f.server_description(error=NotPrimaryError("not primary", reply))
    with outputs() as made:
        output = next(o for o in made if (o.mode, o.output, o.format) == (mode, "file", "json"))
        output.listeners[1].description_changed(
            f.server_changed(f.server_description(reply=f.hello()), unknown)
        )
        lines = output.lines()
        assert lines
        for line in lines:
            check_line(output, line)
