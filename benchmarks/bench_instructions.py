"""Instructions per operation, counted by callgrind: the listener comparison without the noise.

Timings on a shared machine move by tens of percent between runs; the number of
instructions a variant executes does not (callgrind counts them on a simulated CPU, the
same for the same program, whatever else the machine does). The variants run under
``valgrind --tool=callgrind`` in one process per core; each is built and warmed up, then
runs ``n`` operations between two of callgrind's counter dumps (``callgrind_control
--dump``), and an empty pair of dumps measures what a dump costs. Threads are counted
apart: the application's thread, and the others (a queued variant's writer, PyMongo's
monitors). What the kernel does (``write(2)``, the network) is not counted.

Three groups: the five events of one ``find`` through ``_EventListeners`` (as in
:mod:`bench_listeners`); the events below ``info``; and end to end, a real
``MongoClient`` against ``wire_server.py`` (in its own process, not counted) answering at
once. Then the full record is counted again with one step at a time replaced by its
precomputed result (the same record is written), which says what each step costs.

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
    Variant,
    command_variants,
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

#: Variant rows: (job name, variant of _fixtures.command_variants, workload, step removed).
FULL = "ours: full record"
COMMANDS_ONLY = "noop, command events only"
JOBS: list[tuple[str, str, str, str | None]] = [
    ("none", "none", "operation", None),
    ("noop", "noop", "operation", None),
    ("CommandLogger", "CommandLogger", "operation", None),
    ("ours: sampled out", "ours: sampled out", "operation", None),
    (FULL, FULL, "operation", None),
    ("ours: stdlib + python-json-logger", "ours: stdlib + python-json-logger", "operation", None),
    ("ours: queued (both threads)", "ours: queued", "operation", None),
    ("chatter: none", "none", "chatter", None),
    ("chatter: noop", "noop", "chatter", None),
    ("chatter: ours, level=info", FULL, "chatter", None),
    ("end to end: none", "none", "end_to_end", None),
    ("end to end: noop", "noop", "end_to_end", None),
    ("end to end: noop, command events only", COMMANDS_ONLY, "end_to_end", None),
    ("end to end: CommandLogger", "CommandLogger", "end_to_end", None),
    ("end to end: ours, sampled out", "ours: sampled out", "end_to_end", None),
    ("end to end: ours, full record", FULL, "end_to_end", None),
    ("end to end: ours, queued", "ours: queued", "end_to_end", None),
]
#: What each ablation replaces with its precomputed result.
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

    An empty segment (two dumps in a row) measures what a dump itself costs.
    """

    commands = [find_command(i) for i in range(POOL)]
    replies = [find_reply(i) for i in range(POOL)]
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="msl_instr_")))
        stack.enter_context(logging_to_files(directory))
        uri = None
        _dump("idle")
        _dump("overhead")
        for index in indexes:
            _, variant, workload, step = JOBS[index]
            if variant == COMMANDS_ONLY:
                chosen = Variant(variant, lambda: [_CommandsOnly()], "")
            else:
                chosen = next(v for v in command_variants(directory) if v.name == variant)
            built = chosen.build()
            if workload == "end_to_end":
                if uri is None:
                    from bench_end_to_end import wire_server

                    uri = stack.enter_context(wire_server(0))
                _count_end_to_end(index, uri, built, chosen.flush, end_to_end_n(n))
                continue
            listeners = monitoring._EventListeners(built)
            undo = _remove(step, built[0]._pipeline, commands[0], replies[0]) if step else None
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


class _CommandsOnly(monitoring.CommandListener):
    """A do-nothing command listener alone: what PyMongo's command events cost by themselves."""

    def started(self, event: Any) -> None:
        """Nothing."""

    def succeeded(self, event: Any) -> None:
        """Nothing."""

    def failed(self, event: Any) -> None:
        """Nothing."""


def _count_end_to_end(index: int, uri: str, built: list[Any], flush: Any, n: int) -> None:
    """``n`` commands (``insert_one`` and ``find`` in turn) of a real client, between dumps."""
    from bench_end_to_end import _workload
    from pymongo import MongoClient

    client: Any = MongoClient(uri, event_listeners=built, serverSelectionTimeoutMS=10_000)
    try:
        client.admin.command("ping")
        batch = _workload(client, flush)
        batch(WARM_UP)
        _dump(f"start-{index}")
        batch(n)  # the queued variant's batch ends when its writer has written everything
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
    n = n or (300 if quick else 2000)
    workers = max(1, min(os.cpu_count() or 1, 4))
    # Ablations patch classes: they run after the plain variants in each process.
    shares = [list(range(len(JOBS)))[k::workers] for k in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda share: _count(share, n), shares))
    counted = {JOBS[index][0]: value for part in parts for index, value in part.items()}
    return {
        "n": n,
        "end_to_end_n": end_to_end_n(n),
        "per_op": {job: app + others for job, (app, others) in counted.items()},
        "application_thread": {job: app for job, (app, _) in counted.items()},
    }


def markdown(results: dict[str, Any]) -> str:
    """The counts, with the ratios the targets are stated in, and the full record's steps."""
    if "skipped" in results:
        return f"Not counted: {results['skipped']}.\n"
    per_op = results["per_op"]
    none, noop, logger = per_op["none"], per_op["noop"], per_op["CommandLogger"]
    rows = [
        [
            f"`{job}`",
            f"{per_op[job]:,.0f}",
            f"{per_op[job] - none:+,.0f}",
            fmt_ratio(per_op[job] / noop),
            fmt_ratio(per_op[job] / logger),
        ]
        for job, _, workload, step in JOBS
        if workload == "operation" and step is None
    ]
    first = table(
        ["variant", "instructions / operation", "above `none`", "x `noop`", "x `CommandLogger`"],
        rows,
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
    ours = per_op[FULL] - none
    third = table(
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
    budget = 0.5 * logger - none
    app = results["application_thread"]
    e2e_none = app["end to end: none"]
    fourth = table(
        [
            "variant",
            "application thread / command",
            "above `none`",
            "other threads / command",
            "all threads above `none`",
        ],
        [
            [
                f"`{job.removeprefix('end to end: ')}`",
                f"{app[job]:,.0f}",
                f"{app[job] - e2e_none:+,.0f} ({(app[job] - e2e_none) / e2e_none:+.1%})",
                f"{per_op[job] - app[job]:,.0f}",
                f"{per_op[job] - per_op['end to end: none']:+,.0f} "
                f"({(per_op[job] - per_op['end to end: none']) / per_op['end to end: none']:+.1%})",
            ]
            for job, _, workload, _ in JOBS
            if workload == "end_to_end"
        ],
    )
    return (
        f"#### One operation (5 events), {results['n']:,} operations per count\n\n{first}\n\n"
        "#### Events below `info`\n\n"
        f"{second}\n\n"
        f"#### What the full record's {ours:,.0f} instructions above `none` are spent on\n\n"
        f"{third}\n\n"
        f"At 0.5x `CommandLogger` the full record could spend {budget:,.0f} instructions "
        "above `none`.\n\n"
        f"#### End to end: a real client, `insert_one` and `find` in turn, "
        f"{results['end_to_end_n']:,} commands, server answering at once\n\n"
        "Other threads: a queued variant's writer, PyMongo's monitor threads.\n\n"
        f"{fourth}\n"
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, reached, met) from instruction counts."""
    if "skipped" in results:
        return []
    per_op = results["per_op"]
    sampled = per_op["ours: sampled out"] / per_op["noop"]
    full = per_op[FULL] / per_op["CommandLogger"]
    below = per_op["chatter: ours, level=info"] / per_op["chatter: noop"]
    e2e_none = per_op["end to end: none"]

    def added(job: str) -> str:
        return f"+{(per_op[job] - e2e_none) / e2e_none:.1%}"

    return [
        (
            "instructions: sampled-out command vs do-nothing listener",
            "<= 1.20x",
            fmt_ratio(sampled),
            sampled <= 1.2,
        ),
        (
            "instructions: full JSON record (shape) vs `CommandLogger`",
            "<= 0.50x",
            fmt_ratio(full),
            full <= 0.5,
        ),
        (
            "instructions: events below `info` vs do-nothing listener",
            "within 5 %",
            fmt_ratio(below),
            abs(below - 1.0) <= 0.05,
        ),
        (
            "instructions: end to end, work added per command by a do-nothing listener "
            "(PyMongo's own, for scale), instant server",
            "(information)",
            added("end to end: noop"),
            None,
        ),
        (
            "instructions: end to end, work added per command by full logging (all threads), "
            "instant server",
            "(information)",
            added("end to end: ours, full record"),
            None,
        ),
    ]


def main() -> None:
    """Run and print (or, with ``--child``, be one counted process)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child([int(index) for index in sys.argv[2].split(",")], int(sys.argv[3]))
        return
    run_alone(__doc__, measure, markdown)


if __name__ == "__main__":
    main()
