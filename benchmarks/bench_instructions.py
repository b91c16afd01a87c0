"""Instructions per operation, counted by callgrind: the listener comparison without the noise.

Timings on a shared machine move by tens of percent between runs; the number of
instructions a variant executes does not (callgrind counts them on a simulated CPU, the
same for the same program, whatever else the machine does). The variants run under
``valgrind --tool=callgrind`` in one process per core; each is built and warmed up, then
runs ``n`` operations between two of callgrind's counter dumps (``callgrind_control
--dump``), and an empty pair of dumps measures what a dump costs. Threads are counted
apart: the application's thread, and the others (a queued variant's writer, a span
processor's exporter, PyMongo's monitors). What the kernel does (``write(2)``, the
network) is not counted.

Groups:

- **end to end** (the headline): a real ``MongoClient`` against ``wire_server.py`` (in its
  own process, not counted) answering at once, ``insert_one`` and ``find_one`` in turn,
  for ours and for what users would pick instead (:mod:`_peers`);
- the five events of one ``find`` through ``_EventListeners`` (as in :mod:`bench_listeners`:
  a synthetic 25-member ``find``);
- the events below ``info``;
- an ablation of the full record (each step replaced by its precomputed result). It reaches
  into mongo_structlog's internals, so it is skipped, with a note, where they are not there.

Only public names of mongo_structlog are used outside the ablation.

Run alone: ``python benchmarks/bench_instructions.py [--quick]`` (needs ``valgrind``;
without it the report says so and nothing is counted).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from _common import fmt_ratio, run_alone, table
from _fixtures import (
    PYMONGO_LOGGING,
    Variant,
    command_variants,
    end_to_end_variants,
    find_command,
    find_reply,
    logging_to_files,
    publish_chatter,
    publish_operation,
)
from pymongo import monitoring

HERE = Path(__file__).resolve().parent
WARM_UP = 200  # operations before counting starts: caches, lazy imports, first records
POOL = 64  # distinct command/reply pairs, cycled, as in bench_listeners

FULL = "ours: full record"
SAMPLED = "ours: sampled out"
BELOW = "ours: level=error"
COMMANDS_ONLY = "noop, command events only"
E2E = "end to end: "
#: End-to-end variants, in table order (names of :func:`_fixtures.end_to_end_variants`).
END_TO_END = [
    "none",
    "noop",
    COMMANDS_ONLY,
    BELOW,
    "ours: level=warning",
    SAMPLED,
    FULL,
    "ours: full record, documents=none",
    "ours: full record, documents=full",
    "ours: full record, format=ecs",
    "ours: queued",
    "ours: stdlib + python-json-logger",
    "CommandLogger",
    "CommandLogger + ConnectionPoolLogger",
    PYMONGO_LOGGING,
    "OpenTelemetry pymongo instrumentation",
    "OpenTelemetry pymongo instrumentation, capture_statement=True",
    "Sentry PyMongo integration",
]
#: Rows: (job name, variant, workload, step removed by the ablation or None).
JOBS: list[tuple[str, str, str, str | None]] = [
    (E2E + name, name, "end_to_end", None) for name in END_TO_END
] + [
    ("none", "none", "operation", None),
    ("noop", "noop", "operation", None),
    ("CommandLogger", "CommandLogger", "operation", None),
    (SAMPLED, SAMPLED, "operation", None),
    (FULL, FULL, "operation", None),
    ("ours: stdlib + python-json-logger", "ours: stdlib + python-json-logger", "operation", None),
    ("ours: queued (both threads)", "ours: queued", "operation", None),
    ("chatter: none", "none", "chatter", None),
    ("chatter: noop", "noop", "chatter", None),
    ("chatter: ours, level=info", FULL, "chatter", None),
]
#: The ablation: what each step replaced by its precomputed result is (internals; see _remove).
STEPS = {
    "shape": "shaping the command (walk, fingerprint): `DocumentRenderer.command`",
    "reply": "summarising the reply: `DocumentRenderer.reply`",
    "render": "rendering the record as one JSON line: `orjson.dumps`",
    "timestamp": "reading the clock and formatting the RFC 3339 timestamp",
    "context": "the context steps: structlog contextvars and OpenTelemetry ids",
}
JOBS += [(f"{FULL}, without {step}", FULL, "operation", step) for step in STEPS]


def end_to_end_n(n: int) -> int:
    """Commands counted end to end for ``n`` operations elsewhere (even: insert and find pairs)."""
    return max(2, n // 4 * 2)


def valgrind() -> str | None:
    """The path of ``valgrind``, or None."""
    return shutil.which("valgrind")


# -- the child: runs inside valgrind ---------------------------------------------------------


def _dump(tag: str) -> None:
    """Ask callgrind to write (and zero) its counts now, tagged ``tag``; wait until it has."""
    subprocess.run(
        ["callgrind_control", f"--dump={tag}", str(os.getpid())],
        capture_output=True,
        check=True,
    )


def child(indexes: list[int], n: int) -> None:
    """Count the jobs at ``indexes``: each built, warmed up, then ``n`` operations between dumps.

    An empty segment (two dumps in a row) measures what a dump itself costs. A job whose
    variant is not installed, or whose ablation finds no internals to replace, writes no
    dump: the parent reports it absent.
    """

    commands = [find_command(i) for i in range(POOL)]
    replies = [find_reply(i) for i in range(POOL)]
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="msl_instr_")))
        sinks = stack.enter_context(logging_to_files(directory))
        uri = None
        _dump("idle")
        _dump("overhead")
        for index in indexes:
            _, variant, workload, step = JOBS[index]
            if workload == "end_to_end":
                chosen = _end_to_end_variant(variant, directory, sinks)
                if chosen is None:
                    continue
                if uri is None:
                    from bench_end_to_end import wire_server

                    uri = stack.enter_context(wire_server(0))
                _count_end_to_end(index, uri, chosen, end_to_end_n(n))
                continue
            chosen = next(v for v in command_variants(directory, sinks) if v.name == variant)
            built = chosen.build()
            listeners = monitoring._EventListeners(built)
            undo = None
            if step is not None:
                undo = _ablation(step, built, commands[0], replies[0])
                if undo is None:
                    continue
            if workload == "chatter":
                publish = partial(_chatter, publish_chatter, listeners)
            else:
                publish = partial(_operation, publish_operation, listeners, commands, replies)
            _run(publish, range(1, WARM_UP + 1), chosen.flush)
            _dump(f"start-{index}")
            _run(publish, range(WARM_UP + 1, WARM_UP + 1 + n), chosen.flush)
            _dump(f"job-{index}")
            if undo is not None:
                undo()


def _end_to_end_variant(name: str, directory: Path, sinks: Any) -> Variant | None:
    if name == COMMANDS_ONLY:
        return Variant(name, lambda: [_CommandsOnly()], "a do-nothing command listener alone")
    return next((v for v in end_to_end_variants(directory, sinks) if v.name == name), None)


def _ablation(step: str, built: list[Any], command: dict[str, Any], reply: dict[str, Any]) -> Any:
    """The ablation's undo function, or None where the internals it replaces are gone."""
    try:
        return _remove(step, built[0]._pipeline, command, reply)
    except (AttributeError, ImportError, TypeError, IndexError):
        return None


class _CommandsOnly(monitoring.CommandListener):
    """A do-nothing command listener alone: what PyMongo's command events cost by themselves."""

    def started(self, event: Any) -> None:
        """Nothing."""

    def succeeded(self, event: Any) -> None:
        """Nothing."""

    def failed(self, event: Any) -> None:
        """Nothing."""


def _count_end_to_end(index: int, uri: str, variant: Variant, n: int) -> None:
    """``n`` commands (``insert_one`` and ``find_one`` in turn) of a real client, between dumps."""
    from bench_end_to_end import workload
    from pymongo import MongoClient

    client: Any = MongoClient(uri, event_listeners=variant.build(), serverSelectionTimeoutMS=10_000)
    try:
        client.admin.command("ping")
        batch = workload(client, variant)
        batch(WARM_UP)
        _dump(f"start-{index}")
        batch(n)  # a queued variant's or a span processor's batch ends when all is written
        _dump(f"job-{index}")
    finally:
        client.close()


def _chatter(publish: Any, listeners: Any, rid: int) -> None:
    publish(listeners)


def _operation(publish: Any, listeners: Any, commands: Any, replies: Any, rid: int) -> None:
    publish(listeners, commands[rid % POOL], replies[rid % POOL], rid)


def _run(publish: Any, request_ids: range, flush: Any) -> None:
    for rid in request_ids:
        publish(rid)
    if flush is not None:
        flush()


# -- the ablation: the only part that reaches into mongo_structlog's internals --------------
#
# It replaces one step of the full record by its result. When the record path is rebuilt
# and these names are gone, _ablation() returns None, the job writes no dump and the
# report says the ablation was skipped.


def _remove(step: str, pipeline: Any, command: dict[str, Any], reply: dict[str, Any]) -> Any:
    """Replace one step of the full record by its result for this workload's documents.

    Every command and reply of the workload has the same shape and summary, so the record
    written is the same as with the step in place; only the step's work is gone.

    Returns:
        A function that puts the step back.
    """
    from mongo_structlog import documents, lifecycle

    renderer = pipeline.renderer
    if step == "shape":
        rendered = renderer.command("find", command)
        saved = documents.DocumentRenderer.command
        documents.DocumentRenderer.command = lambda self, name, doc: rendered  # type: ignore[method-assign]
        return lambda: setattr(documents.DocumentRenderer, "command", saved)
    if step == "reply":
        summary = renderer.reply("find", reply, False)
        saved = documents.DocumentRenderer.reply
        documents.DocumentRenderer.reply = lambda self, name, doc, sensitive: summary  # type: ignore[method-assign]
        return lambda: setattr(documents.DocumentRenderer, "reply", saved)
    if step == "timestamp":
        stamp, saved = lifecycle.rfc3339_now(), lifecycle.rfc3339_now
        lifecycle.rfc3339_now = lambda now=None: stamp
        return lambda: setattr(lifecycle, "rfc3339_now", saved)
    processors = pipeline.output.logger._processors
    kept = list(processors)
    if step == "render":
        final = processors[-1]
        line: list[bytes] = []

        def rendered_once(logger: Any, method: str, record: Any) -> bytes:
            if not line:
                line.append(final(logger, method, record))
            return line[0]

        processors[-1] = rendered_once
    else:  # context: every step before the final one
        del processors[:-1]
    return lambda: processors.__setitem__(slice(None), kept)


# -- the parent ----------------------------------------------------------------------------


def _dumps(directory: Path) -> dict[tuple[str, int], int]:
    """(tag, thread) -> instructions, from the dump files callgrind wrote into ``directory``."""
    found: dict[tuple[str, int], int] = {}
    for path in directory.iterdir():
        text = path.read_text(encoding="utf-8", errors="replace")
        tag = re.search(r"^desc: Trigger: (.*)$", text, re.M)
        thread = re.search(r"^thread:\s*(\d+)", text, re.M)
        total = re.search(r"^summary:\s*(\d+)", text, re.M)
        if tag and total:
            key = (tag.group(1).split()[-1], int(thread.group(1)) if thread else 1)
            found[key] = int(total.group(1))
    return found


def _count(indexes: list[int], n: int) -> dict[int, tuple[float, float]]:
    """(application thread, other threads) instructions per operation of the jobs at
    ``indexes``, counted in one process."""
    with tempfile.TemporaryDirectory(prefix="mongo_structlog_callgrind_") as tmp:
        command = [
            valgrind() or "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={tmp}/callgrind.%p",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            ",".join(map(str, indexes)),
            str(n),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind run failed: {done.stderr[-3000:]}")
        dumps = _dumps(Path(tmp))

    def segment(tag: str) -> tuple[int, int]:
        app = dumps.get((tag, 1), 0)
        return app, sum(count for (name, _), count in dumps.items() if name == tag) - app

    overhead_app, overhead_others = segment("overhead")
    counted: dict[int, tuple[float, float]] = {}
    for index in indexes:
        if (f"job-{index}", 1) not in dumps:
            continue  # not installed, or no internals for the ablation
        size = end_to_end_n(n) if JOBS[index][2] == "end_to_end" else n
        app, others = segment(f"job-{index}")
        counted[index] = ((app - overhead_app) / size, max(0, others - overhead_others) / size)
    return counted


def measure(quick: bool = False, n: int | None = None) -> dict[str, Any]:
    """Count every job, in as many processes as there are cores.

    Returns:
        ``{"n": operations counted, "end_to_end_n": commands counted end to end,
        "per_op": {job: instructions per operation, all threads},
        "application_thread": {job: the same, application's thread only}}``, or
        ``{"skipped": reason}`` without valgrind.
    """
    if valgrind() is None or shutil.which("callgrind_control") is None:
        return {"skipped": "valgrind is not installed (`apt-get install valgrind`)"}
    n = n or (300 if quick else 1000)
    workers = max(1, min(os.cpu_count() or 1, 4))
    # Peers that install process-wide state (a tracer provider, an SDK client) each get a
    # process of their own: counted after other variants, OpenTelemetry's figure moved by 5 %.
    alone = [[i] for i, job in enumerate(JOBS) if job[1] in QUERY_RECORDING_PEERS + OWN_PROCESS]
    rest = [i for i in range(len(JOBS)) if [i] not in alone]
    # Ablations patch classes: they run after the plain variants in each process.
    shares = [rest[k::workers] for k in range(workers)] + alone
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda share: _count(share, n), shares))
    counted = {JOBS[index][0]: value for part in parts for index, value in part.items()}
    return {
        "n": n,
        "end_to_end_n": end_to_end_n(n),
        "per_op": {job: app + others for job, (app, others) in counted.items()},
        "application_thread": {job: app for job, (app, _) in counted.items()},
    }


def end_to_end_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per end-to-end variant counted: ``name``, ``app``, ``all``, ``app_x``, ``all_x``.

    Ratios are to the do-nothing listener (``noop``), application thread and all threads.
    """
    app, per_op = results["application_thread"], results["per_op"]
    noop_app, noop_all = app.get(E2E + "noop"), per_op.get(E2E + "noop")
    rows = []
    for name in END_TO_END:
        job = E2E + name
        if job not in per_op or not noop_app or not noop_all:
            continue
        rows.append(
            {
                "name": name,
                "app": app[job],
                "all": per_op[job],
                "app_x": app[job] / noop_app,
                "all_x": per_op[job] / noop_all,
            }
        )
    return rows


def _end_to_end_table(results: dict[str, Any]) -> str:
    rows = end_to_end_rows(results)
    if not rows:
        return "(not counted)\n"
    body = table(
        [
            "variant",
            "application thread / command",
            "x `noop`",
            "all threads / command",
            "x `noop`",
        ],
        [
            [
                f"`{row['name']}`",
                f"{row['app']:,.0f}",
                fmt_ratio(row["app_x"]),
                f"{row['all']:,.0f}",
                fmt_ratio(row["all_x"]),
            ]
            for row in rows
        ],
    )
    missing = [name for name in END_TO_END if E2E + name not in results["per_op"]]
    note = f"\nNot counted (not installed): {', '.join(missing)}.\n" if missing else "\n"
    return body + note


def _operation_tables(per_op: dict[str, float]) -> str:
    none, noop, logger = per_op["none"], per_op["noop"], per_op["CommandLogger"]
    first = table(
        ["variant", "instructions / operation", "above `none`", "x `noop`", "x `CommandLogger`"],
        [
            [
                f"`{job}`",
                f"{per_op[job]:,.0f}",
                f"{per_op[job] - none:+,.0f}",
                fmt_ratio(per_op[job] / noop),
                fmt_ratio(per_op[job] / logger),
            ]
            for job, _, workload, step in JOBS
            if workload == "operation" and step is None and job in per_op
        ],
    )
    ch_none, ch_noop = per_op["chatter: none"], per_op["chatter: noop"]
    second = table(
        ["variant", "instructions / 5 events", "above `none`", "x `noop`"],
        [
            [
                f"`{job}`",
                f"{per_op[job]:,.0f}",
                f"{per_op[job] - ch_none:+,.0f}",
                fmt_ratio(per_op[job] / ch_noop),
            ]
            for job, _, workload, _ in JOBS
            if workload == "chatter"
        ],
    )
    return f"{first}\n\n#### Events below `info` (synthetic)\n\n{second}\n"


def _ablation_table(per_op: dict[str, float]) -> str:
    ours = per_op[FULL] - per_op["none"]
    if not all(f"{FULL}, without {step}" in per_op for step in STEPS):
        return (
            "Skipped: the internals it replaces (`DocumentRenderer`, `lifecycle.rfc3339_now`, "
            "the pipeline's processor chain) are not there in this source tree.\n"
        )
    return (
        table(
            ["step (replaced by its result)", "instructions / operation", "share of ours"],
            [
                [
                    what,
                    f"{per_op[FULL] - per_op[f'{FULL}, without {step}']:,.0f}",
                    f"{(per_op[FULL] - per_op[f'{FULL}, without {step}']) / ours:.0%}",
                ]
                for step, what in STEPS.items()
            ],
        )
        + "\n"
    )


def markdown(results: dict[str, Any]) -> str:
    """The end-to-end table (the headline), the synthetic groups, and the ablation."""
    if "skipped" in results:
        return f"Not counted: {results['skipped']}.\n"
    per_op = results["per_op"]
    return (
        f"#### End to end: a real client, `insert_one` and `find_one` in turn, "
        f"{results['end_to_end_n']:,} commands, server answering at once\n\n"
        "Other threads: a queued variant's writer, OpenTelemetry's span processor, PyMongo's "
        f"monitors.\n\n{_end_to_end_table(results)}\n"
        f"#### Synthetic: one `find` (5 events) through `_EventListeners`, "
        f"{results['n']:,} operations per count\n\n{_operation_tables(per_op)}\n"
        "#### Ablation: the full record (synthetic `find`) with one step replaced by its "
        f"result\n\n{_ablation_table(per_op)}"
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, reached, met) from instruction counts, end to end, instant server."""
    if "skipped" in results:
        return []
    rows = {row["name"]: row for row in end_to_end_rows(results)}
    if FULL not in rows:
        return []
    full = rows[FULL]["all_x"]
    found: list[tuple[str, str, str, bool | None]] = [
        (
            "instructions, end to end: full record vs do-nothing listener",
            "<= 1.25x",
            fmt_ratio(full),
            full <= 1.25,
        )
    ]
    recording = [name for name in QUERY_RECORDING_PEERS if name in rows]
    if recording:
        cheapest = min(recording, key=lambda name: rows[name]["all_x"])
        found.append(
            (
                "instructions, end to end: full record vs every peer that records the query",
                "<= the cheapest",
                f"{fmt_ratio(full)} vs {fmt_ratio(rows[cheapest]['all_x'])} ({cheapest})",
                full <= rows[cheapest]["all_x"],
            )
        )
    for name, label, limit in (
        (SAMPLED, "sampled-out command", 1.02),
        (BELOW, "events below the level (level=error: every event of the workload)", 1.00),
    ):
        if name in rows:
            value = rows[name]["all_x"]
            found.append(
                (
                    f"instructions, end to end: {label} vs do-nothing listener",
                    f"<= {limit:.2f}x",
                    fmt_ratio(value),
                    round(value, 2) <= limit,
                )
            )
    return found + _rebuild_check(results["per_op"])


#: The synthetic find before the record-path rebuild (source 889562f, 2026-12-03): the
#: full record's instructions per operation, and the sampled-out command x `noop`.
BEFORE_REBUILD = {"full": 160_506, "sampled_x": 1.10}


def _rebuild_check(per_op: dict[str, float]) -> list[tuple[str, str, str, bool | None]]:
    """Issue 13: the rebuild keeps the synthetic find's counts within 5 % of before."""
    if FULL not in per_op or SAMPLED not in per_op or "noop" not in per_op:
        return []
    full, sampled = per_op[FULL], per_op[SAMPLED] / per_op["noop"]
    return [
        (
            "instructions, synthetic find: full record within 5 % of before the rebuild",
            f"<= {BEFORE_REBUILD['full'] * 1.05:,.0f}",
            f"{full:,.0f} ({full / BEFORE_REBUILD['full'] - 1:+.1%})",
            full <= BEFORE_REBUILD["full"] * 1.05,
        ),
        (
            "instructions, synthetic find: sampled-out command within 5 % of before the rebuild",
            f"<= {BEFORE_REBUILD['sampled_x'] * 1.05:.2f}x",
            fmt_ratio(sampled),
            sampled <= BEFORE_REBUILD["sampled_x"] * 1.05,
        ),
    ]


#: Peers counted in a process of their own, as are QUERY_RECORDING_PEERS.
OWN_PROCESS = ["OpenTelemetry pymongo instrumentation", "Sentry PyMongo integration"]

#: Peers that write the query text (the target: our full record is never above any of them).
QUERY_RECORDING_PEERS = [
    PYMONGO_LOGGING,
    "OpenTelemetry pymongo instrumentation, capture_statement=True",
    "Sentry PyMongo integration",
]


def main() -> None:
    """Run and print (or, with ``--child``, be one counted process)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child([int(index) for index in sys.argv[2].split(",")], int(sys.argv[3]))
        return
    run_alone(__doc__, measure, markdown)


if __name__ == "__main__":
    main()
