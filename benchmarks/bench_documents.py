"""Cost per command of rendering command and reply documents, next to deepcopy + json_util.

Run it as ``python benchmarks/bench_documents.py``; it prints a Markdown table. A top-level
runner can call :func:`run` instead and get the rows.

The commands are built the way PyMongo 4 builds them (plain dicts, with the session, cluster
time and ``$db`` the driver adds), and each renderer is warm: its caches of field names and
fingerprints are filled, as they are in a running application.
"""

from __future__ import annotations

import copy
import datetime
import statistics
import sys
import timeit
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bson import json_util
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

SESSION = {
    "lsid": {"id": Binary(uuid.uuid4().bytes, 4)},
    "$clusterTime": {
        "clusterTime": Timestamp(1764057600, 3),
        "signature": {"hash": Binary(b"\x00" * 20, 0), "keyId": Int64(0)},
    },
    "$db": "shop",
}


def _customer(i: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "email": f"user{i}@example.com",
        "name": f"User {i}",
        "age": 20 + i,
        "tags": ["new", "newsletter"],
        "address": {"city": "Lyon", "zip": "69001"},
        "created": datetime.datetime(2026, 11, 25, 8, 0, i),
    }


COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "find": (
        "find",
        {
            "find": "customers",
            "filter": {"email": "user7@example.com", "age": {"$gte": 18}, "status": "active"},
            "sort": {"created": -1},
            "limit": 10,
            **SESSION,
            "$readPreference": {"mode": "primaryPreferred"},
        },
    ),
    "insert (10 docs)": (
        "insert",
        {
            "insert": "customers",
            "ordered": True,
            **SESSION,
            "documents": [_customer(i) for i in range(10)],
        },
    ),
    "aggregate": (
        "aggregate",
        {
            "aggregate": "orders",
            "pipeline": [
                {"$match": {"status": "paid", "total": {"$gt": 100}}},
                {
                    "$lookup": {
                        "from": "customers",
                        "localField": "customer_id",
                        "foreignField": "_id",
                        "as": "customer",
                    }
                },
                {"$unwind": "$customer"},
                {"$group": {"_id": "$customer.city", "revenue": {"$sum": "$total"}}},
                {"$sort": {"revenue": -1}},
                {"$limit": 5},
            ],
            "cursor": {},
            **SESSION,
        },
    ),
}


REPLIES: dict[str, tuple[str, dict[str, Any]]] = {
    "find reply": (
        "find",
        {
            "cursor": {
                "id": Int64(0),
                "ns": "shop.customers",
                "firstBatch": [_customer(i) for i in range(2)],
            },
            "ok": 1.0,
        },
    ),
}


def _copy_and_dump(command: dict[str, Any]) -> str:
    """What a listener without this module would do: copy the live document, then dump it."""
    return json_util.dumps(copy.deepcopy(command))


def _median_us(call: Callable[[], object], repeat: int = 7) -> float:
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def run() -> list[dict[str, Any]]:
    """Time every command and reply in every mode, and the deepcopy + json_util baseline.

    Returns:
        One row per (command or reply, mode): ``command``, ``mode``, ``us`` (median µs per
        document), ``baseline_us`` and ``ratio`` (``us / baseline_us``). A reply in modes
        ``shape`` and ``none`` is its summary of counters.
    """
    from mongo_structlog.documents import MODES, DocumentRenderer

    renderers = {mode: DocumentRenderer(mode) for mode in MODES}
    rows: list[dict[str, Any]] = []
    for label, (name, command) in COMMANDS.items():
        baseline = _median_us(partial(_copy_and_dump, command))
        for mode, renderer in renderers.items():
            renderer.command(name, command)
            cost = _median_us(partial(renderer.command, name, command))
            rows.append(
                {
                    "command": label,
                    "mode": mode,
                    "us": cost,
                    "baseline_us": baseline,
                    "ratio": cost / baseline,
                }
            )
    for label, (name, reply) in REPLIES.items():
        baseline = _median_us(partial(_copy_and_dump, reply))
        for mode, renderer in renderers.items():
            cost = _median_us(partial(renderer.reply, name, reply, False))
            row = {"command": label, "mode": mode, "us": cost, "baseline_us": baseline}
            rows.append({**row, "ratio": cost / baseline})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Format rows from :func:`run` as a Markdown table.

    Args:
        rows: What :func:`run` returned.

    Returns:
        The table, one line per row, with a header.
    """
    lines = [
        "| command | mode | µs / command | deepcopy + json_util µs | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        cells = (row["command"], row["mode"], f"{row['us']:.2f}", f"{row['baseline_us']:.1f}")
        lines.append(f"| {' | '.join(cells)} | {row['ratio']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    # Run from a checkout without installing: the package sits next to this directory.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(table(run()))
