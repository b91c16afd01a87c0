"""Error messages made safe: the values in the documents a server message echoes, scrubbed.

Server messages quote documents in MongoDB's shell notation, not JSON, and are often cut:
``E11000 duplicate key error ... dup key: { email: "a@b.c" }``. :func:`scrub` finds each
value's span in such ``{ ... }`` parts and replaces it by ``?`` (when scrubbing every value)
or ``[REDACTED]`` (under a redacted name); the text around them is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._extjson import REDACTED, KeyInfo

__all__ = ["scrub"]

# Deeper than any real message: everything left is treated as one value.
_MAX_DEPTH = 64


def scrub(text: str, keys: Mapping[Any, KeyInfo], every: bool) -> str:
    """Replace the values in the documents a message echoes.

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
