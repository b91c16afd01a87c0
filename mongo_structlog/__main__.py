"""Command line: ``python -m mongo_structlog demo [--uri URI] [--level LEVEL] ...``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="mongo-structlog",
        description="Structured logs for every PyMongo monitoring event.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a short workload and print its records (no database needed)",
        description="Runs inserts, finds, an aggregation, a failing command, a slow command, "
        "a pool check-out timeout and a network error through a real MongoClient, "
        "and prints every record. MONGO_STRUCTLOG_* variables apply.",
    )
    demo.add_argument(
        "--uri", help="use this deployment (a scratch database) instead of the embedded server"
    )
    demo.add_argument("--format", choices=["json", "ecs", "console"], help="record format")
    demo.add_argument(
        "--level", choices=["debug", "info", "warning", "error"], help="minimum level"
    )
    demo.add_argument("--documents", choices=["shape", "full", "none"], help="documents mode")
    args = parser.parse_args(argv)

    from .demo import run_demo  # noqa: PLC0415  # keeps `--help` fast

    settings = {"format": args.format, "level": args.level, "documents": args.documents}
    try:
        return run_demo(args.uri, **settings)
    except (RuntimeError, ValueError) as exc:
        print(f"mongo-structlog: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
