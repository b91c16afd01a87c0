"""The output: a record's processor chain, its rendering and its sink.

Records go through a structlog processor chain of our own, built with
``structlog.wrap_logger``; the application's structlog and logging configuration are
left alone. The chain ends by rendering the record on the thread that saw the event
(:mod:`._render`); the line then goes to a sink (:mod:`._sinks`), directly or through the
queue (:mod:`._queue`). The sink counts each record once, when it is written or lost
(see ``stats()``), and never raises into PyMongo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from .._fixed import fixed_fields_processor
from .._structlog_sink import StructlogSink
from ..context import context_merger, trace_processor
from ..settings import Settings
from ..stats import STATS
from ..stdlib import STDLIB_LOGGER_NAME, StdlibSink
from ._queue import QueuedSink
from ._render import Processor, final_step, json_default, render_json, rfc3339_now
from ._sinks import StreamSink, open_file

__all__ = [
    "STDLIB_LOGGER_NAME",
    "Output",
    "RecordLogger",
    "build_output",
    "json_default",
    "render_json",
    "rfc3339_now",
]

#: The chain's last processor for a format and target (see :func:`._render.final_step`).
_final_step = final_step


class RecordLogger(structlog.BoundLoggerBase):
    """A structlog wrapper class that runs the processor chain on a ready record.

    ``structlog``'s usual ``logger.info(event, **kw)`` copies the keyword arguments
    twice before the first processor runs; our listeners already hold a complete,
    ordered record, so :meth:`log_record` hands that dict straight to the chain
    (user processors may still raise ``structlog.DropEvent``).
    """

    def log_record(self, method_name: str, event_dict: dict[str, Any]) -> None:
        """Run the processors on ``event_dict`` and give the result to the sink.

        Args:
            method_name: The record's level (``"info"``, ...).
            event_dict: The record; its ``event`` names it in ``stats()``.
        """
        event = event_dict["event"]
        result: Any = event_dict
        try:
            for processor in self._processors:
                result = processor(self._logger, method_name, result)
        except structlog.DropEvent:
            STATS.dropped_one(event)
            return
        self._logger.put(method_name, event, result)


class _StdlibFront:
    """The ``stdlib`` sink as the others: ``put`` makes the logger call and counts it.

    A ``StdlibSink`` level method that returns ``False`` did not hand the record over
    (it counted the failure itself); anything else counts as written.
    """

    def __init__(self, sink: Any, name: str) -> None:
        self._sink = sink
        self.name = name

    def put(self, method_name: str, event: str, call: dict[str, Any]) -> None:
        if getattr(self._sink, method_name)(**call) is not False:
            STATS.emitted(event)

    def ready(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        self._sink.close()


class Output:
    """A configured structlog logger and the sink behind it.

    Attributes:
        logger: The :class:`RecordLogger`; ``logger.log_record(level, record)``.
        sink: The object the logger writes to (``put``, ``close``; ``flush`` when queued).
        log_record: ``logger.log_record``.
    """

    def __init__(self, logger: RecordLogger, sink: Any) -> None:
        self.logger = logger
        self.sink = sink
        self.log_record = logger.log_record

    def close(self) -> None:
        """Release the sink (a file, or a queue thread: waits at most ``CLOSE_SECONDS``).

        Never blocks on a stuck sink beyond that bound, and never closes a descriptor
        another thread is writing to; stdout/stderr stay open.
        """
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
        The :class:`Output`. Records are rendered on the caller's thread; with
        ``queue_size`` set, the finished line goes through the queue.

    Raises:
        ValueError: When the output file cannot be opened, or is a FIFO without a queue
            (names the variable and path). Opening never blocks.
    """
    target = settings.output
    sink = _sink(settings, target)
    # stdlib and structlog hand records on to the application's chain: see ``shadow``.
    processors: list[Processor] = [context_merger(clean, shadow=target in ("stdlib", "structlog"))]
    fixed = fixed_fields_processor(settings)
    if fixed is not None:
        processors.insert(0, fixed)
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


def _sink(settings: Settings, target: str) -> Any:
    queued = settings.queue_size > 0
    sink: Any
    if target == "stdlib":
        sink = _StdlibFront(StdlibSink(settings.level_number), "the stdlib logger")
    elif target == "structlog":
        sink = _StdlibFront(StructlogSink(), "the application's structlog configuration")
    elif target in ("stdout", "stderr"):
        sink = StreamSink(target)
    else:
        sink = open_file(target, queued)
    return QueuedSink(sink, settings.queue_size) if queued else sink
