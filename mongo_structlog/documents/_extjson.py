"""Relaxed Extended JSON text for BSON values: a fast path and the exact, budgeted walk.

This is the encoder behind ``documents="full"``: it reads a command or reply without changing
it and produces the same JSON as ``bson.json_util.dumps(value,
json_options=RELAXED_JSON_OPTIONS)`` (give or take whitespace and ASCII escaping), except that

* values under a redacted field name render as ``"[REDACTED]"``;
* ``uuid.UUID`` renders as Binary subtype 4, as a client with ``uuidRepresentation=standard``
  sends it (json_util refuses native UUIDs under its default options);
* a value it cannot render, or nesting deeper than ``MAX_DEPTH``, renders as a placeholder such
  as ``{"$unrenderable":"TypeName"}`` instead of raising;
* it stops early once the text is longer than the budget, so a 16 MB document is not rendered
  whole only to be cut.

Budget contract of every function taking ``budget``: if the full text of the value is at most
``budget`` characters it is returned exactly; otherwise the returned text is longer than
``budget`` and its first ``budget`` characters are exact. The caller cuts it.

Callers use :func:`render`, which copies an ordinary document's values into a structure
``orjson`` serialises in one call (other BSON types go in as pre-rendered fragments), and hands
anything else (huge, deep, odd or unencodable) to :func:`encode`, the budgeted walk, whose
text it then equals.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import json.encoder
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.regex import Regex
from bson.son import SON
from bson.timestamp import Timestamp

if TYPE_CHECKING:
    from ._gate import KeyTable

__all__ = [
    "HANDLERS",
    "MAPPING_TYPES",
    "MAX_DEPTH",
    "REDACTED",
    "REDACTED_JSON",
    "SCALAR_TYPES",
    "KeyInfo",
    "encode",
    "handler_for",
    "json_string",
    "placeholder",
    "render",
]

KeyInfo = tuple[bool, str, str]
"""Per field name: (value is redacted, ``"name":``, ``"name":"?"`` or ``"name":"[REDACTED]"``)."""

MAX_DEPTH = 200
"""Deepest nesting rendered; the server itself refuses documents nested deeper than this."""

REDACTED = "[REDACTED]"
REDACTED_JSON = '"[REDACTED]"'
MAPPING_TYPES: frozenset[type] = frozenset({dict, SON, RawBSONDocument})

# encode_basestring keeps non-ASCII characters as they are, which is shorter and easier to
# read in logs than json_util's \u escapes, and it returns a str (orjson returns bytes).
json_string: Callable[[str], str] = json.encoder.encode_basestring

_EPOCH = datetime.datetime(1970, 1, 1)
_MAX_UTC_MS = calendar.timegm(datetime.datetime.max.timetuple()) * 1000 + 999
_REGEX_FLAGS = (
    (re.IGNORECASE, "i"),
    (re.LOCALE, "l"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.UNICODE, "u"),
    (re.VERBOSE, "x"),
)
_BINARY_HEAD = '{"$binary":{"base64":"'
_TOO_DEEP = '{"$unrenderable":"too deep"}'


def placeholder(value: object) -> str:
    """Return the JSON that stands for a value this module cannot render.

    Args:
        value: Anything.

    Returns:
        ``{"$unrenderable":"<type name>"}``.
    """
    return '{"$unrenderable":' + json_string(type(value).__name__) + "}"


def _str(value: str, budget: int) -> str:
    if len(value) < budget:
        return json_string(value)
    # Escape only what can be shown: a 16 MB string costs no more than a short one.
    return json_string(value[: max(budget, 0)])[:-1]


def _float(value: float) -> str:
    if math.isfinite(value):
        return float.__repr__(value)
    if math.isnan(value):
        return '{"$numberDouble":"NaN"}'
    return '{"$numberDouble":"Infinity"}' if value > 0 else '{"$numberDouble":"-Infinity"}'


def _binary(data: bytes, subtype: int, budget: int) -> str:
    room = budget - len(_BINARY_HEAD)
    if (len(data) + 2) // 3 * 4 > room:
        # Encode just over the budget's worth of whole 3-byte groups: a prefix of the real text.
        cut = (max(room, 0) // 4 + 1) * 3
        return _BINARY_HEAD + base64.b64encode(data[:cut]).decode()
    return f'{_BINARY_HEAD}{base64.b64encode(data).decode()}","subType":"{subtype:02x}"}}}}'


def _datetime(value: datetime.datetime) -> str:
    offset = value.utcoffset()
    naive = value.replace(tzinfo=None)
    utc = naive - offset if offset else naive
    if utc >= _EPOCH:
        # json_util prints the wall-clock time with its offset, milliseconds only when non-zero.
        millis = value.microsecond // 1000
        fraction = f".{millis:03d}" if millis else ""
        zone = value.strftime("%z") if offset else "Z"
        return f'{{"$date":"{naive.isoformat(timespec="seconds")}{fraction}{zone}"}}'
    stamp = calendar.timegm(utc.timetuple()) * 1000 + utc.microsecond // 1000
    return f'{{"$date":{{"$numberLong":"{stamp}"}}}}'


def _datetime_ms(value: DatetimeMS) -> str:
    stamp = int(value)
    if 0 <= stamp <= _MAX_UTC_MS:
        return _datetime(value.as_datetime())
    return f'{{"$date":{{"$numberLong":"{stamp}"}}}}'


def _regex(value: Any, budget: int) -> str:
    options = "".join(letter for flag, letter in _REGEX_FLAGS if value.flags & flag)
    pattern = value.pattern if isinstance(value.pattern, str) else value.pattern.decode()
    head = '{"$regularExpression":{"pattern":'
    text = _str(pattern, budget - len(head))
    return f'{head}{text},"options":"{options}"}}}}'


def _code(value: Code, budget: int, depth: int, keys: Mapping[Any, KeyInfo]) -> str:
    text = '{"$code":' + _str(str(value), budget - 9)
    if value.scope is None:
        return text + "}"
    scope = _doc(value.scope, budget - len(text) - 10, depth + 1, keys)
    return text + ',"$scope":' + scope + "}"


def _doc(value: Any, budget: int, depth: int, keys: Mapping[Any, KeyInfo]) -> str:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    out: list[str] = []
    pos = 1
    for key, item in value.items():
        if pos >= budget:
            break
        if out:
            pos += 1
        redacted, name, shaped = keys[key]
        if redacted:
            text = shaped
        else:
            text = name + encode(item, budget - pos - len(name), depth + 1, keys)
        out.append(text)
        pos += len(text)
    return "{" + ",".join(out) + "}"


def _array(value: Any, budget: int, depth: int, keys: Mapping[Any, KeyInfo]) -> str:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    out: list[str] = []
    pos = 1
    for item in value:
        if pos >= budget:
            break
        if out:
            pos += 1
        text = encode(item, budget - pos, depth + 1, keys)
        out.append(text)
        pos += len(text)
    return "[" + ",".join(out) + "]"


Handler = Callable[[Any, int, int, Mapping[Any, KeyInfo]], str]

HANDLERS: dict[type, Handler] = {
    type(None): lambda v, b, d, k: "null",
    bool: lambda v, b, d, k: "true" if v else "false",
    # int.__repr__, not str(): an IntEnum member would otherwise print its name.
    int: lambda v, b, d, k: int.__repr__(v),
    Int64: lambda v, b, d, k: int.__repr__(v),
    float: lambda v, b, d, k: _float(v),
    datetime.datetime: lambda v, b, d, k: _datetime(v),
    DatetimeMS: lambda v, b, d, k: _datetime_ms(v),
    ObjectId: lambda v, b, d, k: f'{{"$oid":"{v}"}}',
    Decimal128: lambda v, b, d, k: f'{{"$numberDecimal":"{v}"}}',
    Timestamp: lambda v, b, d, k: f'{{"$timestamp":{{"t":{v.time},"i":{v.inc}}}}}',
    Binary: lambda v, b, d, k: _binary(v, v.subtype, b),
    bytes: lambda v, b, d, k: _binary(v, 0, b),
    uuid.UUID: lambda v, b, d, k: _binary(v.bytes, 4, b),
    Regex: lambda v, b, d, k: _regex(v, b),
    re.Pattern: lambda v, b, d, k: _regex(v, b),
    Code: _code,
    MinKey: lambda v, b, d, k: '{"$minKey":1}',
    MaxKey: lambda v, b, d, k: '{"$maxKey":1}',
    DBRef: lambda v, b, d, k: _doc(v.as_doc(), b, d, k),
    str: lambda v, b, d, k: _str(v, b),
    list: _array,
    tuple: _array,
}
for _mapping in MAPPING_TYPES:
    HANDLERS[_mapping] = _doc
SCALAR_TYPES: frozenset[type] = frozenset(
    kind for kind, handler in HANDLERS.items() if handler not in (_doc, _array)
)
# Where a subclass (IntEnum, OrderedDict, a Binary subclass...) finds its handler, in this
# order: Code before its base str, Int64 before int, any Mapping as a document.
_BASES: tuple[type, ...] = (Code, Binary, Int64, *HANDLERS, Mapping)
HANDLERS[Mapping] = _doc


def _unrenderable(value: Any, budget: int, depth: int, keys: Mapping[Any, KeyInfo]) -> str:
    return placeholder(value)


def handler_for(kind: type) -> Handler:
    """The handler for a type not in :data:`HANDLERS` yet (a subclass, or unrenderable)."""
    for base in _BASES:
        if issubclass(kind, base):
            handler = HANDLERS[base]
            # Remembered per type, as json_util does: the set of types in a program is small.
            HANDLERS[kind] = handler
            return handler
    HANDLERS[kind] = _unrenderable
    return _unrenderable


def encode(value: Any, budget: int, depth: int, keys: Mapping[Any, KeyInfo]) -> str:
    """Render one value as relaxed Extended JSON, within a budget, never raising.

    Args:
        value: Any BSON-encodable value, including documents and arrays.
        budget: Characters wanted (see the module docstring for the exact contract).
        depth: Nesting depth of ``value``; 0 for a top-level document.
        keys: Field name -> ``KeyInfo``; deciding redaction is the caller's business.

    Returns:
        The JSON text, or a prefix longer than ``budget`` when it would be longer.
    """
    try:
        kind = type(value)
        if kind is str:
            return _str(value, budget)
        handler = HANDLERS.get(kind) or handler_for(kind)
        return handler(value, budget, depth, keys)
    except Exception:  # a log line must never break the application
        pass
    return placeholder(value)


# -- the fast path ----------------------------------------------------------------------

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
