"""``mongo-structlog report``: what was slow, what failed, failovers and pool pressure.

Reads the records mongo_structlog wrote (``json`` or ``ecs`` lines), streams them once in
bounded memory and prints one summary per on-call question; ``--json`` prints the same
summary as one document and ``--html`` draws the slowest shapes over time (needs the
``report`` extra). See docs/report.md.
"""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]

main.__module__ = __name__
