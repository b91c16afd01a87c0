"""Command and reply documents made safe to log: the public face of redaction and shapes.

PyMongo hands listeners its live documents, so nothing here writes to them: every function
reads its input and writes text. :class:`DocumentRenderer` is what the listeners call;
:class:`RedactDocuments` is the same thing as a structlog processor for your own chains.
The work is done by three private modules, one concern each: ``_shape`` (shapes and their
fingerprint), ``_extjson`` (relaxed Extended JSON) and ``_scrub`` (which field names are
redacted; error messages and replies reduced to what is safe to log).
``docs/redaction.md`` describes the rules from the user's side.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from ._extjson import placeholder
from ._fastjson import render
from ._scrub import KeyTable, matcher, scrub, summary
from ._shape import Shaper, collection, digest

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
        *("authenticate", "saslstart", "saslcontinue", "getnonce", "createuser", "updateuser"),
        *("copydbgetnonce", "copydbsaslstart", "copydb"),
    }
)
"""The drivers' security-sensitive commands, lower case: logged as ``{}``."""

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    *("*password*", "*passwd*", "pwd", "pass", "passphrase", "*secret*", "*token*"),
    *("*api_key*", "*api-key*", "*apikey*", "authorization", "auth", "credential"),
    *("credentials", "cookie", "*private_key*", "privatekey", "ssn", "credit_card"),
    *("creditcard", "card_number", "cardnumber", "cc_number", "ccnumber", "cvv", "cvc"),
    *("pan", "iban", "signature", "keymaterial", "speculativeauthenticate"),
)
"""Field names (fnmatch globs, any casing) whose values are always logged as ``REDACTED``."""

REDACTED: str = "[REDACTED]"
"""What a redacted value is logged as."""

MODES: tuple[str, ...] = ("shape", "full", "none")
"""The documents modes: ``shape`` (values replaced by ``"?"``), ``full``, ``none``."""

_HELLO = frozenset({"hello", "ismaster"})
_CACHE_SIZE = 10_000
_NO_SHAPE = digest(b"")
_GAVE_UP = '{"$unrenderable":"RecursionError"}'
_BOUND_ITEMS = 100
_BOUND_DEPTH = 8


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
        # TEMP (gate branch replaces): a hello/isMaster PyMongo already emptied (it
        # carried speculativeAuthenticate) is sensitive too.
        return (
            name in _HELLO
            and command is not None
            and ("speculativeAuthenticate" in command or not command)
        )
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
        return collection(command_name.lower(), command)
    except Exception:  # an odd document has no collection worth a crash
        return None


class DocumentRenderer:
    """Turns commands, replies and error messages into the text a log record carries.

    Thread-safe and meant to live as long as the settings it was made from: it caches
    per-field-name redaction decisions and per-shape fingerprints. No method ever raises.
    """

    __slots__ = ("_keys", "_max_length", "_mode", "_sensitive", "_shaper", "_whole")

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
        self._keys = KeyTable(matcher([*DEFAULT_REDACT_KEYS, *filter(None, extra)]))
        self._shaper = Shaper(self._keys, max_length)
        self._whole = mode == "shape"
        self._sensitive: dict[str, bool] = {}

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
        mode = self._mode
        try:
            name = command_name.lower()
            if name in SENSITIVE_COMMANDS or (name in _HELLO and is_sensitive(name, command)):
                return (None if mode == "none" else "{}"), self._shaper.name_only(command_name)
            text, fingerprint = self._shaper.shape(command_name, name, command, self._whole)
            if text is None:
                if mode == "none":
                    return None, fingerprint
                text = render(command, self._max_length, self._keys)
            if len(text) <= self._max_length and text.isascii():
                return text, fingerprint
            return self._cut(text), fingerprint
        except Exception:  # an unreadable command is logged as such, never raised
            try:
                return (None if mode == "none" else self._cut(placeholder(command))), _NO_SHAPE
            except Exception:  # not even room for that: the stack is all but exhausted
                return (None if mode == "none" else _GAVE_UP), _NO_SHAPE

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
            if sensitive:
                return "{}"
            known = self._sensitive.get(command_name)
            if known is None:
                known = is_sensitive(command_name, None)
                if len(self._sensitive) < _CACHE_SIZE:
                    self._sensitive[command_name] = known
            if known:
                return "{}"
            if self._mode == "full":
                return self._cut(render(reply, self._max_length, self._keys))
            text = summary(reply)  # ASCII
            return text if len(text) <= self._max_length else self._cut(text)
        except Exception:  # an unreadable reply is logged as such, never raised
            try:
                return self._cut(placeholder(reply))
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
                text = scrub(text, self._keys, self._mode != "full")
            text = self._cut(text)
            return text + "..." if clipped and len(text) <= self._max_length else text
        except Exception:  # an unreadable message is logged as such, never raised
            try:
                return self._cut(placeholder(message))
            except Exception:  # not even room for that: the stack is all but exhausted
                return _GAVE_UP

    def text(self, value: str) -> str:
        """TEMP stand-in (the gate branch replaces it): free text from the server, cut."""
        return self._cut(value if type(value) is str else str(value))

    def name(self, value: str) -> str:
        """TEMP stand-in (the gate branch replaces it): a name from the server or app, cut."""
        return value if len(value) <= self._max_length else self._cut(value)

    def context_value(self, name: str, value: Any) -> Any:
        """Make a value the application bound with ``structlog.contextvars`` safe to log.

        Args:
            name: The name it was bound under.
            value: The value; read, never changed.

        Returns:
            ``REDACTED`` when the name is one of the redacted field names (a bound
            ``auth_token`` is a secret like any other). Otherwise the value, its type kept:
            a string cut to ``max_length`` characters (plus ``...``); in a dict, list, tuple
            or set (a copy: lists for the last three) the same rules member by member, the
            first 100 items of each, 8 levels deep. Other values are left to the output,
            which writes what JSON cannot hold as text.
        """
        try:
            return REDACTED if self._keys[name][0] else self._bound(value, 0)
        except Exception:  # never lose the record over a bound value
            return placeholder(value)

    def _bound(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return value if len(value) <= self._max_length else self._cut(str(value))
        if isinstance(value, Mapping):
            if depth >= _BOUND_DEPTH:
                return placeholder(value)
            keys = self._keys
            return {
                key: REDACTED if keys[key][0] else self._bound(item, depth + 1)
                for key, item in itertools.islice(value.items(), _BOUND_ITEMS)
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            if depth >= _BOUND_DEPTH:
                return placeholder(value)
            return [self._bound(item, depth + 1) for item in itertools.islice(value, _BOUND_ITEMS)]
        return value

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
                        event_dict[key] = placeholder(event_dict[key])
                except Exception:  # not even room for that: the stack is all but exhausted
                    if key in event_dict and type(event_dict[key]) is not str:
                        event_dict[key] = _GAVE_UP
        return event_dict
