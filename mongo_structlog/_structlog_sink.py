"""The ``structlog`` output: records handed to the application's own structlog configuration.

As structlog advises libraries, records go to a logger from
``structlog.get_logger("mongo_structlog")``, called with the record's level method, its
event name and its fields: ``logger.info("mongodb.command.succeeded", **fields)``. The
application's processors, its contextvars merge, its level filter and its renderer then
apply. ``structlog.get_logger`` returns a lazy proxy, so a ``structlog.configure()`` the
application makes after ours still applies.

What is handed over:

- ``level`` is not: it is the method called (``add_log_level`` writes it back);
- ``event`` is the positional event name;
- ``timestamp`` is, under its own name: when the event happened (for server and
  topology changes, when the driver observed it), which can be earlier than the call. An
  application ``TimeStamper(key="timestamp")`` overwrites it with the time of the call, in
  the application's own format; one with another key leaves both;
- every other field as it is, values bound with ``structlog.contextvars`` included (after
  redaction); the application's ``merge_contextvars`` then adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

from .stats import sink_failed

__all__ = ["LOGGER_NAME", "StructlogSink", "to_structlog"]

#: The name passed to ``structlog.get_logger`` (``logger_name`` in stdlib-backed chains).
LOGGER_NAME = "mongo_structlog"


def to_structlog(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Final step of the ``structlog`` output: the arguments of :class:`StructlogSink`'s methods.

    Returns:
        ``{"event": event name, "fields": every field but event and level}``.
    """
    fields = dict(event_dict)
    fields.pop("level", None)
    return {"event": fields.pop("event", ""), "fields": fields}


class StructlogSink:
    """Calls ``structlog.get_logger("mongo_structlog").<level>(event, **fields)``.

    Whatever the application's chain raises is counted in ``stats()`` (``sink_errors``)
    and reported once, never raised into PyMongo; ``structlog.DropEvent`` is structlog's
    own way to drop a record and is not an error.
    """

    def __init__(self) -> None:
        self.logger = structlog.get_logger(LOGGER_NAME)
        self.debug = self._call("debug")
        self.info = self._call("info")
        self.warning = self._call("warning")
        self.error = self._call("error")

    def _call(self, method_name: str) -> Callable[..., bool]:
        logger = self.logger

        def log(event: str, fields: dict[str, Any]) -> bool:
            try:
                getattr(logger, method_name)(event, **fields)
            except Exception as exc:
                sink_failed("the application's structlog configuration", exc)
                return False  # counted as lost: the output does not count it as written
            return True

        return log

    def close(self) -> None:
        """Nothing to release: the configuration belongs to the application."""
