"""Cost per command of rendering command and reply documents, next to deepcopy + json_util;
and the cost of the text gate on messages of 1 to 64 KiB, to show it grows linearly.

Run it as ``python benchmarks/bench_documents.py [--redaction-only]``; it prints Markdown
tables. A top-level runner can call :func:`run` instead and get the rows of the first;
:func:`redaction_rows` gives those of the second.

The commands are built the way PyMongo 4 builds them (plain dicts, with the session, cluster
time and ``$db`` the driver adds), and each renderer is warm: its caches of field names and
fingerprints are filled, as they are in a running application.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import sys
import time
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


# -- the text gate on long messages ------------------------------------------------------------

#: One unit of each quoting style a server or driver message uses; repeated to the length.
MESSAGE_UNITS: dict[str, str] = {
    "shell": 'dup key: { api_key: "sk_live_0123", email: "a@b.c", n: 12 } ',
    "json": '{"pwd": "hunter2", "tags": ["a", "b"], "n": 1} ',
    "python repr": "{'errmsg': 'dup key: { token: \"x\" }', 'code': 11000} ",
    "key=value": "login failed password=hunter2; user=bob at host ",
    "prose": "the quick brown fox jumps over the lazy dog again and again ",
    "deep nesting": "{ a: [ ",
}
SIZES_KIB = (1, 2, 4, 8, 16, 32, 64)


def _message(unit: str, kib: int) -> str:
    size = kib * 1024
    return (unit * (size // len(unit) + 1))[:size]


def _best_cpu_us(call: Callable[[], object], repeat: int) -> float:
    # CPU time, best of a few: the machine is shared, and the best run is the least disturbed.
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best * 1e6


def redaction_rows(repeat: int = 5) -> list[dict[str, Any]]:
    """Time ``DocumentRenderer.text`` on messages of 1 to 64 KiB in each quoting style.

    The renderer's ``max_length`` is 1 MiB, so the whole message is scanned (with the
    default of 1000, a message is cut before it is scanned and every size costs the same).

    Args:
        repeat: Runs per message; the best is kept.

    Returns:
        One row per (style, size): ``style``, ``kib``, ``us`` and ``us_per_kib``.
    """
    from mongo_structlog.documents import DocumentRenderer

    rows: list[dict[str, Any]] = []
    for mode in ("shape", "full"):
        renderer = DocumentRenderer(mode, max_length=1 << 20)
        for style, unit in MESSAGE_UNITS.items():
            for kib in SIZES_KIB:
                message = _message(unit, kib)
                cost = _best_cpu_us(partial(renderer.text, message), repeat)
                rows.append(
                    {"mode": mode, "style": style, "kib": kib, "us": cost, "us_per_kib": cost / kib}
                )
    return rows


def redaction_table(rows: list[dict[str, Any]]) -> str:
    """Format rows from :func:`redaction_rows`: µs per KiB by size, one line per style.

    Args:
        rows: What :func:`redaction_rows` returned.

    Returns:
        A Markdown table; a flat line means linear time.
    """
    sizes = sorted({row["kib"] for row in rows})
    lines = [
        "| mode | style | " + " | ".join(f"{kib} KiB" for kib in sizes) + " | 64 KiB total ms |",
        "|---|---|" + "---:|" * (len(sizes) + 1),
    ]
    keys = dict.fromkeys((row["mode"], row["style"]) for row in rows)
    for mode, style in keys:
        mine = {row["kib"]: row for row in rows if (row["mode"], row["style"]) == (mode, style)}
        cells = [f"{mine[kib]['us_per_kib']:.0f}" for kib in sizes]
        total = mine[sizes[-1]]["us"] / 1000
        lines.append(f"| {mode} | {style} | {' | '.join(cells)} | {total:.1f} |")
    return "µs per KiB of message (CPU time, best of 5):\n\n" + "\n".join(lines)


if __name__ == "__main__":
    # Run from a checkout without installing: the package sits next to this directory.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redaction-only", action="store_true", help="only the text gate on 1 to 64 KiB messages"
    )
    if not parser.parse_args().redaction_only:
        print(table(run()))
        print()
    print(redaction_table(redaction_rows()))
