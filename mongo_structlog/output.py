"""Rendering (json, ecs, console) and sinks (stdout, stderr, a file, stdlib, a queue).

Records go through a structlog processor chain of our own, built with
``structlog.wrap_logger``; the application's structlog and logging configuration are
left alone. Every sink swallows its own failures: they are counted in ``stats()`` and
reported once on stderr, never raised into PyMongo.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog

from .context import merge_contextvars, trace_processor
from .stdlib import STDLIB_LOGGER_NAME, StdlibSink
from .settings import Settings
from .stats import STATS, sink_failed

__all__ = [
    "STDLIB_LOGGER_NAME",
    "Output",
    "add_level",
    "build_output",
    "json_default",
    "render_json",
    "rfc3339_now",
]

Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]

_second = -1
_prefix = ""


def rfc3339_now(now: float | None = None) -> str:
    """The current UTC time as RFC 3339 with microseconds, e.g. ``2026-11-25T08:00:00.123456Z``.

    The date part is cached per second, so this is cheaper than ``datetime.isoformat``.
    """
    global _second, _prefix
    if now is None:
        now = time.time()
    second = int(now)
    prefix = _prefix
    if second != _second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _prefix, _second = prefix, second
    micros = int((now - second) * 1_000_000)
    return f"{prefix}.{micros:06d}Z"


def add_level(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Set ``level`` from the logger method name (``debug`` ... ``error``)."""
    event_dict["level"] = method_name
    return event_dict


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


_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """Render the record as one JSON line (bytes, newline included) with one ``orjson.dumps``.

    A value orjson rejects outright (an int beyond 64 bits, say) is turned into text
    rather than losing the record.
    """
    try:
        return orjson.dumps(event_dict, default=json_default, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        safe = {str(key): _plain(value) for key, value in event_dict.items()}
        return orjson.dumps(safe, default=json_default, option=_JSON_OPTIONS)


def _plain(value: Any) -> Any:
    if value is None or type(value) in (str, bool, float):
        return value
    if type(value) is int and -(2**63) <= value < 2**64:
        return value
    if type(value) is list and all(type(item) is str for item in value):
        return value
    return json_default(value)


def _to_stdlib(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Final step for ``stdlib``: the event name as the message, every field as ``extra``."""
    return {"msg": event_dict["event"], "extra": dict(event_dict)}


class _StreamSink:
    """Writes rendered lines to ``sys.stdout``/``sys.stderr`` as they are at write time."""

    def __init__(self, name: str) -> None:
        self._name = name

    def msg(self, message: bytes | str) -> None:
        try:
            stream = getattr(sys, self._name)
            buffer = getattr(stream, "buffer", None)
            if buffer is not None and type(message) is bytes:
                buffer.write(message)
                buffer.flush()
            else:
                stream.write(message.decode() if isinstance(message, bytes) else message)
                stream.flush()
        except Exception as exc:  # a closed or broken stream must not break the application
            sink_failed(self._name, exc)

    debug = info = warning = error = msg

    def close(self) -> None:
        """Nothing to release: the streams belong to the application."""


class _FileSink:
    """Appends lines to a file with one unbuffered ``write`` per record (fork-safe)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def msg(self, message: bytes | str) -> None:
        data = message if type(message) is bytes else str(message).encode()
        fd = self._fd
        try:
            if fd is None:
                raise OSError(f"{self._path} is closed")
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except Exception as exc:
            sink_failed(self._path, exc)

    debug = info = warning = error = msg

    def close(self) -> None:
        """Close the file descriptor; later records are counted as sink errors."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _DrainHandler(logging.Handler):
    """QueueListener's handler: writes the already-rendered line to the real sink."""

    def __init__(self, sink: Any) -> None:
        super().__init__()
        self._sink = sink

    def handle(self, record: Any) -> bool:  # type: ignore[override]
        self._sink.msg(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() bypasses it
        self._sink.msg(record)


class _Listener(logging.handlers.QueueListener):
    """The stdlib's QueueListener, with a stop that cannot fail on a full queue."""

    def enqueue_sentinel(self) -> None:
        try:
            self.queue.put(self._sentinel, timeout=5)
        except queue.Full:  # pragma: no cover - the drain thread is stuck on a dead sink
            pass


_QUEUED: weakref.WeakSet[_QueuedSink] = weakref.WeakSet()


class _QueuedSink:
    """Non-blocking output: lines go into a bounded queue drained by a background thread.

    When the queue is full the line is dropped and counted (``queue_dropped``); the
    application thread never waits. The queue is flushed at exit, and a forked child
    starts with an empty queue and its own thread.
    """

    def __init__(self, sink: Any, size: int) -> None:
        self._sink = sink
        self._size = size
        self._lock = threading.Lock()
        self._start()
        _QUEUED.add(self)

    def _start(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self._size)
        self._listener = _Listener(self._queue, _DrainHandler(self._sink))
        self._listener.start()

    def msg(self, message: bytes | str) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            STATS.add("queue_dropped")
            STATS.warn_once("queue", f"output queue full ({self._size} lines); dropping records")

    debug = info = warning = error = msg

    def flush(self) -> None:
        """Wait until every queued line has been written."""
        with self._lock:
            if self._listener._thread is None:
                return
            self._listener.stop()
            self._listener.start()

    def close(self) -> None:
        """Write what is queued, stop the thread and close the real sink."""
        with self._lock:
            if self._listener._thread is not None:
                self._listener.stop()
        self._sink.close()

    def _after_fork(self) -> None:
        # The parent's thread does not exist here and its queued lines are the parent's
        # to write: start afresh.
        self._lock = threading.Lock()
        self._start()


def _flush_all_at_exit() -> None:
    for sink in list(_QUEUED):
        sink.flush()


def _restart_after_fork() -> None:
    for sink in list(_QUEUED):
        sink._after_fork()


atexit.register(_flush_all_at_exit)
os.register_at_fork(after_in_child=_restart_after_fork)


class Output:
    """A configured structlog logger and the sink behind it.

    Attributes:
        logger: The bound structlog logger; call ``logger.info(event, **fields)``.
        sink: The object the logger writes to (has ``close()``).
    """

    def __init__(self, logger: Any, sink: Any) -> None:
        self.logger = logger
        self.sink = sink
        self.methods: dict[str, Callable[..., Any]] = {
            name: getattr(logger, name) for name in ("debug", "info", "warning", "error")
        }

    def close(self) -> None:
        """Release the sink (a file or a queue thread); stdout/stderr stay open."""
        self.sink.close()

    def flush(self) -> None:
        """Wait for a queued sink to write everything it holds."""
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            flush()


def build_output(settings: Settings, extra_processors: list[Processor] | None = None) -> Output:
    """Build the processor chain and sink for ``settings``.

    Args:
        settings: Validated settings (format, output, level, queue_size).
        extra_processors: Processors to run after the built-in context steps.

    Returns:
        The :class:`Output`.

    Raises:
        ValueError: When the output file cannot be opened (names the variable and path).
    """
    sink: Any
    target = settings.output
    if target == "stdlib":
        sink = StdlibSink(settings.level_number)
    elif target in ("stdout", "stderr"):
        sink = _StreamSink(target)
    else:
        try:
            sink = _FileSink(target)
        except OSError as exc:
            raise ValueError(
                f"invalid value for MONGO_STRUCTLOG_OUTPUT={target!r}: cannot open it ({exc})"
            ) from None
    if settings.queue_size and target != "stdlib":
        sink = _QueuedSink(sink, settings.queue_size)

    processors: list[Processor] = [add_level, merge_contextvars]
    trace = trace_processor()
    if trace is not None:
        processors.append(trace)
    processors.extend(extra_processors or [])
    processors.append(_final_step(settings, target))
    logger = structlog.wrap_logger(
        sink,
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    ).bind(timestamp=None, level=None, event=None)
    return Output(logger, sink)


def _final_step(settings: Settings, target: str) -> Processor:
    if target == "stdlib":
        if settings.format == "ecs":
            from .ecs import to_ecs  # noqa: PLC0415  # keeps ecs-logging off the default path

            def ecs_to_stdlib(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Any:
                message = event_dict["event"]
                extra = to_ecs(logger, name, dict(event_dict))
                extra.pop("message", None)  # the LogRecord's own message; stdlib forbids it
                return {"msg": message, "extra": extra}

            return ecs_to_stdlib
        return _to_stdlib
    if settings.format == "console":
        renderer = structlog.dev.ConsoleRenderer(
            colors=_isatty(target), sort_keys=False, pad_event_to=38
        )

        def render_console(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
            return renderer(logger, name, dict(event_dict)) + "\n"

        return render_console
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
