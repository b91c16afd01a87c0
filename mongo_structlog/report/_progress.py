"""A one-line progress bar on standard error, for long reads on a terminal.

Hand-written rather than an optional ``rich`` or ``tqdm``: the report needs one line that
says how far it is, redrawn at most a hundred times, and a dependency for that would be
one more install for every user of the command. It is shown only when standard error is
a terminal and the input is at least ``MIN_BYTES`` of files whose size is known.
"""

from __future__ import annotations

from typing import Final, TextIO

__all__ = ["MIN_BYTES", "Progress"]

#: Inputs smaller than this read in about a second: no bar.
MIN_BYTES: Final = 64 * 1024 * 1024
_WIDTH: Final = 30


class Progress:
    """Redraws ``[#####.....]  37%  370/1,000 MB`` as bytes are read.

    Args:
        total: The input's size in bytes.
        stream: Where to draw (standard error).
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        """Draw nothing yet."""
        self.total = max(total, 1)
        self.stream = stream
        self._shown = -1

    def update(self, done: int) -> None:
        """Redraw if the percentage changed.

        Args:
            done: Bytes read so far.
        """
        percent = min(100, done * 100 // self.total)
        if percent == self._shown:
            return
        self._shown = percent
        filled = percent * _WIDTH // 100
        bar = "#" * filled + "." * (_WIDTH - filled)
        self.stream.write(
            f"\rmongo-structlog report [{bar}] {percent:3d}%  "
            f"{done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
        )
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self._shown >= 0:
            self.stream.write("\r" + " " * 78 + "\r")
            self.stream.flush()
