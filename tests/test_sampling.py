"""``sampling.py``: the fixed request-id mix, the burst limiter, the summary.

These are the building blocks; ``test_pipeline.py`` checks the records they lead to.
Clocks are passed in, so nothing here sleeps or depends on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mongo_structlog.sampling import (
    BurstLimiter,
    Suppressed,
    keep_request,
    mix64,
    threshold,
)

REPO = Path(__file__).resolve().parent.parent
A = ("db1", 27017)
B = ("db2", 27017)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the mix and the decision -----------------------------------------------------------------


def test_mix64_is_splitmix64_so_other_languages_can_reproduce_it() -> None:
    # The first outputs of the reference splitmix64 generator seeded with 0 and 1.
    assert mix64(0) == 0xE220A8397B1DCDAF
    assert mix64(1) == 0x910A2DEC89025CC1


def test_mix64_takes_the_low_64_bits_so_negative_request_ids_wrap() -> None:
    assert mix64(-1) == mix64(2**64 - 1)
    assert mix64(-(2**31)) == mix64(2**64 - 2**31)
    assert all(0 <= mix64(value) < 2**64 for value in (-(2**63), -1, 0, 2**31 - 1, 2**64 + 5))


def test_threshold_maps_rates_onto_the_64_bit_range() -> None:
    assert threshold(0.0) == 0
    assert threshold(0.5) == 2**63
    assert threshold(1.0) == 2**64
    assert threshold(0.1) == round(0.1 * 2**64)


def test_keep_request_is_mix64_below_the_threshold() -> None:
    cutoff = threshold(0.3)
    for request_id in [*range(-500, 500), 2**31 - 1, -(2**31), 2**40]:
        assert keep_request(request_id, cutoff) is (mix64(request_id) < cutoff)


def test_exact_kept_counts_for_a_known_sequence_of_request_ids() -> None:
    # A regression pin on the fixed mix: changing it changes which commands users see.
    quarter = threshold(0.25)
    kept = [request_id for request_id in range(1, 10_001) if keep_request(request_id, quarter)]
    assert len(kept) == 2462
    assert kept[:6] == [3, 10, 18, 20, 21, 33]
    tenth = threshold(0.1)
    assert sum(keep_request(request_id, tenth) for request_id in range(1, 10_001)) == 999


def test_rate_zero_keeps_nothing_and_rate_one_keeps_everything() -> None:
    ids = [*range(-1000, 1000), 2**63, 2**64 - 1]
    assert not any(keep_request(request_id, threshold(0.0)) for request_id in ids)
    assert all(keep_request(request_id, threshold(1.0)) for request_id in ids)


def test_a_lower_rate_keeps_a_subset_of_what_a_higher_rate_keeps() -> None:
    low, high = threshold(0.05), threshold(0.2)
    for request_id in range(5000):
        if keep_request(request_id, low):
            assert keep_request(request_id, high)


def test_the_decision_is_the_same_in_another_process_with_another_hash_seed() -> None:
    ids = list(range(-50, 50))
    here = [keep_request(request_id, threshold(0.5)) for request_id in ids]
    code = (
        "from mongo_structlog.sampling import keep_request, threshold;"
        f"print([keep_request(i, threshold(0.5)) for i in {ids!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == repr(here)


# -- the burst limiter ------------------------------------------------------------------------


def test_burst_limiter_lets_the_first_n_through_then_one_in_m() -> None:
    limiter = BurstLimiter(3, 5, 1.0)
    passed = [seen for seen in range(1, 31) if limiter.allow(("x", A), 10.0)]
    assert passed == [1, 2, 3, 8, 13, 18, 23, 28]


def test_burst_limiter_starts_a_new_window_after_the_interval() -> None:
    limiter = BurstLimiter(2, 0, 1.0)
    assert [limiter.allow(("x", A), 10.0) for _ in range(4)] == [True, True, False, False]
    assert [limiter.allow(("x", A), 10.999) for _ in range(2)] == [False, False]
    assert [limiter.allow(("x", A), 11.0) for _ in range(3)] == [True, True, False]


def test_burst_limiter_counts_each_event_and_server_apart() -> None:
    limiter = BurstLimiter(1, 0, 1.0)
    keys = [("x", A), ("x", B), ("y", A)]
    assert [limiter.allow(key, 10.0) for key in keys] == [True, True, True]
    assert [limiter.allow(key, 10.0) for key in keys] == [False, False, False]


def test_burst_limit_zero_turns_the_limiter_off() -> None:
    assert BurstLimiter(0, 100, 1.0).enabled is False
    assert BurstLimiter(1, 100, 1.0).enabled is True


def test_burst_limiter_forgets_old_keys_when_too_many_servers_came_and_went() -> None:
    limiter = BurstLimiter(1, 0, 1.0)
    for port in range(5000):
        limiter.allow(("x", ("db", port)), 10.0)
    assert len(limiter._windows) <= BurstLimiter._MAX_KEYS


def test_burst_limiter_is_exact_under_threads() -> None:
    limiter = BurstLimiter(100, 7, 3600.0)
    assert limiter.allow(("x", A), 10.0)  # opens the window before the threads start
    passed = [0] * 8

    def work(worker: int) -> None:
        for _ in range(2000):
            passed[worker] += limiter.allow(("x", A), 10.0)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = 1 + 8 * 2000
    expected = 100 + (total - 100) // 7
    assert 1 + sum(passed) == expected


# -- what was suppressed ----------------------------------------------------------------------


def test_suppressed_reports_each_event_once_its_interval_has_passed() -> None:
    suppressed = Suppressed(10.0, now=100.0)
    for _ in range(5):
        suppressed.sampled_out("mongodb.command.succeeded")
    for _ in range(2):
        suppressed.burst_limited("mongodb.connection.checked_out")
    suppressed.sampled_out("mongodb.connection.checked_out")
    assert suppressed.due(109.9) == []
    assert suppressed.due(110.0) == [
        {
            "suppressed_event": "mongodb.command.succeeded",
            "sampled_out": 5,
            "burst_limited": 0,
            "interval_ms": 10_000,
        },
        {
            "suppressed_event": "mongodb.connection.checked_out",
            "sampled_out": 1,
            "burst_limited": 2,
            "interval_ms": 10_000,
        },
    ]


def test_suppressed_counts_start_again_after_a_summary() -> None:
    suppressed = Suppressed(10.0, now=100.0)
    suppressed.sampled_out("a")
    suppressed.sampled_out("b")
    assert [row["suppressed_event"] for row in suppressed.due(110.0)] == ["a", "b"]
    suppressed.sampled_out("b")
    assert suppressed.due(115.0) == []
    assert suppressed.due(125.0) == [
        {"suppressed_event": "b", "sampled_out": 1, "burst_limited": 0, "interval_ms": 15_000}
    ]
    assert suppressed.totals() == {"a": (1, 0), "b": (2, 0)}


def test_suppressed_has_no_summary_when_nothing_was_dropped() -> None:
    suppressed = Suppressed(10.0, now=100.0)
    assert suppressed.due(500.0) == []
    suppressed.sampled_out("a")
    assert suppressed.due(505.0) == []  # the interval restarted at the empty look
    assert suppressed.due(510.0)[0]["interval_ms"] == 10_000


def test_suppressed_asks_for_a_look_at_every_rare_drop() -> None:
    suppressed = Suppressed(10.0, now=0.0)
    for second in range(1, 20):
        assert suppressed.sampled_out("a") is True
        suppressed.due(float(second))  # one drop a second: look at each
    assert suppressed.burst_limited("b") is True


def test_suppressed_spaces_looks_out_at_most_256_drops_apart_when_drops_are_frequent() -> None:
    suppressed = Suppressed(10.0, now=0.0)
    now = 0.0
    spacings = []
    drops = 0
    for _ in range(20):
        drops_since = 0
        while True:
            drops_since += 1
            now += 0.000_01  # 100,000 drops a second
            if suppressed.sampled_out("a"):
                break
        drops += drops_since
        spacings.append(drops_since)
        suppressed.due(now)
    # The spacing doubles from one drop up to the 256 cap, never jumping there at once.
    assert spacings[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 256]
    assert max(spacings) == 256
    summary = suppressed.due(now + 10)
    assert summary[0]["sampled_out"] == drops


def test_suppressed_counts_exactly_under_threads() -> None:
    suppressed = Suppressed(10.0, now=0.0)

    def work() -> None:
        for _ in range(5000):
            suppressed.sampled_out("a")
            suppressed.burst_limited("a")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert suppressed.totals() == {"a": (40_000, 40_000)}


@pytest.mark.parametrize("sampled", [True, False])
def test_suppressed_counter_is_the_one_sampled_out_and_burst_limited_count_with(
    sampled: bool,
) -> None:
    suppressed = Suppressed(10.0, now=0.0)
    counter = suppressed.counter("a", sampled=sampled)
    next(counter)
    next(counter)
    assert suppressed.totals() == {"a": (2, 0) if sampled else (0, 2)}


def test_suppressed_doubles_the_spacing_when_drops_come_faster_than_the_clock_ticks() -> None:
    suppressed = Suppressed(10.0, now=5.0)
    assert suppressed.sampled_out("a") is True
    suppressed.due(5.0)  # no time has passed since the last look
    assert suppressed.sampled_out("a") is False
    assert suppressed.sampled_out("a") is True
