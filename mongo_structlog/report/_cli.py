"""``mongo-structlog report FILE...``: the command line around the summary.

Exit status: 0 when the report was written; 1 when an input cannot be read or the
``--html`` page cannot be written; 2 for a bad option (an unreadable ``--since``, say)
or ``--html`` without the ``report`` extra.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from typing import BinaryIO

import orjson

from ._progress import MIN_BYTES, Progress
from ._read import parse_line, parse_time
from ._summary import Limits, Summary
from ._text import render_text

__all__ = ["main"]

_PROG = "mongo-structlog report"
_EXTRA_MESSAGE = (
    "--html needs matplotlib, from the optional extra 'report': "
    "pip install 'mongo-structlog[report]'"
)


def _time(text: str) -> float:
    when = parse_time(text)
    if when is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time (e.g. 2026-11-25T08:00:00Z)"
        )
    return when


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Summarise mongo_structlog json or ecs lines: the slowest command "
        "shapes, failures, failovers, pool pressure, heartbeat failures and sampling.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a log file; - for stdin")
    parser.add_argument("--since", type=_time, help="leave out records before this time")
    parser.add_argument("--until", type=_time, help="leave out records after this time")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained page")
    parser.add_argument(
        "--top", type=_positive, default=10, help="how many shapes to list (default 10)"
    )
    parser.add_argument(
        "--max-shapes",
        type=_positive,
        default=Limits.shapes,
        help=f"shapes kept apart before the rest share one row (default {Limits.shapes})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``mongo-structlog report``.

    Args:
        argv: The arguments after ``report``; ``sys.argv[1:]`` when omitted.

    Returns:
        The exit status: 0, 1 (an input cannot be read, the page cannot be written) or 2
        (bad usage).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse's --help (0) and usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.html is not None:
        try:
            import matplotlib  # noqa: F401, PLC0415  # the optional extra
        except ImportError:
            print(f"{_PROG}: {_EXTRA_MESSAGE}", file=sys.stderr)
            return 2
    limits = Limits(shapes=args.max_shapes, failures=args.max_shapes)
    summary = Summary(args.since, args.until, limits, series=args.html is not None)
    with ExitStack() as stack:
        try:
            streams = [_open(path, stack) for path in args.files]
        except OSError as exc:
            print(f"{_PROG}: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 1
        _read_all(summary, streams)
    doc = summary.result(args.top)
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(doc))
    if args.html is not None:
        from ._html import write_html  # noqa: PLC0415  # imports matplotlib

        try:
            write_html(args.html, doc, summary)
        except OSError as exc:
            print(f"{_PROG}: cannot write {args.html}: {exc.strerror}", file=sys.stderr)
            return 1
    return 0


def _open(path: str, stack: ExitStack) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return stack.enter_context(open(path, "rb"))


def _size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):  # a pipe, or a stream with no descriptor
        return 0


def _lines(streams: list[BinaryIO]) -> Iterator[bytes]:
    total = sum(_size(stream) for stream in streams)
    show = total >= MIN_BYTES and sys.stderr.isatty()
    progress = Progress(total, sys.stderr) if show else None
    done = 0
    for stream in streams:
        for line in stream:
            yield line
            if progress is not None:
                done += len(line)
                if done & 0xFFFFF < len(line):  # about once per MiB
                    progress.update(done)
    if progress is not None:
        progress.close()


def _read_all(summary: Summary, streams: list[BinaryIO]) -> None:
    add = summary.add
    for line in _lines(streams):
        # Only a short line can be blank: no copy of every line just to check.
        if len(line) < 8 and not line.strip():
            continue
        summary.lines += 1
        parsed = parse_line(line)
        if parsed is None:
            summary.foreign += 1
        else:
            add(*parsed)
