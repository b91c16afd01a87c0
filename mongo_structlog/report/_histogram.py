"""A weighted log-bucket histogram: percentiles in bounded memory with a known error.

Durations (integer microseconds) go into buckets whose bounds grow by a factor
``GAMMA`` = 1.02: bucket ``i`` holds the values in ``(GAMMA**(i-1), GAMMA**i]`` and stands
for ``2 * GAMMA**i / (GAMMA + 1)``, which is within ``ALPHA`` = (GAMMA - 1) / (GAMMA + 1),
about 0.99 %, of every value in it (the scheme of DDSketch). Durations from 1 µs to a day
span at most ``ceil(log(86.4e9) / log(1.02))`` = 1,267 buckets, kept sparsely, so a
histogram never holds more than that however many values it is given. The exact
minimum and maximum are kept beside it and clamp every estimate.

A percentile is the weighted nearest rank: the smallest value ``v`` such that the weights
of the values at most ``v`` add up to at least ``p`` % of the total weight. A record kept by
a sample rate ``r`` weighs ``1 / r``, so percentiles describe all commands, not only those
that were logged.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["ALPHA", "GAMMA", "LogHistogram"]

#: Ratio between consecutive bucket bounds.
GAMMA: Final = 1.02
#: Largest relative error of a percentile estimate (before rounding to whole µs).
ALPHA: Final = (GAMMA - 1) / (GAMMA + 1)
_LOG_GAMMA: Final = math.log(GAMMA)


class LogHistogram:
    """Weighted counts of durations in logarithmic buckets.

    Attributes:
        total: The sum of the weights added.
        count: How many values were added.
        maximum: The largest value added (exact), or ``None``.
        minimum: The smallest value added (exact), or ``None``.
    """

    __slots__ = ("_buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        """Start empty."""
        self._buckets: dict[int, float] = {}
        self.total = 0.0
        self.count = 0
        self.maximum: int | None = None
        self.minimum: int | None = None

    def add(self, value: int, weight: float = 1.0) -> None:
        """Count one duration.

        Args:
            value: The duration in µs; values below 1 share the lowest bucket.
            weight: How many commands the value stands for (``1 / sample_rate``).
        """
        index = math.ceil(math.log(value) / _LOG_GAMMA) if value > 1 else 0
        buckets = self._buckets
        buckets[index] = buckets.get(index, 0.0) + weight
        self.total += weight
        self.count += 1
        if self.maximum is None or value > self.maximum:
            self.maximum = value
        if self.minimum is None or value < self.minimum:
            self.minimum = value

    @property
    def buckets(self) -> int:
        """How many buckets are held (the memory it takes)."""
        return len(self._buckets)

    def percentile(self, p: float) -> int | None:
        """The weighted nearest-rank ``p``-th percentile, within ``ALPHA`` of the exact one.

        Args:
            p: The percentile, 0 < p <= 100.

        Returns:
            The estimate in whole µs, clamped to the exact minimum and maximum; ``None``
            when empty.
        """
        if self.maximum is None or self.minimum is None:
            return None
        wanted = self.total * p / 100
        running = 0.0
        chosen = max(self._buckets)
        for index in sorted(self._buckets):
            running += self._buckets[index]
            # A small tolerance so that 100 x 0.95 weights of 1 reach rank 95.
            if running >= wanted * (1 - 1e-12):
                chosen = index
                break
        estimate = 2 * GAMMA**chosen / (GAMMA + 1) if chosen > 0 else 1.0
        return round(min(max(estimate, self.minimum), self.maximum))
