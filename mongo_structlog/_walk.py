"""The walkers every shape is made of: values become ``"?"``, names are kept or redacted.

Walkers take ``(value, depth, walk)``; ``walk`` is a small list (see ``Walk``) rather than
an object because one is made per command. :mod:`._stages` adds the walkers that keep
what is safe to keep (field paths, namespaces); :mod:`._shape` walks whole commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ._extjson import MAPPING_TYPES, MAX_DEPTH, REDACTED, SCALAR_TYPES

__all__: list[str] = []  # private to the shape modules

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
