"""Textual's `Strip.divide` without the reference cycle it makes on every line drawn.

The compositor cuts every line it draws at the edges of the widgets on it. A
line that needs no cut is returned as `[self]`, and Textual caches that list in
the strip's own divide cache: the strip holds a list that holds the strip. Such
a strip (and its 7 caches, 7 dicts and segments, about 20 objects) is freed
only by the cyclic garbage collector, never by reference counting. At 1 Hz
with 16 processes that is some 600 objects a frame; they set off about 0.8
collections a frame (every 700 net allocations), most of them after the
strips had died, and on the 2-core development machine the collections were
a sixth of the TUI's CPU (13.2 -> 10.8 ms a frame with the cycle gone).

Returning the uncut strip without caching it draws the same lines: the cache
would only have saved building a one-item list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.strip import Strip

_textual_divide = Strip.divide


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    cell_length = self.cell_length
    kept = [cut for cut in cuts if cut <= cell_length]
    if kept == [cell_length]:
        return [self]
    return _textual_divide(self, kept)


def install() -> None:
    """Use the cycle-free divide from now on (idempotent)."""
    Strip.divide = _divide  # type: ignore[method-assign]
