"""The hot path's tricks, kept here so that no other module needs to know them.

Three tricks make a listener call cheap; each is invisible from outside this module:

* **Slot reads.** Every public attribute of PyMongo's command events is a Python property
  returning a private slot. At import each slot the command listener reads is checked
  on a real event against its public property and given a name of ours on the class
  (``_msl_`` + the public name); should a PyMongo release change a slot, our name reads
  the public attribute instead (still right, only slower; listed in :data:`SLOW`).
* **Routing.** Whether a listener method does anything is decided when its pipeline is
  set, not per event: each listener is an instance of its own subclass, whose methods
  are set to the real handler or to :func:`ignore` (an empty method: PyMongo's call of
  it costs what a do-nothing listener's does).
* **The command listener's drop path.** A command sampled out costs one mix of its
  request id and one dict insert at its start, and a dict pop and one counter step at
  its success; everything else is handed to :mod:`._commands` with the values already
  read. (:func:`command_started`, :func:`command_succeeded`, :func:`command_failed`.)
"""

from __future__ import annotations

import datetime
import types
from operator import attrgetter
from typing import Any

from pymongo.monitoring import (
    CommandFailedEvent,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from . import _commands
from .sampling import keep_request

__all__ = [
    "SLOW",
    "Routed",
    "command_failed",
    "command_started",
    "command_succeeded",
    "ignore",
]

# -- slot reads ---------------------------------------------------------------------------

_PREFIX = "_msl_"
_BASE = {
    "request_id": "_CommandEvent__rqst_id",
    "connection_id": "_CommandEvent__conn_id",
}
#: Per event class: public attribute -> the private slot behind it (only what this module reads).
_SLOTS: dict[type, dict[str, str]] = {
    CommandStartedEvent: dict(_BASE),
    CommandSucceededEvent: {**_BASE, "duration_micros": "_CommandSucceededEvent__duration_micros"},
    CommandFailedEvent: {**_BASE, "duration_micros": "_CommandFailedEvent__duration_micros"},
}


def _samples() -> dict[type, Any]:
    address = ("sample.invalid", 27017)
    duration = datetime.timedelta(microseconds=1234)
    common: dict[str, Any] = {"service_id": None, "server_connection_id": 42}
    return {
        CommandStartedEvent: CommandStartedEvent(
            {"ping": 1}, "sample_db", 11, address, 12, **common
        ),
        CommandSucceededEvent: CommandSucceededEvent(
            duration, {"ok": 1}, "ping", 11, address, 12, database_name="sample_db", **common
        ),
        CommandFailedEvent: CommandFailedEvent(
            duration, {"ok": 0}, "ping", 11, address, 12, database_name="sample_db", **common
        ),
    }


def _slot(cls: type, private: str) -> Any:
    for klass in cls.__mro__:
        if private in vars(klass):
            found = vars(klass)[private]
            return found if isinstance(found, types.MemberDescriptorType) else None
    return None


def _install(slots: dict[type, dict[str, str]], samples: dict[type, Any]) -> list[str]:
    slow = []
    for cls, names in slots.items():
        sample = samples.get(cls)
        for public, private in names.items():
            fast = _slot(cls, private)
            try:
                same = (
                    sample is not None
                    and fast is not None
                    and fast.__get__(sample, cls) is getattr(sample, public)
                )
            except AttributeError:  # an empty slot: PyMongo no longer fills it
                same = False
            setattr(cls, _PREFIX + public, fast if same else property(attrgetter(public)))
            if not same:
                slow.append(f"{cls.__name__}.{public}")
    return slow


def _checked() -> list[str]:
    try:
        samples = _samples()
    except Exception:  # a PyMongo whose event constructors changed: check nothing, go slow
        samples = {}
    return _install(_SLOTS, samples)


#: The names served by the public attributes on the installed PyMongo (normally none).
SLOW: list[str] = _checked()

# -- routing ------------------------------------------------------------------------------


def ignore(self: object, event: object) -> None:
    """What a listener method becomes when its events are not logged: nothing at all."""


class Routed:
    """Holds the pipeline; setting it (``configure()`` swaps it) routes the methods.

    Every listener is created as an instance of its own subclass of the class asked for,
    and routing sets that subclass's methods. (Switching an object's class instead, or
    keeping methods on the instance, makes every later call slower.) The subclass never
    holds the pipeline, so a dropped listener set is freed, and its file closed, at once.

    A subclass lists in ``_routes`` its methods and, for each, the record names it may
    write: a method is routed to its handler when the pipeline logs any of them
    (``pipeline.logs(name)``), else to :func:`ignore`.
    """

    _routes: dict[str, tuple[str, ...]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        namespace["__doc__"] = cls.__doc__
        return super().__new__(type(cls.__name__, (cls,), namespace))

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def _routed(self, pipeline: Any, method: str, names: tuple[str, ...]) -> bool:
        """Whether ``method`` does anything under ``pipeline``: it logs one of ``names``."""
        return any(pipeline.logs(name) for name in names)

    @property
    def pipeline(self) -> Any:
        """The pipeline this listener feeds."""
        return self._pipeline

    @pipeline.setter
    def pipeline(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        own = type(self)
        for method, names in self._routes.items():
            # Each step is atomic: an event sees the old routing of its method or the new one.
            if self._routed(pipeline, method, names):
                if method in own.__dict__:
                    delattr(own, method)
            else:
                setattr(own, method, ignore)


# -- the command listener's methods -------------------------------------------------------


def command_started(self: Any, event: CommandStartedEvent) -> None:
    """Remember the command; log it at ``debug`` when sampled in."""
    p = self._pipeline
    try:
        note = p.pool_note
        if note is not None:  # which command holds the connection, for pool pressure
            note(event._msl_connection_id, event.command_name)  # type: ignore[attr-defined]
        request_id = event._msl_request_id  # type: ignore[attr-defined]
        keep = p.keep_mode
        if keep and (keep == 1 or keep_request(request_id, p.command_cutoff)):
            _commands.kept(p, event, request_id, event._msl_connection_id)  # type: ignore[attr-defined]
            return
        correlator = p.correlator
        young = correlator.young
        if young.setdefault(request_id, event) is not event or len(young) >= correlator.limit:
            # The id is taken by a command in flight, or it is time to look after the map.
            correlator.put(request_id, event._msl_connection_id, event)  # type: ignore[attr-defined]
    except Exception as exc:
        p.internal_error("command started", exc)


def command_succeeded(self: Any, event: CommandSucceededEvent) -> None:
    """Log the completion (with the command) if kept or slow."""
    p = self._pipeline
    try:
        request_id = event._msl_request_id  # type: ignore[attr-defined]
        entry = p.correlator.young.pop(request_id, None)
        duration = event._msl_duration_micros  # type: ignore[attr-defined]
        # A bare started event is a command dropped at its start.
        if type(entry) is CommandStartedEvent and duration < p.fast_below:
            next(p.succeeded_out)  # count the drop; now and then look at the clock
            suppressed = p.suppressed
            suppressed.countdown -= 1
            if suppressed.countdown <= 0 and p.summary_on:
                p.maybe_summarise()
            return
        address = event._msl_connection_id  # type: ignore[attr-defined]
        _commands.completed(p, event, request_id, address, duration, False, entry)
    except Exception as exc:
        p.internal_error("command succeeded", exc)


def command_failed(self: Any, event: CommandFailedEvent) -> None:
    """Always log a failed command, at ``warning``."""
    p = self._pipeline
    try:
        request_id = event._msl_request_id  # type: ignore[attr-defined]
        entry = p.correlator.young.pop(request_id, None)
        duration = event._msl_duration_micros  # type: ignore[attr-defined]
        address = event._msl_connection_id  # type: ignore[attr-defined]
        _commands.completed(p, event, request_id, address, duration, True, entry)
    except Exception as exc:
        p.internal_error("command failed", exc)
