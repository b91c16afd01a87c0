"""Command line: ``python -m mongo_structlog {demo,config,report} ...`` (``mongo-structlog``)."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from typing import Any

__all__ = ["main"]

# Exit statuses of ``config``: 2 is also argparse's for a bad command line.
_BAD_VALUE = 2
_WARNINGS = 1


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns:
        The exit status.
    """
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["report"]:
        # The report command parses its own arguments (``--help`` included).
        return _report(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command == "config":
        return _config(as_json=args.json, strict=args.strict)
    return _demo(args)


def _parser() -> argparse.ArgumentParser:
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
    config = commands.add_parser(
        "config",
        help="print the settings in force and where each came from",
        description="Reads the MONGO_STRUCTLOG_* (and OTEL_*) variables as configure() would "
        "and prints every setting with its source, the fixed fields added to every record and "
        "a warning for each unknown MONGO_STRUCTLOG_* variable. Exits with 2 on a bad value.",
    )
    config.add_argument("--json", action="store_true", help="print one JSON document")
    config.add_argument("--strict", action="store_true", help="exit with 1 when there is a warning")
    commands.add_parser(
        "report",
        add_help=False,
        help="summarise json or ecs record files (see `mongo-structlog report --help`)",
    )
    return parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo  # noqa: PLC0415  # keeps `--help` fast

    settings = {"format": args.format, "level": args.level, "documents": args.documents}
    try:
        return run_demo(args.uri, **settings)
    except (RuntimeError, ValueError) as exc:
        print(f"mongo-structlog: {exc}", file=sys.stderr)
        return 2


def _report(argv: list[str]) -> int:
    name = f"{__package__}.report"
    try:
        # Imported by name: an optional part, and loaded only for this command.
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        print(
            f"mongo-structlog: the report command is not part of this installation "
            f"({name} is missing)",
            file=sys.stderr,
        )
        return 2
    status: int = module.main(argv)
    return status


def _config(as_json: bool, strict: bool) -> int:
    from ._fixed import fixed_fields  # noqa: PLC0415
    from .settings import resolve_settings  # noqa: PLC0415

    try:
        resolved = resolve_settings(os.environ)
    except ValueError as exc:
        print(f"mongo-structlog config: {exc}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": str(exc)}))
        return _BAD_VALUE
    settings = resolved.settings
    fixed = fixed_fields(settings)
    if "process_pid" in fixed:
        fixed["process_pid"] = None  # each process writes its own
    values = {name: getattr(settings, name) for name in resolved.sources}
    if as_json:
        document = {
            "settings": {
                name: {"value": _json_value(value), "source": resolved.sources[name]}
                for name, value in values.items()
            },
            "fixed_fields": fixed,
            "warnings": list(resolved.warnings.values()),
        }
        print(json.dumps(document, indent=2))
    else:
        print(_config_text(values, resolved.sources, fixed, list(resolved.warnings.values())))
    return _WARNINGS if strict and resolved.warnings else 0


def _config_text(
    values: dict[str, Any], sources: dict[str, str], fixed: dict[str, Any], notes: list[str]
) -> str:
    width = max(len(name) for name in values) + 2
    rows = [(name, _text_value(name, value)) for name, value in values.items()]
    value_width = min(max(len(text) for _, text in rows) + 2, 40)
    lines = ["setting".ljust(width) + "value".ljust(value_width) + "from"]
    lines += [name.ljust(width) + text.ljust(value_width) + sources[name] for name, text in rows]
    lines.append("")
    if fixed:
        lines.append("fixed fields on every record:")
        lines += [
            f"  {name}={'(the writing process id)' if value is None else value}"
            for name, value in fixed.items()
        ]
    else:
        lines.append("fixed fields on every record: none")
    lines += [f"warning: {note}" for note in notes]
    return "\n".join(lines)


def _text_value(name: str, value: Any) -> str:
    """A setting as its variable would spell it."""
    if value is None:
        return "(sample_rate)" if name == "sample_rate_command" else "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        parts = [f"{item[0]}={item[1]}" if isinstance(item, tuple) else item for item in value]
        return ",".join(parts) if parts else "(none)"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return dict(value)
        return list(value)
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
