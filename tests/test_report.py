"""``mongo-structlog report``: every figure of a generated log with known content.

The log is written here, record by record, with the fields docs/events.md and CONTRACT.md
give each record: a failover (incident records, and for an older client only
``topology.description_changed``), a starving pool, a slow shape with known durations, a
sampled shape, failures with code names, heartbeat failures and sampling summaries. The
same records are written as ``json`` and as ``ecs`` lines (through ``mongo_structlog.ecs``).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_structlog.ecs import to_ecs
from mongo_structlog.report import main

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.timezone.utc)
TOPOLOGY = "6745b0c0e4b0a1b2c3d4e5f6"
OLD_TOPOLOGY = "5f0000000000000000000001"
GAMMA = 1.02  # docs/report.md, "Percentiles"
ALPHA = (GAMMA - 1) / (GAMMA + 1)

Record = dict[str, Any]


def at(seconds: float) -> str:
    """The RFC 3339 timestamp ``seconds`` after T0."""
    return (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def server(address: str) -> Record:
    host, port = address.split(":")
    return {"server_address": address, "server_host": host, "server_port": int(port)}


def command(
    seconds: float,
    shape: str,
    name: str,
    collection: str,
    micros: int,
    **extra: Any,
) -> Record:
    """A command completion as the command path writes it."""
    failed = "error_type" in extra
    slow = micros >= 100_000
    record: Record = {
        "timestamp": at(seconds),
        "level": "warning" if failed or slow else "info",
        "event": "mongodb.command.failed" if failed else "mongodb.command.succeeded",
        "topology_id": TOPOLOGY,
        "driver_request_id": 1000 + round(seconds * 1000),
        "operation_id": 7,
        "command_name": name,
        "database_name": "shop",
        "collection": collection,
        **server("db2:27017"),
        "duration_micros": micros,
        "command": json.dumps({name: collection, "filter": {"sku": "?"}}, separators=(",", ":")),
        "command_shape": shape,
    }
    if not failed:
        record["reply"] = '{"ok":1}'
    record.update(extra)
    record["slow"] = slow
    if "sample_rate" in extra:
        record["sample_rate"] = record.pop("sample_rate")
    return record


def event(seconds: float, name: str, level: str = "info", **fields: Any) -> Record:
    return {"timestamp": at(seconds), "level": level, "event": name, **fields}


SLOW = "aaaaaaaaaaaaaaaa"  # find on orders: 1, 2, ..., 100 ms
SAMPLED = "bbbbbbbbbbbbbbbb"  # insert on events: 40 kept at rate 0.25, 4 slow ones
FAILING = "cccccccccccccccc"  # update on orders: fails during the failover


def generated_log() -> list[Record]:
    """The incident, in the order a process writes it."""
    records = [
        event(0, "mongodb.topology.opened", topology_id=OLD_TOPOLOGY),
        event(
            1,
            "mongodb.topology.description_changed",
            topology_id=OLD_TOPOLOGY,
            previous_topology_type="Unknown",
            new_topology_type="Single",
            primary=None,
            has_writable_server=True,
            had_writable_server=False,
        ),
        event(
            2,
            "mongodb.pool.created",
            topology_id=TOPOLOGY,
            **server("db2:27017"),
            max_pool_size=10,
        ),
    ]
    records += [command(10 + i / 10, SLOW, "find", "orders", 1000 * (i + 1)) for i in range(100)]
    records += [
        command(10 + i / 10, SAMPLED, "insert", "events", 500, sample_rate=0.25) for i in range(40)
    ]
    records += [command(15 + i, SAMPLED, "insert", "events", 200_000) for i in range(4)]
    # The primary db1 steps down at 20 s; db2 is writable from 22.5 s, observed 2.4 s later.
    records += [
        event(
            20,
            "mongodb.heartbeat.failed",
            "warning",
            topology_id=TOPOLOGY,
            **server("db1:27017"),
            awaited=True,
            duration_micros=1000,
            error="db1:27017: connection closed",
            error_type="AutoReconnect",
        ),
        event(
            20.01, "mongodb.pool.cleared", "warning", topology_id=TOPOLOGY, **server("db1:27017")
        ),
        event(
            20.02,
            "mongodb.connection.closed",
            "warning",
            topology_id=TOPOLOGY,
            **server("db1:27017"),
            connection_id=3,
            reason="error",
        ),
        event(
            20.1,
            "mongodb.topology.writable_server_lost",
            "warning",
            topology_id=TOPOLOGY,
            previous_primary="db1:27017",
        ),
        event(
            20.5,
            "mongodb.heartbeat.failed",
            "warning",
            topology_id=TOPOLOGY,
            **server("db1:27017"),
            awaited=False,
            duration_micros=2000,
            error="db1:27017: [Errno 111] Connection refused",
            error_type="AutoReconnect",
        ),
        event(
            21,
            "mongodb.topology.description_changed",
            "warning",
            topology_id=TOPOLOGY,
            previous_topology_type="ReplicaSetWithPrimary",
            new_topology_type="ReplicaSetNoPrimary",
            primary=None,
            has_writable_server=False,
            had_writable_server=True,
        ),
        event(
            21.5,
            "mongodb.heartbeat.failed",
            "warning",
            topology_id=TOPOLOGY,
            **server("db1:27017"),
            awaited=False,
            duration_micros=10_000_000,
            error="db1:27017: timed out",
            error_type="NetworkTimeout",
        ),
    ]
    records += [
        command(
            21 + i / 10,
            FAILING,
            "update",
            "orders",
            300,
            error_type="OperationFailure",
            error_code=10107,
            error_code_name="NotWritablePrimary",
            error_labels=["RetryableWriteError"],
            error="not primary",
        )
        for i in range(3)
    ]
    records.append(
        command(21.4, FAILING, "update", "orders", 900, error_type="AutoReconnect", error="reset")
    )
    records += [
        event(
            22.5,
            "mongodb.topology.writable_server_restored",
            topology_id=TOPOLOGY,
            primary="db2:27017",
            unavailable_micros=2_400_000,
        ),
        event(
            22.5,
            "mongodb.topology.primary_changed",
            topology_id=TOPOLOGY,
            previous_primary="db1:27017",
            primary="db2:27017",
        ),
        event(
            23,
            "mongodb.topology.description_changed",
            topology_id=TOPOLOGY,
            previous_topology_type="ReplicaSetNoPrimary",
            new_topology_type="ReplicaSetWithPrimary",
            primary="db2:27017",
            has_writable_server=True,
            had_writable_server=False,
        ),
    ]
    records += [
        event(
            30,
            "mongodb.connection.checked_out",
            "warning",
            topology_id=TOPOLOGY,
            **server("db2:27017"),
            connection_id=9,
            duration_micros=450_000,
            slow=True,
            in_use=10,
            max_pool_size=10,
            waiting=3,
            oldest_in_use_micros=4_000_000,
            oldest_in_use_command="find",
        ),
        event(
            31,
            "mongodb.connection.check_out_failed",
            "error",
            topology_id=TOPOLOGY,
            **server("db2:27017"),
            duration_micros=1_000_000,
            reason="timeout",
            in_use=10,
            max_pool_size=10,
            waiting=7,
            oldest_in_use_micros=5_000_000,
            oldest_in_use_command="aggregate",
        ),
        event(
            32,
            "mongodb.connection.check_out_failed",
            "error",
            topology_id=TOPOLOGY,
            **server("db2:27017"),
            duration_micros=1_000_000,
            reason="timeout",
            in_use=10,
            max_pool_size=10,
            waiting=12,
            oldest_in_use_micros=6_200_000,
            oldest_in_use_command="aggregate",
        ),
        # The older client loses its standalone at 30 s for 1.25 s (no incident records).
        event(
            30,
            "mongodb.topology.description_changed",
            "warning",
            topology_id=OLD_TOPOLOGY,
            previous_topology_type="Single",
            new_topology_type="Single",
            primary=None,
            has_writable_server=False,
            had_writable_server=True,
        ),
        event(
            31.25,
            "mongodb.topology.description_changed",
            topology_id=OLD_TOPOLOGY,
            previous_topology_type="Single",
            new_topology_type="Single",
            primary=None,
            has_writable_server=True,
            had_writable_server=False,
        ),
    ]
    summary = {"topology_id": TOPOLOGY}
    records += [
        event(
            40,
            "mongodb.sampling.summary",
            **summary,
            suppressed_event="mongodb.command.succeeded",
            sampled_out=100,
            burst_limited=0,
            interval_ms=10_000,
        ),
        event(
            40,
            "mongodb.sampling.summary",
            **summary,
            suppressed_event="mongodb.connection.checked_out",
            sampled_out=0,
            burst_limited=1402,
            interval_ms=10_000,
        ),
        event(
            50,
            "mongodb.sampling.summary",
            **summary,
            suppressed_event="mongodb.command.succeeded",
            sampled_out=20,
            burst_limited=0,
            interval_ms=10_000,
        ),
    ]
    return records


FOREIGN = [b"Traceback (most recent call last):\n", b'{"msg":"hello"}\n', b"[1, 2]\n"]


def write_log(
    path: Path, records: Iterable[Record], ecs: bool = False, message: str | None = None
) -> Path:
    """Write ``records`` as json lines (or ECS documents), with the foreign lines in between.

    ``message`` replaces the ECS ``message`` (a sentence for people rather than the name).
    """
    with path.open("wb") as out:
        for index, record in enumerate(records):
            doc = to_ecs(None, record["level"], record) if ecs else record
            if ecs and message is not None:
                doc["message"] = message
            out.write(orjson.dumps(doc) + b"\n")
            if index in (5, 60, 150):
                out.write(FOREIGN[[5, 60, 150].index(index)])
            if index == 3:
                out.write(b"\n")  # a blank line is not counted at all
    return path


def run(argv: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run the report in this process: exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is None:
            status = main(argv)
        else:
            fake = io.TextIOWrapper(io.BytesIO(stdin))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sys, "stdin", fake)
                status = main(argv)
    return status, out.getvalue(), err.getvalue()


def report_json(*argv: str) -> dict[str, Any]:
    status, out, err = run(["--json", *argv])
    assert (status, err) == (0, "")
    result: dict[str, Any] = json.loads(out)
    return result


def bucket_estimate(values: list[int], p: float, weights: list[float] | None = None) -> int:
    """The documented method, written out: weighted nearest rank, reported as its bucket."""
    weights = weights or [1.0] * len(values)
    pairs = sorted(zip(values, weights, strict=True))
    wanted = sum(weights) * p / 100
    running = 0.0
    for value, weight in pairs:  # noqa: B007  # the value where the loop stops
        running += weight
        if running >= wanted * (1 - 1e-12):
            break
    index = math.ceil(math.log(value) / math.log(GAMMA)) if value > 1 else 0
    estimate = 2 * GAMMA**index / (GAMMA + 1) if index > 0 else 1.0
    return round(min(max(estimate, min(values)), max(values)))


SLOW_VALUES = [1000 * (i + 1) for i in range(100)]
SAMPLED_VALUES = [500] * 40 + [200_000] * 4
SAMPLED_WEIGHTS = [4.0] * 40 + [1.0] * 4


def expected_document() -> dict[str, Any]:
    """Every figure of the generated log, worked out by hand."""
    find_example = '{"find":"orders","filter":{"sku":"?"}}'
    return {
        "report_version": 1,
        "input": {
            "lines": 169 + 3,
            "records": 169,
            "json_records": 169,
            "ecs_records": 0,
            "foreign_lines": 3,
            "outside_window": 0,
            "since": None,
            "until": None,
            "first_timestamp": "2026-11-25T08:00:00.000000Z",
            "last_timestamp": "2026-11-25T08:00:50.000000Z",
            "events": {
                "mongodb.command.failed": 4,
                "mongodb.command.succeeded": 144,
                "mongodb.connection.check_out_failed": 2,
                "mongodb.connection.checked_out": 1,
                "mongodb.connection.closed": 1,
                "mongodb.heartbeat.failed": 3,
                "mongodb.pool.cleared": 1,
                "mongodb.pool.created": 1,
                "mongodb.sampling.summary": 3,
                "mongodb.topology.description_changed": 5,
                "mongodb.topology.opened": 1,
                "mongodb.topology.primary_changed": 1,
                "mongodb.topology.writable_server_lost": 1,
                "mongodb.topology.writable_server_restored": 1,
            },
        },
        "slowest_shapes": [
            {
                "command_shape": SAMPLED,
                "command_name": "insert",
                "collection": "events",
                "database_name": "shop",
                "count": 44,
                "weighted_count": 164.0,  # 40 / 0.25 + 4
                "failed": 0,
                "slow": 4,
                # Of 164 weighted commands, 160 took 0.5 ms: p95 (rank 155.8) is one of them.
                "p50_micros": bucket_estimate(SAMPLED_VALUES, 50, SAMPLED_WEIGHTS),
                "p95_micros": bucket_estimate(SAMPLED_VALUES, 95, SAMPLED_WEIGHTS),
                "p99_micros": bucket_estimate(SAMPLED_VALUES, 99, SAMPLED_WEIGHTS),
                "max_micros": 200_000,
                "example": '{"insert":"events","filter":{"sku":"?"}}',
            },
            {
                "command_shape": SLOW,
                "command_name": "find",
                "collection": "orders",
                "database_name": "shop",
                "count": 100,
                "weighted_count": 100.0,
                "failed": 0,
                "slow": 1,
                "p50_micros": bucket_estimate(SLOW_VALUES, 50),
                "p95_micros": bucket_estimate(SLOW_VALUES, 95),
                "p99_micros": bucket_estimate(SLOW_VALUES, 99),
                "max_micros": 100_000,
                "example": find_example,
            },
            {
                "command_shape": FAILING,
                "command_name": "update",
                "collection": "orders",
                "database_name": "shop",
                "count": 4,
                "weighted_count": 4.0,
                "failed": 4,
                "slow": 0,
                "p50_micros": bucket_estimate([300, 300, 300, 900], 50),  # 303: its bucket
                "p95_micros": 900,
                "p99_micros": 900,
                "max_micros": 900,
                "example": '{"update":"orders","filter":{"sku":"?"}}',
            },
        ],
        "failures": [
            {
                "error_code_name": "NotWritablePrimary",
                "error_code": 10107,
                "error_type": "OperationFailure",
                "command_shape": FAILING,
                "command_name": "update",
                "collection": "orders",
                "count": 3,
                "first": at(21),
                "last": at(21.2),
                "example_error": "not primary",
            },
            {
                "error_code_name": None,
                "error_code": None,
                "error_type": "AutoReconnect",
                "command_shape": FAILING,
                "command_name": "update",
                "collection": "orders",
                "count": 1,
                "first": at(21.4),
                "last": at(21.4),
                "example_error": "reset",
            },
        ],
        "failover": {
            "windows": [
                {
                    "start": at(20.1),
                    "end": at(22.5),
                    "length_micros": 2_400_000,  # the driver's own figure, not 22.5 - 20.1
                    "topology_id": TOPOLOGY,
                    "previous_primary": "db1:27017",
                    "primary": "db2:27017",
                    "source": "incident",
                },
                {
                    "start": at(30),
                    "end": at(31.25),
                    "length_micros": 1_250_000,
                    "topology_id": OLD_TOPOLOGY,
                    "previous_primary": None,
                    "primary": None,
                    "source": "description_changed",
                },
            ],
            "total_unavailable_micros": 3_650_000,
            "longest_unavailable_micros": 2_400_000,
            "timeline": [
                timeline(1, "description_changed", OLD_TOPOLOGY, writable=True),
                timeline(
                    20.1, "writable_server_lost", TOPOLOGY, previous="db1:27017", writable=False
                ),
                timeline(
                    22.5,
                    "writable_server_restored",
                    TOPOLOGY,
                    primary="db2:27017",
                    unavailable=2_400_000,
                    writable=True,
                ),
                timeline(
                    22.5, "primary_changed", TOPOLOGY, previous="db1:27017", primary="db2:27017"
                ),
                timeline(30, "description_changed", OLD_TOPOLOGY, writable=False),
                timeline(31.25, "description_changed", OLD_TOPOLOGY, writable=True),
            ],
        },
        "pools": [
            {
                "server_address": "db1:27017",
                "check_out_failed": 0,
                "check_out_failed_reasons": {},
                "slow_check_outs": 0,
                "max_wait_micros": None,
                "max_in_use": None,
                "max_pool_size": None,
                "max_waiting": None,
                "max_oldest_in_use_micros": None,
                "oldest_in_use_commands": {},
                "cleared": 1,
                "connections_closed_by_error": 1,
            },
            {
                "server_address": "db2:27017",
                "check_out_failed": 2,
                "check_out_failed_reasons": {"timeout": 2},
                "slow_check_outs": 1,
                "max_wait_micros": 1_000_000,
                "max_in_use": 10,
                "max_pool_size": 10,
                "max_waiting": 12,
                "max_oldest_in_use_micros": 6_200_000,
                "oldest_in_use_commands": {"aggregate": 2, "find": 1},
                "cleared": 0,
                "connections_closed_by_error": 0,
            },
        ],
        "heartbeats": [
            {
                "server_address": "db1:27017",
                "failed": 3,
                "first": at(20),
                "last": at(21.5),
                "error_types": {"AutoReconnect": 2, "NetworkTimeout": 1},
                "max_duration_micros": 10_000_000,
                "last_error": "db1:27017: timed out",
            }
        ],
        "sampling": {
            "records_with_sample_rate": 40,
            "weighted_records_with_sample_rate": 160.0,
            "suppressed": {
                "mongodb.command.succeeded": {
                    "summaries": 2,
                    "sampled_out": 120,
                    "burst_limited": 0,
                },
                "mongodb.connection.checked_out": {
                    "summaries": 1,
                    "sampled_out": 0,
                    "burst_limited": 1402,
                },
            },
            "sampled_out_total": 120,
            "burst_limited_total": 1402,
        },
        "limits": {
            "shapes": 3,
            "max_shapes": 2000,
            "histogram_buckets": 2 + len({bucket(v) for v in SLOW_VALUES}) + 2,
            "timeline_entries_dropped": 0,
        },
    }


def bucket(value: int) -> int:
    return math.ceil(math.log(value) / math.log(GAMMA))


def timeline(
    seconds: float,
    what: str,
    topology: str,
    *,
    previous: str | None = None,
    primary: str | None = None,
    unavailable: int | None = None,
    writable: bool | None = None,
) -> dict[str, Any]:
    return {
        "timestamp": at(seconds),
        "event": f"mongodb.topology.{what}",
        "topology_id": topology,
        "previous_primary": previous,
        "primary": primary,
        "unavailable_micros": unavailable,
        "has_writable_server": writable,
    }


@pytest.fixture
def json_log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "app.jsonl", generated_log())


def test_json_summary_states_every_figure_of_the_generated_log(json_log: Path) -> None:
    assert report_json(str(json_log)) == expected_document()


def test_weighted_percentiles_count_each_sampled_record_as_one_over_its_rate() -> None:
    # Unweighted, 4 of 44 records (9 %) are slow and p95 would be 200 ms; weighted, 160 of
    # 164 commands took 0.5 ms, so p95 (rank 155.8) is 0.5 ms and p99 (rank 162.4) 200 ms.
    assert bucket_estimate(SAMPLED_VALUES, 95) == 200_000
    assert bucket_estimate(SAMPLED_VALUES, 95, SAMPLED_WEIGHTS) == 500
    assert bucket_estimate(SAMPLED_VALUES, 99, SAMPLED_WEIGHTS) == 200_000


def test_percentiles_of_the_slow_shape_are_within_the_documented_error() -> None:
    # Exact nearest rank of 1, 2, ..., 100 ms is p ms; the estimate is within ALPHA.
    for p in (50, 95, 99):
        estimate = bucket_estimate(SLOW_VALUES, p)
        assert abs(estimate - 1000 * p) <= ALPHA * 1000 * p + 1


@pytest.mark.parametrize("message", [None, "find on shop.orders succeeded in 1.0 ms"])
def test_ecs_lines_give_the_same_summary_as_json_lines(
    json_log: Path, tmp_path: Path, message: str | None
) -> None:
    # The event name is read from event.action, whatever message says.
    ecs_log = write_log(tmp_path / "app.ecs.jsonl", generated_log(), ecs=True, message=message)
    from_json = report_json(str(json_log))
    from_ecs = report_json(str(ecs_log))
    assert (from_ecs["input"]["json_records"], from_ecs["input"]["ecs_records"]) == (0, 169)
    for doc in (from_json, from_ecs):
        del doc["input"]["json_records"], doc["input"]["ecs_records"]
    assert from_ecs == from_json


def test_since_and_until_keep_only_records_inside_the_window(json_log: Path) -> None:
    doc = report_json(str(json_log), "--since", at(20), "--until", "2026-11-25T09:00:22.5+01:00")
    assert doc["input"] | {"events": {}} == {
        "lines": 172,
        "records": 13,
        "json_records": 13,
        "ecs_records": 0,
        "foreign_lines": 3,
        "outside_window": 156,
        "since": at(20),
        "until": at(22.5),
        "first_timestamp": at(20),
        "last_timestamp": at(22.5),
        "events": {},
    }
    assert [(r["command_shape"], r["count"]) for r in doc["slowest_shapes"]] == [(FAILING, 4)]
    assert doc["failover"]["windows"] == expected_document()["failover"]["windows"][:1]
    assert doc["heartbeats"][0]["failed"] == 3
    assert doc["pools"] == [expected_document()["pools"][0]]


def test_a_window_starting_before_since_is_measured_from_unavailable_micros(
    json_log: Path,
) -> None:
    doc = report_json(str(json_log), "--since", at(22))
    assert doc["failover"]["windows"][0] == {
        "start": at(22.5 - 2.4),
        "end": at(22.5),
        "length_micros": 2_400_000,
        "topology_id": TOPOLOGY,
        "previous_primary": None,
        "primary": "db2:27017",
        "source": "incident",
    }


def test_a_window_still_open_at_until_has_no_end(json_log: Path) -> None:
    doc = report_json(str(json_log), "--until", at(21))
    assert doc["failover"]["windows"] == [
        {
            "start": at(20.1),
            "end": None,
            "length_micros": None,
            "topology_id": TOPOLOGY,
            "previous_primary": "db1:27017",
            "primary": None,
            "source": "incident",
        }
    ]
    assert (
        doc["failover"]["total_unavailable_micros"],
        doc["failover"]["longest_unavailable_micros"],
    ) == (0, None)


def test_standard_input_is_read_for_a_dash(json_log: Path) -> None:
    status, out, err = run(["--json", "-"], stdin=json_log.read_bytes())
    assert (status, err) == (0, "")
    assert json.loads(out) == expected_document()


def test_python_dash_m_reads_standard_input(json_log: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mongo_structlog.report", "--json", "-"],
        input=json_log.read_bytes(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert json.loads(done.stdout) == expected_document()


def test_files_are_summarised_together(tmp_path: Path) -> None:
    records = generated_log()
    first = write_log(tmp_path / "a.jsonl", records[:100])
    second = write_log(tmp_path / "b.jsonl", records[100:], ecs=True)
    doc = report_json(str(first), str(second))
    expected = expected_document()
    assert doc["input"]["records"] == 169
    assert doc["slowest_shapes"] == expected["slowest_shapes"]
    assert doc["failover"] == expected["failover"]


EXPECTED_TEXT = """\
mongo-structlog report: 169 records (169 json, 0 ecs) from 2026-11-25T08:00:00.000000Z to 2026-11-25T08:00:50.000000Z
172 lines read; 3 foreign lines ignored; 0 records outside --since/--until

== Slowest command shapes (by p99; ms; weighted: a record kept by sample_rate r counts 1/r) ==
shape             command  collection  count  weighted  failed  slow   p50   p95    p99    max
bbbbbbbbbbbbbbbb  insert   events         44       164       0     4   0.5   0.5  200.0  200.0
    example: {"insert":"events","filter":{"sku":"?"}}
aaaaaaaaaaaaaaaa  find     orders        100       100       0     1  50.1  94.4   98.3  100.0
    example: {"find":"orders","filter":{"sku":"?"}}
cccccccccccccccc  update   orders          4         4       4     0   0.3   0.9    0.9    0.9
    example: {"update":"orders","filter":{"sku":"?"}}

== Failures by error code name and shape ==
count  error                code  shape             command  collection  first                        last
    3  NotWritablePrimary  10107  cccccccccccccccc  update   orders      2026-11-25T08:00:21.000000Z  2026-11-25T08:00:21.200000Z
    1  AutoReconnect           -  cccccccccccccccc  update   orders      2026-11-25T08:00:21.400000Z  2026-11-25T08:00:21.400000Z
    NotWritablePrimary on cccccccccccccccc: not primary
    AutoReconnect on cccccccccccccccc: reset

== Failover: primary changes and time without a writable server ==
time                         event                     writable  primary                 unavailable ms
2026-11-25T08:00:01.000000Z  description_changed       yes       - -> -
2026-11-25T08:00:20.100000Z  writable_server_lost      no        db1:27017 -> -
2026-11-25T08:00:22.500000Z  writable_server_restored  yes       - -> db2:27017                 2,400.0
2026-11-25T08:00:22.500000Z  primary_changed           -         db1:27017 -> db2:27017
2026-11-25T08:00:30.000000Z  description_changed       no        - -> -
2026-11-25T08:00:31.250000Z  description_changed       yes       - -> -

No writable server:
from                         to                           length ms  primary                 source
2026-11-25T08:00:20.100000Z  2026-11-25T08:00:22.500000Z    2,400.0  db1:27017 -> db2:27017  incident
2026-11-25T08:00:30.000000Z  2026-11-25T08:00:31.250000Z    1,250.0  - -> -                  description_changed
2 window(s), longest 2,400.0 ms; in all 3,650.0 ms (overlaps counted once)

== Pool pressure per server ==
server     check-out failed  reasons    slow check-outs  max wait ms  max in use/size  max waiting  oldest held ms  held by              cleared  closed by error
db1:27017                 0  -                        0            -              -/-            -               -  -                          1                1
db2:27017                 2  timeout 2                1      1,000.0            10/10           12         6,200.0  aggregate 2, find 1        0                0

== Heartbeat failures per server ==
server     failed  first                        last                         error types                          max ms
db1:27017       3  2026-11-25T08:00:20.000000Z  2026-11-25T08:00:21.500000Z  AutoReconnect 2, NetworkTimeout 1  10,000.0
    last error on db1:27017: db1:27017: timed out

== Sampling and burst limits ==
records kept by a sample rate below 1: 40 (standing for 160)
left out, per mongodb.sampling.summary: 120 by sample rates, 1,402 by the burst limiter
event                           sampled out  burst limited  summaries
mongodb.command.succeeded               120              0          2
mongodb.connection.checked_out            0          1,402          1
"""  # noqa: E501


def test_text_report_states_every_figure_of_the_generated_log(json_log: Path) -> None:
    status, out, err = run([str(json_log)])
    # 50.1, 94.4 and 98.3 ms: the buckets holding 50, 95 and 99 ms (within 1 %).
    assert [round(bucket_estimate(SLOW_VALUES, p) / 1000, 1) for p in (50, 95, 99)] == [
        50.1,
        94.4,
        98.3,
    ]
    assert (status, err) == (0, "")
    assert out == EXPECTED_TEXT


def test_an_empty_input_says_there_is_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"not json\n")
    status, out, _ = run([str(empty)])
    assert status == 0
    assert out.splitlines()[:2] == [
        "mongo-structlog report: 0 records (0 json, 0 ecs) none in range",
        "1 lines read; 1 foreign lines ignored; 0 records outside --since/--until",
    ]
    assert "(no command completions)" in out
    assert "(no failed commands)" in out
    assert "(no topology changes)" in out
    assert "(no failed or slow check-outs, no pool cleared)" in out


def test_memory_is_bounded_by_the_shape_cap(tmp_path: Path) -> None:
    records = [command(i / 100, f"{i:016x}", "find", f"c{i}", 1000 + i) for i in range(50)]
    doc = report_json(
        str(write_log(tmp_path / "many.jsonl", records)), "--max-shapes", "5", "--top", "100"
    )
    shapes = doc["slowest_shapes"]
    assert len(shapes) == 6  # five shapes of their own, then (other)
    other = next(row for row in shapes if row["command_shape"] == "(other)")
    assert (other["count"], other["max_micros"], other["command_name"]) == (45, 1049, None)
    assert doc["limits"]["shapes"] == 6


@pytest.mark.parametrize("values", [1_000, 30_000])
def test_histogram_buckets_do_not_grow_with_the_number_of_values(
    tmp_path: Path, values: int
) -> None:
    # Durations 1 µs .. 1 s cycling: however many, at most log(1e6)/log(1.02) + 1 buckets.
    records = [
        command(i / 1000, SLOW, "find", "orders", 1 + (i * 7919) % 1_000_000) for i in range(values)
    ]
    doc = report_json(str(write_log(tmp_path / "n.jsonl", records)))
    assert doc["slowest_shapes"][0]["count"] == values
    assert doc["limits"]["histogram_buckets"] <= math.ceil(math.log(1e6) / math.log(GAMMA)) + 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=60))
def test_percentiles_are_within_alpha_of_the_exact_nearest_rank(values: list[int]) -> None:
    lines = b"".join(
        orjson.dumps(command(i, SLOW, "find", "orders", value)) + b"\n"
        for i, value in enumerate(values)
    )
    status, out, _ = run(["--json", "-"], stdin=lines)
    row = json.loads(out)["slowest_shapes"][0]
    ordered = sorted(values)
    for p in (50, 95, 99):
        exact = ordered[math.ceil(len(values) * p / 100) - 1]
        assert abs(row[f"p{p}_micros"] - exact) <= ALPHA * exact + 1
    assert (status, row["max_micros"]) == (0, max(values))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40) | st.binary(max_size=40), max_size=10))
def test_any_foreign_text_is_counted_and_never_fails_the_report(lines: list[Any]) -> None:
    data = b"".join(
        (line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line).replace(
            b"\n", b" "
        )
        + b"\n"
        for line in lines
    )
    status, out, err = run(["--json", "-"], stdin=data)
    doc = json.loads(out)
    assert (status, err) == (0, "")
    assert doc["input"]["foreign_lines"] + doc["input"]["records"] == doc["input"]["lines"]


def test_a_missing_file_exits_1_naming_it(tmp_path: Path) -> None:
    status, out, err = run([str(tmp_path / "nope.log")])
    assert (status, out) == (1, "")
    missing = tmp_path / "nope.log"
    assert err == f"mongo-structlog report: cannot read {missing}: No such file or directory\n"


def test_a_bad_since_exits_2_saying_why(json_log: Path) -> None:
    status, out, err = run(["--since", "yesterday", str(json_log)])
    assert (status, out) == (2, "")
    assert (
        "argument --since: 'yesterday' is not an RFC 3339 time (e.g. 2026-11-25T08:00:00Z)" in err
    )


def test_help_exits_0() -> None:
    status, out, _ = run(["--help"])
    assert status == 0
    assert out.startswith("usage: mongo-structlog report")


def test_html_without_the_extra_exits_2_naming_it(
    json_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    status, out, err = run(["--html", str(tmp_path / "r.html"), str(json_log)])
    assert (status, out) == (2, "")
    assert err == (
        "mongo-structlog report: --html needs matplotlib, from the optional extra 'report': "
        "pip install 'mongo-structlog[report]'\n"
    )
    assert not (tmp_path / "r.html").exists()


def test_html_is_a_self_contained_page_with_the_chart(json_log: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = tmp_path / "report.html"
    status, out, err = run(["--html", str(page), str(json_log)])
    text = page.read_text(encoding="utf-8")
    assert (status, err) == (0, "")
    assert out.startswith("mongo-structlog report: 169 records")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text
    assert "<link" not in text
    assert 'src="' not in text
    assert "url(http" not in text
    assert text.count("<svg") == 1
    # The three shapes are drawn, and the two windows shaded in each.
    for shape in (SLOW, SAMPLED, FAILING):
        assert shape in text
    assert "<td>2026-11-25T08:00:20.100000Z</td><td>2026-11-25T08:00:22.500000Z</td>" in text
    assert '<td class="n">2,400.0</td>' in text
