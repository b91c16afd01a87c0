"""Elastic Common Schema output: one flat record in, one ECS document out.

:func:`to_ecs` is the last processor before the JSON renderer when
``MONGO_STRUCTLOG_FORMAT=ecs``. It follows the ECS logging spec and ecs-logging's
``StructlogFormatter``: ``@timestamp``, ``log.level`` and ``message`` come first,
``log.level`` and ``ecs.version`` are dotted top-level keys, and everything else is
written as nested objects, which is how Elasticsearch stores it. Database facts use
the OpenTelemetry database names (``db.namespace``, ``db.operation.name``, ...) and
whatever has no ECS or OpenTelemetry home goes under ``mongodb.*``.

Keys bound by the application (``structlog.contextvars``, say) keep their place, with
dotted keys expanded into objects as ecs-logging does, unless they would land on or
inside a field this module writes, in ``mongodb.*``, on a top-level ``_`` name
(Elasticsearch metadata) or on an application key already placed. Those go to
``labels``, their key sanitised as the ECS logging spec says. The result can never
hold a path that is both a value and an object.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

import orjson
from ecs_logging import ECS_VERSION as _ECS_LOGGING_VERSION

__all__ = ["DATASET", "ECS_VERSION", "to_ecs"]

#: The ``ecs.version`` of every document: the one ecs-logging declares, so these records
#: index beside the application's own ecs-logging output.
ECS_VERSION: Final[str] = _ECS_LOGGING_VERSION

#: ``event.dataset`` of ``mongodb.*`` records unless the application binds a string
#: ``event.dataset``. Not one of the datasets of Elastic's MongoDB integration, whose
#: ingest pipelines parse server logs.
DATASET: Final = "mongodb.monitoring"

# Flat key -> (top-level object, key inside it, key one level down or None).
_FIELDS: Final[dict[str, tuple[str, str, str | None]]] = {
    "reason": ("event", "reason", None),
    "database_name": ("db", "namespace", None),
    "collection": ("db", "collection", "name"),
    "command_name": ("db", "operation", "name"),
    "command": ("db", "query", "text"),
    "server_host": ("server", "address", None),
    "server_port": ("server", "port", None),
    "error": ("error", "message", None),
    "error_type": ("error", "type", None),
    # What structlog's format_exc_info leaves, mapped as ecs-logging maps it.
    "exception": ("error", "stack_trace", None),
    "trace_id": ("trace", "id", None),
    "span_id": ("span", "id", None),
}

# Flat keys with no ECS or OpenTelemetry home, kept under their own name in ``mongodb``.
_MONGODB_KEYS: Final = frozenset(
    {
        "driver_request_id",
        "operation_id",
        "connection_id",
        "server_connection_id",
        "server_address",
        "topology_id",
        "command_shape",
        "reply",
        "error_code_name",
        "error_labels",
        "awaited",
        "previous_server_type",
        "new_server_type",
        "previous_topology_type",
        "new_topology_type",
        "primary",
        "has_writable_server",
        "had_writable_server",
        "interrupt_connections",
        "service_id",
        "max_pool_size",
        "min_pool_size",
        "max_connecting",
        "max_idle_time_ms",
        "wait_queue_timeout_ms",
        "in_flight",
        "slow",
        "sample_rate",
        "suppressed_event",
        "sampled_out",
        "burst_limited",
        "interval_ms",
        # incidents: observed times, topology incidents, pool pressure (docs/incidents.md)
        "published_after_micros",
        "previous_primary",
        "unavailable_micros",
        "in_use",
        "waiting",
        "oldest_in_use_micros",
        "oldest_in_use_command",
        "oldest_waiting_micros",
    }
)

# Read before the loop rather than copied by it: they change name or type on the way.
_CONVERTED: Final = frozenset({"timestamp", "level", "event", "duration_micros", "error_code"})

# Created in every document so the top level always comes out in this order; the empty
# ones are removed at the end.
_OBJECTS: Final = ("event", "db", "server", "error", "trace", "span", "mongodb")

_OUTCOMES: Final = {
    "mongodb.command.succeeded": "success",
    "mongodb.heartbeat.succeeded": "success",
    "mongodb.connection.checked_out": "success",
    "mongodb.command.failed": "failure",
    "mongodb.heartbeat.failed": "failure",
    "mongodb.connection.check_out_failed": "failure",
}

# Every dotted field this module can write. Application keys may not land on one, inside
# one, or on one of their parents: across documents that would be a mapping conflict
# even where this record lacks the field.
_OWNED_FIELDS: Final = frozenset(
    {
        "@timestamp",
        "log.level",
        "message",
        "ecs.version",
        "event.action",
        "event.kind",
        "event.category",
        "event.dataset",
        "event.duration",
        "event.outcome",
        "db.system.name",
        "db.response.status_code",
        "error.code",
    }
    | {".".join(part for part in spot if part is not None) for spot in _FIELDS.values()}
)
_OWNED_PARENTS: Final = frozenset(
    field.rsplit(".", depth)[0]
    for field in _OWNED_FIELDS
    for depth in range(1, field.count(".") + 1)
)

# Top-level names a plain application key needs the long way round for: ours and the
# labels it may be moved to.
_TOP_NAMES: Final = frozenset(
    {field.split(".", 1)[0] for field in _OWNED_FIELDS} | {"mongodb", "labels"}
)

# ECS fields an application may set itself when it binds a string: the spec makes the
# dataset configurable, and an APM agent's trace ids beat none at all.
_APP_MAY_SET: Final = {"event.dataset": True, "trace.id": False, "span.id": False}

# Deeper application paths go to labels: Elasticsearch refuses objects nested past
# index.mapping.depth.limit (20), and no ECS field is anywhere near this deep.
_MAX_DEPTH: Final = 10

# The ECS logging spec's sanitisation of label keys.
_LABEL_KEY: Final = str.maketrans({".": "_", "*": "_", "\\": "_"})

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_SEQUENCES: Final = frozenset({list, tuple})


def to_ecs(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Map one flat mongo_structlog record to an ECS document, ready for ``orjson.dumps``.

    ``event_dict`` is left as it was; the document is a new dict, though values such as
    ``error_labels`` or the application's lists are shared rather than copied. Records
    whose event name does not start with ``mongodb.`` (an application's own, when this
    processor sits in its chain) get the same mapping without the MongoDB defaults
    (``event.kind``, ``event.category``, ``event.dataset``, ``db.system.name``).

    Args:
        logger: The wrapped logger (unused; part of structlog's processor signature).
        method_name: The logger method called; the level when the record has none.
        event_dict: The flat record: the CONTRACT.md fields plus any application keys.

    Returns:
        The ECS document: ``@timestamp``, ``log.level``, ``message``, ``ecs.version``
        first, then the ``event``, ``db``, ``server``, ``error``, ``trace``, ``span`` and
        ``mongodb`` objects that have content, then application keys, then ``labels``.
    """
    get = event_dict.get
    name = get("event")
    message = name if type(name) is str else ("" if name is None else str(name))
    doc: dict[str, Any] = {
        "@timestamp": get("timestamp") or _now(),
        "log.level": get("level") or method_name,
        "message": message,
        "ecs.version": ECS_VERSION,
    }
    event: dict[str, Any] = {}
    db: dict[str, Any] = {}
    if message.startswith("mongodb."):
        event["action"] = message
        event["kind"] = "metric" if message == "mongodb.sampling.summary" else "event"
        event["category"] = ["database"]
        event["dataset"] = DATASET
        db["system"] = {"name": "mongodb"}
    duration = get("duration_micros")
    if duration is not None:
        event["duration"] = round(duration * 1000)
    outcome = _OUTCOMES.get(message)
    if outcome is not None:
        event["outcome"] = outcome
    doc["event"] = event
    doc["db"] = db
    doc["server"] = {}
    doc["error"] = {}
    doc["trace"] = {}
    doc["span"] = {}

    mongodb: dict[str, Any] = {}
    doc["mongodb"] = mongodb
    extras: list[tuple[Any, Any]] | None = None
    for key, value in event_dict.items():
        if key in _MONGODB_KEYS:
            mongodb[key] = value
            continue
        spot = _FIELDS.get(key)
        if spot is not None:
            top, sub, leaf = spot
            # No two flat keys share a nested object, so it is made whole here.
            doc[top][sub] = value if leaf is None else {leaf: value}
        elif key not in _CONVERTED:
            if extras is None:
                extras = []
            extras.append((key, value))

    code = get("error_code")
    if code is not None:
        doc["error"]["code"] = str(code)
        db["response"] = {"status_code": str(code)}

    if extras is not None:
        labels: dict[str, Any] = {}
        for key, value in extras:
            _add_app_field(doc, labels, key if type(key) is str else str(key), value)
        if labels:
            doc["labels"] = labels
    for top in _OBJECTS:
        if not doc[top]:
            del doc[top]
    return doc


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _add_app_field(doc: dict[str, Any], labels: dict[str, Any], key: str, value: Any) -> None:
    """Place one application key, split into leaves the way ecs-logging expands it."""
    # Not ecs_logging's normalize_dict/merge_dicts: they rewrite the application's own
    # dicts in place and raise at the first clash with half the merge done. Same rules
    # here, but nothing the application holds is touched and a clash moves one leaf.
    if type(value) in _SCALARS:
        # The usual case (``request_user="bob"``) in a handful of lookups.
        if (
            "." not in key
            and key.strip()
            and key[0] != "_"
            and key not in _TOP_NAMES
            and key not in doc
        ):
            doc[key] = value
            return
        _add_leaf(doc, labels, key, value)
        return
    if not isinstance(value, Mapping):
        _add_leaf(doc, labels, key, value)
        return
    # An empty mapping has no leaf to index, so it leaves nothing behind.
    for sub, item in value.items():
        _add_app_field(doc, labels, f"{key}.{sub}", item)


def _add_leaf(doc: dict[str, Any], labels: dict[str, Any], path: str, value: Any) -> None:
    # Only the application's own text may override (a list cleaned into JSON text may not).
    was_text = type(value) is str
    value = _clean(value)
    parts = path.split(".")
    if parts[0] == "labels":
        # ECS labels are flat keyword pairs, so a deeper path becomes one sanitised key.
        _add_label(labels, path[7:] if len(parts) > 1 else path, value)
        return
    override = _APP_MAY_SET.get(path)
    if override is not None and was_text and (override or parts[1] not in doc[parts[0]]):
        doc[parts[0]][parts[1]] = value
        return
    if (
        len(parts) > _MAX_DEPTH
        or _owned(parts)
        or not all(part.strip() for part in parts)
        or not _place(doc, parts, value)
    ):
        _add_label(labels, path, value)


def _owned(parts: list[str]) -> bool:
    # Top-level names starting with "_" are Elasticsearch metadata fields (_id, _source).
    if parts[0] == "mongodb" or parts[0][:1] == "_":
        return True
    prefix = ""
    for part in parts:
        prefix = f"{prefix}.{part}" if prefix else part
        if prefix in _OWNED_FIELDS:
            return True
    return prefix in _OWNED_PARENTS


def _place(doc: dict[str, Any], parts: list[str], value: Any) -> bool:
    """Put ``value`` at ``parts`` unless a value or object is already in the way."""
    node = doc
    last = len(parts) - 1
    for depth in range(last):
        child = node.get(parts[depth])
        if child is None:
            if parts[depth] in node:  # an explicit null is a value too
                return False
            for part in parts[depth:last]:
                node[part] = node = {}
            node[parts[last]] = value
            return True
        if type(child) is not dict:
            return False
        node = child
    if parts[last] in node:
        return False
    node[parts[last]] = value
    return True


def _add_label(labels: dict[str, Any], key: str, value: Any) -> None:
    key = key.translate(_LABEL_KEY)
    # Elasticsearch refuses empty and blank field names.
    labels[key if key.strip() else f"_{key}"] = value


def _clean(value: Any) -> Any:
    """A list holding objects becomes its JSON text.

    Elasticsearch flattens arrays of objects into one mapping, so objects that disagree
    with each other (or with a scalar beside them) would reject the whole document.
    """
    if type(value) in _SEQUENCES and _holds_mapping(value):
        try:
            return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except orjson.JSONEncodeError:  # an int beyond 64 bits, say
            return repr(value)
    return value


def _holds_mapping(items: Any) -> bool:
    for item in items:
        if type(item) in _SCALARS:
            continue
        if isinstance(item, Mapping) or (type(item) in _SEQUENCES and _holds_mapping(item)):
            return True
    return False
