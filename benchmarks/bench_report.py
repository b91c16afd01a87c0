"""``mongo-structlog report``: lines per second and peak resident memory on a large file.

Writes a generated log of ``--size`` MB (1,024 by default; ``--size 50`` for a quick run)
and, for comparison, one a tenth of that size, then runs ``python -m
mongo_structlog.report --json FILE`` on each in a child process. The child's wall time
gives lines and megabytes per second; its peak resident set (``ru_maxrss`` from
``os.wait4``, the child alone) shows whether memory grows with the input.

The log is what a busy service writes at ``info``: per thousand lines, about 960 command
completions over 400 shapes (2 % slow, 1 % failed, half the fast ones kept by
``sample_rate=0.5``), heartbeat failures, pool check-out failures and slow check-outs with
pool-pressure fields, failover incident records and sampling summaries; lines of about
550 bytes, one per millisecond. ``--format ecs`` writes the same records as ECS.

Run alone: ``python benchmarks/bench_report.py [--size MB] [--format json|ecs] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _common import REPO, table

from mongo_structlog.ecs import to_ecs

SHAPES = 400
T0 = 1_795_593_600.0  # 2026-11-25T08:00:00Z


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    micros = round((seconds - whole) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def _command(i: int, when: float) -> dict[str, Any]:
    shape = i % SHAPES
    failed = i % 100 == 7
    slow = i % 50 == 3
    micros = 150_000 + i % 900_000 if slow else 200 + (i * 7919) % 20_000
    record: dict[str, Any] = {
        "timestamp": _stamp(when),
        "level": "warning" if failed or slow else "info",
        "event": "mongodb.command.failed" if failed else "mongodb.command.succeeded",
        "topology_id": "6745b0c0e4b0a1b2c3d4e5f6",
        "driver_request_id": 1_000_000 + i,
        "operation_id": 2_000_000 + i,
        "command_name": "find",
        "database_name": "shop",
        "collection": f"orders{shape % 40}",
        "server_address": "db2.example.internal:27017",
        "server_host": "db2.example.internal",
        "server_port": 27017,
        "connection_id": i % 50,
        "duration_micros": micros,
        "command": f'{{"find":"orders{shape % 40}","filter":{{"customer":"?","f{shape}":'
        '{"$gt":"?"},"status":{"$in":["?","?"]}},"sort":{"created":"?"},"limit":"?",'
        '"$db":"shop"}',
        "command_shape": f"{shape:016x}",
    }
    if failed:
        record.update(
            error_type="OperationFailure",
            error_code=50,
            error_code_name="MaxTimeMSExpired",
            error="operation exceeded time limit",
        )
    else:
        record["reply"] = '{"ok":1,"cursorId":0,"batchSize":20}'
    record["slow"] = slow
    if not (failed or slow) and i % 2:
        record["sample_rate"] = 0.5
    return record


def _other(i: int, when: float) -> dict[str, Any]:
    base: dict[str, Any] = {"timestamp": _stamp(when), "topology_id": "6745b0c0e4b0a1b2c3d4e5f6"}
    server = {"server_address": "db1:27017", "server_host": "db1", "server_port": 27017}
    kind = i % 8
    if kind == 0:
        return base | {
            "level": "warning",
            "event": "mongodb.heartbeat.failed",
            **server,
            "awaited": True,
            "duration_micros": 1500,
            "error": "db1:27017: timed out",
            "error_type": "NetworkTimeout",
        }
    if kind == 1:
        return base | {
            "level": "error",
            "event": "mongodb.connection.check_out_failed",
            **server,
            "duration_micros": 1_000_000,
            "reason": "timeout",
            "in_use": 100,
            "max_pool_size": 100,
            "waiting": 20 + i % 30,
            "oldest_in_use_micros": 4_000_000 + i,
            "oldest_in_use_command": "aggregate",
        }
    if kind == 2:
        return base | {
            "level": "warning",
            "event": "mongodb.connection.checked_out",
            **server,
            "connection_id": 4,
            "duration_micros": 250_000,
            "slow": True,
            "in_use": 100,
            "max_pool_size": 100,
            "waiting": 3,
            "oldest_in_use_micros": 900_000,
            "oldest_in_use_command": "find",
        }
    if kind == 3:
        return base | {
            "level": "warning",
            "event": "mongodb.topology.writable_server_lost",
            "previous_primary": "db1:27017",
        }
    if kind == 4:
        return base | {
            "level": "info",
            "event": "mongodb.topology.writable_server_restored",
            "primary": "db2:27017",
            "unavailable_micros": 2_000_000,
        }
    if kind == 5:
        return base | {
            "level": "info",
            "event": "mongodb.topology.primary_changed",
            "previous_primary": "db1:27017",
            "primary": "db2:27017",
        }
    return base | {
        "level": "info",
        "event": "mongodb.sampling.summary",
        "suppressed_event": "mongodb.command.succeeded",
        "sampled_out": 1000,
        "burst_limited": 0,
        "interval_ms": 10_000,
    }


def write_log(path: Path, size_mb: int, ecs: bool) -> int:
    """Write about ``size_mb`` MB of records; return the number of lines."""
    target = size_mb * 1_000_000
    written = lines = 0
    with path.open("wb") as out:
        while written < target:
            chunk = []
            for _ in range(1000):
                when = T0 + lines / 1000
                record = _other(lines, when) if lines % 1000 < 40 else _command(lines, when)
                if ecs:
                    record = to_ecs(None, record["level"], record)
                chunk.append(orjson.dumps(record))
                lines += 1
            data = b"\n".join(chunk) + b"\n"
            out.write(data)
            written += len(data)
    return lines


def run_report(path: Path) -> tuple[float, int]:
    """Run the report in a child process: (wall seconds, peak resident KiB of the child)."""
    env = os.environ | {"PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "mongo_structlog.report", "--json", str(path)],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"report exited {child.returncode}")
    return elapsed, usage.ru_maxrss  # KiB on Linux


def main() -> None:
    """Parse the options, write the logs, run the report on each, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="MB of log (default 1024)")
    parser.add_argument("--format", choices=["json", "ecs"], default="json")
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for size in (max(1, args.size // 10), args.size):
            path = folder / f"report-{size}mb.{args.format}.jsonl"
            lines = write_log(path, size, args.format == "ecs")
            seconds, peak_kib = run_report(path)
            megabytes = path.stat().st_size / 1e6
            rows.append(
                [
                    f"{megabytes:,.0f} MB {args.format}",
                    f"{lines:,}",
                    f"{seconds:,.1f}",
                    f"{lines / seconds:,.0f}",
                    f"{megabytes / seconds:,.1f}",
                    f"{peak_kib / 1024:,.1f}",
                ]
            )
            if args.keep is None:
                path.unlink()
    headers = ["input", "lines", "seconds", "lines/s", "MB/s", "peak RSS MiB"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
