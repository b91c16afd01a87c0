"""Listener cost per operation, through PyMongo's own dispatch (``_EventListeners``).

One operation is what PyMongo publishes around a ``find``: connection check-out started,
checked out, command started, command succeeded, connection checked in. Each variant
gets its own ``_EventListeners`` (as one ``MongoClient`` would) and publishes the same
operations; the ``none`` variant has no subscriber, so it measures building the event
objects, the floor every variant pays.

A second group publishes only events below ``info`` (pool chatter and a heartbeat) to
show what our listener costs for events it does not log.

Run alone: ``python benchmarks/bench_listeners.py [--quick]``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from _common import fmt_ratio, median, paired, run_alone, spread, table, time_rounds
from _fixtures import (
    NoopListener,
    Variant,
    command_variants,
    find_command,
    find_reply,
    logging_to_files,
    publish_chatter,
    publish_operation,
)
from pymongo import monitoring

POOL = 64  # distinct command/reply pairs, cycled: values differ, shapes repeat (as in apps)
WRITER_TIMED = "ours: queued, writer timed"
BURST = 4  # operations per burst in the short-bursts group


def _operation_batch(listeners: monitoring._EventListeners) -> Any:
    commands = [find_command(i) for i in range(POOL)]
    replies = [find_reply(i) for i in range(POOL)]
    counter = [1]

    def batch(n: int) -> None:
        rid = counter[0]
        for i in range(n):
            k = (rid + i) % POOL
            publish_operation(listeners, commands[k], replies[k], rid + i)
        counter[0] = rid + n

    return batch


def _drained(batch: Any, drain: Any) -> Any:
    def timed(n: int) -> None:
        batch(n)
        drain()

    return timed


def _chatter_batch(listeners: monitoring._EventListeners) -> Any:
    def batch(n: int) -> None:
        for _ in range(n):
            publish_chatter(listeners)

    return batch


def _truncate(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            os.truncate(path, 0)


def measure(quick: bool = False, rounds: int | None = None, n: int | None = None) -> dict[str, Any]:
    """Run both groups.

    Returns:
        ``{"operation": {variant: {"median_ns", "spread", "samples"}}, "chatter": {...},
        "n": ops per batch, "rounds": rounds, "descriptions": {variant: text},
        "queue_dropped": n, "bursts": {...}}``.
    """
    import mongo_structlog

    rounds = rounds or (9 if quick else 31)
    n = n or (150 if quick else 300)
    with tempfile.TemporaryDirectory(prefix="mongo_structlog_bench_") as tmp:
        directory = Path(tmp)
        with logging_to_files(directory):
            variants: list[Variant] = command_variants(directory)
            dispatchers = {v.name: monitoring._EventListeners(v.build()) for v in variants}
            batches = {name: _operation_batch(d) for name, d in dispatchers.items()}
            # The queued variant again, with its writer thread's work inside the timing.
            writer = mongo_structlog.listeners(
                output=str(directory / "queued_timed.jsonl"), queue_size=10_000
            )
            batches[WRITER_TIMED] = _drained(
                _operation_batch(monitoring._EventListeners(writer)), mongo_structlog.flush
            )
            before = mongo_structlog.stats().get("queue_dropped", 0)
            operation = time_rounds(
                batches,
                n,
                rounds,
                after={v.name: v.flush for v in variants if v.flush is not None},
            )
            queue_dropped = mongo_structlog.stats().get("queue_dropped", 0) - before

            # Bursts of BURST operations, the queue drained (untimed) in between: the
            # writer keeps up, as it can when the application waits between bursts.
            burst_names = ("CommandLogger", "ours: full record", "ours: queued")
            bursts = time_rounds(
                {name: batches[name] for name in burst_names},
                BURST,
                rounds * 5,
                after={v.name: v.flush for v in variants if v.flush is not None},
            )

            chatter_dispatchers = {
                "none": monitoring._EventListeners([]),
                "noop": monitoring._EventListeners([NoopListener()]),
                "ours: level=info": monitoring._EventListeners(
                    mongo_structlog.listeners(output=str(directory / "chatter.jsonl"))
                ),
            }
            chatter = time_rounds(
                {name: _chatter_batch(d) for name, d in chatter_dispatchers.items()},
                n,
                rounds,
                after={"ours: level=info": lambda: _truncate(directory)},
            )
            mongo_structlog.flush()
    return {
        "n": n,
        "rounds": rounds,
        "descriptions": {
            **{v.name: v.description for v in variants},
            WRITER_TIMED: "the same as `ours: queued`, but each batch ends when the writer "
            "thread has written everything: the whole cost, both threads",
        },
        "operation": _summarise(operation),
        "chatter": _summarise(chatter),
        "bursts": _summarise(bursts),
        "queue_dropped": queue_dropped,
    }


def _summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    return {
        name: {"median_ns": median(values), "spread": spread(values), "samples": values}
        for name, values in samples.items()
    }


def markdown(results: dict[str, Any]) -> str:
    """The two tables, with the ratios the targets are stated in."""
    op = results["operation"]
    none = op["none"]["median_ns"]
    noop = op["noop"]["median_ns"]
    command_logger = op["CommandLogger"]["median_ns"]
    rows = []
    for name, summary in op.items():
        value = summary["median_ns"]
        rows.append(
            [
                f"`{name}`",
                f"{value / 1000:.2f}",
                f"{(value - none) / 1000:+.2f}",
                f"{summary['spread'] * 100:.0f} %",
                fmt_ratio(value / noop),
                fmt_ratio(value / command_logger),
            ]
        )
    first = table(
        [
            "variant",
            "µs / operation (median)",
            "µs above `none`",
            "IQR / median",
            "x `noop`",
            "x `CommandLogger`",
        ],
        rows,
    )
    ch = results["chatter"]
    ch_none = ch["none"]["median_ns"]
    ch_noop = ch["noop"]["median_ns"]
    second = table(
        ["variant", "µs / 5 events (median)", "µs above `none`", "IQR / median", "x `noop`"],
        [
            [
                f"`{name}`",
                f"{s['median_ns'] / 1000:.2f}",
                f"{(s['median_ns'] - ch_none) / 1000:+.2f}",
                f"{s['spread'] * 100:.0f} %",
                fmt_ratio(s["median_ns"] / ch_noop),
            ]
            for name, s in ch.items()
        ],
    )
    bursts = results["bursts"]
    burst_logger = bursts["CommandLogger"]["median_ns"]
    third = table(
        ["variant", "µs / operation (median)", "IQR / median", "x `CommandLogger`"],
        [
            [
                f"`{name}`",
                f"{s['median_ns'] / 1000:.2f}",
                f"{s['spread'] * 100:.0f} %",
                fmt_ratio(s["median_ns"] / burst_logger),
            ]
            for name, s in bursts.items()
        ],
    )
    return (
        f"#### One operation (5 events), {results['rounds']} rounds x {results['n']} operations\n\n"
        f"{first}\n\n"
        f"Queue overflow during the queued variant: {results['queue_dropped']} records.\n\n"
        "#### Events below `info` (check-out started, checked out, checked in, heartbeat "
        "started, heartbeat succeeded)\n\n"
        f"{second}\n\n"
        f"#### Bursts of {BURST} operations, the queue drained (untimed) in between "
        f"({results['rounds'] * 5} rounds): the writer keeps up\n\n"
        f"{third}\n"
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Timed ratios on the synthetic ``find`` (information: the targets are end to end).

    The synthetic ``find`` has a 25-member command; a real ``find_one`` or ``insert_one``
    is smaller, so these ratios hold only for that document.
    """
    op = results["operation"]
    ch = results["chatter"]

    def ratio(group: dict[str, Any], name: str, base: str) -> str:
        value = group[name]["median_ns"] / group[base]["median_ns"]
        check = paired(group[name]["samples"], group[base]["samples"])
        return f"{fmt_ratio(value)} (paired {fmt_ratio(check)})"

    synthetic = "timed, synthetic 25-member `find` only"
    return [
        (f"{synthetic}: sampled-out command vs do-nothing listener", "-",
         ratio(op, "ours: sampled out", "noop"), None),
        (f"{synthetic}: full record vs `CommandLogger`", "-",
         ratio(op, "ours: full record", "CommandLogger"), None),
        (f"{synthetic}: queued, bursts of {BURST}, application's thread vs `CommandLogger`", "-",
         ratio(results["bursts"], "ours: queued", "CommandLogger"), None),
        (f"{synthetic}: events below `info` vs do-nothing listener", "-",
         ratio(ch, "ours: level=info", "noop"), None),
    ]  # fmt: skip


def main() -> None:
    """Run and print."""
    run_alone(__doc__, measure, markdown)


if __name__ == "__main__":
    main()
