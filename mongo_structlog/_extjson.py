"""Relaxed Extended JSON text for BSON values: the exact, budgeted walk.

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

Callers use :func:`._fastjson.render`, which gives the same text faster for ordinary
documents and hands anything else (huge, odd or unencodable) to :func:`encode` here.
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
    pass

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
