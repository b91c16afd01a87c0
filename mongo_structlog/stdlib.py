"""The ``stdlib`` output: records handed to the stdlib logger ``mongo_structlog``.

The application's handlers and formatters decide where records go and how they look.
Each record becomes one ``LogRecord`` that any formatter renders cleanly:

- its time (``created``, so ``asctime``) is the record's ``timestamp``, when the event
  happened, and its level is the record's level: neither is repeated as an attribute;
- its message is a readable line, the event name first (the ``console`` line without
  time and level), so a plain ``logging.Formatter("%(message)s")`` shows the details;
- ``event`` and every other field are attributes (``extra``), with their own types, so
  JSON formatters, structlog's ``ExtraAdder`` and OpenTelemetry's handler get them as they
  are;
- a bound name that is already a ``LogRecord`` attribute (``name``, ``msg``, ``args``,
  ``module``, ``created``, ``message``, ...: :data:`LOGRECORD_ATTRIBUTES`) is written as
  ``app_<name>``: ``logging`` would otherwise reject the whole record;
- text that cannot be written as UTF-8 (a lone surrogate) is escaped (``\\udcff``).

When the ``mongo_structlog`` logger is disabled (``logging.config.dictConfig()`` does that
to loggers that exist before it, unless told otherwise), records are counted as sink
errors and a warning says so once on stderr.

:func:`json_formatter` gives a ready python-json-logger formatter that writes exactly
our JSON record (``timestamp``, ``level``, ``event``, fields) from such a ``LogRecord``.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from ._console import describe, escaped
from .stats import STATS, sink_failed

__all__ = [
    "LOGRECORD_ATTRIBUTES",
    "STDLIB_LOGGER_NAME",
    "StdlibSink",
    "json_formatter",
    "stdlib_final_step",
    "to_stdlib",
]

#: The stdlib logger that ``MONGO_STRUCTLOG_OUTPUT=stdlib`` hands records to.
STDLIB_LOGGER_NAME = "mongo_structlog"

#: Every attribute a ``LogRecord`` has of its own (on any supported Python; ``taskName``
#: came with 3.12), plus ``message`` and ``asctime``, which formatters set. A field of
#: that name is written as ``app_<name>``.
LOGRECORD_ATTRIBUTES = frozenset(
    {
        *vars(logging.LogRecord("", 0, "", 0, "", None, None)),
        "message",
        "asctime",
        "taskName",
    }
)

# The LogRecord carries these itself (``created``, ``levelname``).
_NOT_EXTRA = frozenset({"timestamp", "level"})


def _safe(value: Any) -> Any:
    """``value`` with every lone surrogate in its text escaped; other types unchanged."""
    kind = type(value)
    if kind is str:
        return escaped(value)
    if kind is list or kind is tuple:
        return [_safe(item) for item in value]
    if kind is dict:
        return {(escaped(k) if type(k) is str else k): _safe(v) for k, v in value.items()}
    return value


def _name(key: Any) -> str:
    name = escaped(str(key))
    return "app_" + name if name in LOGRECORD_ATTRIBUTES else name


# ("YYYY-MM-DDTHH:MM:SS", seconds since the epoch) of the last timestamp read.
_second: tuple[str, int] = ("", 0)


def _created(timestamp: str) -> float:
    """Seconds since the epoch of one of our RFC 3339 timestamps (``...:SS.ffffffZ``)."""
    global _second
    try:
        prefix = timestamp[:19]
        cached = _second
        if cached[0] != prefix:
            cached = (prefix, calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S")))
            _second = cached
        return cached[1] + int(timestamp[20:26]) / 1_000_000
    except (TypeError, ValueError):  # pragma: no cover - every record carries our timestamp
        return time.time()


def _rfc3339(created: float) -> str:
    second = int(created)
    micros = round((created - second) * 1_000_000)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)) + f"{micros:06d}Z"


def to_stdlib(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Final step of the ``stdlib`` output: the arguments of :class:`StdlibSink`'s methods.

    Returns:
        ``{"msg": readable line, "extra": fields, "created": seconds since the epoch}``: the
        fields without ``timestamp``/``level``, renamed and escaped as the module says.
    """
    extra = {_name(key): _safe(value) for key, value in event_dict.items() if key not in _NOT_EXTRA}
    return {
        "msg": escaped(describe(extra)),
        "extra": extra,
        "created": _created(event_dict["timestamp"]),
    }


def _ecs_to_stdlib(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """:func:`to_stdlib` for ``format="ecs"``: the attributes are the ECS document's keys."""
    from .ecs import to_ecs  # noqa: PLC0415  # keeps ecs-logging off the default path

    created = _created(event_dict["timestamp"])
    message = describe(event_dict)
    document = to_ecs(logger, method_name, dict(event_dict))
    for key in ("@timestamp", "log.level", "message"):  # the LogRecord's own
        document.pop(key, None)
    extra = {_name(key): _safe(value) for key, value in document.items()}
    return {"msg": escaped(message), "extra": extra, "created": created}


def stdlib_final_step(style: str) -> Callable[[Any, str, MutableMapping[str, Any]], Any]:
    """The last processor of the ``stdlib`` output for the format ``style`` (``ecs`` or another)."""
    return _ecs_to_stdlib if style == "ecs" else to_stdlib


class _LoggerDisabled(Exception):
    """What a disabled ``mongo_structlog`` logger is reported as."""


class StdlibSink:
    """Hands records to ``logging.getLogger("mongo_structlog")`` as ready ``LogRecord`` s.

    A handler or filter that raises is counted in ``stats()`` (``sink_errors``) and
    reported once, never raised into PyMongo; so is a record that meets a disabled logger.

    Args:
        level: Our configured level; set on the logger only when it has none of its own,
            so the root's default ``WARNING`` does not silently drop ``info`` records.
    """

    def __init__(self, level: int) -> None:
        self.logger = logging.getLogger(STDLIB_LOGGER_NAME)
        if self.logger.level == logging.NOTSET:
            self.logger.setLevel(level)
        self.debug = self._call(logging.DEBUG)
        self.info = self._call(logging.INFO)
        self.warning = self._call(logging.WARNING)
        self.error = self._call(logging.ERROR)

    def _call(self, level: int) -> Callable[..., bool]:
        logger = self.logger

        def log(msg: str, extra: dict[str, Any], created: float) -> bool:
            try:
                if logger.disabled:
                    _disabled()
                    return False  # counted as lost: the output does not count it as written
                if not logger.isEnabledFor(level):
                    # The application's level for our logger filters it: dropped, not written.
                    STATS.dropped_one(str(extra.get("event")))
                    return False
                record = logger.makeRecord(
                    logger.name, level, __file__, 0, msg, (), None, None, extra
                )
                # When the event happened, not when the record is written.
                record.created = created
                record.msecs = int((created - int(created)) * 1000) + 0.0
                logger.handle(record)
            except Exception as exc:
                sink_failed("the stdlib logger", exc)
                return False  # counted as lost: the output does not count it as written
            return True

        return log

    def close(self) -> None:
        """Nothing to release: the handlers belong to the application."""


def _disabled() -> None:
    STATS.add("sink_errors", reason="stdlib: logger disabled")
    STATS.warn_once(
        "stdlib-disabled",
        f"the stdlib logger {STDLIB_LOGGER_NAME!r} is disabled, so its records are dropped; "
        "logging.config.dictConfig() disables loggers that exist before it: pass "
        f"disable_existing_loggers=False or list {STDLIB_LOGGER_NAME!r} under 'loggers'",
    )


def json_formatter(**kwargs: Any) -> logging.Formatter:
    """A python-json-logger formatter (orjson-backed) for the ``mongo_structlog`` logger.

    It writes exactly our record: ``timestamp`` (from the ``LogRecord``'s ``created``),
    ``level`` (its level name, lower case), then ``event`` and the fields, with BSON
    values (ObjectId, Decimal128, ...) rendered as text. The readable message is left out.

    Args:
        **kwargs: Passed to ``pythonjsonlogger.orjson.OrjsonFormatter`` (for example
            ``static_fields={"service": "billing"}``), overriding our defaults.

    Returns:
        The formatter: ``handler.setFormatter(mongo_structlog.json_formatter())``.
    """
    from pythonjsonlogger.core import RESERVED_ATTRS  # noqa: PLC0415
    from pythonjsonlogger.orjson import OrjsonFormatter  # noqa: PLC0415

    from .output import json_default  # noqa: PLC0415  # output imports this module

    class RecordFormatter(OrjsonFormatter):
        def add_fields(
            self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
        ) -> None:
            log_data["timestamp"] = _rfc3339(record.created)
            log_data["level"] = record.levelname.lower()
            super().add_fields(log_data, record, message_dict)

    options: dict[str, Any] = {
        "fmt": [],
        "json_default": json_default,
        "reserved_attrs": [*RESERVED_ATTRS, "message"],
    }
    options.update(kwargs)
    formatter: logging.Formatter = RecordFormatter(**options)
    return formatter
