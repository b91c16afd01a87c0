"""Shared helpers for the benchmarks: interleaved timing rounds, machine details, tables.

Every benchmark compares variants *within one run*: the variants are timed in rounds, in a
freshly shuffled order each round, and each variant's cost is the median over rounds. The
ratios reported are ratios of those medians, so a noisy neighbour on a shared machine
slows all variants alike rather than whichever happened to run last.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: A batch runner: does its work ``n`` times and returns nothing; timed from outside.
Batch = Callable[[int], None]


def time_rounds(
    variants: dict[str, Batch],
    n: int,
    rounds: int,
    after: dict[str, Callable[[], None]] | None = None,
    seed: int = 20261125,
) -> dict[str, list[float]]:
    """Time ``variants`` in interleaved rounds.

    Args:
        variants: Name -> batch function (does ``n`` operations).
        n: Operations per batch.
        rounds: Recorded rounds (one unrecorded warm-up round runs first).
        after: Optional name -> untimed step run after each batch of that variant
            (flush a queue, truncate a file).
        seed: For the shuffled order, so two runs interleave alike.

    Returns:
        Name -> list of nanoseconds per operation, one entry per round.
    """
    rng = random.Random(seed)
    after = after or {}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_number in range(rounds + 1):
        rng.shuffle(names)
        for name in names:
            gc.collect()
            start = time.perf_counter_ns()
            variants[name](n)
            elapsed = time.perf_counter_ns() - start
            step = after.get(name)
            if step is not None:
                step()
            if round_number:  # round 0 warms caches, files and branch predictors
                samples[name].append(elapsed / n)
    return samples


def median(values: Sequence[float]) -> float:
    """The median (``nan`` for no values)."""
    return statistics.median(values) if values else float("nan")


def paired(values: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of per-round ratios ``values[i] / baseline[i]``.

    Variants timed in the same round share that moment's machine load, so this
    ratio shrugs off load that drifts between rounds; a check on the ratio of medians.
    """
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))


def spread(values: Sequence[float]) -> float:
    """Interquartile range relative to the median, as a share (0.05 = 5 %)."""
    if len(values) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(values, n=4)
    mid = statistics.median(values)
    return (q3 - q1) / mid if mid else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (first column left-aligned, the rest right-aligned)."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def run_alone(doc: str | None, measure: Callable[..., Any], markdown: Callable[[Any], str]) -> None:
    """What each benchmark module does when run alone: ``[--quick]``, measure, print."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    print(markdown(measure(quick=args.quick)))


def fmt_ratio(value: float) -> str:
    """``1.23x``."""
    return f"{value:.2f}x"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "mongo_structlog"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        ).stdout.strip()
        return f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "pymongo": _version("pymongo"),
        "structlog": _version("structlog"),
        "orjson": _version("orjson"),
        "python-json-logger": _version("python-json-logger"),
        "mongo_structlog": f"source tree at {_git_commit()}",
        "load average at start": load,
    }


def machine_markdown(details: dict[str, str]) -> str:
    """The machine details as a two-column table."""
    return table(["", ""], [[key, value] for key, value in details.items()])
