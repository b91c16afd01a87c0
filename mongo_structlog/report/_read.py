"""Reading log lines: our ``json`` and ``ecs`` records back to one flat shape.

Each line is parsed on its own, so a file of any size streams through in constant
memory. An ECS document (``MONGO_STRUCTLOG_FORMAT=ecs``, see ``mongo_structlog.ecs``)
is mapped back to the flat keys of ``docs/events.md``: ``@timestamp`` to ``timestamp``,
``event.duration`` (ns) to ``duration_micros``, ``db.operation.name`` to
``command_name``, ``mongodb.*`` to their own names, and so on. Anything that is not a
JSON object with a ``mongodb.`` event name and a readable timestamp is foreign.
"""

from __future__ import annotations

import calendar
import datetime
import re
from typing import Any, Final

import orjson

__all__ = ["Record", "flatten_ecs", "parse_line", "parse_time"]

Record = dict[str, Any]

# ECS (object, key) or (object, key, leaf) -> our flat key; the inverse of ecs.py's table.
_ECS_PAIRS: Final[dict[tuple[str, str], str]] = {
    ("event", "reason"): "reason",
    ("db", "namespace"): "database_name",
    ("server", "address"): "server_host",
    ("server", "port"): "server_port",
    ("error", "message"): "error",
    ("error", "type"): "error_type",
    ("error", "stack_trace"): "exception",
    ("trace", "id"): "trace_id",
    ("span", "id"): "span_id",
}
_ECS_LEAVES: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("db", "collection"): ("name", "collection"),
    ("db", "operation"): ("name", "command_name"),
    ("db", "query"): ("text", "command"),
}
# Top-level ECS keys whose content is metadata, not a fact of ours.
_ECS_SKIP: Final = frozenset({"ecs.version", "ecs", "labels", "log.level", "@timestamp", "message"})

# Epoch seconds of "YYYY-MM-DDTHH:MM", cached: a log holds few distinct minutes.
_MINUTES: dict[str, float] = {}
_MINUTES_CAP: Final = 4096


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time, or ``None`` when it is not one.

    Args:
        text: e.g. ``2026-11-25T08:00:00.123456Z`` or ``2026-11-25T09:00:00+01:00``; a
            time without an offset is taken as UTC.

    Returns:
        The time as a float (microsecond precision), or ``None``.
    """
    # Our own timestamps: fixed layout, so the minute is looked up and the seconds read.
    if len(text) == 27 and text[26] == "Z" and text[16] == ":":
        minute = _MINUTES.get(text[:16])
        if minute is None:
            minute = _minute(text[:16])
        if minute is not None:
            try:
                return minute + float(text[17:26])
            except ValueError:
                return None
    return _parse_general(text)


def _minute(prefix: str) -> float | None:
    try:
        moment = datetime.datetime.strptime(prefix, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    if len(_MINUTES) >= _MINUTES_CAP:
        _MINUTES.clear()
    value = float(calendar.timegm(moment.timetuple()))
    _MINUTES[prefix] = value
    return value


_RFC3339: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)?"
)


def _parse_general(text: str) -> float | None:
    # Not datetime.fromisoformat: before Python 3.11 it refuses "Z" and fractions that
    # are not 3 or 6 digits long, both valid RFC 3339.
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    when = float(calendar.timegm(moment.timetuple()))
    fraction, offset = match.group(7), match.group(8)
    if fraction:
        when += float(fraction)
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "+" else 1
        when += sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return when


def flatten_ecs(doc: dict[str, Any]) -> Record:
    """Map one ECS document written by ``mongo_structlog.ecs.to_ecs`` back to flat keys.

    Args:
        doc: The parsed ECS document.

    Returns:
        The flat record: ``timestamp``, ``level``, ``event`` and the record's fields under
        their ``docs/events.md`` names. Application keys and ``labels`` are left out.
    """
    # The event name is event.action; message may be a sentence for people instead.
    event = doc.get("event")
    action = event.get("action") if type(event) is dict else None
    flat: Record = {
        "timestamp": doc.get("@timestamp"),
        "level": doc.get("log.level"),
        "event": action if type(action) is str else doc.get("message"),
    }
    for top, value in doc.items():
        if top in _ECS_SKIP:
            continue
        if type(value) is dict:
            _flatten_object(flat, top, value)
        elif top not in flat:
            # A record key ecs.py did not know placed at the top level (a newer field).
            flat[top] = value
    return flat


def _flatten_object(flat: Record, top: str, value: dict[str, Any]) -> None:
    if top == "mongodb":
        flat.update(value)
        return
    if top == "event":
        duration = value.get("duration")
        if type(duration) is int:
            flat["duration_micros"] = round(duration / 1000)
    elif top == "error" and "code" in value:
        code = value["code"]
        flat["error_code"] = int(code) if type(code) is str and code.lstrip("-").isdigit() else code
    for key, item in value.items():
        name = _ECS_PAIRS.get((top, key))
        if name is not None and type(item) is not dict:
            flat[name] = item
            continue
        leaf = _ECS_LEAVES.get((top, key))
        if leaf is not None and type(item) is dict and leaf[0] in item:
            flat[leaf[1]] = item[leaf[0]]


def parse_line(line: bytes) -> tuple[Record, float, bool] | None:
    """Parse one line into ``(flat record, epoch seconds, was ECS)``, or ``None`` if foreign.

    Args:
        line: One line of input, with or without its newline.

    Returns:
        The record, its time and whether it was ECS; ``None`` for a blank line, a line
        that is not a JSON object, or an object that is not one of our records.
    """
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    ecs = "@timestamp" in doc and "timestamp" not in doc
    record = flatten_ecs(doc) if ecs else doc
    event = record.get("event")
    stamp = record.get("timestamp")
    if type(event) is not str or not event.startswith("mongodb.") or type(stamp) is not str:
        return None
    when = parse_time(stamp)
    if when is None:
        return None
    return record, when, ecs
