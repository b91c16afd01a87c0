"""The ``MONGO_STRUCTLOG_*`` settings table, parsed and validated once.

Keyword arguments win over environment variables, which win over defaults. The
environment is read when :func:`load_settings` is called (from ``configure()`` or
``listeners()``), never at import time. An empty variable counts as unset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ENV_PREFIX", "LEVELS", "Settings", "load_settings"]

ENV_PREFIX = "MONGO_STRUCTLOG_"

#: Level names in increasing severity, mapped to the stdlib's numbers.
LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_FORMATS = ("json", "ecs", "console")
_DOCUMENTS = ("shape", "full", "none")
_FAMILIES = ("command", "server", "heartbeat", "topology", "pool")


@dataclass(frozen=True)
class Settings:
    """Every setting, validated. Build one with :func:`load_settings`.

    Each field has a keyword of the same name and a variable named
    ``MONGO_STRUCTLOG_`` + the upper-cased field name; see ``docs/configuration.md``.
    """

    format: str = "json"
    output: str = "stdout"
    level: str = "info"
    sample_rate: float = 1.0
    sample_rate_command: float | None = None
    sample_rate_heartbeat: float = 1.0
    sample_rate_pool: float = 1.0
    slow_ms: float = 100.0
    documents: str = "shape"
    redact_keys: tuple[str, ...] = ()
    max_document_length: int = 1000
    families: tuple[str, ...] = _FAMILIES
    burst_limit: int = 100
    burst_thereafter: int = 100
    burst_interval_ms: float = 1000.0
    summary_interval_ms: float = 10000.0
    correlation_capacity: int = 10000
    correlation_ttl_ms: float = 600000.0
    queue_size: int = 0

    @property
    def command_rate(self) -> float:
        """The effective command sample rate: the family rate, else the general one."""
        if self.sample_rate_command is None:
            return self.sample_rate
        return self.sample_rate_command

    @property
    def level_number(self) -> int:
        """The minimum level as the stdlib's number (10 for debug ... 40 for error)."""
        return LEVELS[self.level]


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _output(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("expected stdout, stderr, stdlib or a file path")
    lowered = value.lower()
    if lowered in ("stdout", "stderr", "stdlib", "structlog"):
        return lowered
    try:
        # Open it now so that a bad path is reported against the variable or keyword.
        os.close(os.open(value, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as exc:
        raise ValueError(f"cannot open it ({exc.strerror})") from None
    return value


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if math.isnan(value) or not low <= value <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}")
        return value

    return parse


def _integer(low: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if value < low:
            raise ValueError(f"expected an integer >= {low}")
        return value

    return parse


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _families(raw: str) -> tuple[str, ...]:
    names = tuple(name.lower() for name in _names(raw))
    unknown = [name for name in names if name not in _FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; expected some of {', '.join(_FAMILIES)}")
    return names


_INF = float("inf")
_PARSERS: dict[str, Callable[[str], Any]] = {
    "format": _choice(_FORMATS),
    "output": _output,
    "level": _choice(tuple(LEVELS)),
    "sample_rate": _number(0.0, 1.0),
    "sample_rate_command": _number(0.0, 1.0),
    "sample_rate_heartbeat": _number(0.0, 1.0),
    "sample_rate_pool": _number(0.0, 1.0),
    "slow_ms": _number(0.0, _INF),
    "documents": _choice(_DOCUMENTS),
    "redact_keys": _names,
    "max_document_length": _integer(0),
    "families": _families,
    "burst_limit": _integer(0),
    "burst_thereafter": _integer(0),
    "burst_interval_ms": _number(1.0, _INF),
    "summary_interval_ms": _number(1.0, _INF),
    "correlation_capacity": _integer(1),
    "correlation_ttl_ms": _number(1.0, _INF),
    "queue_size": _integer(0),
}


def _from_keyword(name: str, value: Any) -> Any:
    """Validate a keyword value by the same rules as its variable's text."""
    if isinstance(value, bool):
        raise ValueError(f"expected {name} as text or a number, not a bool")
    if name in ("redact_keys", "families") and not isinstance(value, str):
        if not isinstance(value, (list, tuple, set, frozenset)) or not all(
            isinstance(item, str) for item in value
        ):
            raise ValueError("expected a comma-separated string or a sequence of strings")
        return _PARSERS[name](",".join(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _PARSERS[name](repr(value))
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return _PARSERS[name](value)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from keywords, then ``MONGO_STRUCTLOG_*`` variables, then defaults.

    Args:
        environ: The environment to read; ``os.environ`` when omitted.
        **overrides: Settings by field name (``level="debug"``, ``sample_rate=0.1`` ...).
            ``None`` means "not given".

    Returns:
        The validated settings.

    Raises:
        TypeError: For a keyword that is not a setting.
        ValueError: For a bad value; the message names the keyword or variable and the value.
    """
    env = os.environ if environ is None else environ
    known = {field.name for field in fields(Settings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown mongo_structlog setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in known:
        given = overrides.get(name)
        if given is not None:
            try:
                values[name] = _from_keyword(name, given)
            except ValueError as exc:
                raise ValueError(f"invalid value for keyword {name}={given!r}: {exc}") from None
            continue
        variable = ENV_PREFIX + name.upper()
        raw = env.get(variable, "")
        if raw.strip() == "":
            continue
        try:
            values[name] = _PARSERS[name](raw)
        except ValueError as exc:
            raise ValueError(f"invalid value for {variable}={raw!r}: {exc}") from None
    return Settings(**values)
