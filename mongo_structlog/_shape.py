"""Command shapes: every value replaced by ``"?"``, names kept, and the fingerprint of it.

A shape is built as a structure (dicts, lists, ``"?"`` and the few strings worth keeping)
that ``orjson`` serialises in one call. The fingerprint (``command_shape``) is the BLAKE2b
digest of the command name, its collection and the shape of its members, driver bookkeeping
left out; dashboards group on it, so its input is fixed: change nothing here that changes the
text of a shape. ``docs/redaction.md`` says, from the user's side, what a shape keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ._extjson import MAPPING_TYPES, MAX_DEPTH, REDACTED, SCALAR_TYPES, KeyTable

__all__ = ["NOT_COLLECTION", "SHAPE_LIMIT", "digest", "fingerprint_input", "shape"]

# Commands whose first value names a user or a role, not a collection: the drivers'
# security-sensitive commands (documents.SENSITIVE_COMMANDS) and user and role management.
NOT_COLLECTION = frozenset(
    {
        *("authenticate", "saslstart", "saslcontinue", "getnonce", "createuser", "updateuser"),
        *("copydbgetnonce", "copydbsaslstart", "copydb", "dropuser", "usersinfo"),
        *("grantrolestouser", "revokerolesfromuser", "createrole", "updaterole", "droprole"),
        *("rolesinfo", "grantrolestorole", "revokerolesfromrole", "grantprivilegestorole"),
        "revokeprivilegesfromrole",
    }
)
SHAPE_LIMIT = 16_384
"""Characters of a shape the fingerprint covers."""

# Driver bookkeeping: the same query must get the same fingerprint in and out of a session,
# a transaction or a retry, whatever the read/write concern or the time limit.
_UNSHAPED = frozenset(
    {
        *("lsid", "txnNumber", "autocommit", "startTransaction", "recoveryToken"),
        *("$clusterTime", "$db", "$readPreference", "readConcern", "writeConcern"),
        *("apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS", "comment"),
    }
)
_Q = "?"
_TOO_DEEP = {"$unrenderable": "too deep"}
_TOO_LARGE = {"$unrenderable": "too large"}
# Items (members and elements) a shape walks before the rest of it becomes _TOO_LARGE: ten
# times the fingerprint's 16 KiB, yet a bound on the time a 16 MB command can take.
_MAX_ITEMS = 20_000
_FIELD_PATH = re.compile(r"\$\$?[^\W\d][\w.-]{0,254}\Z")
_LSID = {"id": _Q}
_CLUSTER_TIME = {"clusterTime": _Q, "signature": REDACTED}

_LEAF, _DOC, _ARRAY = 1, 2, 3
_KINDS: dict[type, int] = {
    **dict.fromkeys(SCALAR_TYPES, _LEAF),
    **dict.fromkeys(MAPPING_TYPES, _DOC),
    list: _ARRAY,
    tuple: _ARRAY,
}


class _Walk:
    """One shaping: the key table, the longest string kept, and the items left to walk."""

    __slots__ = ("keys", "left", "limit", "names")

    def __init__(self, keys: KeyTable, limit: int) -> None:
        self.keys, self.names, self.limit, self.left = keys, keys.names, limit, _MAX_ITEMS


Walker = Callable[[Any, int, _Walk], Any]


def _kind(value: Any) -> int:
    kind = type(value)
    found = _KINDS.get(kind)
    if found is None:
        found = _DOC if isinstance(value, Mapping) else _LEAF
        found = _ARRAY if isinstance(value, (list, tuple)) else found
        _KINDS[kind] = found
    return found


def _value(value: Any, depth: int, walk: _Walk) -> Any:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return _Q
    if kind == _ARRAY:
        return _elements(value, depth, walk, _value)
    return _doc(value, depth, walk)


def _doc(value: Any, depth: int, walk: _Walk) -> Any:
    # _members for plain values, specialised: the hot path of every filter and document.
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    walk.left -= len(value)
    if walk.left < 0:
        return _TOO_LARGE
    names = walk.names
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key)
        if name is None:
            name, redacted = walk.keys.lookup(key)
            if redacted:
                out[name] = REDACTED
                continue
        kind = _KINDS.get(type(item))
        if kind == _LEAF:
            out[name] = _Q
        elif kind == _DOC:
            out[name] = _doc(item, depth + 1, walk)
        else:
            out[name] = _value(item, depth + 1, walk)
    return out


def _members(value: Any, depth: int, walk: _Walk, default: Walker, table: Mapping[str, Walker]) -> Any:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    walk.left -= len(value)
    if walk.left < 0:
        return _TOO_LARGE
    names = walk.names
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key)
        if name is None:
            name, redacted = walk.keys.lookup(key)
            if redacted:
                out[name] = REDACTED
                continue
        walker = table.get(key, default) if table else default
        if walker is _value and _KINDS.get(type(item)) == _LEAF:
            out[name] = _Q
        else:
            out[name] = walker(item, depth + 1, walk)
    return out


def _elements(value: Any, depth: int, walk: _Walk, walker: Walker, distinct: bool = True) -> Any:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    # Shapes come from the first elements only: an insert of 100k documents costs no more
    # than one of 32, and a longer $in list does not change the fingerprint.
    items = value[:32] if distinct else value
    walk.left -= len(items)
    if walk.left < 0:
        return _TOO_LARGE
    if not distinct:
        return [walker(item, depth + 1, walk) for item in items]
    out: list[Any] = []
    seen: set[str | bytes] = set()
    for item in items:
        if walker is _value and _KINDS.get(type(item)) == _LEAF:
            if _Q not in seen:
                seen.add(_Q)
                out.append(_Q)
            continue
        left = walk.left
        shaped = walker(item, depth + 1, walk)
        text = shaped if type(shaped) is str else dumps(shaped)
        if text in seen:
            walk.left = left  # a repeated shape is not shown: it costs nothing either
        else:
            seen.add(text)
            out.append(shaped)
    return out


def _expr(value: Any, depth: int, walk: _Walk) -> Any:
    # In an aggregation expression a string starting with "$" is always a field path or a
    # variable, never data: that is what makes it safe to keep.
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return value if type(value) is str and _FIELD_PATH.match(value) else _Q
    if kind == _DOC:
        return _members(value, depth, walk, _expr, _EXPR)
    return _elements(value, depth, walk, _expr)


def _keep(value: Any, depth: int, walk: _Walk) -> Any:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        if type(value) is str:
            # Longer than any text or fingerprint shows: the rest would only be cut.
            return value if len(value) <= walk.limit else value[: walk.limit]
        return _Q
    if kind == _DOC:
        return _members(value, depth, walk, _keep, {})
    return _elements(value, depth, walk, _keep, distinct=False)


def _pipeline(value: Any, depth: int, walk: _Walk) -> Any:
    if _kind(value) == _ARRAY:
        return _elements(value, depth, walk, _stage, distinct=False)
    return _value(value, depth, walk)


def _stage(value: Any, depth: int, walk: _Walk) -> Any:
    if _kind(value) == _DOC:
        return _members(value, depth, walk, _expr, _STAGES)
    return _value(value, depth, walk)


def _update(value: Any, depth: int, walk: _Walk) -> Any:
    if _kind(value) == _ARRAY:
        return _pipeline(value, depth, walk)
    return _value(value, depth, walk)


def _keep_or_pipeline(value: Any, depth: int, walk: _Walk) -> Any:
    if _kind(value) == _ARRAY:
        return _pipeline(value, depth, walk)
    return _keep(value, depth, walk)


class _Spec:
    """Walker for a structured argument: named members get their own walker."""

    __slots__ = ("_default", "_keep_str", "_table")

    def __init__(
        self, table: Mapping[str, Walker], default: Walker = _value, keep_str: bool = False
    ) -> None:
        self._table, self._default, self._keep_str = table, default, keep_str

    def __call__(self, value: Any, depth: int, walk: _Walk) -> Any:
        if self._keep_str and type(value) is str:
            return _keep(value, depth, walk)
        kind = _kind(value)
        if kind == _DOC:
            return _members(value, depth, walk, self._default, self._table)
        if kind == _ARRAY:
            return _elements(value, depth, walk, self)
        return self._default(value, depth, walk)


_EXPR: dict[str, Walker] = {"$literal": _value}
_NAMES = ("from", "as", "localField", "foreignField", "connectFromField", "connectToField")
_STAGES: dict[str, Walker] = {
    **dict.fromkeys(("$match", "$documents", "$search", "$searchMeta"), _value),
    **dict.fromkeys(("$vectorSearch", "$changeStream"), _value),
    "$lookup": _Spec({**dict.fromkeys(_NAMES, _keep), "pipeline": _pipeline, "let": _expr}),
    "$graphLookup": _Spec({**dict.fromkeys((*_NAMES, "depthField"), _keep), "startWith": _expr}),
    "$facet": _Spec({}, _pipeline),
    "$unionWith": _Spec({"coll": _keep, "pipeline": _pipeline}, keep_str=True),
    "$out": _Spec({"db": _keep, "coll": _keep}, keep_str=True),
    "$merge": _Spec(
        {
            **{"into": _keep, "on": _keep, "whenNotMatched": _keep, "let": _expr},
            "whenMatched": _keep_or_pipeline,
        },
        keep_str=True,
    ),
    "$count": _keep,
    "$unwind": _Spec({"path": _expr, "includeArrayIndex": _keep}, _expr),
    "$geoNear": _Spec(
        {"query": _value, "distanceField": _keep, "includeLocs": _keep, "key": _keep}, _expr
    ),
}
_COMMAND: dict[str, Walker] = {
    "$db": _keep,
    "pipeline": _pipeline,
    "updates": _Spec({"u": _update}),
    "update": _update,
    "nsInfo": _Spec({"ns": _keep}),
}
_GETMORE = {**_COMMAND, "collection": _keep}


def _target(name: str, value: Any, depth: int, walk: _Walk) -> Any:
    """Shape of a command's first value: its collection, ``1``/``true``, or what it explains."""
    if type(value) is str:
        return _keep(value, depth, walk) if name not in NOT_COLLECTION else _Q
    if value is True or (type(value) is int and value == 1):
        return value
    if _kind(value) == _DOC and depth <= MAX_DEPTH:
        inner = str(next(iter(value), "")).lower()
        return _command(inner, value, depth, walk, True)[1]
    return _value(value, depth, walk)


def _bookkeeping(key: str, value: Any, depth: int, walk: _Walk, walker: Walker) -> Any:
    """Shape of a bookkeeping member; a session id and a cluster time are known at a glance."""
    if type(value) is dict:
        if key == "lsid" and len(value) == 1 and "id" in walk.names:
            if _KINDS.get(type(value.get("id", value))) == _LEAF:
                return _LSID
        elif key == "$clusterTime" and len(value) == 2 and next(iter(value)) == "clusterTime":
            if (
                "signature" in value
                and "clusterTime" in walk.names
                and walk.keys["signature"][0]
                and _KINDS.get(type(value["clusterTime"])) == _LEAF
            ):
                return _CLUSTER_TIME
    return walker(value, depth, walk)


def _command(
    name: str, command: Mapping[str, Any], depth: int, walk: _Walk, whole: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Shape of a command's members: those the fingerprint covers, and all of them if whole."""
    table = _GETMORE if name == "getmore" else _COMMAND
    walk.left -= len(command)
    if walk.left < 0:
        return _TOO_LARGE, (_TOO_LARGE if whole else None)
    names = walk.names
    signed: dict[str, Any] = {}
    every: dict[str, Any] | None = {} if whole else None
    first = True
    for key, item in command.items():
        unsigned = key in _UNSHAPED
        if unsigned and every is None:
            first = False
            continue
        redacted = False
        shaped: Any = REDACTED
        out = names.get(key)
        if out is None:
            out, redacted = walk.keys.lookup(key)
        left = walk.left
        if redacted:
            pass
        elif first:
            shaped = _target(name, item, depth + 1, walk)
        else:
            walker = table.get(key, _value)
            if walker is not _keep and _KINDS.get(type(item)) == _LEAF:
                shaped = _Q
            elif unsigned:
                shaped = _bookkeeping(key, item, depth + 1, walk, walker)
            else:
                shaped = walker(item, depth + 1, walk)
        first = False
        if unsigned:
            walk.left = left  # not part of the fingerprint: nor of what bounds it
        else:
            signed[out] = shaped
        if every is not None:
            every[out] = shaped
    return signed, every


def dumps(shape: Any) -> bytes:
    """Serialise a shape; lone surrogates (kept for the cut to escape) included."""
    try:
        return orjson.dumps(shape)
    except TypeError:  # orjson refuses lone surrogates; json writes them as they are
        text = json.dumps(shape, ensure_ascii=False, separators=(",", ":"), check_circular=False)
        return text.encode("utf-8", "surrogatepass")


def shape(
    name: str, command: Mapping[str, Any], keys: KeyTable, limit: int, whole: bool
) -> tuple[bytes, bytes | None]:
    """Shape a command.

    Args:
        name: The command's name, lower case.
        command: The command document; read, never changed.
        keys: The key table, which decides redaction.
        limit: Characters wanted from any text this shape shows.
        whole: Whether the whole shape's JSON is wanted, not only the signed part.

    Returns:
        ``(signed, text)``: the JSON (UTF-8) of the members the fingerprint covers, and of
        the whole shape (None unless ``whole``).
    """
    walk = _Walk(keys, max(limit, SHAPE_LIMIT) + 1)
    signed, every = _command(name, command, 0, walk, whole)
    return dumps(signed), (None if every is None else dumps(every))


def fingerprint_input(command_name: str, collection: str, signed: bytes) -> bytes:
    """The bytes a command's fingerprint digests: name, collection and at most 16 KiB of shape.

    Args:
        command_name: The command's name as PyMongo reports it.
        collection: Its collection, or ``""``.
        signed: The signed members' JSON, as :func:`shape` returns it.

    Returns:
        The UTF-8 of ``name \\0 collection \\0 members``, members cut to ``SHAPE_LIMIT``
        characters.
    """
    members = signed[1:-1]
    if len(members) > SHAPE_LIMIT:  # more bytes than the limit: count characters
        text = members.decode("utf-8", "surrogatepass")[:SHAPE_LIMIT]
        members = text.encode("utf-8", "surrogatepass")
    head = f"{command_name}\0{collection}\0".encode("utf-8", "surrogatepass")
    return head + members


def digest(data: bytes) -> str:
    """Sixteen lower-case hex digits: the 8-byte BLAKE2b digest of ``data``."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()
