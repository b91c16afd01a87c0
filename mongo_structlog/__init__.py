"""Every PyMongo monitoring event as a structured, safe, sampled log record.

Call :func:`configure` once at startup (or pass :func:`listeners` to one client) and
every command, heartbeat, topology change and connection-pool event becomes one JSON
line. See https://github.com/mongo-structlog/mongo-structlog/tree/main/docs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .api import configure, flush, listeners, reset, stats
from .documents import DocumentRenderer, is_sensitive
from .output import STDLIB_LOGGER_NAME, json_default, render_json
from .settings import Settings, load_settings
from .stdlib import json_formatter

try:
    __version__ = version("mongo-structlog")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "STDLIB_LOGGER_NAME",
    "DocumentRenderer",
    "Settings",
    "__version__",
    "configure",
    "flush",
    "is_sensitive",
    "json_default",
    "json_formatter",
    "listeners",
    "load_settings",
    "render_json",
    "reset",
    "stats",
]
