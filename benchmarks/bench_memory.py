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

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import table

HERE = Path(__file__).resolve().parent

#: (label, settings); every one writes to /dev/null so disk speed does not matter.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("sample_rate=1 (every completion written)", {"sample_rate": 1.0}),
    ("sample_rate=0.01", {"sample_rate": 0.01}),
    (
        "sample_rate=1, correlation_capacity=1000",
        {"sample_rate": 1.0, "correlation_capacity": 1000},
    ),
]


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1  # pragma: no cover - not Linux


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
    checkpoints = {commands // 10, commands // 4, commands // 2, 3 * commands // 4, commands}
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
            print(
                json.dumps(
                    {
                        "commands": rid,
                        "rss_mib": _rss_kib() / 1024,
                        "in_flight": stats["in_flight"],
                        "evicted": stats["evicted"],
                        "emitted": stats["emitted_total"],
                    }
                ),
                flush=True,
            )


def measure(quick: bool = False, commands: int | None = None) -> dict[str, Any]:
    """Run every configuration in its own process.

    Returns:
        ``{"commands": n, "configs": {label: [checkpoint dicts]}}``.
    """
    commands = commands or (100_000 if quick else 1_000_000)
    results: dict[str, list[dict[str, Any]]] = {}
    for label, settings in CONFIGS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(commands), json.dumps(settings)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[label] = [json.loads(line) for line in out.stdout.splitlines() if line]
    return {"commands": commands, "configs": results}


def markdown(results: dict[str, Any]) -> str:
    """One table per configuration: RSS, map size and evictions at each checkpoint."""
    parts = []
    for label, points in results["configs"].items():
        rows = [
            [
                f"{p['commands']:,}",
                f"{p['rss_mib']:.1f}",
                f"{p['in_flight']:,}",
                f"{p['evicted']:,}",
                f"{p['emitted']:,}",
            ]
            for p in points
        ]
        parts.append(
            f"#### {label}\n\n"
            + table(["commands", "RSS MiB", "in flight (map size)", "evicted", "records"], rows)
        )
    return "\n\n".join(parts) + "\n"


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Memory flat after warm-up: RSS growth over the second half of the run, per config."""
    rows = []
    for label, points in results["configs"].items():
        half = next(p for p in points if p["commands"] >= results["commands"] // 2)
        last = points[-1]
        growth = last["rss_mib"] - half["rss_mib"]
        full = last["in_flight"] >= _capacity(label) or last["evicted"] > 0
        note = "map full" if full else "map still filling"
        rows.append(
            (
                f"memory flat after warm-up: {label}",
                "< 2 MiB growth, 2nd half",
                f"{growth:+.1f} MiB ({note})",
                growth < 2.0,
            )
        )
    return rows


def _capacity(label: str) -> int:
    settings = dict(CONFIGS)[label]
    return int(settings.get("correlation_capacity", 10_000))


def main() -> None:
    """Run and print (or, with ``--child``, be one measured process)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), json.loads(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown(measure(quick=args.quick)))


if __name__ == "__main__":
    main()
