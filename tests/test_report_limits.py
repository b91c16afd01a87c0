"""``mongo-structlog report`` at its edges: caps, odd input, the progress bar, long spans.

What the report keeps is capped (docs/report.md, "Memory"); past a cap, rows are merged
into ``(other)`` and counted, never lost. These tests drive each cap and each odd input
through the command line, as a user would.
"""

from __future__ import annotations

import contextlib
import io
import runpy
from pathlib import Path
from typing import Any

import orjson
import pytest

from mongo_structlog.ecs import to_ecs
from mongo_structlog.report import main

from .test_report import at, command, event, report_json, run, server, write_log


def test_servers_past_the_cap_share_one_row(tmp_path: Path) -> None:
    records = [
        event(
            i,
            "mongodb.heartbeat.failed",
            "warning",
            **server(f"h{i}:27017"),
            duration_micros=i,
            error_type="AutoReconnect",
        )
        for i in range(1002)
    ]
    records += [
        event(2000 + i, "mongodb.pool.cleared", "warning", **server(f"h{i}:27017"))
        for i in range(1002)
    ]
    doc = report_json(str(write_log(tmp_path / "s.jsonl", records)))
    beats = {row["server_address"]: row["failed"] for row in doc["heartbeats"]}
    pools = {row["server_address"]: row["cleared"] for row in doc["pools"]}
    assert (len(beats), beats["(other)"], beats["h0:27017"]) == (1001, 2, 1)
    assert (len(pools), pools["(other)"]) == (1001, 2)


def test_failures_past_the_cap_share_one_row(tmp_path: Path) -> None:
    records = [
        command(i, f"{i:016x}", "find", "c", 10, error_type="OperationFailure", error=f"e{i}")
        for i in range(4)
    ]
    doc = report_json(str(write_log(tmp_path / "f.jsonl", records)), "--max-shapes", "2")
    assert doc["failures"][0] == {
        "error_code_name": "(other)",
        "error_code": None,
        "error_type": None,
        "command_shape": None,
        "command_name": None,
        "collection": None,
        "count": 2,
        "first": at(2),
        "last": at(3),
        "example_error": None,
    }
    assert [row["count"] for row in doc["failures"]] == [2, 1, 1]


def test_names_past_the_cap_are_counted_as_other(tmp_path: Path) -> None:
    records = [
        event(
            i,
            "mongodb.connection.check_out_failed",
            "error",
            **server("db:1"),
            reason=f"r{i:02}",
            oldest_in_use_command=f"c{i:02}",
        )
        for i in range(52)
    ]
    records += [
        event(100 + i, "mongodb.sampling.summary", suppressed_event=f"mongodb.x{i:02}")
        for i in range(52)
    ]
    doc = report_json(str(write_log(tmp_path / "n.jsonl", records)))
    reasons = doc["pools"][0]["check_out_failed_reasons"]
    assert (len(reasons), reasons["(other)"]) == (51, 2)
    assert doc["pools"][0]["oldest_in_use_commands"]["(other)"] == 2
    suppressed = doc["sampling"]["suppressed"]
    assert (len(suppressed), suppressed["(other)"]["summaries"]) == (51, 2)


def test_the_timeline_past_its_cap_counts_what_it_left_out(tmp_path: Path) -> None:
    records = []
    for i in range(1001):
        records.append(
            event(2 * i, "mongodb.topology.writable_server_lost", "warning", topology_id="t")
        )
        records.append(
            event(2 * i + 1, "mongodb.topology.writable_server_restored", topology_id="t")
        )
    doc = report_json(str(write_log(tmp_path / "t.jsonl", records)))
    assert len(doc["failover"]["timeline"]) == 1000
    assert len(doc["failover"]["windows"]) == 1000
    assert doc["limits"]["timeline_entries_dropped"] == 1002 + 1  # entries, then a window
    assert doc["failover"]["windows"][0]["length_micros"] == 1_000_000


def test_topologies_past_the_cap_share_one(tmp_path: Path) -> None:
    records = [
        event(i, "mongodb.topology.primary_changed", topology_id=f"t{i}", primary="a:1")
        for i in range(1002)
    ]
    doc = report_json(str(write_log(tmp_path / "p.jsonl", records)))
    assert len(doc["failover"]["timeline"]) == 1000


def test_a_client_closing_is_not_an_outage(tmp_path: Path) -> None:
    records = [
        event(1, "mongodb.topology.description_changed", has_writable_server=True, primary=None),
        event(2, "mongodb.topology.description_changed", has_writable_server=False, primary=None),
        event(2.1, "mongodb.topology.closed"),
        event(3, "mongodb.topology.description_changed", has_writable_server=True, primary=None),
    ]
    doc = report_json(str(write_log(tmp_path / "c.jsonl", records)))
    assert doc["failover"]["windows"] == []


def test_a_fallback_window_still_open_at_the_end_has_no_end(tmp_path: Path) -> None:
    records = [
        event(
            1,
            "mongodb.topology.description_changed",
            has_writable_server=False,
            had_writable_server=True,
            primary=None,
        ),
    ]
    doc = report_json(str(write_log(tmp_path / "o.jsonl", records)))
    assert doc["failover"]["windows"] == [
        {
            "start": at(1),
            "end": None,
            "length_micros": None,
            "topology_id": None,
            "previous_primary": None,
            "primary": None,
            "source": "description_changed",
        }
    ]
    _, out, _ = run([str(tmp_path / "o.jsonl")])
    assert "(still none at the end)" in out
    assert "1 window(s), longest - ms; in all 0.0 ms (overlaps counted once)" in out


def test_a_restored_record_alone_without_unavailable_micros_makes_no_window(
    tmp_path: Path,
) -> None:
    records = [event(1, "mongodb.topology.writable_server_restored", primary="a:1")]
    doc = report_json(str(write_log(tmp_path / "r.jsonl", records)))
    assert doc["failover"]["windows"] == []
    _, out, _ = run([str(tmp_path / "r.jsonl")])
    assert "No writable server:\n(none)\n" in out


def test_odd_records_are_read_as_far_as_they_go(tmp_path: Path) -> None:
    # No shape (a completion whose started event was not seen), no duration, no address,
    # a sample rate of 1, an offset timestamp, an ECS error code that is not a number.
    plain: dict[str, Any] = {
        "timestamp": "2026-11-25T09:00:00.5+01:00",
        "level": "warning",
        "event": "mongodb.command.failed",
        "command_name": "ping",
        "sample_rate": 1,
        "error_type": "X",
    }
    ecs = to_ecs(None, "warning", {**plain, "timestamp": at(1), "error_code": "E1"})
    del ecs["message"]
    ecs["event"]["action"] = "mongodb.command.failed"
    bad_times = [
        {"timestamp": "2026-11-25T08:61:00.000000Z", "event": "mongodb.x"},
        {"timestamp": "2026-11-25T08:00:0x.000000Z", "event": "mongodb.x"},
        {"timestamp": "2026-02-30T08:00:00Z", "event": "mongodb.x"},
        {"timestamp": 5, "event": "mongodb.x"},
        {"timestamp": at(0), "event": "app.started"},
    ]
    lines = [orjson.dumps(doc) for doc in [plain, ecs, *bad_times]]
    lines.append(
        orjson.dumps(
            {**plain, "server_host": "h", "server_port": 1, "event": "mongodb.pool.cleared"}
        )
    )
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    doc = report_json(str(path))
    assert (doc["input"]["records"], doc["input"]["foreign_lines"]) == (3, 5)
    assert doc["input"]["first_timestamp"] == at(0.5)
    assert doc["slowest_shapes"] == [
        {
            "command_shape": "(ping)",
            "command_name": "ping",
            "collection": None,
            "database_name": None,
            "count": 0,
            "weighted_count": 2.0,
            "failed": 2,
            "slow": 0,
            "p50_micros": None,
            "p95_micros": None,
            "p99_micros": None,
            "max_micros": None,
            "example": None,
        }
    ]
    # error_code is an int wherever it appears: a code that is not one is left out.
    assert [(f["error_type"], f["error_code"]) for f in doc["failures"]] == [("X", None)]
    assert doc["pools"][0]["server_address"] == "h:1"
    assert doc["sampling"]["records_with_sample_rate"] == 0


def test_a_long_span_is_drawn_in_wider_bins(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    # One command a minute for 70 hours: 4,200 one-second bins would be too many.
    records = [command(60 * i, "a" * 16, "find", "c", 1000 + i) for i in range(4200)]
    page = tmp_path / "long.html"
    status, out, err = run(["--html", str(page), str(write_log(tmp_path / "l.jsonl", records))])
    assert (status, err) == (0, "")
    assert "one point per 4096 s bin" in page.read_text(encoding="utf-8")
    assert out.splitlines()[0].endswith(f"from {at(0)} to {at(60 * 4199)}")


def test_a_page_without_commands_says_there_is_nothing_to_draw(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = tmp_path / "empty.html"
    log = write_log(tmp_path / "e.jsonl", [event(1, "mongodb.topology.opened")])
    assert run(["--html", str(page), str(log)])[0] == 0
    assert "<p>(no command durations to draw)</p>" in page.read_text(encoding="utf-8")


class Terminal(io.StringIO):
    """Standard error on a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_large_input_on_a_terminal_shows_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.log"
    with big.open("wb") as out:
        for _ in range(65):  # 65 MiB of foreign lines: over the 64 MiB threshold
            out.write(b"x" * (1024 * 1024 - 1) + b"\n")
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(big)])
    drawn = terminal.getvalue()
    assert status == 0
    assert "65 lines read; 65 foreign lines ignored" in out.getvalue()
    assert "\rmongo-structlog report [" in drawn
    assert "] 100%  68/68 MB" in drawn
    assert drawn.endswith("\r" + " " * 78 + "\r")


def test_a_small_input_shows_no_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with contextlib.redirect_stdout(io.StringIO()):
        status = main([str(write_log(tmp_path / "s.jsonl", [event(1, "mongodb.x")]))])
    assert (status, terminal.getvalue()) == (0, "")


@pytest.mark.parametrize("value", ["0", "ten"])
def test_a_top_that_is_not_a_positive_whole_number_exits_2(value: str) -> None:
    status, out, err = run(["--top", value, "-"], stdin=b"")
    assert (status, out) == (2, "")
    assert f"argument --top: {value!r} is not a whole number >= 1" in err


def test_python_dash_m_mongo_structlog_report_runs_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes = [command(1, "a" * 16, "find", "c", 5), command(2, "b" * 16, "find", "d", 5)]
    log = write_log(tmp_path / "m.jsonl", shapes)
    monkeypatch.setattr("sys.argv", ["mongo_structlog.report", "--max-shapes", "1", str(log)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        runpy.run_module("mongo_structlog.report", run_name="__main__")
    assert exit_.value.code == 0
    assert out.getvalue().splitlines()[-1] == ("note: more than 1 shapes; the rest are in (other)")


def test_windows_of_several_clients_that_overlap_count_once_in_the_total(tmp_path: Path) -> None:
    # Three application processes saw the same failover; a fourth client a later blip.
    records = []
    for topology, (lost, restored) in {
        "t1": (10, 12),
        "t2": (10.5, 12.5),
        "t3": (11, 11.5),
    }.items():
        records.append(event(lost, "mongodb.topology.writable_server_lost", topology_id=topology))
        records.append(
            event(
                restored,
                "mongodb.topology.writable_server_restored",
                topology_id=topology,
                unavailable_micros=round((restored - lost) * 1_000_000),
            )
        )
    records += [
        event(20, "mongodb.topology.writable_server_lost", topology_id="t4"),
        event(20.25, "mongodb.topology.writable_server_restored", topology_id="t4"),
    ]
    doc = report_json(str(write_log(tmp_path / "w.jsonl", records)))
    lengths = [w["length_micros"] for w in doc["failover"]["windows"]]
    assert lengths == [2_000_000, 2_000_000, 500_000, 250_000]
    # 10 s to 12.5 s, then 20 s to 20.25 s.
    assert doc["failover"]["total_unavailable_micros"] == 2_750_000
    assert doc["failover"]["longest_unavailable_micros"] == 2_000_000


def test_a_page_that_cannot_be_written_exits_1_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    log = write_log(tmp_path / "p.jsonl", [command(1, "a" * 16, "find", "c", 5)])
    page = tmp_path / "missing" / "report.html"
    status, out, err = run(["--html", str(page), str(log)])
    assert (status, err) == (
        1,
        f"mongo-structlog report: cannot write {page}: No such file or directory\n",
    )
    assert out.startswith("mongo-structlog report: 1 records")
