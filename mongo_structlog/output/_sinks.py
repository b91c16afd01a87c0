"""Sinks that write rendered lines: stdout/stderr and an appended file (or FIFO).

A sink's :meth:`put` writes one record on the caller's thread; :meth:`write` writes
bytes (one line or a queue's batch) and says how much got out, so the caller counts each
record once: written (``emitted``) or failed (``sink_errors``). Sinks never raise.

A file sink never writes to a descriptor it no longer owns. ``configure()``/``reset()``
close the previous output while other threads may still be inside its ``write``: the
descriptor is then closed by the writer inside once it is done, and a write that starts
after the close is counted as lost (``sink: OutputClosed``) instead of going to whatever
file the application opened next under the same number.

Opening never blocks: the path is opened with ``O_NONBLOCK``. A FIFO (or socket) can block
every write, so it is refused unless a queue stands in front of it; a FIFO nobody reads
yet is then opened by the queue's writer thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
import threading
import weakref
from typing import Any

from ..stats import STATS, sink_failed

__all__ = ["BATCH_BYTES", "PIPE_BUF", "FileSink", "OutputClosed", "StreamSink", "open_file"]

#: The most bytes one ``write(2)`` keeps whole on a pipe shared by several processes.
PIPE_BUF: int = getattr(select, "PIPE_BUF", 4096)

#: The most bytes a queue gathers into one ``write(2)`` to a regular file.
BATCH_BYTES = 64 * 1024

#: How long closing a file output waits for a writer inside ``write(2)``; then that
#: writer closes the descriptor when its write returns.
CLOSE_WAIT_SECONDS = 0.05


class OutputClosed(OSError):
    """A record reached an output after ``configure()``/``reset()`` closed it."""


def _limit_for_mode(mode: int) -> int:
    return PIPE_BUF if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else BATCH_BYTES


class StreamSink:
    """Writes rendered lines to ``sys.stdout``/``sys.stderr`` as they are at write time.

    Args:
        name: ``"stdout"`` or ``"stderr"``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._limit_of: tuple[Any, int] = (None, PIPE_BUF)

    def put(self, method_name: str, event: str, line: bytes) -> None:
        """Write one record's line now and count it (written or failed)."""
        exc = self.write(line)[1]
        if exc is None:
            STATS.emitted(event)
        else:
            sink_failed(self.name, exc)

    def write(self, data: bytes) -> tuple[int, BaseException | None]:
        """Write ``data`` to the stream.

        Returns:
            ``(len(data), None)`` once written, ``(0, exc)`` when the stream failed.
        """
        try:
            stream = getattr(sys, self.name)
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
            else:
                stream.write(data.decode("utf-8", "backslashreplace"))
                stream.flush()
        except Exception as exc:  # a closed or broken stream must not break the application
            return 0, exc
        return len(data), None

    def batch_limit(self) -> int:
        """The most bytes to gather into one write: ``PIPE_BUF`` unless the stream is a file."""
        stream = getattr(sys, self.name, None)
        cached_for, limit = self._limit_of
        if stream is cached_for:
            return limit
        try:
            limit = _limit_for_mode(os.fstat(stream.fileno()).st_mode)  # type: ignore[union-attr]
        except Exception:  # no descriptor (a test's capture): whole lines, small writes
            limit = PIPE_BUF
        self._limit_of = (stream, limit)
        return limit

    def ready(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to release: the streams belong to the application."""


_FILES: weakref.WeakSet[FileSink] = weakref.WeakSet()


class FileSink:
    """Appends lines to a file (or a FIFO) with unbuffered ``write(2)`` calls.

    A writer holds the sink's lock during its ``write(2)`` (appends to one file are
    serialised by the kernel anyway). :meth:`close` never waits for it: it forgets the
    descriptor at once, so no write starts after it, and the descriptor itself is closed
    by whoever holds the lock next: ``close()`` if it gets it within
    :data:`CLOSE_WAIT_SECONDS`, otherwise the writer inside, once its write returns.

    Args:
        path: The file's path (for messages, and for a deferred open).
        fd: The open descriptor, or None to open it on the queue's writer thread
            (:meth:`ready`): a FIFO nobody reads yet.
    """

    def __init__(self, path: str, fd: int | None) -> None:
        self.name = path
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._fd = fd
        self._to_open = fd is None
        self._closing: int | None = None  # forgotten by close(), closed by the lock's holder
        self._closed = False
        self._error: OSError | None = None  # why a deferred open failed
        self._limit = PIPE_BUF if fd is None else _limit_for_mode(os.fstat(fd).st_mode)
        _FILES.add(self)

    def put(self, method_name: str, event: str, line: bytes) -> None:
        """Write one record's line now and count it (written or failed)."""
        # write() inlined: this is every synchronous record's path.
        lock = self._lock
        lock.acquire()
        fd = self._fd
        try:
            if fd is None:
                raise self._why_closed()
            done = os.write(fd, line)
            while done < len(line):  # a short write (a signal, a full disk): finish it
                done += os.write(fd, memoryview(line)[done:])
        except Exception as exc:
            self._release()
            sink_failed(self.name, exc)
            return
        if self._closing is None:
            lock.release()
        else:
            self._release()
        STATS.emitted(event)

    def write(self, data: bytes) -> tuple[int, BaseException | None]:
        """Append ``data``, finishing short writes.

        Returns:
            ``(bytes written, None)`` when all of it was written, else the bytes written
            before the failure and the failure (:class:`OutputClosed` after :meth:`close`).
        """
        self._lock.acquire()
        fd = self._fd
        done = 0
        try:
            if fd is None:
                raise self._why_closed()
            done = os.write(fd, data)
            while done < len(data):
                done += os.write(fd, memoryview(data)[done:])
        except Exception as exc:
            return done, exc
        finally:
            self._release()
        return done, None

    def _why_closed(self) -> OSError:
        if self._error is not None:
            return self._error
        return OutputClosed(f"{self.name} was closed by configure() or reset()")

    def _release(self) -> None:
        """Release the lock, first closing a descriptor :meth:`close` left to us."""
        closing, self._closing = self._closing, None
        self._lock.release()
        if closing is not None:
            _close_quietly(closing)

    def batch_limit(self) -> int:
        """The most bytes to gather into one write: ``PIPE_BUF`` on a FIFO, 64 KiB on a file."""
        return self._limit

    def ready(self) -> None:
        """Open a FIFO nobody read when the output was built (blocks: writer thread only)."""
        if not self._to_open:
            return
        self._to_open = False
        try:
            fd = os.open(self.name, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            self._error = exc
            return
        with self._close_lock:
            if self._closed:
                _close_quietly(fd)
            else:
                self._fd = fd

    def close(self) -> None:
        """Stop writing: no write starts after this, later records are counted as lost.

        The descriptor is closed now, or by the writer inside once its write returns;
        this never waits more than :data:`CLOSE_WAIT_SECONDS`.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            fd, self._fd = self._fd, None
        if fd is None:
            return
        self._closing = fd
        if self._lock.acquire(timeout=CLOSE_WAIT_SECONDS):
            self._release()
        # else a writer is inside a long write: it closes the descriptor when it returns

    def unblock(self) -> None:
        """Let a writer thread stuck opening an unread FIFO go (it then finds us closed)."""
        if self._to_open:
            with contextlib.suppress(OSError):
                os.close(os.open(self.name, os.O_RDONLY | os.O_NONBLOCK))

    def _after_fork(self) -> None:  # pragma: no cover - runs in a forked child (test_fork)
        # A thread inside write() at fork time does not exist here: its lock is free.
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        closing, self._closing = self._closing, None
        if closing is not None:
            _close_quietly(closing)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def open_file(path: str, queued: bool) -> FileSink:
    """Open ``path`` for appending without ever blocking the caller.

    Args:
        path: The output path.
        queued: Whether a queue (and its writer thread) will stand in front of the sink.

    Returns:
        The sink; for an unread FIFO behind a queue, one the writer thread opens.

    Raises:
        ValueError: The path cannot be opened, or it is a FIFO or socket and ``queued``
            is false (naming the variable, the path and what to do).
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ENXIO and _is_fifo(path):  # a FIFO nobody reads (yet)
            if queued:
                return FileSink(path, None)
            raise _blocking_error(path) from None
        raise ValueError(
            f"invalid value for MONGO_STRUCTLOG_OUTPUT={path!r}: cannot open it ({exc})"
        ) from None
    mode = os.fstat(fd).st_mode
    if not queued and (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        os.close(fd)
        raise _blocking_error(path)
    os.set_blocking(fd, True)
    return FileSink(path, fd)


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _blocking_error(path: str) -> ValueError:
    return ValueError(
        f"invalid value for MONGO_STRUCTLOG_OUTPUT={path!r}: it is a FIFO (named pipe), whose "
        "writes block the application while nobody reads it; set MONGO_STRUCTLOG_QUEUE_SIZE "
        "(queue_size) above 0 to write it from a background thread, or use output='stdout'"
    )


def _files_after_fork() -> None:  # pragma: no cover - runs in a forked child
    for sink in list(_FILES):
        sink._after_fork()


os.register_at_fork(after_in_child=_files_after_fork)
