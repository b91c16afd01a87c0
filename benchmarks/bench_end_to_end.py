"""End to end: a real ``MongoClient`` against a wire-protocol server in another process.

Each variant has its own client (listeners are fixed when a client is built) talking to
the same server (``wire_server.py``, started as a subprocess). A batch alternates
``insert_one`` and ``find(...).limit(3)`` materialised with ``list()``; throughput is
operations per second, the median over interleaved rounds, and the loss is measured
against the client without listeners in the same run. A queued variant's batch ends when
its writer thread has written every record (the drain is timed): what the writer could
not do while the application waited on the server counts against it.

PyMongo's built-in command logging (the ``pymongo.command`` logger at ``DEBUG``) is a
global switch, so its variant turns the logger on for the length of its own batches.

Run alone: ``python benchmarks/bench_end_to_end.py [--quick] [--delay-us N]``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import median, paired, spread, table, time_rounds
from _fixtures import Variant, command_variants, logging_to_files
from pymongo import MongoClient

HERE = Path(__file__).resolve().parent
PYMONGO_LOGGING = "pymongo.command logger at DEBUG"


@contextmanager
def wire_server(delay_us: int = 0) -> Iterator[str]:
    """Start ``wire_server.py`` in a subprocess; yield its URI; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "wire_server.py"), "--delay-us", str(delay_us)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"wire server did not start: {line!r}")
        yield f"mongodb://127.0.0.1:{int(line.split()[1])}/?directConnection=true"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _workload(
    client: MongoClient[dict[str, Any]], drain: Callable[[], None] | None = None
) -> Callable[[int], None]:
    """A batch of ``n`` operations; with a queued output, timed until all is written."""
    collection = client.bench.orders
    counter = [0]

    def batch(n: int) -> None:
        start = counter[0]
        for i in range(start, start + n, 2):
            collection.insert_one({"customer_id": i, "status": "paid", "total": 129.9})
            list(collection.find({"customer_id": i, "status": "paid"}).limit(3))
        counter[0] = start + n
        if drain is not None:  # the writer thread's work counts: what it did not overlap
            drain()

    return batch


def _with_pymongo_logging(batch: Callable[[int], None]) -> Callable[[int], None]:
    logger = logging.getLogger("pymongo.command")

    def logged(n: int) -> None:
        logger.setLevel(logging.DEBUG)
        try:
            batch(n)
        finally:
            logger.setLevel(logging.NOTSET)

    return logged


def measure(
    quick: bool = False, delay_us: int = 0, rounds: int | None = None, n: int | None = None
) -> dict[str, Any]:
    """Run every variant against one server.

    Returns:
        ``{"variants": {name: {"ops_per_s", "spread", "samples_ns"}}, "n", "rounds",
        "delay_us", "descriptions"}``.
    """
    import mongo_structlog

    rounds = rounds or (9 if quick else 61 if not delay_us else 31)
    n = n or (50 if quick else 100)
    clients: list[MongoClient[dict[str, Any]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="mongo_structlog_e2e_") as tmp,
        logging_to_files(Path(tmp)),
        wire_server(delay_us) as uri,
    ):
        variants: list[Variant] = command_variants(Path(tmp))
        batches: dict[str, Callable[[int], None]] = {}
        for variant in variants:
            client: MongoClient[dict[str, Any]] = MongoClient(
                uri, event_listeners=variant.build(), serverSelectionTimeoutMS=10_000
            )
            clients.append(client)
            client.admin.command("ping")
            batches[variant.name] = _workload(client, variant.flush)
        plain: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=10_000)
        clients.append(plain)
        plain.admin.command("ping")
        batches[PYMONGO_LOGGING] = _with_pymongo_logging(_workload(plain))
        try:
            samples = time_rounds(batches, n, rounds)
        finally:
            for client in clients:
                client.close()
            mongo_structlog.flush()
    descriptions = {v.name: v.description for v in variants}
    descriptions[PYMONGO_LOGGING] = (
        "PyMongo's own structured command logging: no listener, `pymongo.command` at "
        "`DEBUG` with a `FileHandler`"
    )
    return {
        "n": n,
        "rounds": rounds,
        "delay_us": delay_us,
        "descriptions": descriptions,
        "variants": {
            name: {
                "ops_per_s": 1e9 / median(values),
                "median_ns": median(values),
                "spread": spread(values),
                "samples_ns": values,
            }
            for name, values in samples.items()
        },
    }


def markdown(results: dict[str, Any]) -> str:
    """Throughput and loss against ``none``."""
    variants = results["variants"]
    base = variants["none"]
    rows = [
        [
            f"`{name}`",
            f"{v['ops_per_s']:,.0f}",
            f"{v['median_ns'] / 1000:.1f}",
            f"{v['spread'] * 100:.0f} %",
            f"{(1 - v['ops_per_s'] / base['ops_per_s']) * 100:+.1f} %",
            f"{(1 - 1 / paired(v['samples_ns'], base['samples_ns'])) * 100:+.1f} %",
        ]
        for name, v in variants.items()
    ]
    delay = results["delay_us"]
    server = f"server answering after {delay} µs" if delay else "server answering at once"
    return (
        f"#### insert_one + find, {server}: {results['rounds']} rounds x {results['n']} "
        "operations\n\n"
        + table(
            [
                "variant",
                "operations / s (median)",
                "µs / operation",
                "IQR / median",
                "loss vs `none`",
                "loss, paired",
            ],
            rows,
        )
        + "\n"
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, reached, met) for end-to-end throughput with full logging."""
    variants = results["variants"]
    base = variants["none"]
    rows: list[tuple[str, str, str, bool | None]] = []
    delay = results["delay_us"]
    where = f"server delay {delay} µs" if delay else "instant server"
    for name, label in (
        ("ours: full record", "full logging"),
        ("ours: queued", "full logging, queued"),
        ("noop", "do-nothing listener (for scale)"),
    ):
        loss = 1 - variants[name]["ops_per_s"] / base["ops_per_s"]
        check = 1 - 1 / paired(variants[name]["samples_ns"], base["samples_ns"])
        rows.append(
            (
                f"end-to-end throughput loss, {label}, {where}",
                "< 5 %" if name != "noop" else "(information)",
                f"{loss * 100:.1f} % (paired {check * 100:.1f} %)",
                loss < 0.05 if name != "noop" else None,
            )
        )
    return rows


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--delay-us", type=int, default=0)
    args = parser.parse_args()
    print(markdown(measure(quick=args.quick, delay_us=args.delay_us)))


if __name__ == "__main__":
    main()
