"""The command path: correlation, the sampling decision, connection numbers, command fields.

PyMongo publishes a command's started event before it sends the command and its
succeeded or failed event after the reply; the completion carries neither the command
nor the collection. So a started command is remembered here (:class:`Correlator`) until
its completion comes, and the completion record carries the command text, its duration
and its outcome: one record per command at ``info``.

What :mod:`._fast` leaves to this module, with the values it has already read:

* :func:`kept`: a started command sampled in; remembered with what its completion needs,
  and logged at ``debug`` when started records are on.
* :func:`completed`: a completion that is not a plain sampled-out success (failed, slow,
  sampled in, or found nowhere): decided, built and written here, on the thread that saw
  the event, while PyMongo's call is still in progress.

Every string of the server or the application goes through the pipeline's
:class:`~.documents.DocumentRenderer` (the gate): the command and reply, the error
text (``text``), the command, database and collection names (``name``).
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

from pymongo.monitoring import CommandStartedEvent

from ._catalogue import address_fields
from .documents import collection_of, is_sensitive
from .output import rfc3339_now
from .sampling import LOCK_HOLDERS, keep_request
from .settings import LEVELS

__all__ = ["Correlator", "completed", "driver_connection_id", "failure_fields", "kept"]

_STARTED = "mongodb.command.started"
_SUCCEEDED = "mongodb.command.succeeded"
_FAILED = "mongodb.command.failed"
_HELLO = frozenset({"hello", "ismaster"})

# A correlation entry is either the bare CommandStartedEvent (a command dropped by
# sampling at its start: nothing built, no clock read) or a tuple
#     (address, command name, command or None, rendered or None, sensitive, kept)
# where ``rendered`` is (text or None, command_shape, collection or None). Once an
# entry has waited a while (see Correlator) its command is rendered and let go: the
# tuple then holds only bounded text.
Rendered = tuple[str | None, str, str | None]


# -- the correlation map ------------------------------------------------------------------


class Correlator:
    """Started commands waiting for their completion, matched by request id and server.

    Entries are keyed by ``request_id`` alone (an int hashes faster than a tuple) and
    checked against the server address when taken out. Two commands in flight with the
    same id (PyMongo draws ids at random) are told apart: the second is filed under
    ``(request_id, address)``.

    Bounded in count and in size, without a lock or a clock read per command. Entries
    live in two generations, :attr:`young` (new entries go there) and :attr:`old`. The old
    generation is evicted whole, and the young one becomes old,

    * when the young generation reaches half of ``capacity``, so at most ``capacity``
      entries are ever held;
    * when ``ttl`` seconds have passed since the young generation began, checked by
      :meth:`tick` (the pipeline calls it whenever it has read the clock anyway) and at
      every maintenance.

    Maintenance runs whenever 64 more entries wait than at the last one. It passes every
    entry still holding PyMongo's command document through ``bound`` (which renders it to
    its bounded text and lets the document go), so at most about 64 entries hold a
    document (a 1 MB insert holds 1 MB); all others hold at most the rendered command
    (``max_document_length`` characters) and a few small values.

    Every eviction is reported through ``on_evict(count)``. The hot path's insert and pop
    are plain dict operations (atomic under the GIL); maintenance takes a lock.

    Args:
        capacity: The most entries held (at least 1).
        ttl: Seconds after which a waiting entry may be aged out.
        on_evict: Called with the number of entries evicted (outside the lock).
        bound: Turns an entry holding a document into one holding its rendered text.
        clock: Monotonic seconds; tests pass a fake.
    """

    _CHECK_EVERY = 64

    def __init__(
        self,
        capacity: int,
        ttl: float,
        on_evict: Callable[[int], Any],
        bound: Callable[[Any], Any] = lambda entry: entry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: New entries; the hot path stores here directly (see :meth:`put`).
        self.young: dict[Any, Any] = {}
        #: The previous generation, evicted whole at the next rotation.
        self.old: dict[Any, Any] = {}
        #: What a replaced pipeline's map held (see :meth:`adopt`), evicted at the next rotation.
        self.previous: dict[Any, Any] = {}
        self._half = max(1, capacity // 2)
        #: ``len(young)`` at which :meth:`maintain` must run.
        self.limit = min(self._half, self._CHECK_EVERY)
        self._ttl = ttl
        self._on_evict = on_evict
        self._bound = bound
        self._clock = clock
        self._since = clock()
        self._lock = threading.Lock()
        LOCK_HOLDERS.add(self)

    def __len__(self) -> int:
        return len(self.young) + len(self.old) + len(self.previous)

    def put(self, request_id: int, address: Any, entry: Any) -> None:
        """Remember ``entry`` (not ``None``) for the command ``request_id`` on ``address``."""
        young = self.young
        if young.setdefault(request_id, entry) is not entry:
            young[request_id, address] = entry  # the id is taken by a command in flight
        if len(young) >= self.limit:
            self.maintain()

    def pop(self, request_id: int, address: Any, first: Any = None) -> Any:
        """Take out the entry of the command ``request_id`` sent to ``address``.

        Args:
            request_id: The command's request id.
            address: The server address (``event.connection_id``).
            first: What the caller already popped from :attr:`young` under ``request_id``.

        Returns:
            The entry, or ``None`` if it was never there or was evicted.
        """
        for generation in (self.young, self.old, self.previous):
            entry = first if first is not None else generation.pop(request_id, None)
            first = None
            if entry is not None:
                if _address_of(entry) == address:
                    return entry
                generation.setdefault(request_id, entry)  # another server's: put it back
            entry = generation.pop((request_id, address), None)
            if entry is not None:
                return entry
        return None

    def adopt(self, other: Correlator) -> None:
        """Take over what ``other`` (a replaced pipeline's map) holds, bounded.

        Its entries are looked up after this map's own and evicted at the next rotation.
        """
        with other._lock:
            taken = {**other.previous, **other.old, **other.young}
            other.previous, other.old, other.young = {}, {}, {}
        bounded = {key: self._bound(entry) for key, entry in taken.items()}
        with self._lock:
            self.previous = {**bounded, **self.previous}

    def maintain(self) -> None:
        """Bound the entries holding documents; rotate if due; re-arm the check."""
        young = self.young
        for key, entry in list(young.items()):
            if _holds_document(entry):
                smaller = self._bound(entry)
                if young.get(key) is entry:  # not completed meanwhile
                    young[key] = smaller
        self._rotate(self._clock())

    def tick(self, now: float) -> None:
        """Age entries out if ``ttl`` has passed since the young generation began.

        Args:
            now: Monotonic seconds, read by the caller for its own purposes.
        """
        if now - self._since >= self._ttl:
            self._rotate(now)

    def _rotate(self, now: float) -> None:
        evicted = 0
        with self._lock:
            if len(self.young) >= self._half or now - self._since >= self._ttl:
                evicted = len(self.old) + len(self.previous)
                # Swapped first, then copied in one C-level step: other threads put and pop
                # without the lock, and bounding an entry runs Python code between items.
                young, self.young = self.young, {}
                self.old = {key: self._bound(entry) for key, entry in list(young.items())}
                self.previous = {}
                self._since = now
            self.limit = min(self._half, len(self.young) + self._CHECK_EVERY)
        if evicted:
            self._on_evict(evicted)


def _address_of(entry: Any) -> Any:
    return entry[0] if type(entry) is tuple else entry.connection_id


def _holds_document(entry: Any) -> bool:
    return type(entry) is not tuple or entry[2] is not None


def bounded(renderer: Any, entry: Any) -> Any:
    """``entry`` holding its rendered command instead of PyMongo's document.

    Args:
        renderer: The pipeline's :class:`~.documents.DocumentRenderer`.
        entry: A correlation entry.

    Returns:
        A tuple entry whose command is ``None`` (the same entry if it was already).
    """
    if type(entry) is tuple:
        address, name, command, rendered, sensitive, keep = entry
        if command is None:
            return entry
    else:
        address, name, command = entry.connection_id, entry.command_name, entry.command
        sensitive, keep, rendered = is_sensitive(name, command), False, None
    if rendered is None:
        rendered = render(renderer, name, command, sensitive)
    return (address, name, None, rendered, sensitive, keep)


# -- connection numbers -------------------------------------------------------------------


def _telemetry_codes() -> frozenset[int]:
    try:
        from pymongo._telemetry import _CommandTelemetry  # noqa: PLC0415  # may be absent
    except ImportError:  # pragma: no cover - a PyMongo without it: no connection numbers
        return frozenset()
    methods = (
        getattr(_CommandTelemetry, name, None) for name in ("started", "succeeded", "failed")
    )
    # By identity: hashing a code object hashes its whole contents.
    return frozenset(id(m.__code__) for m in methods if isinstance(m, types.FunctionType))


_CODES = _telemetry_codes()  # kept alive by PyMongo's class
#: Frames from :func:`driver_connection_id` up to PyMongo's publishing method: our caller
#: (:func:`kept` or :func:`completed`), the listener method, ``_EventListeners.publish_*``,
#: then ``_CommandTelemetry.started``/``succeeded``/``failed``.
_DEPTH = 4
_getframe = sys._getframe


def driver_connection_id(address: Any) -> int | None:
    """The driver's number of the connection the command being published runs on.

    PyMongo's command events name only the server. The object publishing them
    (``pymongo._telemetry._CommandTelemetry``, on this thread's stack right now) holds the
    connection itself: the one the command really runs on, also a pinned connection (a
    load-balanced cursor's ``getMore``, a transaction's later statements) that no
    check-out precedes. Call it only from :func:`kept` and :func:`completed`.

    Args:
        address: The event's server address, checked against the connection's.

    Returns:
        The connection number, or None when not called inside PyMongo's publishing.
    """
    try:
        frame = _getframe(_DEPTH)
        if id(frame.f_code) not in _CODES:
            return None
        conn = frame.f_locals["self"]._conn
        number = conn.id
    except Exception:  # not inside PyMongo's publishing, or its internals changed
        return None
    return number if type(number) is int and conn.address == address else None


def named(p: Any, value: str) -> str:
    """``value`` through the gate's :meth:`~.documents.DocumentRenderer.name`, cached.

    Command, database and collection names repeat; the pipeline keeps what the gate
    made of each (a bounded number of them).
    """
    names: dict[str, str] = p.names
    made = names.get(value)
    if made is None:
        made = str(p.renderer.name(value))
        if len(names) < _NAMES_KEPT:
            names[value] = made
    return made


_NAMES_KEPT = 1024


# -- fields -------------------------------------------------------------------------------


def render(renderer: Any, name: str, command: Mapping[str, Any], sensitive: bool) -> Rendered:
    """The command's text, its fingerprint and its collection, through the gate."""
    text, shape = renderer.command(name, {} if sensitive else command)
    collection = None if sensitive else collection_of(name, command)
    return text, shape, None if collection is None else renderer.name(collection)


def _fields(  # noqa: PLR0917  # positional: the hot path calls it per record
    p: Any,
    fields: dict[str, Any],
    event: Any,
    request_id: int,
    address: Any,
    name: str,
    collection: str | None,
    number: int | None,
) -> dict[str, Any]:
    """The fields every command record has, added to ``fields``."""
    fields["driver_request_id"] = request_id
    fields["operation_id"] = event.operation_id
    fields["command_name"] = named(p, name)
    fields["database_name"] = named(p, event.database_name)
    if collection is not None:
        fields["collection"] = collection
    fields.update(address_fields(address))
    if number is not None:
        fields["connection_id"] = number
    server_connection_id = event.server_connection_id
    if server_connection_id is not None:
        fields["server_connection_id"] = server_connection_id
    return fields


def _add_text(fields: dict[str, Any], rendered: Rendered) -> None:
    text = rendered[0]
    if text is not None:
        fields["command"] = text
    fields["command_shape"] = rendered[1]


def _started_record(  # noqa: PLR0917
    p: Any,
    event: Any,
    request_id: int,
    address: Any,
    name: str,
    rendered: Rendered,
    number: int | None,
) -> dict[str, Any]:
    fields = _fields(p, {}, event, request_id, address, name, rendered[2], number)
    _add_text(fields, rendered)
    return fields


def failure_fields(failure: Any, sensitive: bool, renderer: Any) -> dict[str, Any]:
    """The ``error*`` fields of a failed command, from ``CommandFailedEvent.failure``.

    PyMongo passes the server's reply for server errors and ``{"errmsg", "errtype"}`` for
    driver-side errors (network, timeouts), and redacts neither.

    Args:
        failure: The failure document.
        sensitive: Whether the command was security-sensitive: then only the code, code
            name and error labels are kept.
        renderer: The gate (:class:`~.documents.DocumentRenderer`).

    Returns:
        ``error``, ``error_type``, ``error_code``, ``error_code_name``, ``error_labels``,
        each where known.
    """
    if not isinstance(failure, Mapping):
        return {"error_type": "Unknown"}
    fields: dict[str, Any] = {}
    errtype = failure.get("errtype")
    fields["error_type"] = renderer.name(str(errtype)) if errtype else "OperationFailure"
    code = failure.get("code")
    if type(code) is int:
        fields["error_code"] = code
    code_name = failure.get("codeName")
    if isinstance(code_name, str):
        fields["error_code_name"] = renderer.name(code_name)
    labels = failure.get("errorLabels")
    if isinstance(labels, (list, tuple)):
        fields["error_labels"] = [renderer.name(str(label)) for label in labels]
    if not sensitive:
        message = failure.get("errmsg")
        if message is not None:
            fields["error"] = renderer.text(str(message))
    return fields


# -- the two steps ------------------------------------------------------------------------


def kept(p: Any, event: CommandStartedEvent, request_id: int, address: Any) -> None:
    """Remember a started command sampled in; log it now if started records are on."""
    name = event.command_name
    command = event.command
    sensitive = is_sensitive(name, command)
    if p.command_started_on:
        rendered = render(p.renderer, name, command, sensitive)
        p.correlator.put(request_id, address, (address, name, None, rendered, sensitive, True))
        number = driver_connection_id(address)
        fields = _started_record(p, event, request_id, address, name, rendered, number)
        if p.command_rate < 1.0:
            fields["sample_rate"] = p.command_rate
        p.emit("debug", _STARTED, fields)
    else:
        p.correlator.put(request_id, address, (address, name, command, None, sensitive, True))


def _decide(p: Any, request_id: int, entry: Any) -> tuple[Any, ...]:
    """(started name or None, command, rendered, sensitive, kept) from a correlation entry."""
    if type(entry) is tuple:
        return entry[1:]
    if entry is not None:  # dropped at its start
        name, command = entry.command_name, entry.command
        return name, command, None, is_sensitive(name, command), False
    # Evicted, or started before the listener was there: decide again.
    keep = p.keep_mode
    return (
        None,
        None,
        None,
        False,
        keep == 1 or (keep == 2 and keep_request(request_id, p.command_cutoff)),
    )


def completed(  # noqa: PLR0917  # positional: the hot path calls it per record
    p: Any,
    event: Any,
    request_id: int,
    address: Any,
    duration: int,
    failed: bool,
    entry: Any,
) -> None:
    """Log a completion that is not a plain sampled-out success.

    Args:
        p: The pipeline.
        event: PyMongo's succeeded or failed event.
        request_id: Its request id.
        address: Its server address.
        duration: Its ``duration_micros``.
        failed: Whether it is a failure.
        entry: What the correlation map's young generation held under ``request_id``.
    """
    if type(entry) is not tuple or entry[0] != address:
        entry = p.correlator.pop(request_id, address, entry)
    started_name, command, rendered, sensitive, keep = _decide(p, request_id, entry)
    slow = duration >= p.slow_micros
    name = _FAILED if failed else _SUCCEEDED
    if not (keep or failed or slow):
        if p.command_started_on and started_name is not None:
            p.drop(_STARTED)
        p.drop(name)
        return
    method = "warning" if failed or slow else "info"
    if LEVELS[method] < p.level:
        return  # below the configured minimum level: nothing to build
    renderer = p.renderer
    number = driver_connection_id(address)
    if started_name is None:
        # Without the started event a hello may have carried speculativeAuthenticate.
        lowered = event.command_name.lower()
        sensitive = is_sensitive(lowered, None) or lowered in _HELLO
        name_of = event.command_name
        fields = _fields(
            p, p.header(method, name), event, request_id, address, name_of, None, number
        )
    else:
        if rendered is None:
            rendered = render(renderer, started_name, command, sensitive)
        fields = _fields(
            p, p.header(method, name), event, request_id, address, started_name, rendered[2], number
        )
    fields["duration_micros"] = duration
    if rendered is not None:
        _add_text(fields, rendered)
        if p.command_started_on and not keep:
            # Dropped at its start, now failed or slow: written late, stamped with the
            # time it started (PyMongo's duration runs from there).
            late = _started_record(p, event, request_id, address, started_name, rendered, number)
            late["timestamp"] = rfc3339_now(time.time() - duration / 1_000_000)
            p.emit("debug", _STARTED, late)
    if failed:
        fields.update(failure_fields(event.failure, sensitive, renderer))
    else:
        fields["reply"] = renderer.reply(event.command_name, event.reply, sensitive)
    fields["slow"] = slow
    if not (failed or slow) and p.command_rate < 1.0:
        fields["sample_rate"] = p.command_rate
    p.write(method, name, fields)
    p.written_one()
