"""The ``stdlib`` output: records handed to the stdlib logger ``mongo_structlog``.

The application's handlers decide where they go and how they look.
:func:`json_formatter` gives a ready python-json-logger formatter that renders our
fields (and any BSON value) as one JSON object per line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .stats import sink_failed

__all__ = ["STDLIB_LOGGER_NAME", "StdlibSink", "json_formatter"]

#: The stdlib logger that ``MONGO_STRUCTLOG_OUTPUT=stdlib`` hands records to.
STDLIB_LOGGER_NAME = "mongo_structlog"


class StdlibSink:
    """Hands records to ``logging.getLogger("mongo_structlog")``.

    Each record becomes a ``LogRecord`` whose message is the event name and whose
    ``extra`` attributes are the record's fields. A handler that raises is counted in
    ``stats()`` (``sink_errors``) and reported once, never raised into PyMongo.

    Args:
        level: Our configured level; set on the logger only when it has none of its own,
            so the root's default ``WARNING`` does not silently drop ``info`` records.
    """

    def __init__(self, level: int) -> None:
        self.logger = logging.getLogger(STDLIB_LOGGER_NAME)
        if self.logger.level == logging.NOTSET:
            self.logger.setLevel(level)
        self.debug = self._call(self.logger.debug)
        self.info = self._call(self.logger.info)
        self.warning = self._call(self.logger.warning)
        self.error = self._call(self.logger.error)

    @staticmethod
    def _call(method: Callable[..., Any]) -> Callable[..., bool]:
        def log(msg: str, extra: dict[str, Any]) -> bool:
            try:
                method(msg, extra=extra)
            except Exception as exc:
                sink_failed("the stdlib logger", exc)
                return False  # counted as lost: the output does not count it as written
            return True

        return log

    def close(self) -> None:
        """Nothing to release: the handlers belong to the application."""


def json_formatter(**kwargs: Any) -> logging.Formatter:
    """A python-json-logger formatter (orjson-backed) for the ``mongo_structlog`` logger.

    It writes exactly our record: ``timestamp``, ``level``, ``event`` and the fields,
    with BSON values (ObjectId, Decimal128, ...) rendered as text.

    Args:
        **kwargs: Passed to ``pythonjsonlogger.orjson.OrjsonFormatter`` (for example
            ``static_fields={"service": "billing"}``), overriding our defaults.

    Returns:
        The formatter: ``handler.setFormatter(mongo_structlog.json_formatter())``.
    """
    from pythonjsonlogger.core import RESERVED_ATTRS  # noqa: PLC0415
    from pythonjsonlogger.orjson import OrjsonFormatter  # noqa: PLC0415

    from .output import json_default  # noqa: PLC0415  # output imports this module

    options: dict[str, Any] = {
        "fmt": [],
        "json_default": json_default,
        "reserved_attrs": [*RESERVED_ATTRS, "message"],
    }
    options.update(kwargs)
    formatter: logging.Formatter = OrjsonFormatter(**options)
    return formatter
