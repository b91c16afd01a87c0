"""A value the application binds never reaches the application's own chain unredacted.

Our ``stdlib`` and ``structlog`` outputs hand records on to the application's logging,
whose ``merge_contextvars`` fills in every bound name the record lacks, with the raw value.
A bound name that collides with one of our fields is written ``app_<name>`` by us, so the
record must also carry the cleaned value under the name itself.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

import mongo_structlog

from . import factory as f

SECRET = "S3CRETVAL"
BOUND = {
    "command": f'db.auth({{ pwd: "{SECRET}" }})',
    "error": f"login pwd={SECRET}",
    "reply": f"{{'password': '{SECRET}'}}",
    "api_key": SECRET,
}


@pytest.fixture
def bound() -> Iterator[None]:
    structlog.contextvars.bind_contextvars(**BOUND)
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _find(listeners: list[object]) -> None:
    command = listeners[0]
    command.started(f.command_started({"find": "users", "filter": {}}))  # type: ignore[attr-defined]
    command.succeeded(f.command_succeeded({"ok": 1}))  # type: ignore[attr-defined]


@pytest.mark.parametrize("documents", ["none", "shape", "full"])
@pytest.mark.usefixtures("bound")
def test_the_applications_structlog_chain_sees_no_bound_secret(documents: str) -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    _find(mongo_structlog.listeners(output="structlog", level="debug", documents=documents))
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "mongodb.command.started",
        "mongodb.command.succeeded",
    ]
    assert all(SECRET not in line for line in lines), lines


@pytest.mark.usefixtures("bound")
def test_a_processor_formatter_with_merge_contextvars_sees_no_bound_secret() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.stdlib.ExtraAdder(),
            ],
        )
    )
    logger = logging.getLogger(mongo_structlog.STDLIB_LOGGER_NAME)
    logger.addHandler(handler)
    try:
        _find(mongo_structlog.listeners(output="stdlib", documents="none"))
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert SECRET not in lines[0], lines
