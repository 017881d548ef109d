"""Admission control: a node whose event loop falls behind stops accepting connections for a moment.

When a node dies, its clients reconnect to the others within a second or two. A node accepted them
all at once (Twisted accepts up to 100 per wake-up, and more each time it does), and then worked
through every connect queued in its event loop, interleaved with the deliveries of the clients it
already had: at 2,500 reconnects (about 4 ms of CPU each) those waited seconds for their messages
(docs/benchmarks.md, "Reconnect storm").

Here the node samples its event loop's lag every LAG_CHECK seconds; while a sample is late by more
than LAG_PAUSE, the listening sockets are not read (new connections wait in the kernel's backlog,
config/server.py's LISTEN_BACKLOG), until a sample is back under LAG_RESUME. A wake-up of a
listening socket accepts at most MAX_ACCEPTS connections. So the clients a node has keep their
latency, and the reconnecting ones get in as fast as the node can take them. A loop that never
catches up (a node saturated by its own traffic) still takes a batch every MIN_ADMIT_EVERY seconds:
a paused node is slow to join, never closed.

Reaches into Twisted's listening port (`numberAccepts`, `doRead`, `startReading`, `stopReading`),
checked at start-up by config/compat.py.
"""

import time
from collections.abc import Callable
from typing import Any

LAG_CHECK = 0.02
LAG_PAUSE = 0.05
LAG_RESUME = 0.02
MAX_ACCEPTS = 8
# A paused node still takes MAX_ACCEPTS every MIN_ADMIT_EVERY s (80/s): at 0.25 s (32/s) the
# storm's survivor, behind for most of the storm on a slow hour, drained its queue of reconnects too
# slowly and left 4-17% of them out at the end of the run (with config/server.py's LISTEN_BACKLOG,
# then 1,024, overflowing); at 0.1 s and a backlog of 4,096 every one came back in every run since,
# its own clients' p99 as before (docs/benchmarks.md, "Reconnect storm"). A constant floor is a
# stopgap: it should follow what the node can take.
MIN_ADMIT_EVERY = 0.1


class Admission:
    """Pauses and resumes the listening ports of one reactor by its event loop's lag."""

    def __init__(
        self,
        call_later: Callable[[float, Callable[[], None]], Any],
        *,
        on_pause: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_later = call_later
        self.on_pause = on_pause
        self.clock = clock
        self.ports: list[Any] = []
        self.paused_at: float | None = None
        self.pauses = 0  # how many times accepting was paused (for the log and the tests)
        self.expected = 0.0
        self.stopped = False

    def add_port(self, port: Any) -> None:
        """Limit a listening port's accepts per wake-up, and pause it with the others."""
        read = port.doRead

        def read_a_few() -> Any:
            port.numberAccepts = min(port.numberAccepts, MAX_ACCEPTS)
            return read()

        port.doRead = read_a_few
        self.ports.append(port)
        if self.paused_at is not None:
            port.stopReading()

    def start(self) -> None:
        self.expected = self.clock() + LAG_CHECK
        self.call_later(LAG_CHECK, self.tick)

    def stop(self) -> None:
        """Stop sampling (the node shuts down; its ports stop listening on their own)."""
        self.stopped = True

    def tick(self) -> None:
        if self.stopped:
            return
        now = self.clock()
        self.observe(now - self.expected, now)
        self.expected = now + LAG_CHECK
        self.call_later(LAG_CHECK, self.tick)

    def observe(self, lag: float, now: float) -> None:
        """One lag sample: pause accepting, resume it, or let one batch in while paused."""
        if self.paused_at is None:
            if lag > LAG_PAUSE:
                self.paused_at = now
                self.pauses += 1
                self.on_pause()
                for port in self.ports:
                    port.stopReading()
        elif lag < LAG_RESUME:
            self.paused_at = None
            for port in self.ports:
                port.startReading()
        elif now - self.paused_at >= MIN_ADMIT_EVERY:
            # Still behind: one wake-up's batch each, then paused again from now.
            self.paused_at = now
            for port in self.ports:
                port.doRead()
