"""The report as plain text: one section per on-call question, aligned columns.

It renders the ``--json`` document (``Summary.result``), so the two never disagree.
Durations are printed in milliseconds with one decimal, times as the records wrote them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["render_text"]


_WRITABLE = {True: "yes", False: "no", None: "-"}


def _ms(micros: int | None) -> str:
    return "-" if micros is None else f"{micros / 1000:,.1f}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _names(table: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in table.items()) or "-"


def _table(header: Sequence[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [len(cell) for cell in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _header(doc: dict[str, Any]) -> list[str]:
    info = doc["input"]
    span = f"from {info['first_timestamp']} to {info['last_timestamp']}"
    if info["records"] == 0:
        span = "none in range"
    lines = [
        f"mongo-structlog report: {info['records']:,} records ({info['json_records']:,} json, "
        f"{info['ecs_records']:,} ecs) {span}",
        f"{info['lines']:,} lines read; {info['foreign_lines']:,} foreign lines ignored; "
        f"{info['outside_window']:,} records outside --since/--until",
    ]
    if info["since"] or info["until"]:
        lines.append(f"window: since {info['since'] or '-'} until {info['until'] or '-'}")
    return lines


def _shapes(doc: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "== Slowest command shapes (by p99; ms; weighted: a record kept by sample_rate r "
        "counts 1/r) ==",
    ]
    rows = doc["slowest_shapes"]
    if not rows:
        return [*lines, "(no command completions)"]
    header = ["shape", "command", "collection", "count", "weighted", "failed", "slow"]
    header += ["p50", "p95", "p99", "max"]
    table = [
        [
            row["command_shape"],
            row["command_name"] or "-",
            row["collection"] or "-",
            f"{row['count']:,}",
            _num(row["weighted_count"]),
            f"{row['failed']:,}",
            f"{row['slow']:,}",
            _ms(row["p50_micros"]),
            _ms(row["p95_micros"]),
            _ms(row["p99_micros"]),
            _ms(row["max_micros"]),
        ]
        for row in rows
    ]
    rendered = _table(header, table, set(range(3, 11)))
    lines.append(rendered[0])
    for row, text in zip(rows, rendered[1:], strict=True):
        lines.append(text)
        if row["example"]:
            lines.append(f"    example: {row['example']}")
    return lines


def _failures(doc: dict[str, Any]) -> list[str]:
    lines = ["", "== Failures by error code name and shape =="]
    rows = doc["failures"]
    if not rows:
        return [*lines, "(no failed commands)"]
    header = ["count", "error", "code", "shape", "command", "collection", "first", "last"]
    table = [
        [
            f"{row['count']:,}",
            row["error_code_name"] or row["error_type"] or "-",
            "-" if row["error_code"] is None else str(row["error_code"]),
            row["command_shape"] or "-",
            row["command_name"] or "-",
            row["collection"] or "-",
            row["first"],
            row["last"],
        ]
        for row in rows
    ]
    lines += _table(header, table, {0, 2})
    for row in rows:
        if row["example_error"]:
            name = row["error_code_name"] or row["error_type"]
            lines.append(f"    {name} on {row['command_shape']}: {row['example_error']}")
    return lines


def _failover(doc: dict[str, Any]) -> list[str]:
    failover = doc["failover"]
    lines = ["", "== Failover: primary changes and time without a writable server =="]
    if not failover["timeline"] and not failover["windows"]:
        return [*lines, "(no topology changes)"]
    table = [
        [
            entry["timestamp"],
            entry["event"].removeprefix("mongodb.topology."),
            _WRITABLE[entry["has_writable_server"]],
            f"{entry['previous_primary'] or '-'} -> {entry['primary'] or '-'}",
            _ms(entry["unavailable_micros"]) if entry["unavailable_micros"] is not None else "",
        ]
        for entry in failover["timeline"]
    ]
    header = ["time", "event", "writable", "primary", "unavailable ms"]
    lines += _table(header, table, {4})
    lines += ["", "No writable server:"]
    windows = [
        [
            window["start"],
            window["end"] or "(still none at the end)",
            _ms(window["length_micros"]),
            f"{window['previous_primary'] or '-'} -> {window['primary'] or '-'}",
            window["source"],
        ]
        for window in failover["windows"]
    ]
    if windows:
        lines += _table(["from", "to", "length ms", "primary", "source"], windows, {2})
    else:
        lines.append("(none)")
    lines.append(
        f"{len(windows)} window(s), longest {_ms(failover['longest_unavailable_micros'])} ms; "
        f"in all {_ms(failover['total_unavailable_micros'])} ms (overlaps counted once)"
    )
    return lines


def _pools(doc: dict[str, Any]) -> list[str]:
    lines = ["", "== Pool pressure per server =="]
    rows = doc["pools"]
    if not rows:
        return [*lines, "(no failed or slow check-outs, no pool cleared)"]
    header = ["server", "check-out failed", "reasons", "slow check-outs", "max wait ms"]
    header += ["max in use/size", "max waiting", "oldest held ms", "held by", "cleared"]
    header += ["closed by error"]
    table = [
        [
            row["server_address"],
            f"{row['check_out_failed']:,}",
            _names(row["check_out_failed_reasons"]),
            f"{row['slow_check_outs']:,}",
            _ms(row["max_wait_micros"]),
            f"{_opt(row['max_in_use'])}/{_opt(row['max_pool_size'])}",
            _opt(row["max_waiting"]),
            _ms(row["max_oldest_in_use_micros"]),
            _names(row["oldest_in_use_commands"]),
            f"{row['cleared']:,}",
            f"{row['connections_closed_by_error']:,}",
        ]
        for row in rows
    ]
    return lines + _table(header, table, {1, 3, 4, 5, 6, 7, 9, 10})


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _heartbeats(doc: dict[str, Any]) -> list[str]:
    lines = ["", "== Heartbeat failures per server =="]
    rows = doc["heartbeats"]
    if not rows:
        return [*lines, "(none)"]
    header = ["server", "failed", "first", "last", "error types", "max ms"]
    table = [
        [
            row["server_address"],
            f"{row['failed']:,}",
            row["first"],
            row["last"],
            _names(row["error_types"]),
            _ms(row["max_duration_micros"]),
        ]
        for row in rows
    ]
    lines += _table(header, table, {1, 5})
    lines += [f"    last error on {r['server_address']}: {r['last_error']}" for r in rows]
    return lines


def _sampling(doc: dict[str, Any]) -> list[str]:
    sampling = doc["sampling"]
    lines = [
        "",
        "== Sampling and burst limits ==",
        f"records kept by a sample rate below 1: {sampling['records_with_sample_rate']:,} "
        f"(standing for {_num(sampling['weighted_records_with_sample_rate'])})",
        f"left out, per mongodb.sampling.summary: {sampling['sampled_out_total']:,} by sample "
        f"rates, {sampling['burst_limited_total']:,} by the burst limiter",
    ]
    if sampling["suppressed"]:
        table = [
            [name, f"{r['sampled_out']:,}", f"{r['burst_limited']:,}", f"{r['summaries']:,}"]
            for name, r in sampling["suppressed"].items()
        ]
        lines += _table(["event", "sampled out", "burst limited", "summaries"], table, {1, 2, 3})
    return lines


def render_text(doc: dict[str, Any]) -> str:
    """Render the summary document as the plain-text report.

    Args:
        doc: What ``Summary.result`` returned.

    Returns:
        The report, ending with a newline.
    """
    lines = _header(doc)
    for section in (_shapes, _failures, _failover, _pools, _heartbeats, _sampling):
        lines += section(doc)
    limits = doc["limits"]
    if limits["shapes"] > limits["max_shapes"]:  # the (other) row is there
        lines += ["", f"note: more than {limits['max_shapes']:,} shapes; the rest are in (other)"]
    return "\n".join(lines) + "\n"
