"""Against a real deployment: runs only when ``MONGODB_URI`` is set (skipped otherwise).

The demo's harmless workload runs in a scratch database that is dropped afterwards;
the records must be the same kinds a user sees against mockupdb.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mongo_structlog.demo import run_demo

from .servers import named, read_records

URI = os.environ.get("MONGODB_URI", "")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not URI, reason="set MONGODB_URI to run against a real deployment"),
]


def test_the_demo_workload_against_a_real_deployment_logs_commands_safely(
    log_path: Path,
) -> None:
    assert run_demo(URI, output=str(log_path), level="debug") == 0
    records = read_records(log_path)
    succeeded = named(records, "mongodb.command.succeeded")
    assert {record["command_name"] for record in succeeded} >= {"insert", "find", "aggregate"}
    assert named(records, "mongodb.command.failed")  # the unknown operator is refused
    assert "hunter2" not in log_path.read_text(encoding="utf-8")
    for record in succeeded:
        assert len(record["command_shape"]) == 16
        assert type(record["duration_micros"]) is int
