"""Run every benchmark and print one Markdown report: ``python benchmarks/run.py``.

Options:
    --quick          a short run (about 4 minutes on 2 shared cores; a full run about 11)
                     to check that everything works; its instruction counts are as stable
                     as a full run's;
    --json PATH      also write every sample and summary as JSON;
    --only NAMES     a comma list of listeners,instructions,end_to_end,memory,documents;
    --delay-us LIST  end-to-end server delays in µs per reply, comma-separated (default
                     ``0,500``: an instant server, then one like a nearby real server;
                     ``0`` alone with --quick);
    --profile        instead of the benchmarks, profile the full-record variant and print
                     the functions of mongo_structlog, structlog and orjson that cost most.

``instructions`` counts what each listener variant executes under valgrind's callgrind
(deterministic, unlike the timings); it is skipped, with a note, where valgrind is not
installed. The report is also saved to ``benchmarks/results/latest.md``. Every timed ratio
is a ratio of medians measured in this run, on this machine, with the variants interleaved.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_end_to_end  # noqa: E402
import bench_instructions  # noqa: E402
import bench_listeners  # noqa: E402
import bench_memory  # noqa: E402
from _common import machine, machine_markdown, table  # noqa: E402

ALL = ("listeners", "instructions", "end_to_end", "memory", "documents")


def _documents(quick: bool) -> str | None:
    """The document-rendering benchmark, written separately, if it is there."""
    try:
        import bench_documents  # type: ignore[import-not-found]
    except ImportError:
        return None
    run = getattr(bench_documents, "run", None)
    if run is None:
        return None
    result = run(quick=quick) if "quick" in inspect.signature(run).parameters else run()
    if isinstance(result, str):
        return result
    render = getattr(bench_documents, "table", None)
    if callable(render) and isinstance(result, list):
        return str(render(result)) + "\n"
    if isinstance(result, dict) and isinstance(result.get("markdown"), str):
        return str(result["markdown"])
    return "```json\n" + json.dumps(result, indent=2, default=str) + "\n```\n"


def profile(quick: bool) -> str:
    """Profile the full-record variant; the 10 costliest functions of ours and our deps."""
    import cProfile
    import pstats
    import tempfile

    from _fixtures import find_command, find_reply, publish_operation
    from pymongo import monitoring

    import mongo_structlog

    n = 5_000 if quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        listeners = monitoring._EventListeners(
            mongo_structlog.listeners(output=str(Path(tmp) / "full.jsonl"), documents="shape")
        )
        commands = [find_command(i) for i in range(64)]
        replies = [find_reply(i) for i in range(64)]
        profiler = cProfile.Profile()
        profiler.enable()
        for rid in range(1, n + 1):
            publish_operation(listeners, commands[rid % 64], replies[rid % 64], rid)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short(filename)
        if where is None:
            continue
        rows.append((cumulative, own, calls, f"`{where}:{line}({function})`"))
    rows.sort(reverse=True)
    body = table(
        ["function", "calls", "own µs / op", "cumulative µs / op", "cumulative share"],
        [
            [
                name,
                f"{calls:,}",
                f"{own / n * 1e6:.2f}",
                f"{cum / n * 1e6:.2f}",
                f"{cum / total:.0%}",
            ]
            for cum, own, calls, name in rows[:10]
        ],
    )
    return (
        f"### Profile: `ours: full record`, {n:,} operations under cProfile "
        f"(total {total / n * 1e6:.1f} µs / operation with profiling overhead)\n\n{body}\n"
    )


def _short(filename: str) -> str | None:
    for marker in ("mongo_structlog/", "structlog/", "orjson"):
        index = filename.find(marker)
        if index >= 0:
            return filename[index:]
    return None


def headline(instructions: dict[str, Any], end_to_end: dict[str, Any] | None) -> str:
    """The one table: ours and the peers, end to end, instructions, timing, bytes, query text.

    Args:
        instructions: :func:`bench_instructions.measure`'s result.
        end_to_end: :func:`bench_end_to_end.measure`'s result for the instant server, or None.

    Returns:
        A Markdown table, with a line on ddtrace where it could not be measured.
    """
    counted = {row["name"]: row for row in bench_instructions.end_to_end_rows(instructions)}
    timed = (end_to_end or {}).get("variants", {})
    written = (end_to_end or {}).get("bytes_per_op", {})
    query = (end_to_end or {}).get("query", {})
    noop = timed.get("noop")
    rows = []
    for name in bench_instructions.END_TO_END:
        row, run = counted.get(name), timed.get(name)
        if row is None and run is None:
            continue
        size = written.get(name)
        rows.append(
            [
                f"`{name}`",
                query.get(name, "") or "-",
                f"{row['app']:,.0f}" if row else "-",
                f"{row['all']:,.0f}" if row else "-",
                f"**{row['all_x']:.2f}x**" if row else "-",
                f"{run['ops_per_s']:,.0f}" if run else "-",
                f"{noop['ops_per_s'] / run['ops_per_s']:.2f}x" if run and noop else "-",
                "-" if size is None else f"{size:,.0f}",
            ]
        )
    body = table(
        [
            "variant",
            "query text recorded",
            "instructions / command, application thread",
            "all threads",
            "x `noop` (instructions, all threads)",
            "timed ops / s",
            "timed x `noop`",
            "bytes written / op",
        ],
        rows,
    )
    absent = (end_to_end or {}).get("ddtrace")
    note = (
        f"\nddtrace is not in the table: `ddtrace.patch(pymongo=True)` fails with this PyMongo "
        f"({absent}).\n"
        if absent
        else ""
    )
    return body + "\n" + note


def _targets_table(rows: list[tuple[str, str, str, bool | None]]) -> str:
    verdict = {True: "met", False: "**not met**", None: "n/a"}
    return table(
        ["target", "limit", "reached", "met"],
        [[name, limit, reached, verdict[met]] for name, limit, reached, met in rows],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, print the report, save it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", type=Path, help="write samples and summaries here")
    parser.add_argument("--only", default=",".join(ALL), help="comma list of " + ",".join(ALL))
    parser.add_argument("--delay-us", default=None, help="end-to-end server delays, µs")
    parser.add_argument("--profile", action="store_true", help="profile the full record")
    parser.add_argument(
        "--output", type=Path, default=HERE / "results" / "latest.md", help="report file"
    )
    args = parser.parse_args(argv)

    if args.profile:
        print(profile(args.quick))
        return 0

    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(selected) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    details = machine()
    started = time.monotonic()
    results: dict[str, Any] = {"machine": details, "quick": args.quick}
    sections: list[str] = []
    targets: list[tuple[str, str, str, bool | None]] = []

    if "listeners" in selected:
        print(f"listeners ... ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        results["listeners"] = bench_listeners.measure(quick=args.quick)
        sections.append(
            "### Listener cost per operation\n\n" + bench_listeners.markdown(results["listeners"])
        )
        targets += bench_listeners.targets(results["listeners"])
    if "instructions" in selected:
        print(f"instructions ... ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        results["instructions"] = bench_instructions.measure(quick=args.quick)
        sections.append(
            "### Instructions per operation (valgrind's callgrind: the same every run)\n\n"
            + bench_instructions.markdown(results["instructions"])
        )
        targets += bench_instructions.targets(results["instructions"])
    if "end_to_end" in selected:
        print(f"end to end ... ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        delays = args.delay_us or ("0" if args.quick else "0,500")
        results["end_to_end"] = {}
        parts = []
        for delay in (int(value) for value in delays.split(",")):
            measured = bench_end_to_end.measure(quick=args.quick, delay_us=delay)
            results["end_to_end"][delay] = measured
            parts.append(bench_end_to_end.markdown(measured))
            targets += bench_end_to_end.targets(measured)
        sections.append("### End to end\n\n" + "\n".join(parts))
    if "memory" in selected:
        print(f"memory ... ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        results["memory"] = bench_memory.measure(quick=args.quick)
        sections.append(
            f"### Memory, {results['memory']['commands']:,} commands, 1 % never completed\n\n"
            + bench_memory.markdown(results["memory"])
        )
        targets += bench_memory.targets(results["memory"])
    if "documents" in selected:
        print(f"documents ... ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        documents = _documents(args.quick)
        if documents is not None:
            results["documents"] = documents
            sections.append("### Document rendering\n\n" + documents)

    targets.sort(key=lambda row: row[3] is None)  # the targets first, information after
    instant = results.get("end_to_end", {}).get(0)
    counted = results.get("instructions")
    if counted is not None and "skipped" not in counted:
        sections.insert(
            0,
            "### Headline: end to end, a real client, `insert_one` and `find_one` in turn, "
            "instant server\n\n" + headline(counted, instant),
        )
    elapsed = time.monotonic() - started
    title = "Benchmark results" + (" (--quick)" if args.quick else "")
    report = "\n".join(
        [
            f"## {title}\n",
            machine_markdown(details) + "\n",
            f"Run time: {elapsed:.0f} s.\n",
            "### Targets (issue 17: instructions, a real client, end to end, instant server; "
            "memory flat), then figures for information\n",
            _targets_table(targets) + "\n" if targets else "(no target measured)\n",
            *sections,
        ]
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    if args.json is not None:
        results["elapsed_s"] = elapsed
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
