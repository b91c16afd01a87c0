"""The ``console`` format: one compact, readable line per record, for people at a terminal.

A line reads ``<timestamp> <level> <event> <command> <namespace> <duration> <outcome>``,
then every other field as ``key=value``: durations in milliseconds
(``duration_micros=250829`` is written ``250.8 ms``), text quoted as JSON only when it
holds a space, a quote, a backslash, an ``=`` or a character that does not print (a line
break, say), anything else as JSON. Colours follow https://no-color.org:
``NO_COLOR`` (any non-empty value) turns them off, ``FORCE_COLOR`` (any non-empty value)
turns them on where the output is not a terminal; ``NO_COLOR`` wins.

:func:`describe` (the line without timestamp, level and colours) is also the message of
``output="stdlib"`` records, so a plain ``logging.Formatter`` shows the same line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson

__all__ = [
    "ConsoleRenderer",
    "colors_wanted",
    "describe",
    "details",
    "escaped",
    "head",
    "milliseconds",
]

# Fields the head of the line already says (or that the console line starts with).
_HEAD_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "event",
        "command_name",
        "database_name",
        "collection",
        "duration_micros",
        "error_code_name",
    }
)

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_CYAN = "\x1b[36m"
_LEVEL_COLORS = {
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31;1m",
}


def milliseconds(micros: int | float) -> str:
    """A duration in microseconds as milliseconds: ``250829`` -> ``"250.8 ms"``.

    Below 0.1 ms three decimals are kept (``42`` -> ``"0.042 ms"``), so a fast command
    never reads ``0.0 ms``.
    """
    if -100 < micros < 100:
        return f"{micros / 1000:.3f} ms"
    return f"{micros / 1000:.1f} ms"


def escaped(text: str) -> str:
    """``text``, with any lone surrogate escaped (``\\udcff``) so it can be written as UTF-8."""
    # A lone surrogate (a name decoded with surrogateescape) cannot be written as UTF-8.
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _text_value(value: Any) -> str:
    if type(value) is str:
        text = escaped(value)
        if text and text.isprintable() and not any(char in text for char in ' "=\\'):
            return text
        return orjson.dumps(text).decode()
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return _text_value(repr(value))


def _outcome(event_dict: Mapping[str, Any]) -> str | None:
    code_name = event_dict.get("error_code_name")
    if code_name is not None:
        code = event_dict.get("error_code")
        return f"{code_name}({code})" if code is not None else str(code_name)
    if event_dict.get("slow") is True:
        return "slow"
    return None


def head(event_dict: Mapping[str, Any]) -> list[str]:
    """The line's first words: event, command name, namespace, duration, outcome (where known)."""
    words = [escaped(str(event_dict.get("event", "")))]
    command_name = event_dict.get("command_name")
    if command_name is not None:
        words.append(escaped(str(command_name)))
    database = event_dict.get("database_name")
    if database is not None:
        collection = event_dict.get("collection")
        namespace = f"{database}.{collection}" if collection is not None else str(database)
        words.append(escaped(namespace))
    duration = event_dict.get("duration_micros")
    if isinstance(duration, (int, float)) and type(duration) is not bool:
        words.append(milliseconds(duration))
    outcome = _outcome(event_dict)
    if outcome is not None:
        words.append(escaped(outcome))
    return words


def details(event_dict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every field the head does not say, as ``(key, value text)``; ``*_micros`` in ms."""
    pairs: list[tuple[str, str]] = []
    outcome_said = event_dict.get("error_code_name") is not None
    for key, value in event_dict.items():
        if key in _HEAD_KEYS or (key == "slow" and value is True and not outcome_said):
            continue
        if key == "error_code" and outcome_said:
            continue
        name = escaped(str(key))
        if name.endswith("_micros") and type(value) in (int, float):
            pairs.append((name[: -len("_micros")] + "_ms", milliseconds(value)[:-3]))
        else:
            pairs.append((name, _text_value(value)))
    return pairs


def describe(event_dict: Mapping[str, Any]) -> str:
    """The record as one line without timestamp and level, and without colours.

    ``mongodb.command.succeeded find shop.orders 0.5 ms driver_request_id=7 ...``
    """
    words = head(event_dict)
    words.extend(f"{key}={value}" for key, value in details(event_dict))
    return " ".join(words)


def colors_wanted(is_terminal: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour the console output, by https://no-color.org and ``FORCE_COLOR``.

    Args:
        is_terminal: Whether the output is a terminal.
        environ: The environment to read; ``os.environ`` when omitted.

    Returns:
        False when ``NO_COLOR`` is set and not empty; True when ``FORCE_COLOR`` is; else
        ``is_terminal``.
    """
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    return is_terminal


class ConsoleRenderer:
    """The ``console`` format's renderer: a structlog processor returning one line of text.

    Args:
        colors: Whether to write ANSI colours (see :func:`colors_wanted`).
    """

    def __init__(self, colors: bool) -> None:
        self.colors = colors

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        """Render ``event_dict``; the line ends with a newline."""
        timestamp = escaped(str(event_dict.get("timestamp", "")))
        level = escaped(str(event_dict.get("level", method_name)))
        words = head(event_dict)
        pairs = details(event_dict)
        if not self.colors:
            rest = "".join(f" {key}={value}" for key, value in pairs)
            return f"{timestamp} {level:<7} {' '.join(words)}{rest}\n"
        color = _LEVEL_COLORS.get(level, "")
        event, *more = words
        said = "".join(f" {word}" for word in more)
        rest = "".join(f" {_CYAN}{key}{_RESET}={value}" for key, value in pairs)
        return (
            f"{_DIM}{timestamp}{_RESET} {color}{level:<7}{_RESET} "
            f"{_BOLD}{event}{_RESET}{said}{rest}\n"
        )
