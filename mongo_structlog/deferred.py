"""Work a queued output leaves to its writer thread: rendering, and the command's documents.

With ``queue_size > 0`` the application's thread does only what must happen there: the
sampling decision, the correlation, the timestamp, the connection number, the values
bound with ``structlog.contextvars`` and the OpenTelemetry ids, and any processors. The
record then goes into the queue as a :class:`Deferred`; the writer thread completes it
(the command's ``command``/``command_shape`` text and the ``reply`` summary, which a
:class:`Later` stands in for until then), renders it and writes it.

This happens in modes that write no values (``documents`` ``shape`` and ``none``), and
only while the writer keeps up (fewer than ``pipeline.DEFER_WHILE_BELOW`` records
waiting), so that a slow sink never makes the queue hold on to many commands' documents;
behind that, records are completed at once, as without a queue.

Reading the command and reply on the writer thread means reading them a little after
PyMongo published them. PyMongo does not change them; an application that changes a
document it passed to PyMongo (a filter, an inserted document) before the record is
written gets the shape of the changed document, and one that changes its size while it
is read gets ``{"$unrenderable": ...}`` (see docs/performance.md). Redaction is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Deferred", "Later", "complete"]


class Later:
    """Stands in a record for the command's text and shape and the reply, until written.

    Every key of the record it stands in for holds this same object; :func:`complete`
    replaces them, in place, keeping the record's key order.

    Args:
        renderer: The pipeline's :class:`~.documents.DocumentRenderer`.
        command_name: The started command's name.
        command: The command document (``{}`` for a sensitive one), or None to render
            no command.
    """

    __slots__ = ("_command", "_command_name", "_renderer", "_reply")

    def __init__(self, renderer: Any, command_name: str, command: Mapping[str, Any] | None) -> None:
        self._renderer = renderer
        self._command_name = command_name
        self._command = command
        self._reply: tuple[str, Mapping[str, Any], bool] | None = None

    def reply(self, command_name: str, reply: Mapping[str, Any], sensitive: bool) -> None:
        """Render this reply too (arguments as :meth:`.DocumentRenderer.reply`)."""
        self._reply = (command_name, reply, sensitive)

    def fields(self) -> dict[str, Any]:
        """The fields stood in for, rendered now.

        Returns:
            ``command`` (not in mode ``none``) and ``command_shape`` when a command was
            given, ``reply`` when one was; the renderer never raises.
        """
        out: dict[str, Any] = {}
        if self._command is not None:
            text, shape = self._renderer.command(self._command_name, self._command)
            if text is not None:
                out["command"] = text
            out["command_shape"] = shape
        if self._reply is not None:
            out["reply"] = self._renderer.reply(*self._reply)
        return out


def complete(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with what a :class:`Later` in it stands for (the same dict if none)."""
    later = None
    for value in record.values():
        if type(value) is Later:
            later = value
            break
    if later is None:
        return record
    filled = later.fields()
    return {
        key: (filled[key] if type(value) is Later else value)
        for key, value in record.items()
        if type(value) is not Later or key in filled
    }


class Deferred:
    """A record queued before its last step: completed and rendered by :meth:`finish`.

    Args:
        final: The output's last processor (the renderer, or the stdlib hand-off).
        method_name: The record's level method (``"info"``, ...).
        record: The record after every other processor.
    """

    __slots__ = ("final", "method_name", "record")

    def __init__(
        self, final: Callable[[Any, str, Any], Any], method_name: str, record: dict[str, Any]
    ) -> None:
        self.final = final
        self.method_name = method_name
        self.record = record

    def finish(self) -> Any:
        """Complete the record and run the last processor: the line (or stdlib call) to write."""
        return self.final(None, self.method_name, complete(self.record))
