"""Rendering (json, ecs, console) and sinks (stdout, stderr, a file, stdlib, a queue).

Records go through a structlog processor chain of our own, built with
``structlog.wrap_logger``; the application's structlog and logging configuration are
left alone. Every sink swallows its own failures: they are counted in ``stats()`` and
reported once on stderr, never raised into PyMongo.
"""

from __future__ import annotations

import atexit
import contextlib
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
from .settings import Settings
from .stats import STATS, sink_failed
from .stdlib import STDLIB_LOGGER_NAME, StdlibSink

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


_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """Render the record as one JSON line (bytes, newline included) with one ``orjson.dumps``.

    A value orjson rejects outright (an int beyond 64 bits, say) is turned into text
    rather than losing the record.
    """
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
    if type(value) is list and all(type(item) is str for item in value):
        return [_text(item) for item in value]
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
            written = os.write(fd, data)
            if written < len(data):  # a short write (a signal, a full disk): finish it
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(fd, view) :]
        except Exception as exc:
            sink_failed(self._path, exc)

    debug = info = warning = error = msg

    def close(self) -> None:
        """Close the file descriptor; later records are counted as sink errors."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


#: How long ``flush()`` (and so exit) waits on a sink that finishes nothing at all.
_STALL_SECONDS = 5.0


class _Flushed:
    """Put in the queue by ``flush()``; the drain thread sets ``done`` when it gets there."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _DrainHandler(logging.Handler):
    """QueueListener's handler: hands each queued item to the real sink.

    An item is a rendered line, a ``(method, msg, extra)`` call for the stdlib sink or
    a :class:`_Flushed` marker. ``handled`` counts items done (only this thread writes
    it), so a waiting ``flush()`` can tell a slow sink from a stuck one.
    """

    def __init__(self, sink: Any) -> None:
        super().__init__()
        self._sink = sink
        self.handled = 0

    def handle(self, record: Any) -> bool:
        kind = type(record)
        if kind is tuple:
            record[0](record[1], extra=record[2])
        elif kind is _Flushed:
            record.done.set()
        else:
            self._sink.msg(record)
        self.handled += 1
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() bypasses it
        self._sink.msg(record)


class _Listener(logging.handlers.QueueListener):
    """The stdlib's QueueListener, with a stop that cannot fail on a full queue."""

    def __init__(self, pending: queue.Queue[Any], handler: logging.Handler) -> None:
        super().__init__(pending, handler)
        self.pending = pending

    def enqueue_sentinel(self) -> None:
        # A full queue for this long means the drain thread is stuck on a dead sink.
        with contextlib.suppress(queue.Full):
            self.pending.put(None, timeout=_STALL_SECONDS)


_QUEUED: weakref.WeakSet[_QueuedSink] = weakref.WeakSet()


class _QueuedSink:
    """Non-blocking output: lines go into a bounded queue drained by a background thread.

    When the queue is full the line is dropped and counted (``queue_dropped``); the
    application thread never waits. The queue is flushed at exit (giving up on a sink
    that writes nothing for ``_STALL_SECONDS``), and a forked child starts with an
    empty queue and its own thread.
    """

    def __init__(self, sink: Any, size: int) -> None:
        self._sink = sink
        self._size = size
        self._closed = False
        self._lock = threading.Lock()
        self._drain = _DrainHandler(sink)
        self._start()
        _QUEUED.add(self)

    def _start(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self._size)
        self._listener = _Listener(self._queue, self._drain)
        self._listener.start()
        # Per-client pipelines are dropped with their client, never closed: when this
        # object goes, let the thread write what is left and end rather than leak.
        self._retire = weakref.finalize(self, _retire, self._queue)
        self._retire.atexit = False  # at exit, _flush_all_at_exit does the writing

    def msg(self, message: Any) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            STATS.add("queue_dropped")
            STATS.warn_once("queue", f"output queue full ({self._size} lines); dropping records")

    debug = info = warning = error = msg

    def flush(self) -> None:
        """Wait until every line queued so far has been written.

        Gives up, and says so once on stderr, when the sink finishes nothing for
        ``_STALL_SECONDS``: a stuck sink must not hang the application or its exit.
        (No thread is started here, so this also works in an ``atexit`` handler.)
        """
        if self._closed:
            return
        marker = _Flushed()
        drain = self._drain
        seen = drain.handled
        while True:
            try:
                self._queue.put(marker, timeout=_STALL_SECONDS)
                break
            except queue.Full:
                if drain.handled == seen:
                    self._stalled()
                    return
                seen = drain.handled
        while not marker.done.wait(_STALL_SECONDS):
            if drain.handled == seen:
                self._stalled()
                return
            seen = drain.handled

    def _stalled(self) -> None:
        STATS.warn_once(
            "queue-stalled",
            f"output sink stopped writing; gave up waiting on {self._queue.qsize()} queued lines",
        )

    def close(self) -> None:
        """Write what is queued (as :meth:`flush`), stop the thread, close the real sink."""
        with self._lock:
            if self._closed:
                return
            self.flush()
            self._closed = True
            self._retire.detach()
            listener = self._listener
            thread = listener._thread
            if thread is not None:
                listener.enqueue_sentinel()
                thread.join(_STALL_SECONDS)
                listener._thread = None
        self._sink.close()

    def _after_fork(self) -> None:
        # The parent's thread does not exist here and its queued lines are the parent's
        # to write: start afresh.
        self._lock = threading.Lock()
        self._retire.detach()
        if not self._closed:
            self._start()


def _retire(pending: queue.Queue[Any]) -> None:
    with contextlib.suppress(queue.Full):
        pending.put_nowait(None)  # QueueListener's sentinel: drain what is queued, then end


class _QueuedStdlib:
    """The ``stdlib`` sink behind a queue: the logger call itself is queued, level and all.

    The application's handlers then run on the drain thread (a ``LogRecord``'s thread
    and ``created`` time are the drain thread's; the record's ``timestamp`` field is not).
    """

    def __init__(self, sink: StdlibSink, size: int) -> None:
        self._sink = sink
        self._queued = _QueuedSink(sink, size)

    def debug(self, msg: str, extra: dict[str, Any]) -> None:
        self._queued.msg((self._sink.debug, msg, extra))

    def info(self, msg: str, extra: dict[str, Any]) -> None:
        self._queued.msg((self._sink.info, msg, extra))

    def warning(self, msg: str, extra: dict[str, Any]) -> None:
        self._queued.msg((self._sink.warning, msg, extra))

    def error(self, msg: str, extra: dict[str, Any]) -> None:
        self._queued.msg((self._sink.error, msg, extra))

    def flush(self) -> None:
        """See :meth:`_QueuedSink.flush`."""
        self._queued.flush()

    def close(self) -> None:
        """See :meth:`_QueuedSink.close`."""
        self._queued.close()


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
        logger: The :class:`RecordLogger`; ``logger.log_record(level, record)``.
        sink: The object the logger writes to (has ``close()``).
    """

    def __init__(self, logger: RecordLogger, sink: Any) -> None:
        self.logger = logger
        self.sink = sink
        self.log_record = logger.log_record

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
    if settings.queue_size:
        if target == "stdlib":
            sink = _QueuedStdlib(sink, settings.queue_size)
        else:
            sink = _QueuedSink(sink, settings.queue_size)

    processors: list[Processor] = [merge_contextvars]
    trace = trace_processor()
    if trace is not None:
        processors.append(trace)
    processors.extend(extra_processors or [])
    processors.append(_final_step(settings, target))
    logger = structlog.wrap_logger(
        sink,
        processors=processors,
        wrapper_class=RecordLogger,
        cache_logger_on_first_use=False,
    ).bind()
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
