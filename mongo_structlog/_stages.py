"""Walkers for what a command carries beyond plain values: pipelines, stages, updates.

In these places some strings are not data and are worth keeping: an aggregation field
path (``"$total"``), a collection a stage reads or writes (``$lookup.from``, ``$out``),
a namespace. ``docs/redaction.md`` lists them from the user's side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._walk import _ARRAY, _DOC, _KINDS, _LEAF, _Q, Walk, Walker, _elements, _kind, _members, _value

__all__: list[str] = []  # private to the shape modules

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
