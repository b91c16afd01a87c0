"""The ``MONGO_STRUCTLOG_*`` settings table, parsed and validated once.

Keyword arguments win over environment variables, which win over defaults. The
environment is read when :func:`load_settings` is called (from ``configure()`` or
``listeners()``), never at import time. An empty variable counts as unset. Loading
settings applies nothing: no file is created or opened here (the output does that when
the settings are applied). A service name, version and environment fall back to
OpenTelemetry's ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``; an unknown
``MONGO_STRUCTLOG_*`` variable is warned about once, naming the closest real one.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, Final
from urllib.parse import unquote

__all__ = [
    "ENV_PREFIX",
    "LEVELS",
    "OUTPUTS",
    "Resolved",
    "Settings",
    "SettingsWarning",
    "load_settings",
    "resolve_settings",
]

ENV_PREFIX = "MONGO_STRUCTLOG_"

#: Level names in increasing severity, mapped to the stdlib's numbers.
LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40}

#: The ``output`` keywords; anything else must look like a file path.
OUTPUTS: Final = ("stdout", "stderr", "stdlib", "structlog")

_FORMATS = ("json", "ecs", "console")
_DOCUMENTS = ("shape", "full", "none")
_FAMILIES = ("command", "server", "heartbeat", "topology", "pool")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

#: Names a fixed field may not take: the record's first keys, and the fields with a
#: setting of their own.
RESERVED_FIELDS: Final = frozenset(
    {
        "timestamp",
        "level",
        "event",
        "service_name",
        "service_version",
        "service_environment",
        "process_pid",
        "host_name",
    }
)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SettingsWarning(UserWarning):
    """An unknown ``MONGO_STRUCTLOG_*`` variable: warned about once per name per process."""


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
    #: False: nothing is logged (``families`` is then empty whatever was asked).
    enabled: bool = True
    service_name: str | None = None
    service_version: str | None = None
    service_environment: str | None = None
    #: Fixed fields added to every record, as ``(name, value)`` pairs in the order given.
    fields: tuple[tuple[str, Any], ...] = ()
    #: Add ``process_pid`` and ``host_name`` to every record.
    process_fields: bool = False

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


@dataclass(frozen=True)
class Resolved:
    """Settings with where each came from (what ``python -m mongo_structlog config`` prints).

    Attributes:
        settings: The validated settings.
        sources: Field name -> ``"keyword"``, ``"default"`` or the variable it was read
            from (``MONGO_STRUCTLOG_LEVEL``, ``OTEL_SERVICE_NAME``,
            ``OTEL_RESOURCE_ATTRIBUTES``).
        warnings: Unknown ``MONGO_STRUCTLOG_*`` variable -> a sentence naming the
            closest real one.
    """

    settings: Settings
    sources: dict[str, str]
    warnings: dict[str, str]


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _looks_like_path(value: str) -> bool:
    """A file path has a directory separator or a dot in it (``./stdot``, ``app.log``)."""
    separators = (os.sep, "/") if os.altsep is None else (os.sep, os.altsep, "/")
    return "." in value or any(sep in value for sep in separators)


def _output(raw: str) -> str:
    value = raw.strip()
    expected = "expected stdout, stderr, stdlib, structlog or a file path"
    if not value:
        raise ValueError(expected)
    lowered = value.lower()
    if lowered in OUTPUTS:
        return lowered
    try:
        float(value)
    except ValueError:
        pass
    else:
        raise ValueError(f"{expected}, not a number")
    if not _looks_like_path(value):
        close = difflib.get_close_matches(lowered, OUTPUTS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        if value == "-":
            hint = "; for standard output write stdout"
        raise ValueError(
            f"{expected}{hint} (a file path has a '/' or a '.' in it: "
            f"write ./{value} for a file of that name)"
        )
    _check_path(value)
    return value


def _check_path(path: str) -> None:
    """Refuse a path that cannot become a file, without creating or opening anything."""
    if os.path.isdir(path):
        raise ValueError("cannot open it (it is a directory)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"cannot open it (its directory {parent} does not exist)")


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


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("expected some text")
    return value


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _families(raw: str) -> tuple[str, ...]:
    names = tuple(name.lower() for name in _names(raw))
    unknown = [name for name in names if name not in _FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; expected some of {', '.join(_FAMILIES)}")
    return names


def _field_name(name: Any) -> str:
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise ValueError(f"field name {name!r} is not a snake_case name (letters, digits, _)")
    if name in RESERVED_FIELDS:
        raise ValueError(f"field name {name!r} is reserved (it has a setting of its own)")
    return name


def _fields(raw: str) -> tuple[tuple[str, Any], ...]:
    pairs: dict[str, Any] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise ValueError(f"expected name=value pairs separated by commas, got {part.strip()!r}")
        pairs[_field_name(name.strip())] = value.strip()
    return tuple(pairs.items())


def _fields_keyword(value: Any) -> tuple[tuple[str, Any], ...]:
    if isinstance(value, str):
        return _fields(value)
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of names to values, or name=value text")
    pairs: dict[str, Any] = {}
    for name, item in value.items():
        if type(item) not in (str, int, float, bool):
            raise ValueError(f"field {name!r}: expected a str, int, float or bool value")
        pairs[_field_name(name)] = item
    return tuple(pairs.items())


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
    "enabled": _boolean,
    "service_name": _text,
    "service_version": _text,
    "service_environment": _text,
    "fields": _fields,
    "process_fields": _boolean,
}
_BOOLEANS = frozenset({"enabled", "process_fields"})

#: Every variable this module reads with the MONGO_STRUCTLOG_ prefix.
VARIABLES: Final = tuple(ENV_PREFIX + name.upper() for name in _PARSERS)

# OTEL_RESOURCE_ATTRIBUTES keys by setting, the first present wins
# (deployment.environment.name replaces the older deployment.environment).
_RESOURCE_KEYS: Final = {
    "service_name": ("service.name",),
    "service_version": ("service.version",),
    "service_environment": ("deployment.environment.name", "deployment.environment"),
}

_WARNED: set[str] = set()


def _from_keyword(name: str, value: Any) -> Any:
    """Validate a keyword value by the same rules as its variable's text."""
    if isinstance(value, bool):
        if name in _BOOLEANS:
            return value
        raise ValueError(f"expected {name} as text or a number, not a bool")
    if name == "fields":
        return _fields_keyword(value)
    if name in ("redact_keys", "families") and not isinstance(value, str):
        if not isinstance(value, (list, tuple, set, frozenset)) or not all(
            isinstance(item, str) for item in value
        ):
            raise ValueError("expected a comma-separated string or a sequence of strings")
        return _PARSERS[name](",".join(value))
    if isinstance(value, (int, float)):
        return _PARSERS[name](repr(value))
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return _PARSERS[name](value)


def _resource_attributes(raw: str) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: ``key=value`` pairs, percent-encoded; bad pairs skipped."""
    attributes: dict[str, str] = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip() and value.strip():
            attributes[unquote(key.strip())] = unquote(value.strip())
    return attributes


def _otel_default(name: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """A service setting's OpenTelemetry default and the variable it came from."""
    if name == "service_name":
        value = env.get("OTEL_SERVICE_NAME", "").strip()
        if value:
            return value, "OTEL_SERVICE_NAME"
    attributes = _resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    for key in _RESOURCE_KEYS[name]:
        value = attributes.get(key, "").strip()
        if value:
            return value, "OTEL_RESOURCE_ATTRIBUTES"
    return None


def _unknown_variables(env: Mapping[str, str]) -> dict[str, str]:
    """Variable -> sentence for every set ``MONGO_STRUCTLOG_*`` variable that is not ours."""
    found = {}
    for variable in sorted(name for name in env if name.startswith(ENV_PREFIX)):
        if variable in VARIABLES or not env[variable].strip():
            continue
        # Matched without the shared prefix, which would make every name look close.
        close = difflib.get_close_matches(
            variable[len(ENV_PREFIX) :], [name[len(ENV_PREFIX) :] for name in VARIABLES], n=1
        )
        hint = f"did you mean {ENV_PREFIX}{close[0]}?" if close else "see docs/configuration.md"
        found[variable] = f"{variable} is not a mongo_structlog setting; {hint}"
    return found


def _resolve_one(
    name: str, overrides: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[Any, str] | None:
    """One setting's value and source, or None for its default."""
    given = overrides.get(name)
    if given is not None:
        try:
            return _from_keyword(name, given), "keyword"
        except ValueError as exc:
            raise ValueError(f"invalid value for keyword {name}={given!r}: {exc}") from None
    variable = ENV_PREFIX + name.upper()
    raw = env.get(variable, "")
    if raw.strip():
        try:
            return _PARSERS[name](raw), variable
        except ValueError as exc:
            raise ValueError(f"invalid value for {variable}={raw!r}: {exc}") from None
    if name in _RESOURCE_KEYS:
        return _otel_default(name, env)
    return None


def resolve_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Resolved:
    """Like :func:`load_settings`, also saying where each setting came from; warns of nothing.

    Args:
        environ: The environment to read; ``os.environ`` when omitted.
        **overrides: Settings by field name; ``None`` means "not given".

    Returns:
        The settings, each one's source, and the unknown-variable sentences.

    Raises:
        TypeError: For a keyword that is not a setting.
        ValueError: For a bad value; the message names the keyword or variable and the value.
    """
    env = os.environ if environ is None else environ
    names = [field.name for field in dataclass_fields(Settings)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f"unknown mongo_structlog setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in names:
        found = _resolve_one(name, overrides, env)
        if found is None:
            sources[name] = "default"
        else:
            values[name], sources[name] = found
    if values.get("enabled") is False:
        values["families"] = ()
        sources["families"] = sources["enabled"]
    return Resolved(Settings(**values), sources, _unknown_variables(env))


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from keywords, then ``MONGO_STRUCTLOG_*`` variables, then defaults.

    Nothing is applied: no file is created or opened. A set ``MONGO_STRUCTLOG_*`` variable
    that is not a setting is reported once per process with a :class:`SettingsWarning`
    naming the closest real variable.

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
    resolved = resolve_settings(environ, **overrides)
    for variable, sentence in resolved.warnings.items():
        if variable not in _WARNED:
            _WARNED.add(variable)
            warnings.warn(sentence, SettingsWarning, stacklevel=3)
    return resolved.settings
