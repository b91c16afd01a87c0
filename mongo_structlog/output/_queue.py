"""The queue: finished lines handed to a background writer thread, never waited on.

With ``queue_size > 0`` the application's thread renders the record and puts the line in
a bounded queue; one writer thread per output writes it. Each record is counted once: as
written (``emitted``) when the writer has written it, as ``queue_dropped`` when the queue
was full, closed, or abandoned behind a stuck sink, or in ``sink_errors`` when the write
failed.

Batches: while more lines wait, the writer gathers whole lines into one ``write(2)``, up
to 64 KiB on a regular file and ``PIPE_BUF`` (4096 bytes) on a pipe or socket, so lines of
several processes sharing one pipe never splice (a single line longer than ``PIPE_BUF``
is written alone, and the kernel may split it).

Bounds: closing the queue (``configure()``/``reset()`` replacing it, a dropped
``listeners()`` set) waits at most :data:`CLOSE_SECONDS`; a writer still making progress
then finishes in the background, and a stuck one is abandoned, its queued records
counted as dropped (a background writer that stops making progress is abandoned too,
by a reaper thread that looks every :data:`CLOSE_SECONDS`). At exit the writers get
until each has written nothing for :data:`CLOSE_SECONDS`, and :data:`EXIT_SECONDS` in
all. A forked child starts an empty queue and its own writer (the records queued before
the fork are the parent's to write).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import weakref
from typing import Any

from ..stats import STATS, queue_dropped, sink_failed

__all__ = ["CLOSE_SECONDS", "EXIT_SECONDS", "FLUSH_STALL_SECONDS", "QueuedSink"]

#: The longest ``configure()``, ``reset()`` or dropping a listener set waits on a queue.
CLOSE_SECONDS = 0.5
#: The longest the interpreter's exit waits on all queues together.
EXIT_SECONDS = 5.0
#: ``flush()`` gives up when the writer has written nothing for this long.
FLUSH_STALL_SECONDS = 5.0

_STOP = None  # the writer ends after the items before it


class _Flushed:
    """Put in the queue by ``flush()``; the writer sets ``done`` when it gets there."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Writer:
    """The writer thread's state; it holds the sink and the queue, not the :class:`QueuedSink`.

    ``handled`` counts items done (only the writer changes it), so a waiting caller can
    tell a slow sink from a stuck one. ``abandoned`` tells the writer, back from a write
    that took too long, to count what remains as dropped instead of writing it.
    """

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.handled = 0
        self.abandoned = False
        self.ended = threading.Event()
        # The records inside the write under way; abandon() counts them as dropped when
        # the write does not return, and the writer then does not count them again.
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._batch = bytearray()
        self._events: list[str] = []
        self._ends: list[int] = []
        self.thread = threading.Thread(target=self._run, name="mongo_structlog-writer", daemon=True)

    def _run(self) -> None:
        try:
            self.sink.ready()
            self._loop()
        except Exception as exc:  # a bug of ours: count what is left, end
            STATS.add("internal_errors")
            STATS.warn_once("internal:writer", f"internal error in the writer: {exc!r}")
            self.abandon()
        finally:
            self.ended.set()

    def _loop(self) -> None:
        pending = self.pending
        while True:
            item = pending.get()
            if self.abandoned:
                self._count_left(item)
                return
            if item is _STOP:
                self._write_batch()
                self.sink.close()
                return
            if type(item) is _Flushed:
                self._write_batch()
                item.done.set()
            else:
                self._take(item)
            self.handled += 1

    def _take(self, item: tuple[str, str, Any]) -> None:
        method, event, line = item
        if type(line) is not bytes:  # the stdlib hand-off: the logger call itself
            if self._write_batch(in_hand=1):
                self.sink.put(method, event, line)
            return
        batch = self._batch
        if not batch:
            self._limit = self.sink.batch_limit()
        elif len(batch) + len(line) > self._limit and not self._write_batch(in_hand=1):
            return  # abandoned during the write: this record was counted as dropped
        batch += line
        self._events.append(event)
        self._ends.append(len(batch))
        if len(batch) >= self._limit or not self.pending.qsize():
            self._write_batch()

    def _write_batch(self, in_hand: int = 0) -> bool:
        """Write the gathered lines; count each written or failed.

        Args:
            in_hand: Records taken from the queue, not gathered, waiting for this write.

        Returns:
            False when the writer was abandoned during the write (those records, and the
            ones in hand, were then counted as dropped).
        """
        if not self._batch:
            return True
        data, events, ends = bytes(self._batch), self._events, self._ends
        self._batch.clear()
        self._events, self._ends = [], []
        self._in_flight = len(events) + in_hand
        done, exc = self.sink.write(data)
        with self._count_lock:
            if not self._in_flight:  # abandoned while writing: counted as dropped already
                return False
            self._in_flight = 0
        if exc is None:
            for event in events:
                STATS.emitted(event)
            return True
        written = 0
        for end, event in zip(ends, events, strict=True):
            if end > done:
                break
            STATS.emitted(event)
            written += 1
        sink_failed(self.sink.name, exc, len(events) - written)
        return True

    def _count_left(self, item: Any) -> None:
        lost = len(self._events) + _lost(item)
        self._batch.clear()
        self._events, self._ends = [], []
        while True:
            try:
                lost += _lost(self.pending.get_nowait())
            except queue.Empty:
                break
        if lost:
            queue_dropped("stuck", _STUCK, lost)

    def abandon(self) -> None:
        """Count every queued record as dropped; the writer stops after its current write."""
        self.abandoned = True
        with self._count_lock:
            lost, self._in_flight = self._in_flight, 0
        while True:
            try:
                lost += _lost(self.pending.get_nowait())
            except queue.Empty:
                break
        if lost:
            queue_dropped("stuck", _STUCK, lost)
        self.pending.put(_STOP)  # wakes a writer waiting for work, so it counts and ends
        unblock = getattr(self.sink, "unblock", None)
        if unblock is not None:
            unblock()


_STUCK = "output sink stopped writing; records still queued were dropped"


def _lost(item: Any) -> int:
    """1 for a record taken from an abandoned queue; a flush waiting on it is answered."""
    if type(item) is _Flushed:
        item.done.set()
    return 1 if type(item) is tuple else 0


def _wait(writer: _Writer, event: threading.Event, stall: float, bound: float) -> bool:
    """Wait for ``event`` while the writer makes progress; False when it stalled or ran out."""
    deadline = time.monotonic() + bound
    seen = writer.handled
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return event.is_set()
        if event.wait(min(stall, left)):
            return True
        if writer.handled == seen:
            return False
        seen = writer.handled


_QUEUED: weakref.WeakSet[QueuedSink] = weakref.WeakSet()
#: Writers of closed queues finishing in the background, with what they had handled when
#: last looked at; the reaper abandons one that has written nothing since.
_RETIRING: dict[_Writer, int] = {}
# Re-entrant: closing a queue may run inside a garbage collection on a thread that
# already holds it (the reaper's, or a close's).
_REAPER_LOCK = threading.RLock()
_reaper: list[threading.Thread] = []


def _retire(writer: _Writer) -> None:
    reaper = threading.Thread(target=_reap, name="mongo_structlog-reaper", daemon=True)
    with _REAPER_LOCK:
        _RETIRING[writer] = writer.handled
        if _reaper and _reaper[0].is_alive():
            return
        _reaper[:] = [reaper]
    reaper.start()


def _reap() -> None:
    """Every :data:`CLOSE_SECONDS`, abandon retiring writers that wrote nothing since."""
    while True:
        time.sleep(CLOSE_SECONDS)
        with _REAPER_LOCK:
            for writer, seen in list(_RETIRING.items()):
                if writer.ended.is_set():
                    del _RETIRING[writer]
                elif writer.handled == seen:
                    del _RETIRING[writer]
                    writer.abandon()
                    writer.sink.close()
                else:
                    _RETIRING[writer] = writer.handled
            if not _RETIRING:
                _reaper.clear()
                return


class QueuedSink:
    """Non-blocking output: finished lines go into a bounded queue drained by one thread.

    Args:
        sink: The sink the writer thread writes to (with ``write``, ``put``,
            ``batch_limit``, ``ready``, ``close``).
        size: The most records waiting; past it, records are dropped and counted.
    """

    def __init__(self, sink: Any, size: int) -> None:
        self._sink = sink
        self._size = size
        self._closed = False
        self._lock = threading.Lock()
        self._start()
        _QUEUED.add(self)

    def _start(self) -> None:
        writer = self._writer = _Writer(self._sink)
        # The C SimpleQueue: a put costs a twentieth of queue.Queue's; the bound is checked
        # by put() (qsize() is exact for one producer, within a line or two for several).
        self._pending = writer.pending
        writer.thread.start()
        # A listener set dropped without close(): let the writer finish and end.
        self._retire = weakref.finalize(self, writer.pending.put, _STOP)
        self._retire.atexit = False

    def put(self, method_name: str, event: str, line: Any) -> None:
        """Queue one record's line (or stdlib call); drop and count it when the queue is full."""
        pending = self._pending
        if pending.qsize() < self._size and not self._closed:
            pending.put((method_name, event, line))
        elif self._closed:
            queue_dropped("closed", "a record reached an output already closed", 1)
        else:
            queue_dropped("full", f"output queue full ({self._size} records); dropping records")

    def flush(self) -> None:
        """Wait until every record queued so far has been written.

        Gives up, and says so once on stderr, when the sink has written nothing for
        :data:`FLUSH_STALL_SECONDS`: a stuck sink must not hang the application.
        """
        if self._closed:
            return
        marker = _Flushed()
        self._pending.put(marker)  # past the bound by one at most: a marker is not a record
        if not _wait(self._writer, marker.done, FLUSH_STALL_SECONDS, float("inf")):
            STATS.warn_once(
                "queue-stalled",
                f"output sink stopped writing; gave up waiting on {self._pending.qsize()} "
                "queued records",
            )

    def close(self) -> None:
        """Write what is queued and end the writer, waiting at most :data:`CLOSE_SECONDS`.

        A writer still making progress then finishes in the background; a stuck one is
        abandoned and the records it still holds are counted as ``queue_dropped``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._retire.detach()
        writer = self._writer
        writer.pending.put(_STOP)
        seen = writer.handled
        if writer.ended.wait(CLOSE_SECONDS):
            return
        if writer.handled != seen:  # slow, not stuck: it finishes in the background
            _retire(writer)
            return
        writer.abandon()
        self._sink.close()

    def _after_fork(self) -> None:  # pragma: no cover - runs in a forked child (test_fork)
        # The parent's writer does not exist here, and its queued records are the
        # parent's to write: start afresh.
        self._lock = threading.Lock()
        self._retire.detach()
        if not self._closed:
            self._start()


def _flush_all_at_exit() -> None:  # pragma: no cover - runs at exit (test_queue, a subprocess)
    deadline = time.monotonic() + EXIT_SECONDS
    waits: list[tuple[_Writer, threading.Event]] = []
    for sink in list(_QUEUED):
        if not sink._closed:
            marker = _Flushed()
            sink._pending.put(marker)
            waits.append((sink._writer, marker.done))
    waits.extend((writer, writer.ended) for writer in list(_RETIRING))
    for writer, done in waits:
        left = deadline - time.monotonic()
        if not _wait(writer, done, CLOSE_SECONDS, max(left, 0.0)):
            writer.abandon()


def _restart_after_fork() -> None:  # pragma: no cover - runs in a forked child
    global _REAPER_LOCK
    _REAPER_LOCK = threading.RLock()
    _RETIRING.clear()
    _reaper.clear()
    for sink in list(_QUEUED):
        sink._after_fork()


atexit.register(_flush_all_at_exit)
os.register_at_fork(after_in_child=_restart_after_fork)
