"""Command and reply documents made safe to log: copy, redact, shape, cut and render in one pass.

PyMongo hands listeners its live documents, so nothing here writes to them: every walk reads
the input and writes text. :class:`DocumentRenderer` is what the listeners call;
:class:`RedactDocuments` is the same thing as a structlog processor for your own chains.
``docs/redaction.md`` describes the rules from the user's side.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import orjson

from ._extjson import (
    MAPPING_TYPES,
    MAX_DEPTH,
    REDACTED_JSON,
    SCALAR_TYPES,
    KeyInfo,
    encode,
    json_string,
)
from ._extjson import placeholder as _placeholder

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "MODES",
    "REDACTED",
    "SENSITIVE_COMMANDS",
    "DocumentRenderer",
    "RedactDocuments",
    "collection_of",
    "is_sensitive",
]

SENSITIVE_COMMANDS: frozenset[str] = frozenset(
    {
        "authenticate",
        "saslstart",
        "saslcontinue",
        "getnonce",
        "createuser",
        "updateuser",
        "copydbgetnonce",
        "copydbsaslstart",
        "copydb",
    }
)
"""The drivers' security-sensitive commands, lower case: logged as ``{}``."""

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "*password*",
    "*passwd*",
    "pwd",
    "pass",
    "passphrase",
    "*secret*",
    "*token*",
    "*api_key*",
    "*api-key*",
    "*apikey*",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "*private_key*",
    "privatekey",
    "ssn",
    "credit_card",
    "creditcard",
    "card_number",
    "cardnumber",
    "cc_number",
    "ccnumber",
    "cvv",
    "cvc",
    "pan",
    "iban",
    "signature",
    "keymaterial",
    "speculativeauthenticate",
)
"""Field names (fnmatch globs, any casing) whose values are always logged as ``REDACTED``."""

REDACTED: str = "[REDACTED]"
MODES = ("shape", "full", "none")

# Driver bookkeeping: the same query must get the same fingerprint in and out of a session,
# a transaction or a retry, whatever the read/write concern or the time limit.
_UNSHAPED = frozenset(
    {
        "lsid",
        "txnNumber",
        "autocommit",
        "startTransaction",
        "recoveryToken",
        "$clusterTime",
        "$db",
        "$readPreference",
        "readConcern",
        "writeConcern",
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
        "maxTimeMS",
        "comment",
    }
)
# Commands whose first value names a user or a role, not a collection.
_NOT_COLLECTION = SENSITIVE_COMMANDS | {
    "dropuser",
    "usersinfo",
    "grantrolestouser",
    "revokerolesfromuser",
    "createrole",
    "updaterole",
    "droprole",
    "rolesinfo",
    "grantrolestorole",
    "revokerolesfromrole",
    "grantprivilegestorole",
    "revokeprivilegesfromrole",
}
_HELLO = frozenset({"hello", "ismaster"})
_CACHE_SIZE = 10_000
_SHAPE_LIMIT = 16_384
_Q = '"?"'
_FIELD_PATH = re.compile(r"\$\$?[^\W\d][\w.-]{0,254}\Z")

Walker = Callable[[Any, int, int, "_KeyTable"], str]


def is_sensitive(command_name: str, command: Mapping[str, Any] | None) -> bool:
    """Tell whether a command must be logged as ``{}`` (and its reply too).

    Args:
        command_name: The command's name, in any casing.
        command: The command document, when known; ``None`` judges by the name only.

    Returns:
        True for :data:`SENSITIVE_COMMANDS`, and for ``hello``/``isMaster`` carrying
        ``speculativeAuthenticate``.
    """
    try:
        name = command_name.lower()
        if name in SENSITIVE_COMMANDS:
            return True
        return name in _HELLO and command is not None and "speculativeAuthenticate" in command
    except Exception:  # a document we cannot even look into is not logged
        return True


def collection_of(command_name: str, command: Mapping[str, Any]) -> str | None:
    """Return the collection a command targets.

    Args:
        command_name: The command's name, in any casing.
        command: The command document.

    Returns:
        The string value of the command's first key (``find``, ``insert``, ``aggregate``...),
        ``collection`` for ``getMore``, the explained command's collection for ``explain``;
        None otherwise (``aggregate: 1``, ``ping``, user and role management).
    """
    try:
        name = command_name.lower()
        if name == "getmore":
            value = command.get("collection")
        else:
            value = next(iter(command.values()), None)
            if name == "explain" and isinstance(value, Mapping):
                return collection_of(str(next(iter(value), "")), value)
        return value if type(value) is str and name not in _NOT_COLLECTION else None
    except Exception:  # an odd document has no collection worth a crash
        return None


def _matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [fnmatch.translate(p) for p in patterns if p not in exact]
    glob = re.compile("|".join(globs)).match if globs else None

    def redacts(name: str) -> bool:
        lowered = name.lower()
        # A dotted update path ("profile.password") is as secret as any of its parts.
        for part in {lowered, *lowered.split(".")}:
            if part in exact or (glob is not None and glob(part)):
                return True
        return False

    return redacts


class _KeyTable(dict[Any, KeyInfo]):
    """Field name -> ``KeyInfo``, decided once per name."""

    __slots__ = ("_redacts",)

    def __init__(self, redacts: Callable[[str], bool]) -> None:
        super().__init__()
        self._redacts = redacts

    def __missing__(self, key: Any) -> KeyInfo:
        name = key if type(key) is str else str(key)
        redacted = self._redacts(name)
        field = json_string(name) + ":"
        info = (redacted, field, field + (REDACTED_JSON if redacted else _Q))
        # Bounded: documents keyed by user ids would otherwise grow it for ever.
        if len(self) < _CACHE_SIZE:
            self[key] = info
        return info


_LEAF, _DOC, _ARRAY = 1, 2, 3
_TOO_DEEP = '{"$unrenderable":"too deep"}'
_KINDS: dict[type, int] = {
    **dict.fromkeys(SCALAR_TYPES, _LEAF),
    **dict.fromkeys(MAPPING_TYPES, _DOC),
    list: _ARRAY,
    tuple: _ARRAY,
}


def _kind(value: Any) -> int:
    kind = type(value)
    found = _KINDS.get(kind)
    if found is None:
        found = _DOC if isinstance(value, Mapping) else _LEAF
        found = _ARRAY if isinstance(value, (list, tuple)) else found
        _KINDS[kind] = found
    return found


def _members(
    value: Any,
    budget: int,
    depth: int,
    keys: _KeyTable,
    default: Walker,
    *,
    table: Mapping[str, Walker] | None = None,
) -> str:
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
        walker = table.get(key, default) if table else default
        # Most values are leaves: answering them here saves a call per value.
        if redacted or (walker is _value and _KINDS.get(type(item)) == _LEAF):
            text = shaped
        else:
            text = name + walker(item, budget - pos - len(name), depth + 1, keys)
        out.append(text)
        pos += len(text)
    return "{" + ",".join(out) + "}"


def _elements(
    value: Any, budget: int, depth: int, keys: _KeyTable, walker: Walker, *, distinct: bool = True
) -> str:
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    out: list[str] = []
    seen: set[str] = set()
    pos = 1
    # Shapes come from the first elements only: an insert of 100k documents costs no more
    # than one of 32, and a longer $in list does not change the fingerprint.
    for item in value[:32] if distinct else value:
        if pos >= budget:
            break
        comma = 1 if out else 0
        if walker is _value and _KINDS.get(type(item)) == _LEAF:
            text = _Q
        else:
            text = walker(item, budget - pos - comma, depth + 1, keys)
        if distinct:
            if text in seen:
                continue
            seen.add(text)
        out.append(text)
        pos += comma + len(text)
    return "[" + ",".join(out) + "]"


def _value(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return _Q
    if kind == _ARRAY:
        return _elements(value, budget, depth, keys, _value)
    if depth > MAX_DEPTH:
        return _TOO_DEEP
    # _members, specialised: this loop is the hot path of every filter and document.
    out: list[str] = []
    pos = 1
    for key, item in value.items():
        if pos >= budget:
            break
        if out:
            pos += 1
        redacted, field, shaped = keys[key]
        if redacted or _KINDS.get(type(item)) == _LEAF:
            text = shaped
        else:
            text = field + _value(item, budget - pos - len(field), depth + 1, keys)
        out.append(text)
        pos += len(text)
    return "{" + ",".join(out) + "}"


def _expr(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    # In an aggregation expression a string starting with "$" is always a field path or a
    # variable, never data: that is what makes it safe to keep.
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        return json_string(value) if type(value) is str and _FIELD_PATH.match(value) else _Q
    if kind == _DOC:
        return _members(value, budget, depth, keys, _expr, table=_EXPR)
    return _elements(value, budget, depth, keys, _expr)


def _keep(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    kind = _KINDS.get(type(value)) or _kind(value)
    if kind == _LEAF:
        if type(value) is str:
            return json_string(value) if len(value) < budget else encode(value, budget, 0, keys)
        return _Q
    if kind == _DOC:
        return _members(value, budget, depth, keys, _keep)
    return _elements(value, budget, depth, keys, _keep, distinct=False)


def _pipeline(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    if _kind(value) == _ARRAY:
        return _elements(value, budget, depth, keys, _stage, distinct=False)
    return _value(value, budget, depth, keys)


def _stage(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    if _kind(value) == _DOC:
        return _members(value, budget, depth, keys, _expr, table=_STAGES)
    return _value(value, budget, depth, keys)


def _update(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    if _kind(value) == _ARRAY:
        return _pipeline(value, budget, depth, keys)
    return _value(value, budget, depth, keys)


def _keep_or_pipeline(value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    if _kind(value) == _ARRAY:
        return _pipeline(value, budget, depth, keys)
    return _keep(value, budget, depth, keys)


class _Spec:
    """Walker for a structured argument: named members get their own walker."""

    __slots__ = ("_default", "_keep_str", "_table")

    def __init__(
        self, table: Mapping[str, Walker], default: Walker = _value, keep_str: bool = False
    ) -> None:
        self._table, self._default, self._keep_str = table, default, keep_str

    def __call__(self, value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
        if self._keep_str and type(value) is str:
            return encode(value, budget, depth, keys)
        kind = _kind(value)
        if kind == _DOC:
            return _members(value, budget, depth, keys, self._default, table=self._table)
        if kind == _ARRAY:
            return _elements(value, budget, depth, keys, self)
        return self._default(value, budget, depth, keys)


_EXPR: dict[str, Walker] = {"$literal": _value}
_NAMES = ("from", "as", "localField", "foreignField", "connectFromField", "connectToField")
_STAGES: dict[str, Walker] = {
    "$match": _value,
    "$documents": _value,
    "$search": _value,
    "$searchMeta": _value,
    "$vectorSearch": _value,
    "$changeStream": _value,
    "$lookup": _Spec({**dict.fromkeys(_NAMES, _keep), "pipeline": _pipeline, "let": _expr}),
    "$graphLookup": _Spec(
        {**dict.fromkeys((*_NAMES, "depthField"), _keep), "startWith": _expr}, _value
    ),
    "$facet": _Spec({}, _pipeline),
    "$unionWith": _Spec({"coll": _keep, "pipeline": _pipeline}, _value, keep_str=True),
    "$out": _Spec({"db": _keep, "coll": _keep}, _value, keep_str=True),
    "$merge": _Spec(
        {
            "into": _keep,
            "on": _keep,
            "whenMatched": _keep_or_pipeline,
            "whenNotMatched": _keep,
            "let": _expr,
        },
        _value,
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


def _shape_command(
    name: str, command: Mapping[str, Any], budget: int, depth: int, keys: _KeyTable
) -> tuple[str, str]:
    """Shape text of a command within ``budget``, and its signature: what the fingerprint covers.

    The signature is exact for its first ``_SHAPE_LIMIT`` characters whatever the budget, so
    that the fingerprint does not depend on the maximum length a process is configured with.
    """
    table = _GETMORE if name == "getmore" else _COMMAND
    out: list[str] = []
    signed: list[str] = []
    pos, signed_pos = 1, 0
    for key, item in command.items():
        if pos >= budget and signed_pos >= _SHAPE_LIMIT:
            break
        if out:
            pos += 1
        redacted, field, shaped = keys[key]
        signs = key not in _UNSHAPED
        walker = table.get(key, _value)
        if redacted or (out and walker is not _keep and _KINDS.get(type(item)) == _LEAF):
            text = shaped
        else:
            room = budget - pos
            if signs and _SHAPE_LIMIT - signed_pos > room:
                room = _SHAPE_LIMIT - signed_pos
            if out:
                text = field + walker(item, room - len(field), depth + 1, keys)
            else:
                text = field + _target(name, item, room - len(field), depth + 1, keys)
        out.append(text)
        pos += len(text)
        if signs:
            signed.append(text)
            signed_pos += len(text) + 1
    return "{" + ",".join(out) + "}", ",".join(signed)[:_SHAPE_LIMIT]


def _target(name: str, value: Any, budget: int, depth: int, keys: _KeyTable) -> str:
    if type(value) is str:
        return _keep(value, budget, depth, keys) if name not in _NOT_COLLECTION else _Q
    if value is True or (type(value) is int and value == 1):
        return "true" if value is True else "1"
    if _kind(value) == _DOC and depth <= MAX_DEPTH:
        inner = str(next(iter(value), "")).lower()
        return _shape_command(inner, value, budget, depth, keys)[0]
    return _value(value, budget, depth, keys)


def _fingerprint(text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


_NO_SHAPE = _fingerprint("")
_GAVE_UP = '{"$unrenderable":"RecursionError"}'


def _counter(value: Any) -> int | float | None:
    if type(value) is bool:
        return int(value)
    if isinstance(value, int):
        return int(value)
    if type(value) is float and math.isfinite(value):
        return int(value) if value.is_integer() else value
    return None


def _summary(reply: Mapping[str, Any]) -> str:
    out: dict[str, int | float] = {}
    for key in ("ok", "n", "nModified"):
        number = _counter(reply.get(key))
        if number is not None:
            out[key] = number
    cursor = reply.get("cursor")
    if isinstance(cursor, Mapping):
        number = _counter(cursor.get("id"))
        if number is not None:
            out["cursorId"] = number
        batch = cursor.get("firstBatch", cursor.get("nextBatch"))
        if isinstance(batch, (list, tuple)):
            out["batchSize"] = len(batch)
    errors = reply.get("writeErrors")
    if isinstance(errors, (list, tuple)) and errors:
        out["writeErrors"] = len(errors)
    return orjson.dumps(out).decode()


class _Scrubber:
    """Finds the values in the documents an error message echoes, in MongoDB's notation.

    ``{ email: "a@b.c", _id: ObjectId('…'), tags: [ 1, 2 ] }``: each value's span is replaced
    by ``?`` (when scrubbing every value) or ``[REDACTED]`` (under a redacted name). The scan
    is forgiving: a message cut in the middle of a value still gets that value replaced.
    """

    __slots__ = ("every", "keys", "spans", "text")

    def __init__(self, text: str, keys: _KeyTable, every: bool) -> None:
        self.text, self.keys, self.every = text, keys, every
        self.spans: list[tuple[int, int, str]] = []

    def run(self) -> str:
        text = self.text
        start = text.find("{")
        while start != -1:
            start = text.find("{", self.container(start, 0))
        pieces: list[str] = []
        last = 0
        for begin, end, replacement in self.spans:
            pieces += (text[last:begin], replacement)
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def skip_spaces(self, i: int) -> int:
        while i < len(self.text) and self.text[i].isspace():
            i += 1
        return i

    def quoted_end(self, i: int) -> int:
        text, quote = self.text, self.text[i]
        i += 1
        while i < len(text) and text[i] != quote:
            i += 2 if text[i] == "\\" else 1
        return min(i + 1, len(text))

    def scalar_end(self, i: int) -> int:
        text, parens = self.text, 0
        while i < len(text):
            char = text[i]
            if char in "\"'":
                i = self.quoted_end(i)
                continue
            if char in "()":
                parens += 1 if char == "(" else -1
            elif parens <= 0 and char in ",}]":
                break
            i += 1
        while text[i - 1].isspace():
            i -= 1
        return i

    def container(self, i: int, depth: int) -> int:
        """Scan the object or array opening at ``i``; return the index after its end."""
        text = self.text
        closer = "}" if text[i] == "{" else "]"
        i += 1
        while True:
            i = self.skip_spaces(i)
            if i >= len(text):
                return i
            char = text[i]
            if char == closer:
                return i + 1
            if char in ",}]":
                i += 1
            elif closer == "]":
                i = self.value(i, depth, redacted=False)
            else:
                i = self.member(i, depth)

    def member(self, i: int, depth: int) -> int:
        text, start = self.text, i
        if text[i] == '"':
            i = self.quoted_end(i)
        while i < len(text) and text[i] not in ":,}":
            i += 1
        if i < len(text) and text[i] == ":":
            key = text[start:i].strip().strip('"')
            return self.value(self.skip_spaces(i + 1), depth, redacted=self.keys[key][0])
        # A bare token, not "name: value": if anything, it is a value.
        end = self.scalar_end(start)
        if self.every:
            self.spans.append((start, end, "?"))
        return max(end, start + 1)

    def value(self, i: int, depth: int, *, redacted: bool) -> int:
        text = self.text
        if i >= len(text) or text[i] in ",}]":
            return i
        if depth > 64:
            # Deeper than any real message: everything left is treated as one value.
            self.spans.append((i, len(text), REDACTED if redacted else "?"))
            return len(text)
        if text[i] in "{[":
            kept = self.spans
            if redacted:
                self.spans = []
            end = self.container(i, depth + 1)
            self.spans = kept
        else:
            end = self.scalar_end(i)
            if self.every and not redacted:
                self.spans.append((i, end, "?"))
        if redacted:
            self.spans.append((i, end, REDACTED))
        return end


class DocumentRenderer:
    """Turns commands, replies and error messages into the text a log record carries.

    Thread-safe and meant to live as long as the settings it was made from: it caches
    per-field-name redaction decisions and per-shape fingerprints. No method ever raises.
    """

    __slots__ = ("_keys", "_max_length", "_mode", "_shapes")

    def __init__(self, mode: str, redact_keys: Sequence[str] = (), max_length: int = 1000) -> None:
        """Check and keep the settings.

        Args:
            mode: ``"shape"``, ``"full"`` or ``"none"`` (see ``docs/redaction.md``).
            redact_keys: Field names or fnmatch globs redacted on top of
                :data:`DEFAULT_REDACT_KEYS`, any casing; a single string is split on commas.
            max_length: Longest text kept; longer text is cut to this many characters
                followed by ``...`` (0 turns every document into ``...``).

        Raises:
            ValueError: On an unknown mode, a negative or non-integer ``max_length``, or a
                redact key that is not a string.
        """
        if mode not in MODES:
            raise ValueError(f"documents mode must be one of {', '.join(MODES)}; got {mode!r}")
        if type(max_length) is not int or max_length < 0:
            raise ValueError(f"max_length must be an integer >= 0; got {max_length!r}")
        if isinstance(redact_keys, str):
            redact_keys = redact_keys.split(",")
        extra = []
        for key in redact_keys:
            if not isinstance(key, str):
                raise ValueError(f"redact keys must be strings; got {key!r}")
            extra.append(key.strip().lower())
        self._mode = mode
        self._max_length = max_length
        self._keys = _KeyTable(_matcher([*DEFAULT_REDACT_KEYS, *filter(None, extra)]))
        self._shapes: dict[str, str] = {}

    def command(self, command_name: str, command: Mapping[str, Any]) -> tuple[str | None, str]:
        """Render a command for the ``command`` and ``command_shape`` fields.

        Args:
            command_name: The command's name as PyMongo reports it.
            command: The command document; read, never changed.

        Returns:
            ``(text, command_shape)``: text is None in mode ``none``, ``{}`` for a sensitive
            command, else relaxed Extended JSON after redaction, shaping and cutting;
            command_shape is 16 lower-case hex digits (of the name alone when sensitive).
        """
        try:
            name = command_name.lower()
            if is_sensitive(name, command):
                return (None if self._mode == "none" else "{}"), self._fingerprint(command_name)
            shaping = self._mode == "shape"
            budget = self._max_length if shaping else 0
            shape, signature = _shape_command(name, command, budget, 0, self._keys)
            collection = collection_of(command_name, command) or ""
            fingerprint = self._fingerprint(f"{command_name}\0{collection}\0{signature}")
            if self._mode == "none":
                return None, fingerprint
            text = shape if shaping else encode(command, self._max_length, 0, self._keys)
            return self._cut(text), fingerprint
        except Exception:  # an unreadable command is logged as such, never raised
            try:
                return (
                    None if self._mode == "none" else self._cut(_placeholder(command))
                ), _NO_SHAPE
            except Exception:  # not even room for that: the stack is all but exhausted
                return (None if self._mode == "none" else _GAVE_UP), _NO_SHAPE

    def reply(self, command_name: str, reply: Mapping[str, Any], sensitive: bool) -> str:
        """Render a command's reply for the ``reply`` field.

        Args:
            command_name: The command's name as PyMongo reports it.
            reply: The reply document; read, never changed.
            sensitive: Whether the command was sensitive (see :func:`is_sensitive`).

        Returns:
            ``{}`` when sensitive; in mode ``full`` the reply as relaxed Extended JSON, redacted
            and cut; otherwise a compact JSON summary of its counters: ``ok``, ``n``,
            ``nModified``, ``cursorId``, ``batchSize`` and the number of ``writeErrors``.
        """
        try:
            if sensitive or is_sensitive(command_name, None):
                return "{}"
            if self._mode == "full":
                return self._cut(encode(reply, self._max_length, 0, self._keys))
            return self._cut(_summary(reply))
        except Exception:  # an unreadable reply is logged as such, never raised
            try:
                return self._cut(_placeholder(reply))
            except Exception:  # not even room for that: the stack is all but exhausted
                return _GAVE_UP

    def error_message(self, message: str) -> str:
        """Make a server or driver error message safe to log.

        Args:
            message: The message, which may echo documents (``dup key: { email: "a@b.c" }``).

        Returns:
            The message with the values in its ``{ ... }`` documents replaced by ``?`` (modes
            ``shape`` and ``none``) and those under redacted field names by ``[REDACTED]``
            (every mode), cut to the maximum length followed by ``...``.
        """
        try:
            text = message if type(message) is str else str(message)
            # Scrubbing only shortens; a server message is seldom longer than a few kB.
            limit = self._max_length + 65_536
            clipped = len(text) > limit
            if clipped:
                text = text[:limit]
            if "{" in text:
                text = _Scrubber(text, self._keys, self._mode != "full").run()
            text = self._cut(text)
            return text + "..." if clipped and len(text) <= self._max_length else text
        except Exception:  # an unreadable message is logged as such, never raised
            try:
                return self._cut(_placeholder(message))
            except Exception:  # not even room for that: the stack is all but exhausted
                return _GAVE_UP

    def _cut(self, text: str) -> str:
        limit = self._max_length
        if not text.isascii():
            text = text[: limit + 1]
            try:
                text.encode()
            except UnicodeEncodeError:
                # Lone surrogates would make the record itself unwritable as UTF-8.
                text = text.encode("utf-8", "backslashreplace").decode()
        return text[:limit] + "..." if len(text) > limit else text

    def _fingerprint(self, key: str) -> str:
        found = self._shapes.get(key)
        if found is None:
            found = _fingerprint(key)
            if len(self._shapes) < _CACHE_SIZE and len(key) < 4096:
                self._shapes[key] = found
        return found


class RedactDocuments:
    """A structlog processor that turns raw ``command``/``reply`` documents into safe text.

    For chains of your own that log documents: an event dict whose ``command`` or ``reply``
    is a mapping gets it replaced by the text :class:`DocumentRenderer` makes (``command`` is
    removed in mode ``none``) and gains ``command_shape``. Anything else passes untouched.
    """

    __slots__ = ("renderer",)

    def __init__(self, renderer: DocumentRenderer | None = None) -> None:
        """Keep the renderer to use.

        Args:
            renderer: The rules to apply; a ``DocumentRenderer("shape")`` by default.
        """
        self.renderer = renderer if renderer is not None else DocumentRenderer("shape")

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Replace the raw documents in one event dict.

        Args:
            logger: The wrapped logger (unused).
            method_name: The logging method's name (unused).
            event_dict: The event; changed in place.

        Returns:
            The same event dict.
        """
        try:
            command = event_dict.get("command")
            reply = event_dict.get("reply")
            command = command if isinstance(command, Mapping) else None
            reply = reply if isinstance(reply, Mapping) else None
            if command is None and reply is None:
                return event_dict
            name = event_dict.get("command_name")
            if type(name) is not str:
                name = str(next(iter(command), "")) if command is not None else ""
            if command is not None:
                text, shape = self.renderer.command(name, command)
                if text is None:
                    del event_dict["command"]
                else:
                    event_dict["command"] = text
                event_dict.setdefault("command_shape", shape)
            if reply is not None:
                sensitive = is_sensitive(name, command) or "speculativeAuthenticate" in reply
                event_dict["reply"] = self.renderer.reply(name, reply, sensitive)
        except Exception:  # never let a raw document through, never raise
            for key in ("command", "reply"):
                try:
                    if isinstance(event_dict.get(key), Mapping):
                        event_dict[key] = _placeholder(event_dict[key])
                except Exception:  # not even room for that: the stack is all but exhausted
                    if key in event_dict and type(event_dict[key]) is not str:
                        event_dict[key] = _GAVE_UP
        return event_dict
        try:
            name = event_dict.get("command_name")
            if type(name) is not str:
                name = str(next(iter(command), "")) if command is not None else ""
            if command is not None:
                text, shape = self.renderer.command(name, command)
                if text is None:
                    del event_dict["command"]
                else:
                    event_dict["command"] = text
                event_dict.setdefault("command_shape", shape)
            if reply is not None:
                sensitive = is_sensitive(name, command) or "speculativeAuthenticate" in reply
                event_dict["reply"] = self.renderer.reply(name, reply, sensitive)
        except Exception:  # never let a raw document through, never raise
            for key in ("command", "reply"):
                try:
                    if isinstance(event_dict.get(key), Mapping):
                        event_dict[key] = _placeholder(event_dict[key])
                except Exception:  # not even room for that: the stack is all but exhausted
                    event_dict[key] = _GAVE_UP
        return event_dict
