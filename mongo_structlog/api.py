"""The public entry points: ``configure()``, ``listeners()``, ``reset()``, ``stats()``, ``flush()``.

PyMongo has no way to unregister a global listener, so ``configure()`` registers one
set of five listeners the first time and afterwards only swaps the pipeline they
share; ``reset()`` swaps in a pipeline that logs nothing. The previous pipeline hands
its commands in flight to the new one, then its output is closed outside the lock:
closing never blocks for more than the queue's bound, and never closes a descriptor a
thread still writes to (see ``docs/outputs.md``).

A fork waits for a ``configure()``/``reset()`` under way to finish (as ``logging`` does
with its own lock), so a child never inherits a half-made swap or a held lock.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from pymongo import monitoring

from .listeners import (
    LoggingCommandListener,
    LoggingConnectionPoolListener,
    LoggingHeartbeatListener,
    LoggingServerListener,
    LoggingTopologyListener,
)
from .pipeline import Pipeline
from .settings import Settings, load_settings
from .stats import STATS

__all__ = ["configure", "flush", "listeners", "reset", "stats"]

_LOCK = threading.Lock()
#: How long a fork waits for a configure()/reset() under way before going ahead.
_FORK_WAIT_SECONDS = 2.0
_GLOBAL: list[Any] = []
_PIPELINES: weakref.WeakSet[Pipeline] = weakref.WeakSet()

_LISTENER_CLASSES = (
    LoggingCommandListener,
    LoggingServerListener,
    LoggingHeartbeatListener,
    LoggingTopologyListener,
    LoggingConnectionPoolListener,
)


def _new_pipeline(settings: Settings, per_client: bool) -> Pipeline:
    pipeline = Pipeline(settings, per_client=per_client)
    _PIPELINES.add(pipeline)
    # A listeners() set dropped with its client releases its file (or queue thread).
    weakref.finalize(pipeline, pipeline.finisher).atexit = False  # at exit: summaries only
    return pipeline


def configure(**settings: Any) -> Settings:
    """Log every PyMongo event of every client created from now on.

    Registers the listeners globally (``pymongo.monitoring.register``) on the first
    call; a later call re-applies new settings to the same listeners.

    Args:
        **settings: Keyword settings (``level="debug"``, ``sample_rate=0.1``, ...); they
            win over ``MONGO_STRUCTLOG_*`` variables, which win over defaults. See
            ``docs/configuration.md``.

    Returns:
        The settings in force.

    Raises:
        ValueError: A bad value; the message names the keyword or variable and the value.
        TypeError: An unknown keyword.
    """
    resolved = load_settings(**settings)
    if not resolved.enabled:  # the off switch: nothing opened, nothing logged
        reset()
        return resolved
    old = None
    with _LOCK:
        pipeline = _new_pipeline(resolved, per_client=False)
        if not _GLOBAL:
            made = [cls(pipeline) for cls in _LISTENER_CLASSES]
            for listener in made:
                monitoring.register(listener)
            _GLOBAL.extend(made)
        else:
            old = _swap(pipeline)
    if old is not None:
        old.close()
    return resolved


def _swap(pipeline: Pipeline) -> Pipeline:
    """Point the global listeners at ``pipeline``; return the old one, to be closed."""
    old: Pipeline = _GLOBAL[0].pipeline
    pipeline.take_over(old)  # commands in flight keep their command text
    for listener in _GLOBAL:
        listener.pipeline = pipeline
    return old


def listeners(**settings: Any) -> list[monitoring._EventListener]:
    """Listeners for one client: ``MongoClient(uri, event_listeners=listeners())``.

    The five listeners share their settings and state; they learn the client's
    topology id from its topology-opened event and stamp it on every record.

    Args:
        **settings: As for :func:`configure`.

    Returns:
        A list of five listener objects (command, server, heartbeat, topology, pool);
        an empty list when the settings switch logging off (``enabled=False``).

    Raises:
        ValueError: A bad value; the message names the keyword or variable and the value.
        TypeError: An unknown keyword.
    """
    resolved = load_settings(**settings)
    if not resolved.enabled:  # the off switch: no listener at all
        return []
    pipeline = _new_pipeline(resolved, per_client=True)
    return [cls(pipeline) for cls in _LISTENER_CLASSES]


def reset() -> None:
    """Turn off what :func:`configure` set up; clients keep working and log nothing more."""
    old = None
    with _LOCK:
        if _GLOBAL:
            old = _swap(Pipeline(Settings(families=(), output="stderr"), per_client=False))
    if old is not None:
        old.close()


def stats() -> dict[str, Any]:
    """Counters since the process started.

    Each record made counts in exactly one of ``emitted`` (written), ``dropped``
    (sampling, burst limits, a processor), ``queue_dropped``, ``sink_errors``; see
    ``docs/api.md``.

    Returns:
        ``emitted`` and ``dropped`` (dicts by event name) with their totals,
        ``evicted`` (started commands never completed, aged out of the correlation map),
        ``in_flight`` (started commands awaiting completion now), ``sink_errors``,
        ``queue_dropped``, ``lost_reasons`` (the last two by reason) and
        ``internal_errors``.
    """
    snapshot = STATS.snapshot()
    snapshot["in_flight"] = sum(len(p.correlator) for p in list(_PIPELINES))
    return snapshot


def flush() -> None:
    """Wait until every record handed to a queued output (``queue_size > 0``) is written."""
    for pipeline in list(_PIPELINES):
        pipeline.output.flush()


def _before_fork() -> None:
    # Bounded: a fork from inside configure() itself (a processor, a handler) goes ahead.
    _HELD_AT_FORK.append(_LOCK.acquire(timeout=_FORK_WAIT_SECONDS))


def _after_fork_in_parent() -> None:
    if _HELD_AT_FORK.pop():
        _LOCK.release()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in a forked child
    global _LOCK
    _HELD_AT_FORK.clear()
    _LOCK = threading.Lock()


_HELD_AT_FORK: list[bool] = []
os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
