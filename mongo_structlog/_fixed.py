"""Fixed fields: the service name, version and environment, the application's own fixed
fields and, on request, the process id and host name, added to every record.

They go right after the record's first keys (``timestamp``, ``level``, ``event``), so a
reader sees who wrote a record before what it says. Their values are foreign text: they
pass the same gate as bound values (redaction by name, the length limit), once, when the
settings are applied. The process id is refreshed in a child after ``fork`` (a gunicorn
worker reports its own), without a system call per record.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, MutableMapping
from typing import Any, Final

from .documents import DocumentRenderer
from .settings import Settings

__all__ = ["fixed_fields", "fixed_fields_processor"]

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]

# Our records start with these; fixed fields go right after them.
_FIRST: Final = ("timestamp", "level", "event")

_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_refresh_pid)


def fixed_fields(settings: Settings) -> dict[str, Any]:
    """The fields every record gets from ``settings``, in record order, values made safe.

    ``process_pid`` is the pid of the calling process; records carry the pid of the process
    that wrote them.

    Args:
        settings: Validated settings.

    Returns:
        ``service_name``, ``service_version``, ``service_environment`` (those set), the
        ``fields`` setting's pairs, then ``process_pid`` and ``host_name`` when
        ``process_fields`` is on. Strings are cut to ``max_document_length`` (plus
        ``...``), and a name on the redaction list gets ``"[REDACTED]"``.
    """
    raw: dict[str, Any] = {}
    for name in ("service_name", "service_version", "service_environment"):
        value = getattr(settings, name)
        if value is not None:
            raw[name] = value
    raw.update(settings.fields)
    if settings.process_fields:
        raw["process_pid"] = _pid
        raw["host_name"] = socket.gethostname()
    gate = DocumentRenderer(settings.documents, settings.redact_keys, settings.max_document_length)
    return {name: gate.context_value(name, value) for name, value in raw.items()}


def fixed_fields_processor(settings: Settings) -> Processor | None:
    """A structlog processor adding the fixed fields, or ``None`` when there are none.

    A key the record already holds keeps the record's value.

    Args:
        settings: Validated settings.

    Returns:
        ``add_fixed_fields(logger, method_name, event_dict)``, which returns a new dict:
        the record's first keys, the fixed fields, then the rest of the record.
    """
    fixed = fixed_fields(settings)
    if not fixed:
        return None
    with_pid = "process_pid" in fixed

    def add_fixed_fields(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        record = {key: event_dict[key] for key in _FIRST if key in event_dict}
        record.update(fixed)
        if with_pid:
            record["process_pid"] = _pid
        record.update(event_dict)
        return record

    return add_fixed_fields
