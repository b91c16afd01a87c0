"""Elastic Common Schema output: one flat record in, one ECS document out.

:func:`to_ecs` is the last processor before the JSON renderer when
``MONGO_STRUCTLOG_FORMAT=ecs``. It follows the ECS logging spec and ecs-logging's
``StructlogFormatter``: ``@timestamp``, ``log.level`` and ``message`` (a sentence such as
``find shop.orders succeeded in 0.5 ms``) come first,
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
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

__all__ = ["DATASET", "ECS_VERSION", "message_of", "to_ecs"]

#: The ``ecs.version`` of every document: the first ECS release holding every ECS field this
#: module writes (``service.environment`` arrived in 8.0). ecs-logging still declares 1.6.0,
#: though its formatters write ``service.environment`` too.
ECS_VERSION: Final[str] = "8.0.0"

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
    # The fixed fields (see docs/configuration.md).
    "service_name": ("service", "name", None),
    "service_version": ("service", "version", None),
    "service_environment": ("service", "environment", None),
    "host_name": ("host", "hostname", None),
    "process_pid": ("process", "pid", None),
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

# One lookup per key: where it goes (_MONGODB: under its own name in ``mongodb``), None
# for the keys read before the loop.
_MONGODB: Final = ("mongodb", "", None)
_UNKNOWN: Final = ("", "", None)
_ROUTES: Final[dict[str, tuple[str, str, str | None] | None]] = {
    **dict.fromkeys(_MONGODB_KEYS, _MONGODB),
    **_FIELDS,
    **dict.fromkeys(_CONVERTED),
}

# Created in every document so the top level always comes out in this order; the empty
# ones are removed at the end.
_OBJECTS: Final = (
    "event",
    "service",
    "host",
    "process",
    "db",
    "server",
    "error",
    "trace",
    "span",
    "mongodb",
)

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
# The same goes for the service and host names of an application that binds its own
# instead of setting the fixed fields.
_APP_MAY_SET: Final = {
    "event.dataset": True,
    "trace.id": False,
    "span.id": False,
    "service.name": False,
    "service.version": False,
    "service.environment": False,
    "host.hostname": False,
}

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
    (``event.kind``, ``event.category``, ``event.dataset``, ``db.system.name``), and their
    event name as the message.

    Args:
        logger: The wrapped logger (unused; part of structlog's processor signature).
        method_name: The logger method called; the level when the record has none.
        event_dict: The flat record: the CONTRACT.md fields plus any application keys.

    Returns:
        The ECS document: ``@timestamp``, ``log.level``, ``message`` (see
        :func:`message_of`), ``ecs.version`` first, then the ``event``, ``service``,
        ``host``, ``process``, ``db``, ``server``, ``error``, ``trace``, ``span`` and
        ``mongodb`` objects that have content, then application keys, then ``labels``.
    """
    get = event_dict.get
    name = get("event")
    action = name if type(name) is str else ("" if name is None else str(name))
    doc: dict[str, Any] = {
        "@timestamp": get("timestamp") or _now(),
        "log.level": get("level") or method_name,
        "message": action,
        "ecs.version": ECS_VERSION,
    }
    event: dict[str, Any] = {}
    db: dict[str, Any] = {}
    mongodb: dict[str, Any] = {}
    objects = {"event": event, "db": db, "mongodb": mongodb}
    if action.startswith("mongodb."):
        sentence = _MESSAGES.get(action)
        if sentence is not None:
            doc["message"] = _sentence(sentence, get, action)
        event["action"] = action
        event["kind"] = "metric" if action == "mongodb.sampling.summary" else "event"
        event["category"] = ["database"]
        event["dataset"] = DATASET
        db["system"] = {"name": "mongodb"}
    duration = get("duration_micros")
    if duration is not None:
        event["duration"] = round(duration * 1000)
    outcome = _OUTCOMES.get(action)
    if outcome is not None:
        event["outcome"] = outcome
    extras = _route(event_dict, objects, mongodb)
    code = get("error_code")
    if code is not None:
        objects.setdefault("error", {})["code"] = str(code)
        db["response"] = {"status_code": str(code)}
    if extras is None:
        for top in _OBJECTS:
            target = objects.get(top)
            if target:
                doc[top] = target
        return doc
    return _with_app_fields(doc, objects, extras)


def _route(
    event_dict: dict[str, Any], objects: dict[str, dict[str, Any]], mongodb: dict[str, Any]
) -> list[tuple[Any, Any]] | None:
    """Put each known key in its ECS object; return the application's keys (or None)."""
    extras: list[tuple[Any, Any]] | None = None
    for key, value in event_dict.items():
        spot = _ROUTES.get(key, _UNKNOWN)
        if spot is _MONGODB:
            mongodb[key] = value
            continue
        if spot is None:  # read by to_ecs itself
            continue
        if spot is _UNKNOWN:
            if extras is None:
                extras = []
            extras.append((key, value))
            continue
        top, sub, leaf = spot
        target = objects.get(top)
        if target is None:
            target = objects[top] = {}
        # No two flat keys share a nested object, so it is made whole here.
        target[sub] = value if leaf is None else {leaf: value}
    return extras


def _with_app_fields(
    doc: dict[str, Any], objects: dict[str, dict[str, Any]], extras: list[tuple[Any, Any]]
) -> dict[str, Any]:
    """Place the application's keys knowing every object this module may write."""
    for top in _OBJECTS:
        doc[top] = objects.get(top) or {}
    labels: dict[str, Any] = {}
    for key, value in extras:
        _add_app_field(doc, labels, key if type(key) is str else str(key), value)
    if labels:
        doc["labels"] = labels
    for top in _OBJECTS:
        if not doc[top]:
            del doc[top]
    return doc


def message_of(event_dict: Mapping[str, Any]) -> str:
    """The human sentence :func:`to_ecs` writes as ``message`` for a record.

    Args:
        event_dict: A flat record.

    Returns:
        For our records a sentence such as ``find shop.orders succeeded in 0.5 ms`` or
        ``connection check-out from db1:27017 failed after 120.0 ms (timeout): 10 of 10 in
        use, 3 waiting``; for any other record its event name.
    """
    name = event_dict.get("event")
    action = name if type(name) is str else ("" if name is None else str(name))
    sentence = _MESSAGES.get(action)
    return action if sentence is None else _sentence(sentence, event_dict.get, action)


Getter = Callable[[str], Any]


def _sentence(build: Callable[[Getter], str], get: Getter, action: str) -> str:
    try:
        return build(get)
    except Exception:  # a record with odd values keeps its event name as message
        return action


def _ms(micros: Any) -> str:
    """A duration for people, cut to a tenth: ``0.035 ms``, ``250.8 ms``, ``10.0 s``.

    Sliced from the digits: formatting a float costs more than the rest of the sentence.
    """
    if type(micros) is not int:
        micros = int(micros)
    digits = str(micros)
    if micros >= 1_000_000:
        return f"{digits[:-6]}.{digits[-6]} s"
    if micros >= 1000:
        return f"{digits[:-3]}.{digits[-3]} ms"
    if micros > 0:
        return ("0." + digits.zfill(3)).rstrip("0") + " ms"
    return "0 ms"


def _command(get: Getter) -> str:
    name = get("command_name")
    database = get("database_name")
    if name is None or database is None:
        raise LookupError("command_name")
    collection = get("collection")
    if collection is None:
        return f"{name} {database}"
    return f"{name} {database}.{collection}"


def _required(get: Getter, key: str) -> Any:
    """A field the sentence cannot do without (the event name is the message without it)."""
    value = get(key)
    if value is None:
        raise LookupError(key)
    return value


def _command_succeeded(get: Getter) -> str:
    # The most frequent record: _command inlined.
    name = get("command_name")
    database = get("database_name")
    if name is None or database is None:
        raise LookupError("command_name")
    collection = get("collection")
    where = database if collection is None else f"{database}.{collection}"
    if get("slow"):
        return f"{name} {where} succeeded in {_ms(get('duration_micros'))} (slow)"
    return f"{name} {where} succeeded in {_ms(get('duration_micros'))}"


def _command_failed(get: Getter) -> str:
    what = get("error_code_name") or get("error_type") or "an error"
    return f"{_command(get)} failed in {_ms(get('duration_micros'))} with {what}"


def _heartbeat_failed(get: Getter) -> str:
    what = get("error_code_name") or get("error_type") or "an error"
    return (
        f"heartbeat to {get('server_address')} failed in {_ms(get('duration_micros'))} with {what}"
    )


def _topology_changed(get: Getter) -> str:
    text = f"topology changed from {get('previous_topology_type')} to {get('new_topology_type')}"
    primary = get("primary")
    if primary is not None:
        return f"{text}, primary {primary}"
    return f"{text}, no writable server" if get("has_writable_server") is False else text


def _pressure(get: Getter) -> str:
    in_use = get("in_use")
    if in_use is None:
        return ""
    return f": {in_use} of {get('max_pool_size')} in use, {get('waiting')} waiting"


def _check_out_failed(get: Getter) -> str:
    return (
        f"connection check-out from {get('server_address')} failed after "
        f"{_ms(get('duration_micros'))} ({get('reason')}){_pressure(get)}"
    )


def _checked_out(get: Getter) -> str:
    slow = " (slow)" if get("slow") else ""
    return (
        f"connection {get('connection_id')} to {get('server_address')} checked out in "
        f"{_ms(get('duration_micros'))}{slow}{_pressure(get)}"
    )


def _writable_server_lost(get: Getter) -> str:
    previous = get("previous_primary")
    return "no writable server left" + ("" if previous is None else f" (was {previous})")


def _writable_server_restored(get: Getter) -> str:
    primary = get("primary")
    text = f"writable server back after {_ms(get('unavailable_micros'))}"
    return text if primary is None else f"{text}: {primary}"


def _pool_cleared(get: Getter) -> str:
    interrupted = ", in-use connections interrupted" if get("interrupt_connections") else ""
    return f"pool for {get('server_address')} cleared{interrupted}"


def _summary(get: Getter) -> str:
    return (
        f"{get('suppressed_event')}: {get('sampled_out')} sampled out, "
        f"{get('burst_limited')} burst-limited in {_ms(get('interval_ms') * 1000)}"
    )


def _at(template: str) -> Callable[[Getter], str]:
    """A sentence about one server (and connection), from a ``str.format`` template."""
    timed = "{duration}" in template

    def build(get: Getter) -> str:
        return template.format(
            address=_required(get, "server_address"),
            connection=get("connection_id"),
            duration=_ms(get("duration_micros")) if timed else "",
            reason=get("reason"),
        )

    return build


_MESSAGES: Final[dict[str, Callable[[Getter], str]]] = {
    "mongodb.command.started": lambda get: f"{_command(get)} started",
    "mongodb.command.succeeded": _command_succeeded,
    "mongodb.command.failed": _command_failed,
    "mongodb.server.opening": _at("server {address} added"),
    "mongodb.server.description_changed": lambda get: (
        f"server {get('server_address')} changed from {get('previous_server_type')} "
        f"to {get('new_server_type')}"
    ),
    "mongodb.server.closed": _at("server {address} removed"),
    "mongodb.heartbeat.started": _at("heartbeat to {address} started"),
    "mongodb.heartbeat.succeeded": _at("heartbeat to {address} succeeded in {duration}"),
    "mongodb.heartbeat.failed": _heartbeat_failed,
    "mongodb.topology.opened": lambda get: "topology opened",
    "mongodb.topology.description_changed": _topology_changed,
    "mongodb.topology.closed": lambda get: "topology closed",
    "mongodb.topology.writable_server_lost": _writable_server_lost,
    "mongodb.topology.writable_server_restored": _writable_server_restored,
    "mongodb.topology.primary_changed": lambda get: (
        f"primary changed from {get('previous_primary')} to {get('primary')}"
    ),
    "mongodb.pool.created": _at("pool for {address} created"),
    "mongodb.pool.ready": _at("pool for {address} ready"),
    "mongodb.pool.cleared": _pool_cleared,
    "mongodb.pool.closed": _at("pool for {address} closed"),
    "mongodb.connection.created": _at("connection {connection} to {address} created"),
    "mongodb.connection.ready": _at("connection {connection} to {address} ready in {duration}"),
    "mongodb.connection.closed": _at("connection {connection} to {address} closed ({reason})"),
    "mongodb.connection.check_out_started": _at("connection check-out from {address} started"),
    "mongodb.connection.check_out_failed": _check_out_failed,
    "mongodb.connection.checked_out": _checked_out,
    "mongodb.connection.checked_in": _at("connection {connection} to {address} checked in"),
    "mongodb.sampling.summary": _summary,
}


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
