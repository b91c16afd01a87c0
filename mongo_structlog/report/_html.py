"""``--html FILE``: one self-contained page, the latency chart drawn by matplotlib.

The page has no script and loads nothing: the chart is an inline SVG (matplotlib's SVG
backend, text kept as text) and the style sheet is inline, so it can be mailed or
attached to an incident ticket and opened offline. For each of the slowest shapes it
draws the weighted mean and the maximum latency per time bin; the no-writable-server
windows are shaded and primary changes marked. The tables below repeat the text report.

matplotlib comes from the optional ``report`` extra and is imported only here.
"""

from __future__ import annotations

import datetime
import html
import io
from typing import Any, Final

from ._summary import Summary

__all__ = ["write_html"]

#: Shapes drawn, slowest first.
CHART_SHAPES: Final = 5

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top;
         white-space: nowrap; }
td.w { white-space: normal; min-width: 20em; max-width: 40em; word-break: break-all;
       font-family: ui-monospace, monospace; font-size: 0.95em; }
th { background: #f0f0f0; white-space: normal; } div.t { overflow-x: auto; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.85em; word-break: break-all; } p.note { color: #555; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
"""


def _when(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


def _chart(doc: dict[str, Any], summary: Summary) -> str:
    """The latency-over-time chart as SVG text, or a sentence when there is nothing to draw."""
    import matplotlib  # noqa: PLC0415  # the optional extra
    from matplotlib.dates import DateFormatter  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    rows = [(key, shape) for key, shape in summary.shape_rows() if shape.series]
    rows = rows[:CHART_SHAPES]
    if not rows:
        return "<p>(no command durations to draw)</p>"
    width = summary.bin_width()
    windows = doc["failover"]["windows"]
    changes = [e for e in doc["failover"]["timeline"] if e["event"].endswith("primary_changed")]
    last = summary.last or 0.0
    figure = Figure(figsize=(11, 2.3 * len(rows) + 0.6), layout="constrained")
    axes = figure.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (key, shape) in zip(axes, rows, strict=True):
        points = sorted(shape.series.items())
        times = [_when((index + 0.5) * width) for index, _ in points]
        means = [p[1] / p[0] / 1000 for _, p in points]
        ax.plot(times, means, "-o", ms=3, color="#1f77b4", label="mean")
        ax.plot(times, [p[2] / 1000 for _, p in points], ".", color="#d62728", label="max")
        for window in windows:
            start = _parse(window["start"])
            end = _parse(window["end"]) if window["end"] else _when(last)
            ax.axvspan(start, end, color="#ff9896", alpha=0.45, lw=0, label="no writable server")
        for change in changes:
            ax.axvline(
                _parse(change["timestamp"]), color="#2ca02c", ls="--", lw=1, label="primary changed"
            )
        title = f"{key}  {shape.command_name or ''} {shape.collection or ''}".rstrip()
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("ms", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    figure.legend(
        list(unique.values()), list(unique), loc="outside upper right", ncols=4, fontsize=8
    )
    axes[-1].xaxis.set_major_formatter(
        DateFormatter("%H:%M:%S")  # type: ignore[no-untyped-call, unused-ignore]
    )
    axes[-1].set_xlabel(f"UTC; one point per {width:g} s bin", fontsize=8)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mongo-structlog"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc
    )


# Columns of long text, allowed to wrap.
_WRAP = frozenset({"example", "example_error", "last_error"})


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        if key.endswith("_micros"):
            return f'<td class="n">{value / 1000:,.1f}</td>'
        return f'<td class="n">{value if key == "error_code" else format(value, ",")}</td>'
    if isinstance(value, dict):
        value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    css = ' class="w"' if key in _WRAP else ""
    return f"<td{css}>{html.escape(str(value))}</td>"


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    if not rows:
        return "<p>(none)</p>"
    names = [key.replace("_micros", " ms").replace("_", " ") for key in keys]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    body = "".join(
        "<tr>" + "".join(_cell(key, row.get(key)) for key in keys) + "</tr>" for row in rows
    )
    return f'<div class="t"><table><tr>{head}</tr>{body}</table></div>'


def _sections(doc: dict[str, Any]) -> str:
    shapes = doc["slowest_shapes"]
    failover = doc["failover"]
    sampling = doc["sampling"]
    suppressed = [dict(event=k, **v) for k, v in sampling["suppressed"].items()]
    shape_keys = ["command_shape", "command_name", "collection", "count", "weighted_count"]
    shape_keys += ["failed", "slow", "p50_micros", "p95_micros", "p99_micros", "max_micros"]
    parts = [
        "<h2>Slowest command shapes</h2>",
        _table(shapes, [*shape_keys, "example"]),
        "<h2>Failures by error code name and shape</h2>",
        _table(
            doc["failures"],
            [
                "count",
                "error_code_name",
                "error_code",
                "error_type",
                "command_shape",
                "command_name",
                "collection",
                "first",
                "last",
                "example_error",
            ],
        ),
        "<h2>No writable server</h2>",
        _table(
            failover["windows"],
            [
                "start",
                "end",
                "length_micros",
                "previous_primary",
                "primary",
                "topology_id",
                "source",
            ],
        ),
        "<h2>Failover timeline</h2>",
        _table(
            failover["timeline"],
            [
                "timestamp",
                "event",
                "has_writable_server",
                "previous_primary",
                "primary",
                "unavailable_micros",
            ],
        ),
        "<h2>Pool pressure per server</h2>",
        _table(doc["pools"], list(doc["pools"][0]) if doc["pools"] else []),
        "<h2>Heartbeat failures per server</h2>",
        _table(doc["heartbeats"], list(doc["heartbeats"][0]) if doc["heartbeats"] else []),
        "<h2>Sampling and burst limits</h2>",
        f"<p>Records kept by a sample rate below 1: {sampling['records_with_sample_rate']:,}"
        f" (standing for {sampling['weighted_records_with_sample_rate']:,}).</p>",
        _table(suppressed, ["event", "sampled_out", "burst_limited", "summaries"]),
    ]
    return "\n".join(parts)


def render_html(doc: dict[str, Any], summary: Summary) -> str:
    """The whole page.

    Args:
        doc: What ``Summary.result`` returned.
        summary: The summary itself, for its latency series.

    Returns:
        The page as text.
    """
    info = doc["input"]
    heading = (
        f"{info['records']:,} records from {info['first_timestamp'] or '-'} "
        f"to {info['last_timestamp'] or '-'}; {info['foreign_lines']:,} foreign lines ignored."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>mongo-structlog report</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        f"<h1>mongo-structlog report</h1><p>{html.escape(heading)}</p>\n"
        "<h2>Latency of the slowest shapes over time</h2>\n"
        '<p class="note">Weighted mean and maximum per time bin, in ms. Shaded: no writable '
        "server; dashed: primary changed.</p>\n"
        f"{_chart(doc, summary)}\n{_sections(doc)}\n"
        '<p class="note">Percentiles are within 1 % of the exact ones, weighted by '
        "1/sample_rate (docs/report.md).</p>\n</body></html>\n"
    )


def write_html(path: str, doc: dict[str, Any], summary: Summary) -> None:
    """Write the page to ``path``.

    Args:
        path: The file to write (replaced).
        doc: What ``Summary.result`` returned.
        summary: The summary, for its latency series.
    """
    with open(path, "w", encoding="utf-8") as out:
        out.write(render_html(doc, summary))
