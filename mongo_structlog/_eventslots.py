"""Fast reads of the values PyMongo's command events keep in private slots.

Every public attribute of a PyMongo command event (``request_id``, ``command``,
``duration_micros``, ...) and of a connection check-out event is a Python property
returning a private slot; reading the slot directly skips a Python call, about 0.1 µs
each on a slow CPU, and the command path reads up to a dozen values per command.

At import, each of those slots is checked on a real event of its class against its
public property, and its descriptor is given a name of ours on the class:
``event._msl_request_id`` reads the slot behind ``event.request_id`` (``_msl_`` +
the public name). PyMongo's own names are never touched. Should a PyMongo release
drop or change a slot, our name becomes a property that reads the public attribute
instead: still right, only as slow as before (the names so served are listed in
:data:`SLOW`, empty on the PyMongo versions we test).
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
    ConnectionCheckedOutEvent,
)

__all__ = ["PREFIX", "SLOTS", "SLOW", "install"]

#: Our names for the fast reads: ``PREFIX + public name``.
PREFIX = "_msl_"

_BASE = {
    "request_id": "_CommandEvent__rqst_id",
    "operation_id": "_CommandEvent__op_id",
    "command_name": "_CommandEvent__cmd_name",
    "database_name": "_CommandEvent__db",
    "connection_id": "_CommandEvent__conn_id",
    "server_connection_id": "_CommandEvent__server_conn_id",
}

#: Per event class: public attribute -> the private slot behind it.
SLOTS: dict[type, dict[str, str]] = {
    CommandStartedEvent: {**_BASE, "command": "_CommandStartedEvent__cmd"},
    CommandSucceededEvent: {
        **_BASE,
        "duration_micros": "_CommandSucceededEvent__duration_micros",
        "reply": "_CommandSucceededEvent__reply",
    },
    CommandFailedEvent: {
        **_BASE,
        "duration_micros": "_CommandFailedEvent__duration_micros",
        "failure": "_CommandFailedEvent__failure",
    },
    ConnectionCheckedOutEvent: {
        "address": "_ConnectionEvent__address",
        "connection_id": "_ConnectionIdEvent__connection_id",
    },
}


def _samples() -> dict[type, Any]:
    """One event of each class, as PyMongo builds them."""
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
        ConnectionCheckedOutEvent: ConnectionCheckedOutEvent(address, 13, 0.001),
    }


def _slot(cls: type, private: str) -> Any:
    """The member descriptor of slot ``private`` along ``cls``'s MRO, or None."""
    for klass in cls.__mro__:
        if private in vars(klass):
            found = vars(klass)[private]
            return found if isinstance(found, types.MemberDescriptorType) else None
    return None


def install(slots: dict[type, dict[str, str]], samples: dict[type, Any]) -> list[str]:
    """Give each class in ``slots`` a ``PREFIX + public`` attribute per public name.

    It is the slot's own descriptor when the slot exists and holds the public value on
    the class's ``samples`` event; otherwise (no sample either) a property reading the
    public attribute.

    Returns:
        ``"Class.public_name"`` for each name served by the public attribute.
    """
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
            setattr(cls, PREFIX + public, fast if same else property(attrgetter(public)))
            if not same:
                slow.append(f"{cls.__name__}.{public}")
    return slow


def _checked() -> list[str]:
    try:
        samples = _samples()
    except Exception:  # a PyMongo whose event constructors changed: check nothing, go slow
        samples = {}
    return install(SLOTS, samples)


#: The names served by the public attributes on the installed PyMongo (normally none).
SLOW: list[str] = _checked()
