"""Redaction: which field names are secret; what the server says back, reduced to what is safe.

:class:`KeyTable` decides, once per field name, whether its value is redacted (the
redaction list is fnmatch globs, any casing, matched against the whole name and each dotted
part); the walkers in ``_shape`` and ``_extjson`` consult it for every member they write.

Server messages quote documents in MongoDB's shell notation, not JSON, and are often cut:
``E11000 duplicate key error ... dup key: { email: "a@b.c" }``. :func:`scrub` finds each
value's span in such ``{ ... }`` parts and replaces it by ``?`` (when scrubbing every value)
or ``[REDACTED]`` (under a redacted name); the text around them is kept as it is.

:func:`summary` reduces a reply to the counters that hold no data (``ok``, ``n``,
``nModified``, the cursor's id and batch size, the number of write errors).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from bson.int64 import Int64

from ._extjson import REDACTED, REDACTED_JSON, KeyInfo, json_string

__all__ = ["KeyTable", "matcher", "scrub", "summary"]

_CACHE_SIZE = 10_000
_MISSING = object()
# Deeper than any real message: everything left is treated as one value.
_MAX_DEPTH = 64


def matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Build the test of a field name against a redaction list.

    Args:
        patterns: Names or fnmatch globs, lower case.

    Returns:
        A function telling whether a name, or any part of a dotted name, matches.
    """
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


class KeyTable(dict[Any, KeyInfo]):
    """Field name -> ``KeyInfo``, decided once per name and remembered (up to 10,000 names).

    ``safe`` and ``secret`` hold the remembered names that are plain ``str``, not redacted
    and redacted: the walkers test a name against them in one step and ask :meth:`lookup`
    only when it is in neither.
    """

    __slots__ = ("redacts", "safe", "secret")

    def __init__(self, redacts: Callable[[str], bool]) -> None:
        """Start empty.

        Args:
            redacts: Tells whether a field name's value is redacted (see :func:`matcher`).
        """
        super().__init__()
        self.redacts = redacts
        self.safe: set[str] = set()
        self.secret: set[str] = set()

    def __missing__(self, key: Any) -> KeyInfo:
        name = key if type(key) is str else str(key)
        redacted = self.redacts(name)
        field = json_string(name) + ":"
        info = (redacted, field, field + (REDACTED_JSON if redacted else '"?"'))
        # Bounded: documents keyed by user ids would otherwise grow it for ever.
        if len(self) < _CACHE_SIZE:
            self[key] = info
            if type(key) is str:
                (self.secret if redacted else self.safe).add(key)
        return info

    def lookup(self, key: Any) -> tuple[str, bool]:
        """Return the ``str`` a field name is written as, and whether its value is redacted."""
        return (key if type(key) is str else str(key)), self[key][0]


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


def scrub(text: str, keys: Mapping[Any, KeyInfo], every: bool) -> str:
    """Replace the values in the documents an error message echoes.

    Args:
        text: The message.
        keys: Field name -> ``KeyInfo``; the first item says whether a value is redacted.
        every: Replace every value by ``?``; otherwise only redacted ones, by ``[REDACTED]``.

    Returns:
        The message with those values replaced. The scan is forgiving: a message cut in the
        middle of a value still gets that value replaced.
    """
    return _Scrubber(text, keys, every).run()


class _Scrubber:
    """One scan of one message: the spans found so far and what replaces each."""

    __slots__ = ("every", "keys", "spans", "text")

    def __init__(self, text: str, keys: Mapping[Any, KeyInfo], every: bool) -> None:
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
        if depth > _MAX_DEPTH:
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
