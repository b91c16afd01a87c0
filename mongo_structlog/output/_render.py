"""Rendering: a record becomes one line (json, ecs, console) or a stdlib logger call.

Every renderer runs on the thread that saw the event. It returns UTF-8 bytes ending in a
newline, except for the ``stdlib`` hand-off, which returns the logger call's arguments.
No value can make a renderer lose the record: what orjson rejects becomes text, and a
lone surrogate (text decoded with ``surrogateescape``, as ``os.fsdecode`` gives) is
written escaped (``\\udcff``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

from .._console import ConsoleRenderer, colors_wanted
from .._structlog_sink import to_structlog
from ..settings import Settings
from ..stdlib import stdlib_final_step

__all__ = ["Processor", "final_step", "json_default", "render_json", "rfc3339_now"]

Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]

# (second, "YYYY-MM-DDTHH:MM:SS.") of the last record: the date part changes once a second.
_cached: tuple[int, str] = (-1, "")


def rfc3339_now(now: float | None = None) -> str:
    """The current UTC time as RFC 3339 with microseconds, e.g. ``2026-11-25T08:00:00.123456Z``.

    The date part is cached per second, so this is cheaper than ``datetime.isoformat``;
    without ``now`` the clock is read in integer nanoseconds (no float rounding).

    Args:
        now: Seconds since the epoch to format instead of the current time.

    Returns:
        The timestamp text.
    """
    global _cached
    if now is None:
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        micros = nanos // 1000
    else:
        second = int(now)
        micros = int((now - second) * 1_000_000)
    cached = _cached
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        _cached = cached
    return "%s%06dZ" % (cached[1], micros)  # noqa: UP031  # measurably faster than an f-string


def json_default(value: Any) -> Any:
    """Turn what orjson cannot encode (BSON types, app objects) into a string; never raise.

    Args:
        value: The value orjson rejected.

    Returns:
        Hex text for bytes, a list for sets and tuples, ``str(value)`` otherwise.
    """
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).hex()
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        return _text(str(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


# Keys that are not str (a processor's, a bound dict's) are written as orjson's
# OPT_NON_STR_KEYS writes them; that option slows every dict down, so it is asked for
# only when a record needs it.
_FAST_OPTIONS = orjson.OPT_APPEND_NEWLINE
_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """Render the record as one JSON line (bytes, newline included) with one ``orjson.dumps``.

    A key that is not a str is written as text (``1`` as ``"1"``); a value orjson rejects
    outright (an int beyond 64 bits, a lone surrogate) is turned into text rather than
    losing the record.

    Args:
        logger: Unused (structlog's processor signature).
        method_name: Unused.
        event_dict: The record.

    Returns:
        The line.
    """
    try:
        return orjson.dumps(event_dict, default=json_default, option=_FAST_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return orjson.dumps(event_dict, default=json_default, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        safe = {_text(str(key)): _plain(value) for key, value in event_dict.items()}
        return orjson.dumps(safe, default=json_default, option=_JSON_OPTIONS)


def _text(value: str) -> str:
    # A lone surrogate (text decoded with surrogateescape) is not UTF-8: orjson rejects it.
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain(value: Any) -> Any:
    if type(value) is str:
        return _text(value)
    if value is None or type(value) in (bool, float):
        return value
    if type(value) is int and -(2**63) <= value < 2**64:
        return value
    if type(value) in (list, tuple):
        return [_plain(item) for item in value]
    if type(value) is dict:
        return {_text(str(key)): _plain(item) for key, item in value.items()}
    return json_default(value)


def final_step(settings: Settings, target: str) -> Processor:
    """The chain's last processor for ``settings.format`` and the output ``target``.

    Args:
        settings: Validated settings.
        target: ``stdout``, ``stderr``, ``stdlib``, ``structlog`` or a file path.

    Returns:
        A processor returning the line as bytes, or for ``stdlib`` and ``structlog`` the
        logger call's keyword arguments.
    """
    if target == "stdlib":
        return stdlib_final_step(settings.format)
    if target == "structlog":
        return to_structlog
    if settings.format == "console":
        renderer = ConsoleRenderer(colors_wanted(_isatty(target)))

        def render_console(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> bytes:
            return renderer(logger, name, event_dict).encode("utf-8", "backslashreplace")

        return render_console
    if settings.format == "ecs":
        from ..ecs import to_ecs  # noqa: PLC0415

        def render_ecs(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> bytes:
            return render_json(logger, name, to_ecs(logger, name, dict(event_dict)))

        return render_ecs
    return render_json


def _isatty(target: str) -> bool:
    stream = getattr(sys, target, None) if target in ("stdout", "stderr") else None
    try:
        return bool(stream is not None and stream.isatty())
    except Exception:
        return False
