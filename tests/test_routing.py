"""Routing: each listener method goes to work, to the connection store, or to nothing.

What PyMongo calls is decided when settings are applied; these tests read what it would
find on each listener's own class, and what a check-out leaves for command records.
"""

from __future__ import annotations

import contextvars

import mongo_structlog
from mongo_structlog import api
from mongo_structlog._routing import remember
from mongo_structlog.listeners import (
    LoggingCommandListener,
    LoggingConnectionPoolListener,
    LoggingHeartbeatListener,
    LoggingTopologyListener,
    ignore,
)
from mongo_structlog.pipeline import CHECKED_OUT

from . import factory as f


def routed(listener: object, name: str) -> object:
    """What PyMongo finds as method ``name``: unbound, from the listener's own class."""
    assert name not in vars(listener)  # never on the instance (slower calls, cycles)
    return getattr(type(listener), name)


def test_configure_routes_each_method_to_work_or_to_the_no_op() -> None:
    mongo_structlog.configure(output="stderr", level="info")
    commands, _, heartbeat, topology, pool = api._GLOBAL
    assert routed(topology, "opened") is LoggingTopologyListener.opened
    assert routed(commands, "started") is LoggingCommandListener.started
    assert routed(commands, "succeeded") is LoggingCommandListener.succeeded
    assert routed(heartbeat, "started") is ignore
    assert routed(heartbeat, "failed") is LoggingHeartbeatListener.failed
    # Pool pressure counts every check-out (see test_pool_pressure.py).
    assert routed(pool, "connection_check_out_started") is (
        LoggingConnectionPoolListener.connection_check_out_started
    )
    assert routed(pool, "connection_checked_out") is (
        LoggingConnectionPoolListener.connection_checked_out
    )
    classes = [type(listener) for listener in api._GLOBAL]
    mongo_structlog.configure(output="stderr", level="debug")
    assert [type(listener) for listener in api._GLOBAL] == classes  # routed in place
    assert routed(heartbeat, "started") is LoggingHeartbeatListener.started
    assert routed(pool, "connection_checked_out") is (
        LoggingConnectionPoolListener.connection_checked_out
    )
    mongo_structlog.reset()
    methods = [
        routed(listener, name)
        for listener in api._GLOBAL
        for name in dir(type(listener))
        if not name.startswith("_") and name != "pipeline"
    ]
    assert len(methods) == 23  # one per PyMongo event
    assert all(method is ignore for method in methods)  # reset: every event costs nothing


def test_each_listener_has_a_class_of_its_own() -> None:
    first = mongo_structlog.listeners(output="stderr")
    second = mongo_structlog.listeners(output="stderr", level="debug")
    for one, other, asked in zip(first, second, api._LISTENER_CLASSES, strict=True):
        assert type(one) is not type(other)
        assert type(one).__bases__ == (asked,)
        assert (type(one).__name__, type(one).__doc__) == (asked.__name__, asked.__doc__)
    assert routed(first[2], "started") is ignore
    assert routed(second[2], "started") is LoggingHeartbeatListener.started


def test_without_the_command_family_a_check_out_at_info_is_the_no_op() -> None:
    # Without the pool family either (pool pressure counts every check-out).
    *_, pool = mongo_structlog.listeners(output="stderr", families="server,heartbeat")
    assert routed(pool, "connection_checked_out") is ignore
    *_, pool = mongo_structlog.listeners(output="stderr", families="command,heartbeat")
    assert routed(pool, "connection_checked_out") is remember


def test_a_check_out_is_stored_for_command_records_only_when_it_changes() -> None:
    *_, pool = mongo_structlog.listeners(output="stderr")
    first = f.checked_out(connection_id=1)
    stored = []
    outside = CHECKED_OUT.get()

    def run() -> None:
        for event in (first, f.checked_out(connection_id=1), f.checked_out(connection_id=2)):
            pool.connection_checked_out(event)
            stored.append(CHECKED_OUT.get())
        pool.connection_checked_out(f.checked_out(connection_id=2, address=("db9.example.com", 1)))
        stored.append(CHECKED_OUT.get())

    contextvars.copy_context().run(run)
    assert stored[0] is first
    assert stored[1] is first  # the same connection again: nothing stored
    assert [(e.address, e.connection_id) for e in stored[2:]] == [
        (f.ADDRESS, 2),
        (("db9.example.com", 1), 2),
    ]
    assert CHECKED_OUT.get() is outside  # each thread or task has its own
    contextvars.copy_context().run(pool.connection_checked_out, object())
    assert CHECKED_OUT.get() is outside
    run_in = contextvars.copy_context()
    run_in.run(pool.connection_checked_out, first)
    run_in.run(pool.connection_checked_out, object())  # not a check-out event: forgets
    assert run_in.run(CHECKED_OUT.get) is None
