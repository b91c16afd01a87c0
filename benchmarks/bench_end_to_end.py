"""End to end: a real ``MongoClient`` against a wire-protocol server in another process.

Each variant has its own client (listeners are fixed when a client is built) talking to
the same server (``wire_server.py``, started as a subprocess). A batch alternates
``insert_one`` and ``find_one``; throughput is operations per second, the median over
interleaved rounds, compared with the client without listeners and with a do-nothing
listener in the same run. The variants are ours and what users would pick instead
(:mod:`_peers`). A variant with a background thread (our queued output, OpenTelemetry's
batch span processor) ends its batch when that thread has written or exported
everything (timed): what it could not do while the application waited counts against it.

After the timing, an untimed pass counts the bytes each variant writes per operation.

PyMongo's built-in command logging (the ``pymongo.command`` logger at ``DEBUG``) is a
global switch, so its variant turns the logger on for the length of its own batches.

Run alone: ``python benchmarks/bench_end_to_end.py [--quick] [--delay-us N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import Batch, median, paired, spread, table, time_rounds
from _fixtures import Variant, end_to_end_variants, logging_to_files
from _peers import COUNT_BYTES, ddtrace_status
from pymongo import MongoClient

HERE = Path(__file__).resolve().parent


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


def workload(client: MongoClient[dict[str, Any]], variant: Variant | None = None) -> Batch:
    """A batch of ``n`` operations, ``insert_one`` and ``find_one`` in turn.

    With a variant: wrapped in its ``around`` (a logger switched on, transactions), and
    ended by its ``flush`` (a queue's writer or a span processor's exporter has written
    everything: that thread's work counts).
    """
    collection = client.bench.orders
    counter = [0]

    def batch(n: int) -> None:
        start = counter[0]
        for i in range(start, start + n, 2):
            collection.insert_one({"customer_id": i, "status": "paid", "total": 129.9})
            collection.find_one({"customer_id": i, "status": "paid"})
        counter[0] = start + n

    if variant is None:
        return batch
    wrapped = variant.around(batch) if variant.around is not None else batch
    drain = variant.flush
    if drain is None:
        return wrapped

    def drained(n: int) -> None:
        wrapped(n)
        drain()

    return drained


def measure(
    quick: bool = False, delay_us: int = 0, rounds: int | None = None, n: int | None = None
) -> dict[str, Any]:
    """Run every variant against one server, then count the bytes each writes per operation.

    Returns:
        ``{"variants": {name: {"ops_per_s", "median_ns", "spread", "samples_ns"}}, "n",
        "rounds", "delay_us", "descriptions", "query": {name: text}, "bytes_per_op": {name:
        bytes or None}, "ddtrace": why it is absent or None}``.
    """
    import mongo_structlog

    rounds = rounds or (7 if quick else 25 if not delay_us else 15)
    n = n or (40 if quick else 100)
    clients: list[MongoClient[dict[str, Any]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="mongo_structlog_e2e_") as tmp,
        logging_to_files(Path(tmp)) as sinks,
        wire_server(delay_us) as uri,
    ):
        variants = end_to_end_variants(Path(tmp), sinks)
        batches: dict[str, Batch] = {}
        for variant in variants:
            client: MongoClient[dict[str, Any]] = MongoClient(
                uri, event_listeners=variant.build(), serverSelectionTimeoutMS=10_000
            )
            clients.append(client)
            client.admin.command("ping")
            batches[variant.name] = workload(client, variant)
        try:
            samples = time_rounds(batches, n, rounds)
            written = _bytes_per_op(variants, batches, BYTES_OPERATIONS)
        finally:
            for client in clients:
                client.close()
            mongo_structlog.flush()
    return {
        "n": n,
        "rounds": rounds,
        "delay_us": delay_us,
        "descriptions": {v.name: v.description for v in variants},
        "query": {v.name: v.query for v in variants},
        "bytes_per_op": written,
        "ddtrace": ddtrace_status(),
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


BYTES_OPERATIONS = 200


def _bytes_per_op(
    variants: list[Variant], batches: dict[str, Batch], n: int
) -> dict[str, float | None]:
    """Bytes each variant writes per operation over ``n`` more operations (untimed)."""
    written: dict[str, float | None] = {}
    COUNT_BYTES[0] = True
    try:
        for variant in variants:
            if variant.written is None:
                written[variant.name] = None if variant.name not in ("none", "noop") else 0.0
                continue
            before = variant.written()
            batches[variant.name](n)
            written[variant.name] = (variant.written() - before) / n
    finally:
        COUNT_BYTES[0] = False
    return written


def markdown(results: dict[str, Any]) -> str:
    """Throughput, ratios to ``none`` and ``noop``, bytes per operation."""
    variants = results["variants"]
    base, noop = variants["none"], variants["noop"]
    written = results.get("bytes_per_op", {})

    def size(name: str) -> str:
        value = written.get(name)
        return "-" if value is None else f"{value:,.0f}"

    rows = [
        [
            f"`{name}`",
            f"{v['ops_per_s']:,.0f}",
            f"{v['median_ns'] / 1000:.1f}",
            f"{v['spread'] * 100:.0f} %",
            f"{(1 - v['ops_per_s'] / base['ops_per_s']) * 100:+.1f} %",
            f"{noop['ops_per_s'] / v['ops_per_s']:.2f}x "
            f"(paired {paired(v['samples_ns'], noop['samples_ns']):.2f}x)",
            size(name),
        ]
        for name, v in variants.items()
    ]
    delay = results["delay_us"]
    server = f"server answering after {delay} µs" if delay else "server answering at once"
    absent = results.get("ddtrace")
    note = (
        f"\nddtrace is not measured: `ddtrace.patch(pymongo=True)` fails: {absent}\n"
        if absent
        else ""
    )
    return (
        f"#### insert_one + find_one, {server}: {results['rounds']} rounds x {results['n']} "
        "operations\n\n"
        + table(
            [
                "variant",
                "operations / s (median)",
                "µs / operation",
                "IQR / median",
                "loss vs `none`",
                "time x `noop`",
                "bytes / operation",
            ],
            rows,
        )
        + "\n"
        + note
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Timed end-to-end figures (information: the targets are stated in instructions)."""
    variants = results["variants"]
    base, noop = variants["none"], variants["noop"]
    delay = results["delay_us"]
    where = f"server delay {delay} µs" if delay else "instant server"
    rows: list[tuple[str, str, str, bool | None]] = []
    for name in ("ours: full record", "ours: sampled out", "ours: queued", "noop"):
        if name not in variants:
            continue
        loss = 1 - variants[name]["ops_per_s"] / base["ops_per_s"]
        times = noop["ops_per_s"] / variants[name]["ops_per_s"]
        check = paired(variants[name]["samples_ns"], noop["samples_ns"])
        rows.append(
            (
                f"timed, end to end, {where}: `{name}`",
                "-",
                f"{times:.2f}x `noop` (paired {check:.2f}x); throughput loss vs `none` "
                f"{loss * 100:.1f} %",
                None,
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
