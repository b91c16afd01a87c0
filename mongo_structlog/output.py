"""Rendering (json, ecs, console) and the chain that takes a record to its sink.

Records go through a structlog processor chain of our own, built with
``structlog.wrap_logger``; the application's structlog and logging configuration are
left alone. Every sink swallows its own failures: they are counted in ``stats()`` and
reported once on stderr, never raised into PyMongo.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog

from ._console import ConsoleRenderer, colors_wanted
from ._structlog_sink import StructlogSink, to_structlog
from .context import context_merger, trace_processor
from .deferred import Deferred
from .settings import Settings
from .sinks import FileSink, QueuedSink, QueuedStdlib, StreamSink
from .stdlib import STDLIB_LOGGER_NAME, StdlibSink, stdlib_final_step

__all__ = [
    "STDLIB_LOGGER_NAME",
    "Output",
    "RecordLogger",
    "build_output",
    "json_default",
    "render_json",
    "rfc3339_now",
]

Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]

# (second, "YYYY-MM-DDTHH:MM:SS.") of the last record: the date part changes once a second.
_cached: tuple[int, str] = (-1, "")


def rfc3339_now(now: float | None = None) -> str:
    """The current UTC time as RFC 3339 with microseconds, e.g. ``2026-11-25T08:00:00.123456Z``.

    The date part is cached per second, so this is cheaper than ``datetime.isoformat``;
    without ``now`` the clock is read in integer nanoseconds (no float rounding).

    Args:
        now: Seconds since the epoch to format instead of the current time.
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


class RecordLogger(structlog.BoundLoggerBase):
    """A structlog wrapper class that runs the processor chain on a ready record.

    ``structlog``'s usual ``logger.info(event, **kw)`` copies the keyword arguments
    twice before the first processor runs; our listeners already hold a complete,
    ordered record, so :meth:`log_record` hands that dict straight to the chain
    (user processors may still raise ``structlog.DropEvent``).
    """

    def log_record(self, method_name: str, event_dict: dict[str, Any]) -> None:
        """Run the processors on ``event_dict`` and pass the result to the sink's method."""
        result: Any = event_dict
        try:
            for processor in self._processors:
                result = processor(self._logger, method_name, result)
        except structlog.DropEvent:
            return
        method = getattr(self._logger, method_name)
        if type(result) is dict:
            method(**result)
        else:
            method(result)


def json_default(value: Any) -> Any:
    """Turn what orjson cannot encode (BSON types, app objects) into a string; never raise."""
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).hex()
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        return str(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


# Keys that are not str (a processor's, a bound dict's) are written as orjson's
# OPT_NON_STR_KEYS writes them; that option slows every dict down, so it is asked for
# only when a record needs it (a fifth of the cost of rendering a command record).
_FAST_OPTIONS = orjson.OPT_APPEND_NEWLINE
_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """Render the record as one JSON line (bytes, newline included) with one ``orjson.dumps``.

    A key that is not a str is written as text (``1`` as ``"1"``); a value orjson rejects
    outright (an int beyond 64 bits, say) is turned into text rather than losing the record.
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
    if type(value) is list:
        return [_plain(item) for item in value]
    if type(value) is dict:
        return {_text(str(key)): _plain(item) for key, item in value.items()}
    return json_default(value)


class Output:
    """A configured structlog logger and the sink behind it.

    Attributes:
        logger: The :class:`RecordLogger`; ``logger.log_record(level, record)``.
        sink: The object the logger writes to (has ``close()``).
    """

    def __init__(self, logger: RecordLogger, sink: Any, deferred: bool = False) -> None:
        self.logger = logger
        self.sink = sink
        self.log_record = logger.log_record
        #: Whether the writer thread completes records (a :class:`.deferred.Later` may
        #: stand in for the command's documents).
        self.deferred = deferred

    def close(self) -> None:
        """Release the sink (a file or a queue thread); stdout/stderr stay open."""
        self.sink.close()

    def flush(self) -> None:
        """Wait for a queued sink to write everything it holds."""
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            flush()


def build_output(
    settings: Settings,
    extra_processors: list[Processor] | None = None,
    clean: Callable[[str, Any], Any] | None = None,
) -> Output:
    """Build the processor chain and sink for ``settings``.

    Args:
        settings: Validated settings (format, output, level, queue_size).
        extra_processors: Processors to run after the built-in context steps.
        clean: Applied to each value bound with ``structlog.contextvars`` (see
            :func:`.context_merger`); ``None`` writes them as they are.

    Returns:
        The :class:`Output`. With ``queue_size`` set, the last step (rendering) and the
        command's documents are left to the queue's writer thread (:mod:`.deferred`).

    Raises:
        ValueError: When the output file cannot be opened (names the variable and path).
    """
    sink: Any
    target = settings.output
    if target == "stdlib":
        sink = StdlibSink(settings.level_number)
    elif target == "structlog":
        sink = StructlogSink()
    elif target in ("stdout", "stderr"):
        sink = StreamSink(target)
    else:
        try:
            sink = FileSink(target)
        except OSError as exc:
            raise ValueError(
                f"invalid value for MONGO_STRUCTLOG_OUTPUT={target!r}: cannot open it ({exc})"
            ) from None
    if settings.queue_size:
        if target in ("stdlib", "structlog"):
            sink = QueuedStdlib(sink, settings.queue_size)
        else:
            sink = QueuedSink(sink, settings.queue_size)

    processors: list[Processor] = [context_merger(clean)]
    trace = trace_processor()
    if trace is not None:
        processors.append(trace)
    processors.extend(extra_processors or [])
    final = _final_step(settings, target)
    if settings.queue_size:
        # The rest is the writer thread's (see .deferred).
        def defer(logger: Any, method_name: str, event_dict: Any) -> Deferred:
            return Deferred(final, method_name, event_dict)

        processors.append(defer)
    else:
        processors.append(final)
    logger = structlog.wrap_logger(
        sink,
        processors=processors,
        wrapper_class=RecordLogger,
        cache_logger_on_first_use=False,
    ).bind()
    return Output(logger, sink, deferred=bool(settings.queue_size))


def _final_step(settings: Settings, target: str) -> Processor:
    if target == "stdlib":
        return stdlib_final_step(settings.format)
    if target == "structlog":
        return to_structlog
    if settings.format == "console":
        return ConsoleRenderer(colors_wanted(_isatty(target)))
    if settings.format == "ecs":
        from .ecs import to_ecs  # noqa: PLC0415

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
