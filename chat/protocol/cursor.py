"""A subscription's delivery order: the highest seq sent, and live messages held back behind a gap.

Pure bookkeeping, no timers and no I/O: the session asks it what to send and when a gap must be
filled from the database, then does the sending, the waiting and the reading itself.

Two nodes' publishes to one room can overtake each other on the way through Redis, so a message
that arrives one or more seqs ahead is held: the missing one is usually a few milliseconds behind.
"""

from enum import Enum
from typing import Generic, TypeVar

# Messages held back at most while an earlier one may still be in flight.
HOLD_LIMIT = 100

T = TypeVar("T")


class Verdict(Enum):
    """What to do with a live message offered to a cursor."""

    DUPLICATE = "duplicate"  # at or below the position: already sent (catch-up or a fill got there)
    SEND = "send"  # the next one: send it, then `advance()`, then send what `release()` returns
    HOLD = "hold"  # ahead of a gap: held; wait for the gap to close, or fill it
    FILL_NOW = "fill_now"  # held, and too many are held: fill the gap from the database at once


class Cursor(Generic[T]):
    """The highest seq sent to the client (`position`) and the live items held ahead of a gap."""

    def __init__(self, position: int = 0, *, hold_limit: int = HOLD_LIMIT) -> None:
        self.position = position
        self.hold_limit = hold_limit
        self.held: dict[int, T] = {}

    def offer(self, seq: int, item: T) -> Verdict:
        """Classify a live message; one that is ahead of a gap is held here."""
        if seq <= self.position:
            return Verdict.DUPLICATE
        if seq == self.position + 1:
            return Verdict.SEND
        self.held[seq] = item
        return Verdict.FILL_NOW if len(self.held) > self.hold_limit else Verdict.HOLD

    def advance(self, seq: int) -> None:
        """Record that everything up to seq has been sent (live, or read from the database)."""
        if seq > self.position:
            self.position = seq

    def release(self) -> list[tuple[int, T]]:
        """Take the held items that now follow the position, in order; drop those a fill overtook.

        The caller sends them and advances past each; anything left in `held` still waits for a gap.
        """
        for seq in [seq for seq in self.held if seq <= self.position]:
            del self.held[seq]
        ready = []
        next_seq = self.position + 1
        while next_seq in self.held:
            ready.append((next_seq, self.held.pop(next_seq)))
            next_seq += 1
        return ready

    @property
    def gap_end(self) -> int | None:
        """The last seq missing before the first held item (fill up to it), or None if none is held."""
        return min(self.held) - 1 if self.held else None
