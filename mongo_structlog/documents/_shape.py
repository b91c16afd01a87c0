"""Command shapes: every value replaced by ``"?"``, names kept, and what the fingerprint reads.

A shape is built as a structure (dicts, lists, ``"?"`` and the few strings worth keeping)
that ``orjson`` serialises in one call. The fingerprint (``command_shape``) digests the
command name, its collection and the JSON of the members that are not driver bookkeeping;
dashboards group on it, so change nothing here that changes the text of a shape.
``docs/redaction.md`` says, from the user's side, what a shape keeps.

Shapes deny by default: a string is kept only where this module knows it is a name, never
because of where it stands. :data:`COLLECTION_COMMANDS` is the catalogue of commands whose
first value names a collection; any other command's first value is ``"?"`` (or ``1`` or
``true``, the conventional "no argument"). Inside a command a few members and stage
arguments name collections or fields (``getMore``'s ``collection``, ``$lookup``'s ``from``,
aggregation field paths such as ``"$total"``): see ``_STAGES`` and ``_COMMAND``. The
fingerprint reads the shape, so it can confirm nothing the shape hides.

This is the hot path of every logged command. Walkers take ``(value, depth, walk)``; ``walk``
is a small list (see ``Walk``) rather than an object because one is made per command.
:func:`summary` reduces a reply to the counters that hold no data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from bson.int64 import Int64

from ._extjson import MAPPING_TYPES, MAX_DEPTH, REDACTED, SCALAR_TYPES
from ._gate import KeyTable

__all__ = ["COLLECTION_COMMANDS", "SHAPE_LIMIT", "Shaper", "collection", "digest", "summary"]

# -- plain values

_Q = "?"
_TOO_DEEP = {"$unrenderable": "too deep"}
_TOO_LARGE = {"$unrenderable": "too large"}
# Items (members and elements) walked before the rest of a shape becomes _TOO_LARGE: ten
# times what the fingerprint reads, yet a bound on what a 16 MB command costs.
_MAX_ITEMS = 20_000

_LEAF, _DOC, _ARRAY = 1, 2, 3
_KINDS: dict[type, int] = {
    **dict.fromkeys(SCALAR_TYPES, _LEAF),
    **dict.fromkeys(MAPPING_TYPES, _DOC),
    list: _ARRAY,
    tuple: _ARRAY,
}
_LEAVES = set(SCALAR_TYPES)  # the types _KINDS says are leaves, for one-step tests

# walk: [items left, safe names, key table, longest kept string, member actions, first value,
# whether a member name was not a str]
Walk = list[Any]
Walker = Callable[[Any, int, Walk], Any]


def _kind(value: Any) -> int:
    kind = type(value)
    found = _KINDS.get(kind)
    if found is None:
        found = _DOC if isinstance(value, Mapping) else _LEAF
        found = _ARRAY if isinstance(value, (list, tuple)) else found
        _KINDS[kind] = found
        if found == _LEAF:
            _LEAVES.add(kind)
    return found


def _value(value: Any, depth: int, walk: Walk) -> Any:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return _Q
    if kind == _ARRAY:
        return _elements(value, depth, walk, _value)
    return _doc(value, depth, walk)


def _doc(value: Any, depth: int, walk: Walk) -> Any:
    # _members for plain values, specialised: the hot path of every filter and document.
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    walk[0] -= len(value)
    if walk[0] < 0:
        return _TOO_LARGE
    safe = walk[1]
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in safe:
            key, redacted = walk[2].lookup(key)  # noqa: PLW2901
            if redacted:
                out[key] = REDACTED
                continue
        kind = type(item)
        if kind in _LEAVES:
            out[key] = _Q
        elif kind is dict:
            out[key] = _doc(item, depth + 1, walk)
        else:
            out[key] = _value(item, depth + 1, walk)
    return out


def _members(
    value: Any, depth: int, walk: Walk, default: Walker, table: Mapping[str, Walker]
) -> Any:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    walk[0] -= len(value)
    if walk[0] < 0:
        return _TOO_LARGE
    safe = walk[1]
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key
        if key not in safe:
            name, redacted = walk[2].lookup(key)
            if redacted:
                out[name] = REDACTED
                continue
        walker = table.get(key, default) if table else default
        if walker is _value and type(item) in _LEAVES:
            out[name] = _Q
        else:
            out[name] = walker(item, depth + 1, walk)
    return out


def _elements(value: Any, depth: int, walk: Walk, walker: Walker, distinct: bool = True) -> Any:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    # Shapes come from the first elements only: an insert of 100k documents costs no more
    # than one of 32, and a longer $in list does not change the fingerprint.
    items = value[:32] if distinct else value
    walk[0] -= len(items)
    if walk[0] < 0:
        return _TOO_LARGE
    if not distinct:
        return [walker(item, depth + 1, walk) for item in items]
    out: list[Any] = []
    seen: set[str | bytes] = set()
    for item in items:
        if walker is _value and type(item) in _LEAVES:
            if _Q not in seen:
                seen.add(_Q)
                out.append(_Q)
            continue
        left = walk[0]
        shaped = walker(item, depth + 1, walk)
        text = shaped if type(shaped) is str else _dumps(shaped)
        if text in seen:
            walk[0] = left  # a shape shown already costs nothing more
        else:
            seen.add(text)
            out.append(shaped)
    return out


def _dumps(shape: Any) -> bytes:
    """Serialise a shape; lone surrogates (kept for the cut to escape) included."""
    try:
        return orjson.dumps(shape)
    except TypeError:  # orjson refuses lone surrogates; json writes them as they are
        text = json.dumps(shape, ensure_ascii=False, separators=(",", ":"), check_circular=False)
        return text.encode("utf-8", "surrogatepass")


# -- pipelines, stages, updates

_FIELD_PATH = re.compile(r"\$\$?[^\W\d][\w.-]{0,254}\Z")


def _expr(value: Any, depth: int, walk: Walk) -> Any:
    # In an aggregation expression a string starting with "$" is always a field path or a
    # variable, never data: that is what makes it safe to keep.
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return value if type(value) is str and _FIELD_PATH.match(value) else _Q
    if kind == _DOC:
        return _members(value, depth, walk, _expr, _EXPR)
    return _elements(value, depth, walk, _expr)


def _keep(value: Any, depth: int, walk: Walk) -> Any:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        if type(value) is str:
            # Longer than any text or fingerprint shows: the rest would only be cut.
            return value if len(value) <= walk[3] else value[: walk[3]]
        return _Q
    if kind == _DOC:
        return _members(value, depth, walk, _keep, {})
    return _elements(value, depth, walk, _keep, distinct=False)


def _pipeline(value: Any, depth: int, walk: Walk) -> Any:
    if _kind(value) == _ARRAY:
        return _elements(value, depth, walk, _stage, distinct=False)
    return _value(value, depth, walk)


def _stage(value: Any, depth: int, walk: Walk) -> Any:
    if _kind(value) == _DOC:
        return _members(value, depth, walk, _expr, _STAGES)
    return _value(value, depth, walk)


def _update(value: Any, depth: int, walk: Walk) -> Any:
    if _kind(value) == _ARRAY:
        return _pipeline(value, depth, walk)
    return _value(value, depth, walk)


def _keep_or_pipeline(value: Any, depth: int, walk: Walk) -> Any:
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

    def __call__(self, value: Any, depth: int, walk: Walk) -> Any:
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
            **dict.fromkeys(("into", "on", "whenNotMatched"), _keep),
            "let": _expr,
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


# -- whole commands

COLLECTION_COMMANDS: frozenset[str] = frozenset(
    {
        # Reading and writing documents.
        *("aggregate", "count", "distinct", "find", "findandmodify", "insert", "update"),
        *("delete", "mapreduce", "geonear", "geosearch", "killcursors", "bulkwrite"),
        # Collections and their indexes.
        *("create", "drop", "collmod", "createindexes", "listindexes", "dropindexes"),
        *("deleteindexes", "reindex", "validate", "compact", "collstats", "datasize"),
        *("converttocapped", "clonecollectionascapped", "renamecollection", "analyze"),
        *("createsearchindexes", "updatesearchindex", "dropsearchindex", "listsearchindexes"),
        *("plancacheclear", "plancacheclearfilters", "plancachelistfilters"),
        *("plancachesetfilter", "compactstructuredencryptiondata"),
        "cleanupstructuredencryptiondata",
        # Sharding: most take the namespace, "db.collection".
        *("shardcollection", "refinecollectionshardkey", "reshardcollection", "movechunk"),
        *("commitreshardcollection", "abortreshardcollection", "cleanupreshardcollection"),
        *("unshardcollection", "movecollection", "analyzeshardkey", "configurequeryanalyzer"),
        *("balancercollectionstatus", "clearjumboflag", "mergechunks", "split", "splitvector"),
        *("cleanuporphaned", "getshardversion", "checkshardingindex", "moverange"),
        *("mergeallchunksonshard", "setallowmigrations", "checkmetadataconsistency"),
    }
)
"""Commands (lower case) whose first value, when a string, names a collection or namespace.

From MongoDB's list of database commands. ``getMore`` names its collection in
``collection`` and ``explain`` in the command it explains; ``bulkWrite``'s first value is
``1`` (its namespaces are in ``nsInfo``). Any other command's first value is a value.
"""
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
_CACHE_SIZE = 10_000
_TARGETS_ELSEWHERE = frozenset({"getmore", "explain"})
_LSID = {"id": _Q}
_CLUSTER_TIME = {"clusterTime": _Q, "signature": REDACTED}


# What to do with a command's member (its first one aside), decided once per name: the
# fingerprint reads the first three kinds; it does not read bookkeeping.
_PLAIN, _REDACT, _OTHER = range(3)
_BOOKKEEPING, _SECRET, _KEPT, _LSID_MEMBER, _CLUSTER_TIME_MEMBER = range(8, 13)


def _action(key: Any, walk: Walk) -> int:
    if type(key) is not str:
        return _OTHER
    keys = walk[2]
    redacted = keys[key][0]
    if key in _UNSHAPED:
        action = _KEPT if _COMMAND.get(key) is _keep else _BOOKKEEPING
        if key == "lsid" and not keys["id"][0]:
            action = _LSID_MEMBER
        if key == "$clusterTime" and keys["signature"][0] and not keys["clusterTime"][0]:
            action = _CLUSTER_TIME_MEMBER
        action = _SECRET if redacted else action
    else:
        action = _OTHER if key in _COMMAND or key == "collection" else _PLAIN
        action = _REDACT if redacted else action
    if len(walk[4]) < _CACHE_SIZE:
        walk[4][key] = action
    return action


def _target(name: str, value: Any, depth: int, walk: Walk) -> Any:
    """Shape of a non-string first value: ``1``/``true``, what ``explain`` explains, or ``?``."""
    if value is True or (type(value) is int and value == 1):
        return value
    if name == "explain" and _kind(value) == _DOC and depth <= MAX_DEPTH:
        inner = str(next(iter(value), "")).lower()
        return _command(inner, value, depth, walk, True)
    return _value(value, depth, walk)


def _bookkeeping(action: int, key: str, value: Any, depth: int, walk: Walk) -> Any:
    """Shape of a bookkeeping member: a session id and a cluster time are known at a glance."""
    if action == _SECRET:
        return REDACTED
    kind = type(value)
    if kind in _LEAVES:
        return _keep(value, depth, walk) if action == _KEPT else _Q
    if kind is dict and action == _LSID_MEMBER and len(value) == 1:
        if type(value.get("id", value)) in _LEAVES:
            return _LSID
    elif (
        kind is dict
        and action == _CLUSTER_TIME_MEMBER
        and len(value) == 2
        and type(value.get("clusterTime", value)) in _LEAVES
        and "signature" in value
        and next(iter(value)) == "clusterTime"
    ):
        return _CLUSTER_TIME
    left = walk[0]
    shaped = _COMMAND.get(key, _value)(value, depth, walk)
    walk[0] = left  # not read by the fingerprint: nor part of what bounds it
    return shaped


def _command(name: str, command: Mapping[str, Any], depth: int, walk: Walk, whole: bool) -> Any:
    """Shape of a command: all its members if whole, else those the fingerprint reads."""
    walk[0] -= len(command)
    if walk[0] < 0:
        return _TOO_LARGE
    actions, limit = walk[4], walk[3]
    out: dict[str, Any] = {}
    items = iter(command.items())
    for key, item in items:  # the first member names the command's target
        if whole or key not in _UNSHAPED:
            _first(name, key, item, depth, walk, out)
        walk[5] = item  # set last: an explained command sets it first
        break
    for key, item in items:
        action = actions.get(key)
        if action is None:
            action = _action(key, walk)
        if action == _PLAIN:
            kind = type(item)
            if kind in _LEAVES:
                out[key] = _Q
            elif kind is dict:
                out[key] = _doc(item, depth + 1, walk)
            else:
                out[key] = _value(item, depth + 1, walk)
        elif action >= _BOOKKEEPING:
            if not whole:
                continue
            if action == _KEPT and type(item) is str and len(item) <= limit:
                out[key] = item  # the database name
            else:
                out[key] = _bookkeeping(action, key, item, depth + 1, walk)
        elif action == _REDACT:
            out[key] = REDACTED
        else:
            _other(name, key, item, depth + 1, walk, out=out, whole=whole)
    return out


def _first(  # noqa: PLR0917  # positional: called once per command on the hot path
    name: str, key: Any, item: Any, depth: int, walk: Walk, out: dict[str, Any]
) -> None:
    """The first member, which names the command's target: a literal only for a collection."""
    left = walk[0]
    name_, redacted = key, False
    if key not in walk[1]:
        name_, redacted = walk[2].lookup(key)
        walk[6] = walk[6] or type(key) is not str
    if redacted:
        out[name_] = REDACTED
    elif type(item) is str:
        limit = walk[3]
        kept = name in COLLECTION_COMMANDS
        out[name_] = (item if len(item) <= limit else item[:limit]) if kept else _Q
    else:
        out[name_] = _target(name, item, depth + 1, walk)
    if key in _UNSHAPED:
        walk[0] = left


def _other(
    name: str, key: Any, item: Any, depth: int, walk: Walk, *, out: dict[str, Any], whole: bool
) -> None:
    """A member with a walker of its own, or whose name is not a ``str``."""
    name_, unsigned = key, False
    if type(key) is not str:
        walk[6] = True  # what the fingerprint reads no longer follows from the text
        unsigned = key in _UNSHAPED
        if unsigned and not whole:
            return
        name_, redacted = walk[2].lookup(key)
        if redacted:
            out[name_] = REDACTED
            return
    walker = _COMMAND.get(key, _value)
    if key == "collection":
        walker = _keep if name == "getmore" else _value
    left = walk[0]
    leaf = walker is not _keep and type(item) in _LEAVES
    out[name_] = _Q if leaf else walker(item, depth, walk)
    if unsigned:
        walk[0] = left


def collection(name: str, command: Mapping[str, Any]) -> str | None:
    """The collection a command targets, as ``documents.collection_of`` says; name lower case."""
    if name == "getmore":
        value = command.get("collection")
        return value if type(value) is str else None
    value = next(iter(command.values()), None)
    if name == "explain" and isinstance(value, Mapping):
        return collection(str(next(iter(value), "")).lower(), value)
    return value if type(value) is str and name in COLLECTION_COMMANDS else None


class Shaper:
    """Shapes commands under one key table and remembers their fingerprints.

    Thread-safe: what it remembers (what to do with a member name, the fingerprint of a
    shape) is the same whichever thread works it out first.
    """

    __slots__ = ("_actions", "_keys", "_limit", "_memo", "_names")

    def __init__(self, keys: KeyTable, limit: int) -> None:
        """Start with nothing remembered.

        Args:
            keys: The key table, which decides redaction.
            limit: Characters wanted from a shape's text.
        """
        self._keys = keys
        # A kept string longer than any text or fingerprint shows is cut: the rest is not read.
        self._limit = max(limit, SHAPE_LIMIT) + 1
        self._actions: dict[str, int] = {}
        self._memo: dict[bytes, tuple[str, str, str]] = {}
        self._names: dict[str, str] = {}

    def shape(
        self, command_name: str, name: str, command: Mapping[str, Any], whole: bool
    ) -> tuple[str | None, str]:
        """Shape a command and fingerprint it.

        Args:
            command_name: The command's name as PyMongo reports it.
            name: The same, lower case.
            command: The command document; read, never changed.
            whole: Whether the text of the whole shape is wanted.

        Returns:
            ``(text, fingerprint)``: the shape as JSON (None unless ``whole``), and 16
            lower-case hex digits.
        """
        keys = self._keys
        walk = [_MAX_ITEMS, keys.safe, keys, self._limit, self._actions, None, False]
        shaped = _command(name, command, 0, walk, whole)
        try:
            data = orjson.dumps(shaped)
        except TypeError:  # lone surrogates: see _dumps
            data = _dumps(shaped)
        first, odd = walk[5], walk[6]
        if name in _TARGETS_ELSEWHERE:
            target = collection(name, command) or ""
        else:
            target = first if type(first) is str and name in COLLECTION_COMMANDS else ""
        # The text says what the fingerprint reads (its members less the bookkeeping) unless
        # a member's name is not a str.
        known = self._memo.get(data)
        if known is not None and known[0] == command_name and known[1] == target and not odd:
            found = known[2]
        else:
            signed = data
            if whole:
                walk = [_MAX_ITEMS, keys.safe, keys, self._limit, self._actions, None, False]
                signed = _dumps(_command(name, command, 0, walk, False))
            found = digest(_fingerprint_input(command_name, target, signed))
            # Bounded: most applications have a few hundred shapes, not an endless stream.
            if not odd and len(self._memo) < _CACHE_SIZE and len(data) < 4096:
                self._memo[data] = (command_name, target, found)
        return (data.decode("utf-8", "surrogatepass") if whole else None), found

    def name_only(self, command_name: str) -> str:
        """The fingerprint of a command name alone, as sensitive commands get."""
        found = self._names.get(command_name)
        if found is None:
            found = digest(command_name.encode("utf-8", "surrogatepass"))
            if len(self._names) < _CACHE_SIZE:
                self._names[command_name] = found
        return found


def _fingerprint_input(command_name: str, collection: str, signed: bytes) -> bytes:
    """The bytes a command's fingerprint digests: name, collection and at most 16 KiB of shape.

    Args:
        command_name: The command's name as PyMongo reports it.
        collection: Its collection, or ``""``.
        signed: The signed members' JSON, as :meth:`Shaper.shape` returns it.

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


# -- replies

_MISSING = object()


def _put(out: dict[str, int | float], key: str, value: Any) -> None:
    kind = type(value)
    if kind is int or kind is Int64:
        out[key] = value  # orjson writes an Int64 as the int it is
    elif kind is float:
        if value.is_integer():
            out[key] = int(value)
        elif math.isfinite(value):
            out[key] = value
    elif kind is bool or isinstance(value, int):
        out[key] = int(value)


def summary(reply: Mapping[str, Any]) -> str:
    """Reduce a reply to its counters, as compact JSON: ``{"ok":1,"cursorId":0,"batchSize":2}``.

    Args:
        reply: The reply document; read, never changed.

    Returns:
        ``ok``, ``n``, ``nModified``, ``cursorId`` and ``batchSize`` (the documents in
        ``firstBatch`` or ``nextBatch``) and ``writeErrors`` (how many), each when present
        and a finite number; integral numbers as integers.
    """
    # Direct look-ups, no walk: a reply's documents may be large and hold data.
    get = reply.get
    out: dict[str, int | float] = {}
    value = get("ok")
    if type(value) is float and value == 1.0:
        out["ok"] = 1
    elif value is not None:
        _put(out, "ok", value)
    value = get("n")
    if value is not None:
        _put(out, "n", value)
    value = get("nModified")
    if value is not None:
        _put(out, "nModified", value)
    cursor = get("cursor")
    if cursor is not None and (type(cursor) is dict or isinstance(cursor, Mapping)):
        value = cursor.get("id")
        if type(value) is Int64:
            out["cursorId"] = value
        elif value is not None:
            _put(out, "cursorId", value)
        batch = cursor.get("firstBatch", _MISSING)
        if batch is _MISSING:
            batch = cursor.get("nextBatch")
        if type(batch) is list or isinstance(batch, (list, tuple)):
            out["batchSize"] = len(batch)
    errors = get("writeErrors")
    if errors is not None and isinstance(errors, (list, tuple)) and errors:
        out["writeErrors"] = len(errors)
    return orjson.dumps(out).decode()
