"""``_commands.Correlator``: the bounded map of started commands awaiting completion.

Clocks are passed in, so nothing here sleeps or depends on timing.
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongo_structlog._commands import Correlator

A = ("db1", 27017)
B = ("db2", 27017)


class Started:
    """What the correlation map looks at in an entry: the started event's address."""

    def __init__(self, request_id: int, connection_id: Any) -> None:
        self.request_id = request_id
        self.connection_id = connection_id


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the correlation map ----------------------------------------------------------------------


def evictions() -> tuple[list[int], Any]:
    seen: list[int] = []
    return seen, seen.append


def test_correlator_gives_back_what_was_put_once() -> None:
    correlator = Correlator(100, 60.0, lambda n: None)
    entry = Started(7, A)
    correlator.put(7, A, entry)
    assert len(correlator) == 1
    assert correlator.pop(7, A) is entry
    assert correlator.pop(7, A) is None
    assert len(correlator) == 0


def test_correlator_matches_request_id_and_server_address() -> None:
    correlator = Correlator(100, 60.0, lambda n: None)
    entry = Started(7, A)
    correlator.put(7, A, entry)
    assert correlator.pop(7, B) is None  # another server's command 7
    assert correlator.pop(7, A) is entry


def test_correlator_keeps_two_commands_with_one_request_id_apart() -> None:
    correlator = Correlator(100, 60.0, lambda n: None)
    on_a, on_b = Started(7, A), Started(7, B)
    correlator.put(7, A, on_a)
    correlator.put(7, B, on_b)
    assert len(correlator) == 2
    assert correlator.pop(7, B) is on_b
    assert correlator.pop(7, A) is on_a
    assert len(correlator) == 0


def test_correlator_takes_kept_entries_as_tuples_led_by_the_server_address() -> None:
    correlator = Correlator(100, 60.0, lambda n: None)
    entry = (A, "find", None, ("{}", "0" * 16, None), False, True)
    correlator.put(7, A, entry)
    assert correlator.pop(7, B) is None
    assert correlator.pop(7, A) is entry


def test_correlator_pop_accepts_what_the_caller_already_took_out() -> None:
    correlator = Correlator(100, 60.0, lambda n: None)
    mine, other = Started(7, A), Started(7, B)
    correlator.put(7, B, other)
    correlator.put(7, A, mine)  # filed under (7, A): the id was taken
    first = correlator.young.pop(7)
    assert first is other
    assert correlator.pop(7, A, first) is mine
    assert correlator.pop(7, B) is other  # put back, not lost


def test_correlator_stays_within_capacity_when_completions_never_come() -> None:
    evicted, on_evict = evictions()
    correlator = Correlator(100, 3600.0, on_evict)
    for request_id in range(10_000):
        correlator.put(request_id, A, Started(request_id, A))
        assert len(correlator) <= 100
    assert sum(evicted) == 10_000 - len(correlator)
    # The newest are still there to be matched; the oldest are gone.
    assert correlator.pop(9_999, A) is not None
    assert correlator.pop(0, A) is None


def test_correlator_with_capacity_one_holds_one_entry() -> None:
    evicted, on_evict = evictions()
    correlator = Correlator(1, 3600.0, on_evict)
    for request_id in range(10):
        correlator.put(request_id, A, Started(request_id, A))
        assert len(correlator) == 1
    assert sum(evicted) == 9


def test_correlator_ages_out_entries_older_than_the_ttl() -> None:
    clock = Clock()
    evicted, on_evict = evictions()
    correlator = Correlator(10_000, 60.0, on_evict, clock=clock)
    correlator.put(1, A, Started(1, A))
    clock.now += 30
    correlator.tick(clock.now)
    correlator.put(2, A, Started(2, A))
    clock.now += 31  # entry 1 is 61 s old, entry 2 is 31 s old
    correlator.tick(clock.now)
    assert evicted == []  # the first rotation moves both to the old generation
    assert correlator.pop(2, A) is not None  # still matched from there
    clock.now += 60
    correlator.tick(clock.now)
    assert evicted == [1]
    assert len(correlator) == 0


def test_correlator_never_ages_out_an_entry_younger_than_the_ttl() -> None:
    clock = Clock()
    evicted, on_evict = evictions()
    correlator = Correlator(10_000, 60.0, on_evict, clock=clock)
    for second in range(600):
        clock.now += 1
        correlator.put(second, A, Started(second, A))
        correlator.tick(clock.now)
        # Every entry put within the last 60 s is still in the map.
        for younger in range(max(0, second - 59), second + 1):
            assert younger in correlator.young or younger in correlator.old
    assert sum(evicted) > 0


def test_correlator_checks_age_after_256_more_entries_are_waiting() -> None:
    clock = Clock()
    evicted, on_evict = evictions()
    correlator = Correlator(10_000, 60.0, on_evict, clock=clock)
    correlator.put(0, A, Started(0, A))
    clock.now += 61
    correlator.put(1, A, Started(1, A))  # young generation now 61 s old: rotate at the check
    assert correlator.old == {}
    for request_id in range(2, 300):
        correlator.put(request_id, A, Started(request_id, A))
    assert 0 in correlator.old
    clock.now += 61
    for request_id in range(300, 600):
        correlator.put(request_id, A, Started(request_id, A))
    assert sum(evicted) >= 2
    assert 0 not in correlator.old
    assert 0 not in correlator.young


def test_correlator_stays_bounded_and_consistent_under_threads() -> None:
    evicted, on_evict = evictions()
    correlator = Correlator(64, 3600.0, on_evict)
    popped = [0] * 8
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(5000):
                request_id = worker * 1_000_000 + i
                address = (f"db{worker % 3}", 27017)
                correlator.put(request_id, address, Started(request_id, address))
                if i % 3:  # one completion in three is lost
                    popped[worker] += correlator.pop(request_id, address) is not None
                assert len(correlator) <= 64 + 8  # other threads may be mid-put
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(correlator) <= 64
    # A completion misses its entry only if its thread was preempted for two whole
    # generations between put and pop; nearly all match.
    attempted = 8 * sum(1 for i in range(5000) if i % 3)
    assert sum(popped) >= 0.95 * attempted
    assert sum(evicted) > 0


# -- through the public face ------------------------------------------------------------------


def test_a_command_in_flight_across_configure_keeps_its_command_text(tmp_path: Path) -> None:
    from mockupdb import going

    import mongo_structlog

    from .factory import stop_quickly
    from .servers import named, read_records, standalone

    server = standalone()
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    mongo_structlog.configure(output=str(before))
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        with going(client.shop.orders.find_one, {"status": "open"}) as found:
            request = server.receives()
            mongo_structlog.configure(output=str(after))  # the swap, mid-command
            request.ok(cursor={"id": 0, "firstBatch": [{"_id": 1}], "ns": "shop.orders"})
        assert found() == {"_id": 1}
    finally:
        client.close()
        stop_quickly(server)
    (record,) = named(read_records(after), "mongodb.command.succeeded")
    assert (
        record["command"] == '{"find":"orders","filter":{"status":"?"},"limit":"?",'
        '"singleBatch":"?","$db":"shop"}'
    )
    assert record["collection"] == "orders"
    assert mongo_structlog.stats()["in_flight"] == 0


@pytest.mark.parametrize(
    "settings",
    [{"sample_rate": 0}, {"sample_rate": 1}, {"sample_rate": 1, "level": "debug"}],
    ids=["sampled out", "kept", "kept, started records on"],
)
def test_lost_completions_of_large_commands_hold_bounded_memory(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    """1,000 started 1 MB inserts that never complete hold far less than 1 GB."""
    import mongo_structlog

    from . import factory as f

    log = tmp_path / "records.jsonl"
    commands, *_ = mongo_structlog.listeners(output=str(log), **settings)
    tracemalloc.start()
    try:
        for request_id in range(1, 1001):
            blob = "x" * 1_000_000
            insert = {"insert": "c", "documents": [{"_id": request_id, "blob": blob}]}
            commands.started(f.command_started(insert, request_id=request_id))
            del blob, insert
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mongo_structlog.stats()["in_flight"] == 1000
    assert held < 80_000_000  # at most the newest 64 hold their document
    # A late completion still gets its command, rendered and cut.
    commands.failed(f.command_failed(f.server_error(), request_id=1, command_name="insert"))
    failed = [r for r in read_lines(log) if r["event"] == "mongodb.command.failed"]
    assert [r["command"][:40] for r in failed] == ['{"insert":"c","documents":[{"_id":"?","b']
    assert len(failed[0]["command"]) <= 1003


def read_lines(path: Path) -> list[dict[str, Any]]:
    from .servers import read_records

    return read_records(path)
