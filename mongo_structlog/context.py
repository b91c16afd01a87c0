"""Processors that add the caller's context: structlog contextvars and OpenTelemetry ids.

PyMongo publishes command and pool events on the thread (or asyncio task) that runs
the operation, so values the application bound with ``structlog.contextvars`` and the
active OpenTelemetry span are visible there. Heartbeats and topology events come from
PyMongo's monitor threads and carry neither.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any

from structlog import contextvars as _structlog_contextvars

from ._catalogue import BACKGROUND

Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]

__all__ = ["OWN_FIELDS", "context_merger", "merge_contextvars", "trace_processor"]

_PREFIX_LEN = len(_structlog_contextvars.STRUCTLOG_KEY_PREFIX)
# structlog keeps one ContextVar per key ever bound; reading just those is much cheaper
# than walking every context variable of the process as structlog's own processor does.
_BOUND_VARS: dict[str, Any] | None = getattr(_structlog_contextvars, "_CONTEXT_VARS", None)

# PyMongo publishes these from its monitor and event threads or tasks, never on the caller's
# (the catalogue's ``background`` rows). An asyncio task copies the context it was created
# in, so without this check every heartbeat of an AsyncMongoClient opened inside a request
# would carry that request's bound values and span for the life of the client.
_BACKGROUND_EVENTS = BACKGROUND


#: Every field name our records use. A value the application binds under one of these
#: names is written as ``app_<name>`` instead, on every record, so that one key never has
#: two meanings or two types (an app's string ``duration_micros`` beside ours). Our
#: names are chosen so that the usual ones an application binds (``request_id``,
#: ``user_id``, ``tenant``, ...) are not among them and keep their names.
OWN_FIELDS = frozenset(
    {
        "timestamp", "level", "event", "topology_id", "server_address", "server_host",
        "server_port", "connection_id", "server_connection_id", "duration_micros", "reason",
        "driver_request_id", "operation_id", "command_name", "database_name", "collection",
        "command", "command_shape", "reply", "error", "error_type", "error_code",
        "error_code_name", "error_labels", "awaited", "previous_server_type",
        "new_server_type", "previous_topology_type", "new_topology_type", "primary",
        "has_writable_server", "had_writable_server", "slow", "sample_rate", "trace_id",
        "span_id", "suppressed_event", "sampled_out", "burst_limited", "interval_ms",
        "max_pool_size", "min_pool_size", "max_connecting", "max_idle_time_ms",
        "wait_queue_timeout_ms", "interrupt_connections", "service_id",
        "published_after_micros", "previous_primary", "unavailable_micros", "in_use",
        "waiting", "oldest_in_use_micros", "oldest_in_use_command", "oldest_waiting_micros",
        "service_name", "service_version", "service_environment", "process_pid", "host_name",
    }
)  # fmt: skip


def _from_background(event_dict: MutableMapping[str, Any]) -> bool:
    event = event_dict.get("event")
    return type(event) is str and event in _BACKGROUND_EVENTS


def context_merger(
    clean: Callable[[str, Any], Any] | None = None, shadow: bool = False
) -> Processor:
    """A processor like :func:`merge_contextvars` that passes each bound value through ``clean``.

    Args:
        clean: ``clean(name, value)`` returns what to write for a bound value (our
            pipelines pass :meth:`.DocumentRenderer.context_value`, which redacts and cuts);
            ``None`` writes values as they are.
        shadow: For outputs that hand records on to the application's own chain
            (``stdlib``, ``structlog``): a bound name written as ``app_<name>`` is also
            written, cleaned, under its own name when the record has no such key, because
            the application's ``merge_contextvars`` fills in every missing bound name with
            the raw value.

    Returns:
        ``merge(logger, method_name, event_dict)``.
    """

    def merge(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if _BOUND_VARS is None:  # pragma: no cover - a structlog without the private registry
            if _from_background(event_dict):
                return event_dict
            bound = _structlog_contextvars.get_contextvars()
        elif _BOUND_VARS and not _from_background(event_dict):
            bound = {}
            for name, var in tuple(_BOUND_VARS.items()):
                value = var.get(Ellipsis)
                if value is not Ellipsis:
                    bound[name[_PREFIX_LEN:]] = value
        else:
            return event_dict
        for key, value in bound.items():
            written = key if key not in OWN_FIELDS else "app_" + key
            if written not in event_dict:
                safe = value if clean is None else clean(key, value)
                event_dict[written] = safe
                if shadow and key not in event_dict:
                    event_dict[key] = safe
        return event_dict

    return merge


merge_contextvars: Processor = context_merger()
"""Add values bound with ``structlog.contextvars.bind_contextvars`` on this thread or task.

A bound name that is also one of our field names (:data:`OWN_FIELDS`) is written as
``app_<name>``, so each key keeps one type across records. Records PyMongo publishes from
its background threads or tasks (heartbeat, server and topology records) get none. Values
are written as they are; our own pipelines use :func:`context_merger` to redact and cut them.
"""


def trace_processor() -> Any | None:
    """A processor adding the active OpenTelemetry span's ids, or ``None`` without OTel.

    ``opentelemetry-api`` is optional and imported here, when settings are applied, so
    that without it the chain has no trace step and costs nothing.

    Returns:
        ``add_trace_context(logger, method_name, event_dict)``, which sets ``trace_id``
        (32 lower-case hex) and ``span_id`` (16 lower-case hex) when a valid span is
        active on this thread or task (not on records PyMongo publishes from its
        background threads or tasks); or ``None`` when ``opentelemetry`` is absent.
    """
    try:
        trace = importlib.import_module("opentelemetry.trace")
        context = importlib.import_module("opentelemetry.context")
    except ImportError:
        return None
    get_current = context.get_current
    # The key under which the API keeps the active span: reading it straight from the
    # current context skips get_current_span()'s INVALID_SPAN detour on every record
    # made outside a span. Private, so fall back to the public call if it moves.
    span_key = getattr(
        importlib.import_module("opentelemetry.trace.propagation"), "_SPAN_KEY", None
    )
    get_current_span = trace.get_current_span

    def add_trace_context(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if span_key is not None:
            span = get_current().get(span_key)
            if span is None:
                return event_dict
        else:  # pragma: no cover - an opentelemetry-api without the private key
            span = get_current_span()
        span_context = span.get_span_context()
        if span_context.is_valid and not _from_background(event_dict):
            event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
        return event_dict

    return add_trace_context
