"""How listener methods are routed: to work, to the connection store, or to nothing.

Whether a listener method does anything is decided when its pipeline is set (at
creation and at every ``configure()``), not per event. Each listener is created as an
instance of its own subclass of the class asked for, and routing sets that subclass's
methods: :func:`ignore` for events the settings do not log (an empty method found on
the class: the cheapest call PyMongo can make, as cheap as a do-nothing listener's),
:func:`remember` for a check-out only command records need, the class's own method
otherwise. Switching an object's class instead, or keeping methods on the instance,
would make every later call slower (the interpreter cannot specialise those calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import monitoring

from . import _eventslots  # noqa: F401  # the slot names read below are checked there
from .pipeline import CHECKED_OUT, Pipeline

__all__ = ["Routed", "ignore", "remember"]


def ignore(self: object, event: object) -> None:
    """What a listener method becomes when its events are not logged: nothing at all.

    A plain method on the listener's class: PyMongo's call of it costs what a do-nothing
    listener's does (a C function, or anything kept on the instance, costs more: the
    interpreter cannot specialise the call).
    """


_held = CHECKED_OUT.get
_hold = CHECKED_OUT.set


def remember(self: object, event: monitoring.ConnectionCheckedOutEvent) -> None:
    """A check-out: leave the connection for this thread's or task's command records.

    Stored in the context only when it is not the one this thread or task holds
    already (a thread mostly gets the connection it had last): the store, a context
    variable's ``set``, costs three times the look.
    """
    try:
        number = event._msl_connection_id  # type: ignore[attr-defined]
        held = _held()
        if (
            held is None
            or held._msl_connection_id != number
            or held._msl_address != event._msl_address  # type: ignore[attr-defined]
        ):
            _hold(event)
    except AttributeError:  # not a check-out event: command records get no number
        _hold(None)


class Routed:
    """Holds the :class:`Pipeline`; setting it (``configure()`` swaps it) routes the methods.

    Every listener is created as an instance of its own subclass of the class asked for,
    and routing sets that subclass's methods. (Switching an object's class instead, or
    keeping methods on the instance, makes every later call slower.) The subclass never
    holds the pipeline, so a dropped listener set is freed, and its file closed, at once.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        namespace["__doc__"] = cls.__doc__
        return super().__new__(type(cls.__name__, (cls,), namespace))

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline this listener feeds."""
        return self._pipeline

    @pipeline.setter
    def pipeline(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._route(pipeline)

    def _route(self, p: Pipeline) -> None:
        raise NotImplementedError

    def _use(self, name: str, enabled: bool, handler: Callable[..., Any] | None = None) -> None:
        """Route method ``name`` to ``handler`` (default: the class's own) or to :func:`ignore`.

        ``handler`` must not hold the pipeline (it is kept on the listener's own class).
        Each step is atomic: an event sees the old routing of its method or the new one.
        """
        own = type(self)
        if enabled and handler is None:
            if name in own.__dict__:
                delattr(own, name)
        else:
            setattr(own, name, handler if enabled else ignore)
