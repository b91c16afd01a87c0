"""What recording server-selection waits would cost operations that do not wait.

PyMongo has no monitoring event for server selection; it writes stdlib log messages on
the ``pymongo.serverSelection`` logger instead (started, succeeded, waiting, failed), and
only when that logger is enabled for ``DEBUG``: the "waiting" message, the one that
matters, comes only with a "started" and a "succeeded" message for *every* operation.
This benchmark counts, with callgrind, the instructions one ``find_one`` costs end to end
(a real ``MongoClient`` against ``wire_server.py``, in its own process, not counted):

- ``listeners``: ``mongo_structlog.listeners()`` at ``info``, as shipped (run it with
  ``PYTHONPATH`` on another tree to compare two trees, e.g. with and without the pool
  pressure counts);
- ``listeners + selection handler``: the same, plus a handler on ``pymongo.serverSelection``
  (level ``DEBUG``, not propagated) that keeps only the "waiting" messages, which is the
  cheapest way to hear of a wait from PyMongo without patching it.

Each variant runs twice under ``valgrind --tool=callgrind`` in a fresh process, once with
no operation and once with ``n``; the difference over ``n`` is its cost per operation.

Run alone: ``python benchmarks/bench_selection.py [n]`` (needs ``valgrind``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WARM_UP = 50
VARIANTS = ("listeners", "listeners + selection handler")
WAITING = "Waiting for suitable server to become available"


class WaitingOnly(logging.Handler):
    """Keeps the server-selection "waiting" messages, drops the rest."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.waits = 0

    def emit(self, record: logging.LogRecord) -> None:
        kwargs = getattr(record.msg, "_kwargs", None)
        if kwargs is not None and kwargs.get("message") == WAITING:
            self.waits += 1


def child(variant: str, n: int, uri: str) -> None:
    """One measured process: set up, warm up, then ``n`` operations."""
    from pymongo import MongoClient

    import mongo_structlog

    if variant.endswith("selection handler"):
        logger = logging.getLogger("pymongo.serverSelection")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(WaitingOnly())
    listeners = mongo_structlog.listeners(output=os.devnull)
    client: MongoClient[dict[str, Any]] = MongoClient(uri, event_listeners=listeners)
    orders = client.bench.orders
    for _ in range(WARM_UP):
        orders.find_one({"status": "open"})
    for _ in range(n):
        orders.find_one({"status": "open"})
    client.close()


def instructions(variant: str, n: int, uri: str, valgrind: str) -> int:
    """Instructions of a whole child process (callgrind's ``summary``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                variant,
                str(n),
                uri,
            ],
            check=True,
            capture_output=True,
        )
        totals = 0
        for path in Path(tmp).glob("callgrind.out*"):  # one file per thread, if split
            found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.MULTILINE)
            if found:
                totals += int(found.group(1))
        return totals


def main() -> None:
    """Count each variant and print instructions per operation."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found: nothing counted")
        return
    sys.path.insert(0, str(HERE))
    from bench_end_to_end import wire_server

    with wire_server(0) as uri, ThreadPoolExecutor(2) as pool:
        runs = {
            (variant, count): pool.submit(instructions, variant, count, uri, valgrind)
            for variant in VARIANTS
            for count in (0, n)
        }
        per_op = {v: (runs[v, n].result() - runs[v, 0].result()) / n for v in VARIANTS}
    base = per_op[VARIANTS[0]]
    print(f"| variant | instructions per find_one (n={n}) | vs listeners |")
    print("|---|---|---|")
    for variant, cost in per_op.items():
        print(f"| {variant} | {cost:,.0f} | {cost / base - 1:+.1%} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
