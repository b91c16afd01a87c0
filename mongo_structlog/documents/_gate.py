"""The text gate: which field names are secret, and foreign free text made safe to log.

:class:`KeyTable` decides, once per field name, whether its value is redacted (the
redaction list is fnmatch globs, any casing, matched against the whole name and each dotted
part); the document walkers consult it for every member they write.

:func:`redact_text` is the gate for text that comes from a server, a driver or an
exception. Such text quotes documents in several styles: MongoDB's shell notation
(``dup key: { api_key: "sk_..." }``, often cut mid-value), JSON (``"pwd": "x"``), Python's
``repr`` of a dict (``{'pwd': 'x'}``), and ``key=value`` or ``key: value`` pairs. Two scans,
each a left-to-right pass that never goes back (no regular expression here can backtrack
more than the token it is reading), so the time is linear in the text:

1. *Documents*: each ``{ ... }`` (and ``[ ... ]`` after a ``name:``) is read member by
   member; the value under a redacted name becomes ``[REDACTED]`` (a nested document or
   array as a whole), and with ``every`` every other value becomes ``?``.
2. *Pairs*: anywhere in what is left, including inside quoted strings, a redacted name
   followed by ``:`` or ``=`` has its value replaced; so has the password of a URI's
   ``user:password@``.

:func:`redact_error_parts` applies the gate to the parts of a reply that are server prose
(``errmsg``, ``writeErrors``, ``errInfo``...), for ``documents="full"``.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._extjson import REDACTED, REDACTED_JSON, KeyInfo, json_string

__all__ = ["ERROR_PARTS", "KeyTable", "matcher", "redact_error_parts", "redact_text"]

_CACHE_SIZE = 10_000

ERROR_PARTS: frozenset[str] = frozenset(
    {
        *("errmsg", "$err", "err", "errInfo", "writeErrors", "writeConcernError"),
        *("writeConcernErrors", "raw", "errorReplies", "note"),
    }
)
"""Reply members that hold server prose (and the documents it quotes)."""

# A bounded copy of error parts: they are small, but a reply is the server's to make.
_ERROR_ITEMS = 100
_ERROR_DEPTH = 16


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

    __slots__ = ("redacts", "safe", "secret", "words")

    def __init__(self, redacts: Callable[[str], bool]) -> None:
        """Start empty.

        Args:
            redacts: Tells whether a field name's value is redacted (see :func:`matcher`).
        """
        super().__init__()
        self.redacts = redacts
        self.safe: set[str] = set()
        self.secret: set[str] = set()
        self.words: dict[str, bool] = {}

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

    def secret_name(self, name: str) -> bool:
        """Tell whether a name found in free text is redacted.

        Words of error messages are remembered apart from field names: they would otherwise
        crowd out the names the document walkers look up on every command.
        """
        found = self.words.get(name)
        if found is None:
            found = self.redacts(name)
            if len(self.words) < _CACHE_SIZE:
                self.words[name] = found
        return found


# -- scan 1: the documents a message quotes ------------------------------------------------

_WS = re.compile(r"\s*")
# A document, or an array or document right after "name:" (the name decides redaction).
_OPENING = re.compile(r"\{|(?<![\w.$-])([A-Za-z_$][\w.$-]*)[\"']?[ \t]*[:=][ \t]*(?=[\[{])")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?", re.DOTALL)
_BARE_NAME = re.compile(r"[^\s:,{}\[\]\"']*")
# A value that is neither quoted nor a container: up to the next separator at the same
# level; parentheses (ObjectId('...'), new Date(...), BinData(0, "...")) hold commas.
_SCALAR = re.compile(r"(?:[^,{}\[\]()]+|\([^()]*\)?|\))*")


class _Documents:
    """One left-to-right scan of the documents in one text: spans to replace, and by what."""

    __slots__ = ("every", "hiding", "keys", "pos", "spans", "stack", "text")

    def __init__(self, text: str, keys: KeyTable, every: bool) -> None:
        self.text, self.keys, self.every = text, keys, every
        self.pos = 0
        self.spans: list[tuple[int, int, str]] = []
        # Open containers: (closing character, start of a redacted value or -1).
        self.stack: list[tuple[str, int]] = []
        # Whether a redacted value is open: what is inside it is replaced with it.
        self.hiding = False

    def run(self) -> str:
        text = self.text
        while self.pos < len(text):
            if self.stack:
                self.step()
                continue
            found = _OPENING.search(text, self.pos)
            if found is None:
                break
            name = found.group(1)
            self.pos = found.end()
            if name is None:
                self.stack.append(("}", -1))
            else:
                self.open(self.pos, self.keys.secret_name(name))
        for _closer, start in self.stack:  # cut short: a redacted value runs to the end
            if start >= 0:
                self.spans.append((start, len(text), REDACTED))
                break
        return _apply(text, self.spans)

    def open(self, i: int, redacted: bool) -> None:
        closer = "}" if self.text[i] == "{" else "]"
        hides = redacted and not self.hiding
        self.stack.append((closer, i if hides else -1))
        self.hiding = self.hiding or hides
        self.pos = i + 1

    def step(self) -> None:
        """Read the next member (in a document) or element (in an array)."""
        text = self.text
        i = _WS.match(text, self.pos).end()  # type: ignore[union-attr]
        if i >= len(text):
            self.pos = i
            return
        char = text[i]
        if char == self.stack[-1][0]:
            self.close(i)
        elif char in ",}]":  # a closer that does not match is read as a separator
            self.pos = i + 1
        elif self.stack[-1][0] == "]":
            self.value(i, redacted=False)
        else:
            self.member(i)

    def close(self, i: int) -> None:
        _closer, start = self.stack.pop()
        if start >= 0:
            self.spans.append((start, i + 1, REDACTED))
            self.hiding = False
        self.pos = i + 1

    def member(self, i: int) -> None:
        text = self.text
        if text[i] in "\"'":
            end = _QUOTED.match(text, i).end()  # type: ignore[union-attr]
            name = text[i + 1 : end - 1]
        else:
            end = _BARE_NAME.match(text, i).end()  # type: ignore[union-attr]
            name = text[i:end]
        after = _WS.match(text, end).end()  # type: ignore[union-attr]
        if after < len(text) and text[after] == ":":
            self.value(after + 1, redacted=self.keys.secret_name(name))
        else:  # no "name:": a bare value, as old servers wrote "dup key: { : 1 }"
            self.value(i, redacted=False)

    def value(self, i: int, *, redacted: bool) -> None:
        text = self.text
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i >= len(text):
            self.pos = i
            return
        char = text[i]
        if char in "{[":
            self.open(i, redacted)
            return
        if char in "\"'":
            end = _QUOTED.match(text, i).end()  # type: ignore[union-attr]
        else:
            end = _SCALAR.match(text, i).end()  # type: ignore[union-attr]
            while end > i and text[end - 1].isspace():
                end -= 1
        self.pos = max(end, i + 1) if char not in ",}]" else i
        if end > i and not self.hiding:
            if redacted:
                self.spans.append((i, end, REDACTED))
            elif self.every:
                self.spans.append((i, end, "?"))


def _apply(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for begin, end, replacement in spans:
        pieces += (text[last:begin], replacement)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# -- scan 2: name/value pairs anywhere ----------------------------------------------------

# A name, maybe quoted (also as \" inside a quoted string), then ":" or "="; or a URI's
# "scheme://user:" before its password.
_PAIR = re.compile(
    r"(?<![\w.$-])(?:\\?[\"'])?([A-Za-z_$][\w.$-]*)(?:\\?[\"'])?[ \t]*(?::(?!//)|=)[ \t]*"
    r"|://[^/@\s:]*:(?=[^@\s/]*@)"
)
_PAIR_VALUE = re.compile(
    r"\\\"(?:[^\\]|\\[^\"])*(?:\\\")?"  # \"...\" inside a quoted string
    r"|\"(?:[^\"\\\n]|\\.)*\"?"
    r"|'(?:[^'\\\n]|\\.)*'?"
    r"|[^\s,;&)}\]]+"
)
_URI_PASSWORD = re.compile(r"[^@\s/]*")
_AUTH_SCHEMES = frozenset({"basic", "bearer", "digest", "negotiate", "token", "aws4-hmac-sha256"})
_SCHEME_CREDENTIALS = re.compile(r"[ \t]+[^\s,;]+")
_BRACKETS = re.compile(r"[{}\[\]]")


def _pairs(text: str, keys: KeyTable) -> str:
    spans: list[tuple[int, int, str]] = []
    pos = 0
    search, value = _PAIR.search, _PAIR_VALUE.match
    while True:
        found = search(text, pos)
        if found is None:
            break
        pos = found.end()
        name = found.group(1)
        if name is None:  # a URI's password: up to the "@" the look-ahead saw
            end = _URI_PASSWORD.match(text, pos).end()  # type: ignore[union-attr]
        elif not keys.secret_name(name) or text.startswith(REDACTED, pos):
            continue
        elif pos < len(text) and text[pos] in "{[":
            end = _container_end(text, pos)
        else:
            matched = value(text, pos)
            end = pos if matched is None else matched.end()
            if text[pos:end].lower() in _AUTH_SCHEMES:  # "Authorization: Bearer <token>"
                after = _SCHEME_CREDENTIALS.match(text, end)
                end = end if after is None else after.end()
        if end > pos:
            spans.append((pos, end, REDACTED))
            pos = end
    return _apply(text, spans)


def _container_end(text: str, i: int) -> int:
    depth = 0
    for bracket in _BRACKETS.finditer(text, i):
        depth += 1 if bracket.group() in "{[" else -1
        if depth == 0:
            return bracket.end()
    return len(text)


def redact_text(text: str, keys: KeyTable, every: bool) -> str:
    """Redact the values a server, driver or exception message quotes under secret names.

    Args:
        text: The message.
        keys: The key table, which decides redaction.
        every: Also replace every other value inside the documents it quotes by ``?``.

    Returns:
        The message with those values replaced; the words around them kept. Time linear in
        the length of the text.
    """
    if "{" in text or "[" in text:
        text = _Documents(text, keys, every).run()
    if ":" in text or "=" in text:
        text = _pairs(text, keys)
    return text


def redact_error_parts(reply: Mapping[str, Any], keys: KeyTable) -> Mapping[str, Any]:
    """Pass the server prose in a reply through the gate, for rendering in ``full`` mode.

    Args:
        reply: The reply; read, never changed.
        keys: The key table, which decides redaction.

    Returns:
        ``reply`` itself when it has none of :data:`ERROR_PARTS`; otherwise a shallow copy
        whose error parts are copies with every string through :func:`redact_text`, and
        in a schema validation failure's details, the values of a property whose name is
        redacted replaced as a whole (the details name the property apart from its value).
    """
    parts = [name for name in ERROR_PARTS if name in reply]
    if not parts:
        return reply
    copied = dict(reply.items())
    for name in parts:
        copied[name] = _error_value(copied[name], keys, 0)
    return copied


def _error_value(value: Any, keys: KeyTable, depth: int) -> Any:
    if type(value) is str or isinstance(value, str):
        return redact_text(str(value), keys, every=False)
    if depth >= _ERROR_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        named = value.get("propertyName")
        secret = isinstance(named, str) and keys.secret_name(named)
        out: dict[Any, Any] = {}
        for key, item in itertools.islice(value.items(), _ERROR_ITEMS):
            if secret and key != "propertyName":
                out[key] = REDACTED
            else:
                out[key] = _error_value(item, keys, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_error_value(item, keys, depth + 1) for item in value[:_ERROR_ITEMS]]
    return value
