"""Command shapes: every value replaced by ``"?"``, names kept, and what the fingerprint reads.

A shape is built as a structure (dicts, lists, ``"?"`` and the few strings worth keeping)
that ``orjson`` serialises in one call. The fingerprint (``command_shape``) digests the
command name, its collection and the JSON of the members that are not driver bookkeeping;
dashboards group on it, so change nothing here that changes the text of a shape.
``docs/redaction.md`` says, from the user's side, what a shape keeps.

This is the hot path of every logged command. The walkers it is made of are in
:mod:`._walk` (plain values) and :mod:`._stages` (pipelines, stages, updates); this
module walks a command's own members, deciding what to do with each member name once
per name, and remembers fingerprints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ._extjson import MAX_DEPTH, REDACTED
from ._scrub import KeyTable
from ._stages import _COMMAND, _keep
from ._walk import (
    _DOC,
    _LEAVES,
    _MAX_ITEMS,
    _Q,
    _TOO_LARGE,
    Walk,
    _doc,
    _dumps,
    _kind,
    _value,
)

__all__ = ["SHAPE_LIMIT", "Shaper", "collection", "digest"]

# Commands whose first value names a user or a role, not a collection: the drivers'
# security-sensitive commands (documents.SENSITIVE_COMMANDS) and user and role management.
_NOT_COLLECTION = frozenset(
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
    """Shape of a command's first value when not a string: ``1``/``true``, or what it explains."""
    if value is True or (type(value) is int and value == 1):
        return value
    if _kind(value) == _DOC and depth <= MAX_DEPTH:
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
    actions, safe, limit = walk[4], walk[1], walk[3]
    out: dict[str, Any] = {}
    items = iter(command.items())
    for key, item in items:  # the first member names the command's target
        if whole or key not in _UNSHAPED:
            left = walk[0]
            name_, redacted = key, False
            if key not in safe:
                name_, redacted = walk[2].lookup(key)
                walk[6] = walk[6] or type(key) is not str
            if redacted:
                out[name_] = REDACTED
            elif type(item) is str:
                kept = name not in _NOT_COLLECTION
                out[name_] = (item if len(item) <= limit else item[:limit]) if kept else _Q
            else:
                out[name_] = _target(name, item, depth + 1, walk)
            if key in _UNSHAPED:
                walk[0] = left
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
    else:
        value = next(iter(command.values()), None)
        if name == "explain" and isinstance(value, Mapping):
            return collection(str(next(iter(value), "")).lower(), value)
    return value if type(value) is str and name not in _NOT_COLLECTION else None


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
            target = first if type(first) is str and name not in _NOT_COLLECTION else ""
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
