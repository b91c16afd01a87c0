"""The one gate: documents, names and foreign text made safe to log.

Every string a record carries that comes from the server or the application passes through
a :class:`DocumentRenderer`: commands and replies (:meth:`~DocumentRenderer.command`,
:meth:`~DocumentRenderer.reply`), server, driver and exception texts
(:meth:`~DocumentRenderer.text`), database and collection names
(:meth:`~DocumentRenderer.name`, :meth:`~DocumentRenderer.collection`) and values bound with
``structlog.contextvars`` (:meth:`~DocumentRenderer.context_value`). PyMongo hands listeners
its live documents, so nothing here writes to them: every method reads and writes text.
:class:`RedactDocuments` is the same gate as a structlog processor for your own chains.

The work is done by three private modules, one concern each: ``_gate`` (which field names
are secret; redaction of free text in every quoting style), ``_shape`` (shapes, the
catalogue of commands that name a collection, the fingerprint, reply summaries) and
``_extjson`` (relaxed Extended JSON). ``docs/redaction.md`` describes the rules from the
user's side.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from ._extjson import placeholder, render
from ._gate import KeyTable, matcher, redact_error_parts, redact_text
from ._shape import COLLECTION_COMMANDS, Shaper, collection, digest, summary

__all__ = [
    "COLLECTION_COMMANDS",
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
        ``speculativeAuthenticate`` or empty: PyMongo replaces the command of a hello that
        carries it by ``{}`` in the event it publishes, and a real hello is never empty.
    """
    try:
        name = command_name.lower()
        if name in SENSITIVE_COMMANDS:
            return True
        if name not in _HELLO or command is None:
            return False
        return len(command) == 0 or "speculativeAuthenticate" in command
    except Exception:  # a document we cannot even look into is not logged
        return True


def collection_of(command_name: str, command: Mapping[str, Any]) -> str | None:
    """Return the collection a command targets.

    Args:
        command_name: The command's name, in any casing.
        command: The command document.

    Returns:
        For a command of :data:`COLLECTION_COMMANDS` (``find``, ``insert``, ``aggregate``...)
        the string value of its first key, ``collection`` for ``getMore``, the explained
        command's collection for ``explain``; None otherwise (``aggregate: 1``, ``ping``,
        ``usersInfo: "alice"``, ``logApplicationMessage``...). Written as it is, not cut:
        :meth:`DocumentRenderer.collection` cuts it.
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

    __slots__ = ("_every", "_keys", "_max_length", "_mode", "_sensitive", "_shaper", "_whole")

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
        self._every = mode != "full"
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
                safe = redact_error_parts(reply, self._keys)
                return self._cut(render(safe, self._max_length, self._keys))
            text = summary(reply)  # ASCII
            return text if len(text) <= self._max_length else self._cut(text)
        except Exception:  # an unreadable reply is logged as such, never raised
            try:
                return self._cut(placeholder(reply))
            except Exception:  # not even room for that: the stack is all but exhausted
                return _GAVE_UP

    def text(self, value: object) -> str:
        """Make foreign free text safe to log: the gate for every error message.

        Args:
            value: A server or driver message, an exception, anything whose ``str`` is
                text from outside (``E11000 ... dup key: { api_key: "sk_..." }``).

        Returns:
            The text cut to the maximum length, then with the values quoted under redacted
            names replaced by ``[REDACTED]`` in each style messages use (shell notation,
            JSON, Python ``repr``, ``name=value`` and ``name: value``, a URI's password);
            in modes ``shape`` and ``none`` every other value inside the documents it
            quotes becomes ``?``. At most ``max_length`` characters plus ``...``; time
            linear in its length.
        """
        try:
            text = value if type(value) is str else str(value)
            limit = self._max_length
            # Cut first: what is cut off is never read, so a 16 MB message costs what a
            # short one does. A value cut in the middle is still recognised and redacted.
            clipped = len(text) > limit
            if clipped:
                text = text[:limit]
            text = self._cut(redact_text(text, self._keys, self._every))
            return text + "..." if clipped and len(text) <= limit else text
        except Exception:  # an unreadable message is logged as such, never raised
            try:
                return self._cut(placeholder(value))
            except Exception:  # not even room for that: the stack is all but exhausted
                return _GAVE_UP

    def error_message(self, message: object) -> str:
        """The same as :meth:`text`: kept for the callers that knew it by this name.

        Args:
            message: The message.

        Returns:
            What :meth:`text` returns.
        """
        return self.text(message)

    def name(self, value: object) -> str:
        """Make a database or collection name safe to log: written as it is, cut.

        Args:
            value: The name.

        Returns:
            The name cut to the maximum length followed by ``...``.
        """
        try:
            text = value if type(value) is str else str(value)
            return text if len(text) <= self._max_length and text.isascii() else self._cut(text)
        except Exception:  # an unreadable name is logged as such, never raised
            return _GAVE_UP

    def collection(self, command_name: str, command: Mapping[str, Any]) -> str | None:
        """The ``collection`` field: :func:`collection_of`, passed through :meth:`name`.

        Args:
            command_name: The command's name, in any casing.
            command: The command document.

        Returns:
            The collection the command names, cut; None when it names none.
        """
        found = collection_of(command_name, command)
        return None if found is None else self.name(found)

    def context_value(self, name: str, value: Any) -> Any:
        """Make a value the application bound with ``structlog.contextvars`` safe to log.

        Args:
            name: The name it was bound under.
            value: The value; read, never changed.

        Returns:
            ``REDACTED`` when the name is one of the redacted field names (a bound
            ``auth_token`` is a secret like any other). Otherwise the value, its type kept:
            a string through the text gate (values under redacted names replaced, as
            :meth:`text` does in mode ``full``) and cut to ``max_length`` characters (plus
            ``...``); in a dict (its keys, names your code chose, kept), list, tuple
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
            text = str(value)
            limit = self._max_length
            clipped = len(text) > limit
            if clipped:
                text = text[:limit]
            text = self._cut(redact_text(text, self._keys, False))
            return text + "..." if clipped and len(text) <= limit else text
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
