"""Memory: resident size and correlation-map size over a million commands, 1 % never completed.

Each configuration runs in its own subprocess (a clean heap, so the resident size is
ours): it publishes command started/succeeded pairs through ``_EventListeners``, each
with a fresh command document (as an application's are), and never publishes the
completion of every hundredth command (a lost connection, say). Those started events
wait in the correlation map until it is full (``correlation_capacity``) or they are
older than ``correlation_ttl_ms``; then the oldest are evicted and counted.

Run alone: ``python benchmarks/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import run_alone, table

HERE = Path(__file__).resolve().parent

#: (label, settings, commands as a multiple of the run's base count). Every one writes to
#: /dev/null, so disk speed does not matter. The second runs twice as long so that the
#: default map (10,000 entries, filled by 1 % of a million commands) is seen full.
CONFIGS: list[tuple[str, dict[str, Any], int]] = [
    ("sample_rate=1 (every completion written)", {"sample_rate": 1.0}, 1),
    ("sample_rate=0.01, twice as many commands", {"sample_rate": 0.01}, 2),
    (
        "sample_rate=0.01, correlation_capacity=250",
        {"sample_rate": 0.01, "correlation_capacity": 250},
        1,
    ),
]


def _status_kib(*fields: str) -> list[int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) from ``/proc/self/status``."""
    found: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in fields:
                found[name] = int(value.split()[0])
    return [found.get(name, -1) for name in fields]


def child(commands: int, settings: dict[str, Any]) -> None:
    """Publish ``commands`` commands and print one JSON line per checkpoint."""
    sys.path.insert(0, str(HERE.parent))
    from _fixtures import ADDRESS, DATABASE, DURATION, SERVER_CONNECTION_ID, find_command
    from pymongo import monitoring

    import mongo_structlog

    listeners = monitoring._EventListeners(
        mongo_structlog.listeners(output=os.devnull, documents="shape", **settings)
    )
    reply = {"cursor": {"firstBatch": [], "id": 0, "ns": "shop.orders"}, "ok": 1.0}
    checkpoints = {commands * k // 10 for k in range(1, 11)}
    for rid in range(1, commands + 1):
        listeners.publish_command_start(
            find_command(rid), DATABASE, rid, ADDRESS, SERVER_CONNECTION_ID, rid
        )
        if rid % 100:
            listeners.publish_command_success(
                DURATION, reply, "find", rid, ADDRESS, SERVER_CONNECTION_ID, rid,
                database_name=DATABASE,
            )  # fmt: skip
        if rid in checkpoints:
            stats = mongo_structlog.stats()
            rss, peak = _status_kib("VmRSS", "VmHWM")
            print(
                json.dumps(
                    {
                        "commands": rid,
                        "rss_mib": rss / 1024,
                        "peak_mib": peak / 1024,
                        "in_flight": stats.get("in_flight", -1),
                        "evicted": stats.get("evicted", -1),
                        "emitted": stats.get("emitted_total", -1),
                    }
                ),
                flush=True,
            )


def measure(quick: bool = False, commands: int | None = None) -> dict[str, Any]:
    """Run every configuration in its own process, all at once (RSS does not mind sharing).

    Returns:
        ``{"commands": base count, "configs": {label: [checkpoint dicts]}}``.
    """
    commands = commands or (50_000 if quick else 1_000_000)
    children = {
        label: subprocess.Popen(
            [sys.executable, __file__, "--child", str(commands * scale), json.dumps(settings)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for label, settings, scale in CONFIGS
    }
    results: dict[str, list[dict[str, Any]]] = {}
    for label, child_process in children.items():
        out, _ = child_process.communicate()
        if child_process.returncode:
            raise RuntimeError(f"memory benchmark {label!r} failed ({child_process.returncode})")
        results[label] = [json.loads(line) for line in out.splitlines() if line]
    return {"commands": commands, "configs": results}


def markdown(results: dict[str, Any]) -> str:
    """One table per configuration: RSS, map size and evictions at each checkpoint."""
    parts = []
    for label, points in results["configs"].items():
        rows = [
            [
                f"{p['commands']:,}",
                f"{p['rss_mib']:.1f}",
                f"{p['peak_mib']:.1f}",
                f"{p['in_flight']:,}",
                f"{p['evicted']:,}",
                f"{p['emitted']:,}",
            ]
            for p in points
        ]
        parts.append(
            f"#### {label}\n\n"
            + table(
                [
                    "commands",
                    "RSS MiB",
                    "peak RSS MiB",
                    "in flight (map size)",
                    "evicted",
                    "records",
                ],
                rows,
            )
        )
    return "\n\n".join(parts) + "\n"


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Memory flat after warm-up: peak RSS growth after the map first reached capacity.

    The map's size swings between half and full capacity (it evicts the oldest half),
    so the current RSS swings with it; the peak (``VmHWM``) must stop growing once the
    map has been full once. A run whose map never filled cannot show that.
    """
    rows: list[tuple[str, str, str, bool | None]] = []
    for label, points in results["configs"].items():
        warm = next((p for p in points if p["evicted"] > 0), None)
        last = points[-1]
        name = f"memory flat after warm-up: {label}"
        limit = "peak RSS grows < 2 MiB once the map is full"
        if warm is None or warm is last:
            growth = last["peak_mib"] - points[0]["peak_mib"]
            reached = f"not shown: the map filled only at the end ({growth:+.1f} MiB filling it)"
            rows.append((name, limit, reached, None))
            continue
        growth = last["peak_mib"] - warm["peak_mib"]
        reached = f"{growth:+.1f} MiB from {warm['commands']:,} to {last['commands']:,} commands"
        rows.append((name, limit, reached, growth < 2.0))
    return rows


def main() -> None:
    """Run and print (or, with ``--child``, be one measured process)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), json.loads(sys.argv[3]))
        return
    run_alone(__doc__, measure, markdown)


if __name__ == "__main__":
    main()
