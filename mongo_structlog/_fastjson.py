"""The fast path of relaxed Extended JSON: one ``orjson.dumps`` for an ordinary document.

:func:`render` copies a document's values into a structure ``orjson`` serialises in one
call (other BSON types go in as pre-rendered fragments from :mod:`._extjson`), and hands
anything else (huge, deep, odd or unencodable) to :func:`._extjson.encode`, the budgeted
walk, whose text it then equals. See :mod:`._extjson` for what the text is and the budget
contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from ._extjson import HANDLERS, MAPPING_TYPES, REDACTED, encode, handler_for

if TYPE_CHECKING:
    from ._scrub import KeyTable

__all__ = ["render"]

# What orjson writes exactly as json_util does, besides str: int.__repr__ for ints (Int64 and
# IntEnum are int subclasses), true/false/null. Floats only between 1e-4 and 1e16: outside,
# orjson writes exponents as 1e-7 where repr writes 1e-07.
_NATIVE: frozenset[type] = frozenset({int, Int64, bool, type(None)})
_FAST_DEPTH = 32


class _Declined(Exception):
    """The fast path hands the whole value to the budgeted walk."""


def _fast_value(value: Any, depth: int, walk: list[Any]) -> Any:
    kind = type(value)
    convert = _CONVERT.get(kind)
    if convert is not None:
        return convert(value, depth, walk)
    if kind is float and (1e-4 <= abs(value) < 1e16 or value == 0):
        return value
    # Any other type: its exact text, within the budget (a prefix longer than the limit will
    # be cut, wherever it starts); an error declines the whole value.
    handler = HANDLERS.get(kind) or handler_for(kind)
    return orjson.Fragment(handler(value, walk[3], depth, walk[2]))


def _fast_doc(value: Any, depth: int, walk: list[Any]) -> dict[str, Any]:
    size = len(value)
    walk[0] -= size
    if walk[0] < 0 or depth > _FAST_DEPTH:
        raise _Declined
    safe, secret, limit = walk[1], walk[2].secret, walk[3]
    odd = False
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in safe:
            if key in secret:
                out[key] = REDACTED
                continue
            odd = odd or type(key) is not str
            key, redacted = walk[2].lookup(key)  # noqa: PLW2901
            if redacted:
                out[key] = REDACTED
                continue
        kind = type(item)
        if kind is str:
            out[key] = item if len(item) <= limit else item[:limit]
        elif kind in _NATIVE:
            out[key] = item
        elif kind is dict:
            out[key] = _fast_doc(item, depth + 1, walk)
        else:
            out[key] = _fast_value(item, depth + 1, walk)
    if odd and len(out) != size:
        raise _Declined  # names that collide as strings (1 and "1"): render them both
    return out


def _fast_array(value: Any, depth: int, walk: list[Any]) -> list[Any]:
    size = len(value)
    walk[0] -= size
    if walk[0] < 0 or depth > _FAST_DEPTH:
        raise _Declined
    limit = walk[3]
    out: list[Any] = []
    written = 0
    for item in value:
        kind = type(item)
        if kind is str:
            out.append(item if len(item) <= limit else item[:limit])
        elif kind in _NATIVE:
            out.append(item)
        else:
            element = (_fast_doc if kind is dict else _fast_value)(item, depth + 1, walk)
            out.append(element)
            if size > 1:
                # An insert of many documents: stop once the cut is sure to fall in this array.
                data = orjson.dumps(element)
                written += len(data) if data.isascii() else len(data.decode())
                if written > limit:
                    break
    return out


_CONVERT: dict[type, Callable[[Any, int, list[Any]], Any]] = {
    list: _fast_array,
    tuple: _fast_array,
    **dict.fromkeys(MAPPING_TYPES, _fast_doc),
    ObjectId: lambda v, d, w: {"$oid": v.binary.hex()},
    Timestamp: lambda v, d, w: {"$timestamp": {"t": v.time, "i": v.inc}},
}


def render(value: Any, limit: int, keys: KeyTable) -> str:
    """Render a document as relaxed Extended JSON, for cutting to ``limit`` characters.

    Args:
        value: A document (any mapping); read, never changed.
        limit: Characters wanted; the text has the budget contract of :func:`encode`.
        keys: The key table, which decides redaction.

    Returns:
        The text :func:`encode` would give: exact when at most ``limit`` characters long,
        else longer than ``limit`` with its first ``limit`` characters exact.
    """
    # Every item writes a character and a comma at least: with more items than this the text
    # is cut anyway, and the budgeted walk stops there instead of rendering it all.
    walk = [limit // 2 + 1, keys.safe, keys, limit]
    try:
        return orjson.dumps(_fast_doc(value, 0, walk)).decode()
    except Exception:  # huge, deep, odd or unencodable (lone surrogates): the walk says it all
        return encode(value, limit, 0, keys)
