"""Sinks: stdout/stderr, an appended file, and the non-blocking queue in front of any sink.

Every sink swallows its own failures: they are counted in ``stats()`` (``sink_errors``,
``queue_dropped``) and reported once on stderr, never raised into PyMongo. The queue is
the stdlib's ``QueueListener`` draining a bounded ``queue.SimpleQueue``; it is flushed at exit
and started afresh (empty) in a forked child.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .stats import STATS, sink_failed
from .stdlib import StdlibSink

__all__ = ["FileSink", "QueuedSink", "QueuedStdlib", "StreamSink"]


class StreamSink:
    """Writes rendered lines to ``sys.stdout``/``sys.stderr`` as they are at write time."""

    def __init__(self, name: str) -> None:
        self._name = name

    def msg(self, message: bytes | str, records: int = 1) -> None:
        """Write ``message`` (``records`` lines, for the count of a failure)."""
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
            sink_failed(self._name, exc, records)

    debug = info = warning = error = msg

    def close(self) -> None:
        """Nothing to release: the streams belong to the application."""


class FileSink:
    """Appends lines to a file with one unbuffered ``write`` per record (fork-safe)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def msg(self, message: bytes | str, records: int = 1) -> None:
        """Append ``message`` (``records`` lines, for the count of a failure)."""
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
            sink_failed(self._path, exc, records)

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


#: Rendered lines the writer gathers into one ``write`` while more records wait.
_BATCH_BYTES = 64 * 1024


class _DrainHandler(logging.Handler):
    """QueueListener's handler: hands each queued item to the real sink.

    An item is a :class:`.deferred.Deferred` record (completed and rendered here) or a
    :class:`_Flushed` marker. ``handled`` counts items done (only this thread writes it),
    so a waiting ``flush()`` can tell a slow sink from a stuck one.

    While more items wait in the queue, rendered lines (bytes) are gathered, up to
    ``_BATCH_BYTES``, and written with one call of the sink: one ``write(2)`` for a burst
    instead of one per record. Nothing waits on a timer: the gathered lines are written
    as soon as the queue is empty, before a flush marker is answered and before the
    thread ends, so they are never held longer than the records behind them.
    """

    def __init__(self, sink: Any) -> None:
        super().__init__()
        self._sink = sink
        self.handled = 0
        self._gathered = bytearray()
        self._lines = 0
        self.waiting: Callable[[], int] = lambda: 0  # set by QueuedSink: its queue's qsize

    def handle(self, record: Any) -> bool:
        try:
            if type(record) is _Flushed:
                try:
                    self.write_gathered()
                finally:
                    record.done.set()
            else:
                self._write(record.method_name, record.finish())
        except Exception as exc:  # a bug of ours: count it, carry on with the next record
            STATS.add("internal_errors")
            STATS.warn_once("internal:writer", f"internal error in the writer: {exc!r}")
        self.handled += 1
        return True

    def _write(self, method_name: str, line: Any) -> None:
        gathered = self._gathered
        if type(line) is bytes:
            gathered += line
            self._lines += 1
            if len(gathered) < _BATCH_BYTES and self.waiting():
                return  # more to come: write them together
            self.write_gathered()
            return
        self.write_gathered()  # keep the order
        if type(line) is dict:  # the stdlib hand-off: the logger call's arguments
            getattr(self._sink, method_name)(**line)
        else:
            self._sink.msg(line)

    def write_gathered(self) -> None:
        """Write the lines gathered so far, in one call of the sink."""
        if self._gathered:
            data, lines = bytes(self._gathered), self._lines
            self._gathered.clear()
            self._lines = 0
            self._sink.msg(data, lines)

    def forget(self) -> None:
        """Drop gathered lines unwritten (a forked child: they are the parent's to write)."""
        self._gathered.clear()
        self._lines = 0

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() bypasses it
        self._sink.msg(record)


class _Listener(logging.handlers.QueueListener):
    """The stdlib's QueueListener, with a stop that cannot fail on a full queue."""

    def __init__(self, pending: queue.SimpleQueue[Any], handler: _DrainHandler) -> None:
        super().__init__(pending, handler)
        self.pending = pending
        self._drain = handler

    def dequeue(self, block: bool) -> Any:
        item = self.pending.get(block)
        if item is None:  # the sentinel: the thread ends after this, so write what waits
            self._drain.write_gathered()
        return item

    def enqueue_sentinel(self) -> None:
        self.pending.put(None)  # never blocks: the bound is kept by QueuedSink.msg


_QUEUED: weakref.WeakSet[QueuedSink] = weakref.WeakSet()


class QueuedSink:
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
        # The C SimpleQueue: a put costs a twentieth of queue.Queue's; the bound is checked
        # by msg() (qsize() is exact for one producer, within a line or two for several).
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._drain.waiting = self._queue.qsize
        self._listener = _Listener(self._queue, self._drain)
        self._listener.start()
        # Per-client pipelines are dropped with their client, never closed: when this
        # object goes, let the thread write what is left and end rather than leak.
        self._retire = weakref.finalize(self, _retire, self._queue)
        self._retire.atexit = False  # at exit, _flush_all_at_exit does the writing

    def msg(self, message: Any) -> None:
        pending = self._queue
        if pending.qsize() < self._size:
            pending.put(message)
        else:
            STATS.add("queue_dropped")
            STATS.warn_once("queue", f"output queue full ({self._size} lines); dropping records")

    debug = info = warning = error = msg

    def backlog(self) -> int:
        """How many records wait to be written (exact for one producer)."""
        return self._queue.qsize()

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
        self._queue.put(marker)  # past the bound by one at most: a marker is not a line
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
        self._drain.forget()
        if not self._closed:
            self._start()


def _retire(pending: queue.SimpleQueue[Any]) -> None:
    pending.put(None)  # QueueListener's sentinel: drain what is queued, then end


class QueuedStdlib:
    """The ``stdlib`` sink behind a queue: the logger call itself is made on the writer thread.

    The application's handlers then run on the writer thread (a ``LogRecord``'s thread
    and ``created`` time are the writer thread's; the record's ``timestamp`` field is not).
    """

    def __init__(self, sink: StdlibSink, size: int) -> None:
        self._queued = QueuedSink(sink, size)
        self.debug = self.info = self.warning = self.error = self._queued.msg
        self.backlog = self._queued.backlog

    def flush(self) -> None:
        """See :meth:`QueuedSink.flush`."""
        self._queued.flush()

    def close(self) -> None:
        """See :meth:`QueuedSink.close`."""
        self._queued.close()


def _flush_all_at_exit() -> None:
    for sink in list(_QUEUED):
        sink.flush()


def _restart_after_fork() -> None:
    for sink in list(_QUEUED):
        sink._after_fork()


atexit.register(_flush_all_at_exit)
os.register_at_fork(after_in_child=_restart_after_fork)
